"""Keeping what is sent to a provider valid, whatever the stored thread went through.

A thread saved mid-run can end with tool calls that never got a result: the process was killed
during a tool (kill -9, out of memory), the disk filled while results were saved, a tool ended
the process. OpenAI and Anthropic answer every later request on such a thread with HTTP 400, so
the conversation could never be continued. `answered()` gives the provider the messages with a
"not run (interrupted)" result after each unanswered call, and without tool results that answer
no call; the stored thread itself is left as it is (the repair is redone for each request,
which costs one pass over messages the provider converts anyway).

`unique_call_ids()` gives every tool call of a turn its own id: a model that sends one id twice
would otherwise get one result message appended twice (a thread that can never be saved again).
"""

from __future__ import annotations

import uuid

from .messages import Message, ToolCall

NOT_RUN = "The tool call was not run: the run that made it was interrupted before it finished."


def _not_run(call_id: str, name: str) -> Message:
    return Message(
        role="tool", name=name, tool_call_id=call_id, content=NOT_RUN, interrupted=True,
        attributes={"error": True, "not_run": True},
    )


def answered(messages: list[Message]) -> list[Message]:
    """`messages` if every tool call has its result right after it; else a repaired copy."""
    out: list[Message] | None = None
    owed: dict[str, str] = {}  # call id -> tool name, for the latest assistant message
    for index, message in enumerate(messages):
        keep = True
        if message.role == "tool":
            keep = owed.pop(message.tool_call_id or "", None) is not None  # an orphan would be a 400 too
        else:
            if owed:
                out = messages[:index] if out is None else out
                out.extend(_not_run(call_id, name) for call_id, name in owed.items())
                owed = {}
            if message.role == "assistant" and message.tool_calls:
                owed = {c["id"]: c["function"]["name"] for c in message.tool_calls}
        if not keep and out is None:
            out = messages[:index]
        elif keep and out is not None:
            out.append(message)
    if owed:
        out = list(messages) if out is None else out
        out.extend(_not_run(call_id, name) for call_id, name in owed.items())
    return messages if out is None else out


def unique_call_ids(calls: list[ToolCall]) -> list[ToolCall]:
    """`calls` with a fresh id for any id already used earlier in the list."""
    seen: set[str] = set()
    for call in calls:
        if call["id"] in seen:
            call["id"] = f"call_{uuid.uuid4().hex[:24]}"
        seen.add(call["id"])
    return calls
