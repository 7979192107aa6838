"""Fixtures for running the spec's code blocks against the fake model server.

Programs (blocks that call `asyncio.run`) run as subprocesses; fragments run in-process in a
namespace the test prepares, compiled with top-level await allowed, so `async for` at the top of a
block works exactly as written in the guide.
"""

from __future__ import annotations

import ast
import inspect
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tyler.testing import FakeModelServer

sys.path.insert(0, str(Path(__file__).parent))

from _spec import Block, python_blocks, spec_path  # noqa: E402

PROGRAM_TIMEOUT = 30.0


@pytest.fixture(scope="session")
def spec_text() -> str:
    path = spec_path()
    if not path.is_file():
        message = (
            f"the streaming spec is missing: looked for {path} (set TYLER_SPEC_PATH, or clone the "
            "repository with shared/ beside it)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def blocks(spec_text: str) -> dict[str, Block]:
    return python_blocks(spec_text)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeModelServer]:
    """A fake model server every model name in this process (and in `program_env`) talks to."""
    with FakeModelServer() as server:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        yield server


def program_env(server: FakeModelServer, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(server.env())
    env.update({"NO_PROXY": "127.0.0.1,localhost", "PYTHONIOENCODING": "utf-8", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def run_program(
    code: str, server: FakeModelServer, cwd: Path, *, stdin: str = "", name: str = "block.py", **extra_env: str
) -> subprocess.CompletedProcess[str]:
    """Run `code` as a script (cwd = `cwd`) against `server`; fail with its stderr if it fails."""
    script = cwd / name
    script.write_text(code, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=cwd,
        env=program_env(server, **extra_env),
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=PROGRAM_TIMEOUT,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"{name} exited with {proc.returncode}\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}")
    return proc


def namespace(**names: Any) -> dict[str, Any]:
    """What a fragment can assume its surrounding program already defined."""
    import asyncio

    from tyler import Agent, EventType, ExecutionEvent, Message, Thread

    ns: dict[str, Any] = {
        "__name__": "__spec__",
        "asyncio": asyncio,
        "Agent": Agent,
        "Thread": Thread,
        "Message": Message,
        "EventType": EventType,
        "ExecutionEvent": ExecutionEvent,
    }
    ns.update(names)
    return ns


async def exec_fragment(block: Block, ns: dict[str, Any]) -> dict[str, Any]:
    """Run a block's code unchanged in `ns` (top-level `await`/`async for` allowed)."""
    code = compile(block.code, f"<spec: {block.marker}>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, ns)  # noqa: S307 - the spec's own code is what is under test
    if inspect.iscoroutine(result):
        await result
    return ns


def user_thread(text: str) -> Any:
    from tyler import Message, Thread

    thread = Thread()
    thread.add_message(Message(role="user", content=text))
    return thread
