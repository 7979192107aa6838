"""Failures: HTTP errors and retries, dropped/malformed/stalled streams, bad configuration."""

from __future__ import annotations

import socket
import sys
from collections.abc import AsyncIterator

import pytest

from tyler import Agent, EventType, ExecutionEvent, Message, Thread
from tyler.exceptions import (
    AuthenticationError,
    ConfigurationError,
    ExecutionError,
    ModelConnectionError,
    ModelHTTPError,
    ModelResponseError,
    ModelTimeoutError,
    ProviderNotFoundError,
    RateLimitError,
    StallTimeoutError,
    TylerError,
)
from tyler.providers.base import ModelRequest
from tyler.testing import FakeModelServer, FunctionModel, Turn

OPENAI_MODEL = "gpt-4o"
ANTHROPIC_MODEL = "anthropic/claude-3-7-sonnet-20250219"
BOTH = pytest.mark.parametrize("model", [OPENAI_MODEL, ANTHROPIC_MODEL], ids=["openai", "anthropic"])


def user_thread(text: str = "Hello") -> Thread:
    thread = Thread()
    thread.add_message(Message(role="user", content=text))
    return thread


async def collect(agent: Agent, thread: Thread | str) -> list[ExecutionEvent]:
    return [event async for event in agent.stream(thread)]


def terminal(events: list[ExecutionEvent]) -> ExecutionEvent:
    ends = [e for e in events if e.type in (EventType.EXECUTION_COMPLETE, EventType.EXECUTION_ERROR)]
    assert len(ends) == 1, [e.type for e in events]
    assert events[-1] is ends[0]
    return ends[0]


def text_seen(events: list[ExecutionEvent]) -> str:
    return "".join(e.data["content_chunk"] for e in events if e.type is EventType.LLM_STREAM_CHUNK)


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- exactly one terminal event, whatever happens ---------------------------------------------------

SCENARIOS = {
    "success": (Turn(text="fine"), "complete", None),
    "401": (Turn(status=401), "error", "AuthenticationError"),
    "403": (Turn(status=403), "error", "AuthenticationError"),
    "400": (Turn(status=400), "error", "ModelHTTPError"),
    "abort": (Turn(text="one two three four", abort_after=3), "error", "ModelConnectionError"),
    "malformed": (Turn(text="one two three", malformed_at=2), "error", "ModelResponseError"),
    "error_event": (Turn(text="one two three", error_event="overloaded_error"), "error", "ModelResponseError"),
}


@BOTH
@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_exactly_one_terminal_event(env: FakeModelServer, model: str, scenario: str) -> None:
    turn, outcome, error_type = SCENARIOS[scenario]
    env.enqueue(turn)
    events = await collect(Agent(model_name=model, max_retries=0), user_thread())
    end = terminal(events)
    if outcome == "complete":
        assert end.type is EventType.EXECUTION_COMPLETE
        return
    assert end.type is EventType.EXECUTION_ERROR
    assert end.data["error_type"] == error_type
    assert isinstance(end.data["exception"], TylerError)
    assert type(end.data["exception"]).__name__ == error_type
    assert end.data["message"]
    assert end.data["duration_ms"] >= 0
    # No event is lost after the terminal one and the exception message is the event message.
    assert str(end.data["exception"]) == end.data["message"]


# -- HTTP errors and retries -------------------------------------------------------------------------


@BOTH
async def test_500_is_retried_then_succeeds(env: FakeModelServer, model: str) -> None:
    env.enqueue(Turn(status=500, retry_after=0), Turn(status=502, retry_after=0), Turn(text="recovered"))
    result = await Agent(model_name=model).go(user_thread())
    assert result.content == "recovered"
    assert len(env.requests) == 3
    assert [r.status for r in env.requests] == [500, 502, 200]


async def test_retries_are_bounded_by_max_retries(env: FakeModelServer) -> None:
    env.enqueue(Turn(status=500, retry_after=0), repeat=5)
    with pytest.raises(ModelHTTPError) as info:
        await Agent(model_name=OPENAI_MODEL, max_retries=2).go(user_thread())
    assert type(info.value) is ModelHTTPError
    assert info.value.status_code == 500
    assert len(env.requests) == 3


@BOTH
async def test_429_after_retries_is_a_rate_limit_error(env: FakeModelServer, model: str) -> None:
    env.enqueue(Turn(status=429, retry_after=0), repeat=3)
    with pytest.raises(RateLimitError) as info:
        await Agent(model_name=model, max_retries=2).go(user_thread())
    assert info.value.status_code == 429
    assert len(env.requests) == 3


async def test_retry_after_is_honoured(env: FakeModelServer) -> None:
    env.enqueue(Turn(status=429, retry_after=0.4), Turn(text="ok"))
    result = await Agent(model_name=OPENAI_MODEL).go(user_thread())
    assert result.content == "ok"
    first, second = env.requests
    assert first.finished is not None
    assert second.started - first.finished >= 0.35


async def test_retry_after_ms_is_honoured(env: FakeModelServer) -> None:
    env.enqueue(Turn(status=503, headers={"retry-after-ms": "300"}), Turn(text="ok"))
    result = await Agent(model_name=ANTHROPIC_MODEL).go(user_thread())
    assert result.content == "ok"
    first, second = env.requests
    assert first.finished is not None
    assert second.started - first.finished >= 0.25


async def test_retry_without_retry_after_backs_off(env: FakeModelServer) -> None:
    env.enqueue(Turn(status=503), Turn(text="ok"))
    result = await Agent(model_name=OPENAI_MODEL).go(user_thread())
    assert result.content == "ok"
    first, second = env.requests
    assert first.finished is not None
    assert second.started - first.finished >= 0.2  # some backoff, not a hot loop


async def test_a_very_long_retry_after_is_reported_not_slept(env: FakeModelServer) -> None:
    env.enqueue(Turn(status=429, retry_after=3600), Turn(text="never"))
    with pytest.raises(RateLimitError):
        await Agent(model_name=OPENAI_MODEL).go(user_thread())
    assert len(env.requests) == 1


@BOTH
async def test_401_is_not_retried(env: FakeModelServer, model: str) -> None:
    env.enqueue(Turn(status=401, error_message="Invalid API key."), Turn(text="never"))
    events = await collect(Agent(model_name=model), user_thread())
    end = terminal(events)
    assert end.type is EventType.EXECUTION_ERROR
    assert end.data["error_type"] == "AuthenticationError"
    assert isinstance(end.data["exception"], AuthenticationError)
    assert end.data["exception"].status_code == 401
    assert "Invalid API key." in end.data["message"]
    assert len(env.requests) == 1


@BOTH
async def test_api_key_is_sent(clean_env: pytest.MonkeyPatch, model: str) -> None:
    with FakeModelServer(api_key="s3cret") as server:
        base = server.openai_base_url if model == OPENAI_MODEL else server.anthropic_base_url
        ok = await Agent(model_name=model, api_base=base, api_key="s3cret").go(user_thread())
        assert ok.content
        with pytest.raises(AuthenticationError):
            await Agent(model_name=model, api_base=base, api_key="wrong").go(user_thread())
        assert [r.status for r in server.requests] == [200, 401]


async def test_connection_refused(clean_env: pytest.MonkeyPatch) -> None:
    port = closed_port()
    agent = Agent(model_name="openai/gpt-4o", api_base=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0)
    with pytest.raises(ModelConnectionError) as info:
        await agent.go(user_thread())
    assert str(port) in str(info.value)
    events = await collect(agent, user_thread())
    assert terminal(events).data["error_type"] == "ModelConnectionError"


async def test_connection_refused_is_retried(clean_env: pytest.MonkeyPatch) -> None:
    port = closed_port()
    agent = Agent(model_name="openai/gpt-4o", api_base=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=1)
    with pytest.raises(ModelConnectionError):
        await agent.go(user_thread())


@BOTH
async def test_drop_before_the_first_event_is_retried(env: FakeModelServer, model: str) -> None:
    # 200 and headers, then the connection closes before one SSE event: nothing reached the
    # consumer, so this is retried like a refused connection.
    env.enqueue(Turn(text="lost", abort_after=0), Turn(text="second try"))
    thread = user_thread()
    events = await collect(Agent(model_name=model), thread)
    assert terminal(events).type is EventType.EXECUTION_COMPLETE
    assert text_seen(events) == "second try"
    assert len(env.requests) == 2
    assert [m.role for m in thread.messages] == ["user", "assistant"]


async def test_drop_before_the_first_event_shares_the_retry_budget(env: FakeModelServer) -> None:
    drop = Turn(text="lost", abort_after=0)
    env.enqueue(drop, Turn(status=503, retry_after=0), drop, Turn(text="never"))
    with pytest.raises(ModelConnectionError):
        await Agent(model_name=OPENAI_MODEL, max_retries=2).go(user_thread())
    assert len(env.requests) == 3  # drop, 503, drop: two retries in all


# -- broken streams ----------------------------------------------------------------------------------


@BOTH
async def test_mid_stream_abort_keeps_partial_text_and_is_not_replayed(env: FakeModelServer, model: str) -> None:
    env.enqueue(Turn(text="alpha beta gamma delta epsilon zeta", abort_after=5), Turn(text="replayed!"))
    thread = user_thread()
    events = await collect(Agent(model_name=model), thread)
    end = terminal(events)
    assert end.data["error_type"] == "ModelConnectionError"
    seen = text_seen(events)
    assert seen and "alpha".startswith(seen.split()[0])
    assert len(env.requests) == 1  # a started stream is never replayed
    assert env.pending == 1
    partial = thread.messages[-1]
    assert partial.role == "assistant"
    assert partial.interrupted is True
    assert partial.content == seen
    # "error" means one thing on every message (True); the reason is beside it
    assert partial.attributes["error"] is True
    assert partial.attributes["error_type"] == "ModelConnectionError"
    assert "ended" in partial.attributes["error_message"] or "connection" in partial.attributes["error_message"]


@BOTH
async def test_malformed_chunk_is_a_response_error(env: FakeModelServer, model: str) -> None:
    env.enqueue(Turn(text="one two three", malformed_at=3))
    with pytest.raises(ModelResponseError) as info:
        await Agent(model_name=model).go(user_thread())
    assert "malformed" in str(info.value)


@BOTH
async def test_stall_times_out(env: FakeModelServer, model: str) -> None:
    # Stall after two words of text (Anthropic sends three events before the first text).
    env.enqueue(Turn(text="one two three four", stall_after=3 if model == OPENAI_MODEL else 5))
    thread = user_thread()
    events = await collect(Agent(model_name=model, stall_timeout=0.5), thread)
    end = terminal(events)
    assert end.data["error_type"] == "StallTimeoutError"
    assert isinstance(end.data["exception"], ModelTimeoutError)
    assert thread.messages[-1].role == "assistant"
    assert thread.messages[-1].interrupted is True
    assert thread.messages[-1].content == text_seen(events) == "one two "
    assert await env.await_disconnect(timeout=2.0)


@BOTH
async def test_keepalives_alone_do_not_hide_a_stall(env: FakeModelServer, model: str) -> None:
    env.enqueue(Turn(text="one two three four", stall_after=3, keepalive_interval=0.1))
    with pytest.raises(StallTimeoutError):
        await Agent(model_name=model, stall_timeout=0.5).go(user_thread())


async def test_no_response_headers_is_a_stall(env: FakeModelServer) -> None:
    env.enqueue(Turn(text="late", first_byte_delay=1.5))
    with pytest.raises(StallTimeoutError):
        await Agent(model_name=OPENAI_MODEL, stall_timeout=0.3, max_retries=0).go(user_thread())


async def test_anthropic_error_event_mid_stream(env: FakeModelServer) -> None:
    env.enqueue(Turn(text="partial words here", error_event="overloaded_error", error_message="Overloaded"))
    thread = user_thread()
    events = await collect(Agent(model_name=ANTHROPIC_MODEL), thread)
    end = terminal(events)
    assert end.data["error_type"] == "ModelResponseError"
    assert "overloaded_error" in end.data["message"]
    assert "Overloaded" in end.data["message"]
    assert text_seen(events) == "partial words here"
    assert thread.messages[-1].content == "partial words here"
    assert thread.messages[-1].interrupted is True


async def test_openai_error_object_mid_stream(env: FakeModelServer) -> None:
    env.enqueue(Turn(text="some text", error_event="server_error", error_message="boom upstream"))
    with pytest.raises(ModelResponseError) as info:
        await Agent(model_name=OPENAI_MODEL).go(user_thread())
    assert "boom upstream" in str(info.value)


@BOTH
async def test_thread_is_usable_after_a_failure(env: FakeModelServer, model: str) -> None:
    env.enqueue(Turn(text="one two three", abort_after=3), Turn(text="second try works"))
    agent = Agent(model_name=model)
    thread = user_thread()
    await collect(agent, thread)
    thread.add_message(Message(role="user", content="again"))
    result = await agent.go(thread)
    assert result.content == "second try works"


# -- configuration errors ----------------------------------------------------------------------------


async def test_unknown_model_without_litellm_names_the_extra(
    env: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "litellm", None)  # as if the extra were not installed
    # Building the Agent already fails: the user learns it before the first run.
    with pytest.raises(ProviderNotFoundError) as early:
        Agent(model_name="mistral/mistral-large-latest")
    assert "tyler-stream[litellm]" in str(early.value)
    # A custom provider skips routing; the run-time check still names the extra.
    from tyler.providers.litellm import LiteLLMProvider

    agent = Agent(model_name="mistral/mistral-large-latest", provider=LiteLLMProvider("mistral/mistral-large-latest"))
    with pytest.raises(ProviderNotFoundError) as info:
        await agent.go(user_thread())
    from importlib.metadata import metadata

    dist = metadata("tyler-stream")
    assert "litellm" in (dist.get_all("Provides-Extra") or [])
    assert f"{dist['Name']}[litellm]" in str(info.value)
    assert "mistral/mistral-large-latest" in str(info.value)
    assert isinstance(info.value, ConfigurationError)
    events = await collect(agent, user_thread())
    assert terminal(events).data["error_type"] == "ProviderNotFoundError"
    assert env.requests == []


async def test_bad_stream_mode_is_a_configuration_error(env: FakeModelServer) -> None:
    agent = Agent(model_name=OPENAI_MODEL)
    with pytest.raises(ConfigurationError):
        agent.stream(user_thread(), mode="bogus")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        agent.go(user_thread(), stream="bogus")
    assert env.requests == []


async def test_thread_id_without_store(env: FakeModelServer) -> None:
    agent = Agent(model_name=OPENAI_MODEL)
    with pytest.raises(ConfigurationError, match="thread_store"):
        await agent.go("some-thread-id")
    events = await collect(agent, "some-thread-id")
    end = terminal(events)
    assert end.data["error_type"] == "ConfigurationError"
    assert env.requests == []


async def test_empty_thread(env: FakeModelServer) -> None:
    agent = Agent(model_name=OPENAI_MODEL)
    with pytest.raises(ConfigurationError, match="no messages"):
        await agent.go(Thread())
    events = await collect(agent, Thread())
    assert terminal(events).data["error_type"] == "ConfigurationError"
    assert env.requests == []


async def test_not_a_thread(env: FakeModelServer) -> None:
    with pytest.raises(ConfigurationError):
        await Agent(model_name=OPENAI_MODEL).go(42)  # type: ignore[arg-type]


# -- unexpected failures -----------------------------------------------------------------------------


async def _explode(request: ModelRequest) -> AsyncIterator[str]:
    """A model whose stream fails with a non-tyler error after some text."""
    yield "partial "
    raise RuntimeError("kaput")


async def test_unexpected_error_is_wrapped_in_execution_error() -> None:
    agent = Agent(provider=FunctionModel(_explode))
    with pytest.raises(ExecutionError) as info:
        await agent.go(user_thread())
    assert isinstance(info.value.__cause__, RuntimeError)
    assert "kaput" in str(info.value)
    thread = user_thread()
    events = await collect(agent, thread)
    end = terminal(events)
    assert end.data["error_type"] == "RuntimeError"
    assert isinstance(end.data["exception"], ExecutionError)
    assert thread.messages[-1].content == "partial "
    assert thread.messages[-1].interrupted is True


async def test_custom_provider_is_used() -> None:
    echo = FunctionModel(lambda request: "echo: " + request.messages[-1].text)
    result = await Agent(provider=echo).go(user_thread("ping"))
    assert result.content == "echo: ping"
