"""The public API's static types: stream()/go() return types follow the mode (checked with mypy)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from test_lint import ROOT, _tool

SNIPPET = '''
from typing import assert_type, AsyncGenerator, Awaitable
from tyler import Agent, AgentResult, ExecutionEvent, Thread
from tyler.chunks import RawChunk

async def check(agent: Agent, thread: Thread) -> None:
    assert_type(agent.stream(thread), AsyncGenerator[ExecutionEvent, None])
    assert_type(agent.stream(thread, True), AsyncGenerator[ExecutionEvent, None])
    assert_type(agent.stream(thread, stream=True), AsyncGenerator[ExecutionEvent, None])
    assert_type(agent.stream(thread, "raw"), AsyncGenerator[RawChunk, None])
    assert_type(agent.stream(thread, mode="openai"), AsyncGenerator[RawChunk, None])
    assert_type(agent.stream(thread, stream="raw"), AsyncGenerator[RawChunk, None])
    assert_type(agent.go(thread), Awaitable[AgentResult])
    assert_type(await agent.go(thread), AgentResult)
    assert_type(agent.go(thread, stream=True), AsyncGenerator[ExecutionEvent, None])
    assert_type(agent.go(thread, stream="raw"), AsyncGenerator[RawChunk, None])
    async for event in agent.stream(thread):
        chunk: str = event.data["content_chunk"]  # the spec's reads keep type-checking
        text: str = event.data.get("content_chunk", "")
        print(chunk, text, len(event.data))
'''


def test_stream_and_go_return_types_follow_the_mode(tmp_path: Path) -> None:
    good = tmp_path / "good.py"
    good.write_text(SNIPPET)
    bad = tmp_path / "bad.py"  # proves the check can fail: one deliberately wrong expectation
    bad.write_text(SNIPPET.replace('"raw"), AsyncGenerator[RawChunk', '"raw"), AsyncGenerator[ExecutionEvent'))
    config = tmp_path / "mypy.ini"
    config.write_text(f"[mypy]\npython_version = 3.11\nmypy_path = {ROOT / 'src'}\nignore_missing_imports = True\n")
    proc = subprocess.run(
        [_tool("mypy"), "--config-file", str(config), "--cache-dir", str(ROOT / ".mypy_cache" / "typing"),
         "--no-error-summary", str(good), str(bad)],
        cwd=tmp_path, capture_output=True, text=True, timeout=280, check=False,
    )
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]
    # the three raw-mode expectations turned wrong in bad.py, and nothing in good.py
    assert len(errors) == 3, proc.stdout + proc.stderr
    assert all(e.startswith("bad.py:") and "[assert-type]" in e for e in errors), proc.stdout
