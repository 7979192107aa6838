"""Fixtures for running the spec's code blocks against the fake model server.

Programs (blocks that call `asyncio.run`) run as subprocesses; fragments run in-process in a
namespace the test prepares (see `spec_support`).
"""

from __future__ import annotations

import os

import pytest
from spec_support import Block, python_blocks, spec_path

from tyler.testing import FakeModelServer


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
def fake(env: FakeModelServer) -> FakeModelServer:
    """The session's fake model server (reset), with every model name routed to it via os.environ."""
    return env
