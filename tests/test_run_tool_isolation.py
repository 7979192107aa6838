"""A tool cannot take its run (or the process) down, nor starve other tools (issue 15, items 9, 14).

SystemExit from a tool (argparse on a bad argument) and KeyboardInterrupt raised by a sync tool
become that call's TOOL_ERROR; the run goes on to its one terminal event. Sync tools that outlive
their timeout keep their threads, but never the threads other tools and DNS lookups need.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading

from tyler import Agent, EventType, Message, Thread
from tyler.testing import FakeModelServer, FakeToolCall, Turn

MODEL = "gpt-4o"


def user_thread(text: str = "go") -> Thread:
    thread = Thread()
    thread.add_message(Message(role="user", content=text))
    return thread


def parse_cli(argv: str) -> str:
    """A tool built on argparse: a bad argument makes argparse call sys.exit(2)."""
    parser = argparse.ArgumentParser(prog="tool", exit_on_error=True)
    parser.add_argument("--count", type=int, required=True)
    return str(parser.parse_args(argv.split()).count)


async def leave(code: int) -> str:
    """An async tool that calls sys.exit."""
    sys.exit(code)


def interrupt() -> str:
    """A sync tool that raises KeyboardInterrupt itself (in its worker thread)."""
    raise KeyboardInterrupt("from the tool")


async def test_exits_and_interrupts_from_tools_are_tool_errors(env: FakeModelServer) -> None:
    env.enqueue(
        Turn(
            tool_calls=[
                FakeToolCall("parse_cli", {"argv": "--count nope"}),
                FakeToolCall("leave", {"code": 3}),
                FakeToolCall("interrupt", {}),
                FakeToolCall("parse_cli", {"argv": "--count 7"}),
            ]
        )
    )
    env.enqueue(Turn(text="handled"))
    agent = Agent(model_name=MODEL, tools=[parse_cli, leave, interrupt])
    events = [event async for event in agent.stream(user_thread())]
    errors = [e.data for e in events if e.type is EventType.TOOL_ERROR]
    by_tool = {e["tool_name"]: e for e in errors}
    assert sorted(by_tool) == ["interrupt", "leave", "parse_cli"]
    assert {e["error_type"] for e in errors} == {"ToolExitError"}
    assert "SystemExit(2)" in by_tool["parse_cli"]["error"] and "SystemExit(3)" in by_tool["leave"]["error"]
    assert "KeyboardInterrupt" in by_tool["interrupt"]["error"]
    assert [e.data["result"] for e in events if e.type is EventType.TOOL_RESULT] == ["7"]
    assert events[-1].type is EventType.EXECUTION_COMPLETE
    assert events[-1].data["thread"].messages[-1].content == "handled"


async def test_timed_out_sync_tools_do_not_starve_later_work(env: FakeModelServer) -> None:
    release = threading.Event()

    def stuck() -> str:
        """Blocks its thread long after its timeout (a thread cannot be stopped)."""
        release.wait(120)
        return "late"

    pool = min(32, (os.cpu_count() or 1) + 4)  # the default executor's size
    try:
        env.enqueue(Turn(tool_calls=[FakeToolCall("stuck", {}) for _ in range(pool + 2)]))
        env.enqueue(Turn(text="moved on"))
        agent = Agent(model_name=MODEL, tools=[stuck], tool_timeout=0.5)
        result = await agent.go(user_thread())
        assert result.content == "moved on"
        # Every default-executor thread is still free: a to_thread call (lye's file tools, DNS
        # lookups) runs at once instead of queueing behind the stuck tools.
        ran = await asyncio.wait_for(asyncio.to_thread(lambda: "ran"), 30)
        assert ran == "ran"
    finally:
        release.set()
