"""Find the user's streaming spec and split it into its fenced code blocks.

The tests run the spec's code exactly as written, so they read it from the file at test time
rather than from a copy. Each block gets a stable marker, "<section heading>#<n>" (n counts the
python blocks under that heading from 1), so a test names the block it runs and an edit that
adds, drops or moves a block fails the inventory test instead of silently losing coverage.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tyler.testing import FakeModelServer

REPO = Path(__file__).resolve().parents[2]
SPEC_ENV = "TYLER_SPEC_PATH"

_FENCE = re.compile(r"^```(\S*)\s*$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of the spec."""

    marker: str  # "<heading>#<n>", stable across unrelated edits
    heading: str
    index: int  # 1-based among the python blocks under `heading`
    language: str
    code: str
    line: int  # 1-based line of the opening fence, for error messages

    @property
    def is_program(self) -> bool:
        """A full program: it runs itself with asyncio.run at module level."""
        return re.search(r"^asyncio\.run\(", self.code, re.MULTILINE) is not None


def spec_path() -> Path:
    """Where the spec is: $TYLER_SPEC_PATH, else <repo>/../shared/spec/streaming.md."""
    override = os.environ.get(SPEC_ENV)
    if override:
        return Path(override)
    return REPO.parent / "shared" / "spec" / "streaming.md"


def parse_blocks(text: str) -> list[Block]:
    """Every fenced block in document order (python and others), with its marker."""
    blocks: list[Block] = []
    heading = "(top)"
    counts: dict[tuple[str, str], int] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        head = _HEADING.match(lines[i])
        if head:
            heading = head.group(2)
        if fence is None:
            i += 1
            continue
        language = fence.group(1).lower()
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        if i >= len(lines):
            raise ValueError(f"unclosed code fence at line {start + 1} of the spec")
        i += 1  # closing fence
        key = (heading, language)
        counts[key] = counts.get(key, 0) + 1
        suffix = "" if language == "python" else f"[{language or 'text'}]"
        marker = f"{heading}{suffix}#{counts[key]}"
        blocks.append(Block(marker, heading, counts[key], language, "\n".join(body) + "\n", start + 1))
    return blocks


def python_blocks(text: str) -> dict[str, Block]:
    return {b.marker: b for b in parse_blocks(text) if b.language == "python"}


# -- running blocks ----------------------------------------------------------------------------

PROGRAM_TIMEOUT = 30.0


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
    return run_script(script, server, cwd, stdin=stdin, **extra_env)


def run_script(
    script: Path, server: FakeModelServer, cwd: Path, *args: str, stdin: str = "", **extra_env: str
) -> subprocess.CompletedProcess[str]:
    """Run a Python file with `args` against `server`; fail with its output if it exits non-zero."""
    proc = subprocess.run(
        [sys.executable, str(script), *args],
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
        pytest.fail(
            f"{script.name} exited with {proc.returncode}\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
        )
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


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on 127.0.0.1 in a thread; yields its base URL."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
