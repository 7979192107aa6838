"""A chat template that llama.cpp turns into OpenAI `tool_calls`, derived from the model's own.

Qwen2.5(-Coder) templates tell the model to wrap a call in `<tool_call>` tags, but the 0.5B and
1.5B Coder models answer with a ```json fenced block instead; the llama.cpp build xllamacpp ships
does not parse that into `tool_calls` (the call reaches the user as text), and `tool_choice:
"required"` does not constrain it. With the tags in the template replaced by the fence -- in the
instructions and in how past calls are rendered, so the history agrees with what the model writes
-- llama.cpp's parser returns proper `tool_calls` with valid JSON arguments.

The template is rewritten at load time from the GGUF's `tokenizer.chat_template`, never stored as a
copy, so it follows whatever the model file carries; templates without the tags are left alone.

A turn sent without tools (after the repeat-call guard refused a call) gets its past calls and
results as plain sentences instead: with no tool instructions in the prompt, the 0.5B model shown
its own fenced calls writes another one as text (and shown "I called X" it says that again);
shown the results as `files-list {"path": "."} returned: ...` it answers from them.
"""

from __future__ import annotations

from pathlib import Path

from ..messages import Message
from ._gguf import read_string

_OPEN, _CLOSE = "<tool_call>", "</tool_call>"
_FENCE_OPEN, _FENCE_CLOSE = "```json", "```"
_TAG_PHRASE = f"{_OPEN}{_CLOSE} XML tags"
_REFUSED = "RepeatedToolCall"  # the error_type the run loop gives a refused repeat


def fenced_tool_template(template: str | None) -> str | None:
    """`template` with its `<tool_call>` tags replaced by a ```json fence; None if it has no tags."""
    if not template or _OPEN not in template or _CLOSE not in template:
        return None
    return (
        template.replace(_TAG_PHRASE, "a ```json fenced code block")
        .replace(_OPEN, _FENCE_OPEN)
        .replace(_CLOSE, _FENCE_CLOSE)
    )


def derived_template(path: Path) -> str | None:
    """The chat template to load `path` with: the fenced rewrite of its own, or None (keep its own)."""
    return fenced_tool_template(read_string(path, "tokenizer.chat_template"))


def plain_tool_turns(messages: list[Message]) -> list[Message]:
    """`messages` with tool calls and results retold as plain assistant/user text (copies)."""
    if not any(m.tool_calls or m.role == "tool" for m in messages):
        return messages
    # Calls the repeat-call guard refused are left out: a model shown "I called X" last says it again.
    refused = {m.tool_call_id for m in messages if m.role == "tool" and m.attributes.get("error_type") == _REFUSED}
    calls = {c["id"]: c["function"] for m in messages for c in (m.tool_calls or [])}
    out: list[Message] = []
    for message in messages:
        if message.role == "tool":
            if message.tool_call_id in refused:
                continue
            function = calls.get(message.tool_call_id or "")
            name = (function["name"] if function else "") or message.name or "the tool"
            said = f"{name} {(function['arguments'] if function else '') or '{}'} returned:\n{message.text}"
            out.append(Message(role="user", content=said))
        elif message.tool_calls:
            if message.text:
                out.append(Message(role="assistant", content=message.text))
        else:
            out.append(message)
    # Shown an error it has caused, the model explains the error; the question, asked again after
    # the results, brings it back to answering (measured: "What is 12 times 7?" -> 84, not a
    # paragraph about a missing file).
    question = next((m.text for m in reversed(messages) if m.role == "user" and m.text), "")
    if question and out and out[-1].role == "user" and out[-1] is not messages[-1]:
        out[-1] = Message(role="user", content=f"{out[-1].text}\n\nNow answer my question: {question}")
    return out


__all__ = ["derived_template", "fenced_tool_template", "plain_tool_turns"]
