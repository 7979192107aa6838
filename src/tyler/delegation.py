"""Delegation: other agents offered to an agent as tools (`Agent(agents=[researcher, writer])`).

Each child becomes a tool named after it, described by its purpose, taking one `task` argument.
Calling it runs the child on a thread of its own (attributes link it to the parent's thread), with
the child's own model, tools and store; the child's final answer is the tool result.

While it runs, the child's events flow into the parent's event stream as they happen (through
`ToolContext.emit`, bounded like tool progress), each marked in `event.attributes` with the
child's `agent` name, `depth` (1 for a child, 2 for a grandchild...), its `thread_id` and the
parent's `parent_tool_call_id`, so a UI can nest them. The child's terminal event is not
forwarded: the parent's stream keeps exactly one. Cancelling the parent cancels the tool task,
which closes the child's stream (and its upstream request) in turn.

Delegation is bounded: an agent cannot delegate to itself or to an agent already running above it
in the chain, and the chain is at most `MAX_DEPTH` deep. The chain lives in a context variable, so
it follows each tool task (and only that task) down the tree.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator
from contextlib import aclosing
from contextvars import ContextVar
from typing import Any, Protocol

from .events import EventType
from .exceptions import ConfigurationError, ExecutionError
from .messages import Message, Thread
from .tools import Tool, ToolContext, tool_from_dict

MAX_DEPTH = 5

# ids of the agents running above the current task (outermost first).
_chain: ContextVar[tuple[int, ...]] = ContextVar("tyler_delegation_chain", default=())


class Delegate(Protocol):
    """What delegation needs of a child agent (an `Agent`)."""

    name: str
    purpose: str

    def stream(self, thread: Thread | str) -> AsyncGenerator[Any, None]: ...


def tool_name(agent_name: str) -> str:
    """The tool name for an agent name (model APIs accept [A-Za-z0-9_-]{1,64})."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", agent_name).strip("_")[:64]
    if not name:
        raise ConfigurationError(f"agent name {agent_name!r} gives no usable tool name")
    return name


def delegation_tool(child: Delegate) -> Tool:
    """The tool through which a parent agent hands `child` a task."""
    if not callable(getattr(child, "stream", None)):
        raise ConfigurationError(f"agents=[...] takes Agent objects, got {type(child).__name__}")

    async def delegate(task: str, ctx: ToolContext) -> str:
        return await _run_child(child, task, ctx)

    return tool_from_dict({
        "definition": {"type": "function", "function": {
            "name": tool_name(child.name),
            "description": f"Delegate a task to the agent {child.name!r}. Its purpose: {child.purpose} "
                           "It sees only the task you write, so include everything it needs; it answers in text.",
            "parameters": {
                "type": "object",
                "properties": {"task": {"type": "string", "description": "The task, stated completely."}},
                "required": ["task"],
                "additionalProperties": False,
            },
        }},
        "implementation": delegate,
        "context_param": "ctx",
    })


def _check_chain(child: Delegate, parent: Any) -> tuple[int, ...]:
    chain = (*_chain.get(), id(parent))
    if id(child) in chain:
        raise ExecutionError(
            f"agent {child.name!r} is already running above this call (an agent cannot delegate to "
            "itself or to an agent that delegated to it)"
        )
    if len(chain) > MAX_DEPTH:
        raise ExecutionError(f"delegation deeper than {MAX_DEPTH} levels refused")
    return chain


async def _run_child(child: Delegate, task: str, ctx: ToolContext) -> str:
    chain = _check_chain(child, ctx.agent)
    _chain.set(chain)  # this tool task's own context: siblings and the parent are unaffected
    thread = Thread(attributes={
        "delegated_by": getattr(ctx.agent, "name", None),
        "parent_thread_id": ctx.thread.id if ctx.thread is not None else None,
        "parent_tool_call_id": ctx.tool_call_id,
    })
    thread.add_message(Message(role="user", content=task))
    marks = {"agent": child.name, "depth": len(chain), "thread_id": thread.id,
             "parent_tool_call_id": ctx.tool_call_id}
    async with aclosing(child.stream(thread)) as events:
        async for event in events:
            if event.type is EventType.EXECUTION_ERROR:
                raise ExecutionError(f"agent {child.name!r} failed: {event.data.get('message')}")
            if event.type is EventType.EXECUTION_COMPLETE:
                break
            if event.attributes is None:  # a grandchild's event keeps its own marks
                event.attributes = marks
            await ctx.emit(event)
    final = thread.get_last_message_by_role("assistant")
    return final.text if final is not None else ""


__all__ = ["MAX_DEPTH", "Delegate", "delegation_tool", "tool_name"]
