"""The spec's full programs, run as written in a subprocess against the fake model server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from spec_support import run_program

from tyler.testing import FakeModelServer, Turn

STORY = "Once upon a time, a small crew left Earth to map the rings of Saturn. They came home wiser."


def test_event_streaming_prints_the_story(blocks, fake: FakeModelServer, tmp_path: Path) -> None:
    fake.enqueue(Turn(text=STORY))
    out = run_program(blocks["Event Streaming (Recommended)#1"].code, fake, tmp_path).stdout
    assert out == f"🤖 Assistant: {STORY}\n"
    (request,) = fake.requests
    assert request.api == "openai" and request.model == "gpt-4"
    assert request.body["stream"] is True
    assert request.messages[-1] == {"role": "user", "content": "Tell me a story about space exploration"}


def test_raw_streaming_prints_text_and_usage(blocks, fake: FakeModelServer, tmp_path: Path) -> None:
    fake.enqueue(Turn(text="Hello! How can I help you today?", usage={"prompt_tokens": 21, "completion_tokens": 9}))
    out = run_program(blocks["Raw Streaming (Advanced)#1"].code, fake, tmp_path).stdout
    assert out == "Hello! How can I help you today?\n\nTokens: 30\n"
    (request,) = fake.requests
    assert request.model == "gpt-4o"
    # Usage only arrives when asked for: the agent must request it for the spec's "Tokens:" line.
    assert request.body.get("stream_options") == {"include_usage": True}


def test_raw_streaming_runs_tools_between_turns(blocks, fake: FakeModelServer, tmp_path: Path) -> None:
    # The block's agent has no tools, so a tool call gets an error tool result; the run still goes
    # on to a second model turn and both turns' usage chunks are printed.
    from tyler.testing import FakeToolCall

    fake.enqueue(
        Turn(tool_calls=[FakeToolCall("lookup", {"q": "x"})], usage={"prompt_tokens": 5, "completion_tokens": 2}),
        Turn(text="Done.", usage={"prompt_tokens": 8, "completion_tokens": 1}),
    )
    out = run_program(blocks["Raw Streaming (Advanced)#1"].code, fake, tmp_path).stdout
    assert out == "\n\nTokens: 7\nDone.\n\nTokens: 9\n"
    assert len(fake.requests) == 2
    tool_message = fake.requests[1].messages[-1]
    assert tool_message["role"] == "tool" and "unknown tool" in tool_message["content"]


def _thread_store_available() -> bool:
    try:
        from tyler import ThreadStore  # noqa: F401
    except ImportError:
        return False
    return True


def test_terminal_chat_starts_then_resumes(blocks, fake: FakeModelServer, tmp_path: Path) -> None:
    if not _thread_store_available():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("tyler.ThreadStore is not importable: the terminal chat example cannot run")
        pytest.skip("tyler.ThreadStore has not landed yet")
    code = blocks["Terminal chat interface#1"].code
    fake.enqueue(Turn(text="Hi! Nice to meet you."))
    first = run_program(code, fake, tmp_path, stdin="hello\nexit\n").stdout
    assert first.startswith("🆕 Starting new conversation...\n")
    assert "\n🤖 Hi! Nice to meet you.\n\n" in first
    assert "📚" not in first
    assert (tmp_path / "chat.db").is_file()

    fake.enqueue(Turn(text="You said hello before."))
    second = run_program(code, fake, tmp_path, stdin="again\nquit\n").stdout
    assert second.startswith("📚 Resuming conversation...\n")
    assert "\n🤖 You said hello before.\n\n" in second
    # The resumed thread carried the first conversation to the model.
    history = [(m["role"], m["content"]) for m in fake.requests[1].messages if m["role"] != "system"]
    assert history == [("user", "hello"), ("assistant", "Hi! Nice to meet you."), ("user", "again")]
