"""CLI tests run the real `tyler` command in a subprocess (or a pty) against the fake model server.

`cli_env` is a complete environment for that subprocess: provider variables point at the fake
server, TYLER_MODEL selects an OpenAI-style model, TYLER_DATA_DIR keeps the chat history in the
test's temp dir, and LYE_WORKSPACE confines file tools to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import TYLER, base_env
from cli_pty import PtyProcess

from tyler.testing import FakeModelServer


@pytest.fixture
def cli_env(fake_server: FakeModelServer, tmp_path: Path) -> dict[str, str]:
    env = base_env(tmp_path)
    env.update(fake_server.env())
    env["TYLER_MODEL"] = "gpt-4o"
    return env


@pytest.fixture
def spawn() -> Iterator[object]:
    """spawn(args, env) -> PtyProcess running `tyler ARGS` in a terminal; killed at teardown."""
    started: list[PtyProcess] = []

    def start(args: list[str], env: dict[str, str]) -> PtyProcess:
        proc = PtyProcess([*TYLER, *args], env)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.close()
