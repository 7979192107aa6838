"""tyler.context: what of a thread is sent when it does not fit the context window."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tyler import Agent, EventType, Message, Thread
from tyler.context import (
    ContextPolicy,
    attachment_tokens,
    cut_text,
    estimate_tokens,
    group_units,
    is_context_refusal,
    known_context_window,
    plan_trim,
    refusal_numbers,
)
from tyler.exceptions import ConfigurationError, ContextLengthError, ModelError
from tyler.providers.base import ModelSettings
from tyler.testing import FakeModelServer, Turn


def _call(call_id: str) -> dict[str, object]:
    return {"id": call_id, "type": "function", "function": {"name": "lookup", "arguments": "{}"}}


def _random_thread(rng: random.Random) -> list[Message]:
    """A conversation of random shape: user turns, plain replies, tool rounds of 1-3 calls."""
    messages: list[Message] = []
    for turn in range(rng.randint(1, 8)):
        messages.append(Message(role="user", content="u" * rng.randint(1, 400)))
        for r in range(rng.randint(0, 3)):
            calls = [_call(f"c{turn}_{r}_{k}") for k in range(rng.randint(1, 3))]
            messages.append(Message(role="assistant", content="a" * rng.randint(0, 50), tool_calls=calls))
            messages.extend(
                Message(role="tool", tool_call_id=c["id"], name="lookup", content="t" * rng.randint(1, 2000))
                for c in calls
            )
        if rng.random() < 0.8:  # the last turn may still be inside its tool loop
            messages.append(Message(role="assistant", content="a" * rng.randint(1, 300)))
    return messages


def _check_wire_valid(sent: list[Message], thread: list[Message]) -> None:
    """Every tool result follows its call, every call gets all its results, a user message leads."""
    assert sent[0].role == "user"
    latest_user = next(m for m in reversed(thread) if m.role == "user")
    assert latest_user.id in {m.id for m in sent}
    open_calls: set[str] = set()
    for message in sent:
        if message.role == "tool":
            assert message.tool_call_id in open_calls, "a tool result was sent without its call"
            open_calls.discard(message.tool_call_id)
            continue
        assert not open_calls, "a tool call was sent without all its results"
        if message.tool_calls:
            open_calls = {c["id"] for c in message.tool_calls}
    # The thread's own last round may still wait for results; anything else was answered.
    if open_calls:
        assert sent[-1].id == thread[-1].id or thread[-1].role == "tool"


def test_trim_never_splits_a_tool_call_from_its_results_over_random_threads() -> None:
    rng = random.Random(1313)
    shortened = refused = 0
    for _ in range(600):
        thread = _random_thread(rng)
        costs = [estimate_tokens(m.text) + 6 for m in thread]
        budget = rng.randint(30, max(31, sum(costs)))
        try:
            plan = plan_trim(thread, costs, budget)
        except ContextLengthError as exc:  # even cut to markers, the latest exchange does not fit
            assert exc.limit == budget and exc.tokens is not None and exc.tokens > budget
            refused += 1
            continue
        _check_wire_valid(plan.messages, thread)
        assert plan.tokens <= budget
        assert plan.omitted == len(thread) - len(plan.messages)
        # Kept messages keep their order and (unless cut) their content.
        originals = {m.id: m for m in thread}
        order = [m.id for m in thread]
        assert [order.index(m.id) for m in plan.messages] == sorted(order.index(m.id) for m in plan.messages)
        cut = [m for m in plan.messages if m.content != originals[m.id].content]
        assert len(cut) == plan.truncated
        assert all("characters cut here" in str(m.content) for m in cut)
        shortened += plan.changed
    assert shortened > 300  # the budgets really made most plans shorten something
    assert refused < 60


def test_trim_sends_everything_that_fits_and_the_newest_first() -> None:
    thread = [Message(role="user", content=f"question {i}") for i in range(10)]
    costs = [10] * 10
    assert plan_trim(thread, costs, 100).messages == thread
    plan = plan_trim(thread, costs, 35)
    assert [m.content for m in plan.messages] == ["question 7", "question 8", "question 9"]
    assert plan.omitted == 7 and plan.tokens == 30


def test_a_message_larger_than_the_window_is_cut_with_a_marker_not_fatal() -> None:
    huge = "x" * 50_000 + "THE END"
    thread = [Message(role="user", content="hi"), Message(role="user", content=huge)]
    costs = [estimate_tokens(m.text) + 6 for m in thread]
    plan = plan_trim(thread, costs, 500)
    assert len(plan.messages) == 1 and plan.truncated == 1
    sent = plan.messages[0].text
    assert "characters cut here" in sent and sent.endswith("THE END")
    assert estimate_tokens(sent) <= 500
    assert thread[1].content == huge  # the stored message is untouched


def test_units_group_a_call_with_its_results() -> None:
    thread = [
        Message(role="user", content="q"),
        Message(role="assistant", tool_calls=[_call("a"), _call("b")]),
        Message(role="tool", tool_call_id="a", content="1"),
        Message(role="tool", tool_call_id="b", content="2"),
        Message(role="assistant", content="done"),
    ]
    assert group_units(thread) == [[0], [1, 2, 3], [4]]


def test_cut_text_keeps_head_and_tail() -> None:
    text = "HEAD" + "m" * 10_000 + "TAIL"
    cut = cut_text(text, 200)
    assert cut.startswith("HEAD") and cut.endswith("TAIL") and len(cut) < 1000
    assert cut_text("short", 200) == "short"


def test_known_windows_and_unknown_models() -> None:
    assert known_context_window("gpt-4o-mini") == 128_000
    assert known_context_window("openai/gpt-4.1-nano") == 1_047_576
    assert known_context_window("anthropic/claude-sonnet-4-5") == 200_000
    assert known_context_window("my-own-model") is None


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"error": {"message": "This model's maximum context length is 128000 tokens. However, your "
                         "messages resulted in 130415 tokens.", "code": "context_length_exceeded"}}),
        (400, {"type": "error", "error": {"type": "invalid_request_error",
                                          "message": "prompt is too long: 210000 tokens > 200000 maximum"}}),
        (400, {"error": {"code": 400, "message": "request (528 tokens) exceeds the available context size "
                         "(512 tokens), try increasing it", "type": "exceed_context_size_error",
                         "n_prompt_tokens": 528, "n_ctx": 512}}),
    ],
)
def test_provider_refusals_are_recognised_with_their_numbers(status: int, body: object) -> None:
    assert is_context_refusal(status, body)
    tokens, limit = refusal_numbers(body)
    assert tokens is not None and limit is not None and tokens > limit


def test_other_errors_are_not_context_refusals() -> None:
    assert not is_context_refusal(400, {"error": {"message": "invalid model"}})
    assert not is_context_refusal(500, {"error": {"message": "maximum context length"}})


def test_context_length_error_is_a_model_error() -> None:
    assert issubclass(ContextLengthError, ModelError)


def test_agent_validates_context_settings() -> None:
    with pytest.raises(ConfigurationError, match="context_strategy"):
        Agent(model_name="gpt-4o", context_strategy="drop")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="context_window"):
        Agent(model_name="gpt-4o", context_window=0)
    agent = Agent(model_name="gpt-4o", context_window=1000, context_strategy="summarize")
    assert agent.context_window == 1000 and agent.context_strategy == "summarize"
    assert Agent(model_name="gpt-4o").context_window == 128_000


class _Provider:
    """A provider for the policy alone (the run loop's tests use the fake model server)."""

    name = "counting"

    def __init__(self, window: int | None = None) -> None:
        self.window = window
        self.counted: list[str] = []
        self.requests: list[object] = []

    async def context_info(self) -> tuple[int | None, int | None]:
        return self.window, 50

    async def count_tokens(self, texts: list[str]) -> list[int]:
        self.counted.extend(texts)
        return [len(t) // 4 for t in texts]

    async def stream(self, request):  # type: ignore[no-untyped-def]
        from tyler.providers.base import ModelChunk

        self.requests.append(request)
        yield ModelChunk(text="They talked about cities.")


async def test_policy_counts_each_message_once_and_errors_when_asked() -> None:
    provider = _Provider(window=400)
    thread = Thread(messages=[Message(role="user", content="w" * 400) for _ in range(5)])
    policy = ContextPolicy("my-model", "trim")
    plan = await policy.plan(provider, thread, "system", [], ModelSettings())
    # 100 tokens + 6 of message overhead each; 400 - 50 for the reply - 1 for "system" leaves 349
    assert plan.omitted == 2 and plan.tokens == 318 and plan.budget == 349
    counted = len(provider.counted)
    await policy.plan(provider, thread, "system", [], ModelSettings())
    assert len(provider.counted) == counted  # cached: nothing counted twice
    with pytest.raises(ContextLengthError) as info:
        await ContextPolicy("my-model", "error").plan(provider, thread, "system", [], ModelSettings())
    assert info.value.limit == 400


async def test_a_long_thread_asks_the_tokenizer_only_about_its_newest_messages() -> None:
    provider = _Provider(window=400)
    thread = Thread(messages=[Message(role="user", content=f"{i} " + "w" * 400) for i in range(200)])
    plan = await ContextPolicy("my-model").plan(provider, thread, "system", [], ModelSettings())
    assert plan.omitted == 197
    assert len(provider.counted) < 20  # the rest are left out whatever their exact size


async def test_policy_summarizes_once_and_keeps_the_summary_on_the_thread() -> None:
    provider = _Provider(window=400)
    thread = Thread(messages=[Message(role="user", content=f"{i} " + "w" * 400) for i in range(5)])
    policy = ContextPolicy("my-model", "summarize")
    plan = await policy.plan(provider, thread, "system", [], ModelSettings())
    assert plan.summarized >= 3 and plan.messages[0].role == "system"
    assert "They talked about cities." in plan.messages[0].text
    stored = thread.attributes["tyler.context_summary"]
    assert stored["through"] == thread.messages[plan.summarized - 1].id
    assert len(provider.requests) == 1
    await policy.plan(provider, thread, "system", [], ModelSettings())
    assert len(provider.requests) == 1  # nothing new fell out: the stored summary is reused
    thread.messages.append(Message(role="user", content="5 " + "w" * 400))
    plan = await policy.plan(provider, thread, "system", [], ModelSettings())
    assert len(provider.requests) == 2
    # Only what newly fell out is sent to the summary, with the previous summary.
    prompt = provider.requests[1].messages[0].text
    assert "They talked about cities." in prompt and "0 www" not in prompt


async def test_unknown_window_sends_everything() -> None:
    thread = Thread(messages=[Message(role="user", content="w" * 100_000)])
    plan = await ContextPolicy("my-model").plan(object(), thread, "s", [], ModelSettings())
    assert plan.messages == thread.messages and not plan.changed


@pytest.mark.parametrize(
    ("model", "message", "error_type"),
    [
        ("gpt-4o", "request (528 tokens) exceeds the available context size (512 tokens), try increasing it",
         "exceed_context_size_error"),
        ("anthropic/claude-3-7-sonnet-20250219", "prompt is too long: 210000 tokens > 200000 maximum",
         "invalid_request_error"),
    ],
    ids=["llama.cpp", "anthropic"],
)
async def test_a_provider_refusal_is_a_typed_context_length_error(
    env: FakeModelServer, model: str, message: str, error_type: str
) -> None:
    env.enqueue(Turn(status=400, error_message=message, error_type=error_type))
    thread = Thread(messages=[Message(role="user", content="hello")])
    with pytest.raises(ContextLengthError) as info:
        await Agent(model_name=model, context_strategy="error").go(thread)
    assert info.value.status_code == 400 and info.value.tokens and info.value.limit
    assert info.value.tokens > info.value.limit
    assert [m.role for m in thread.messages] == ["user"]  # nothing lost, nothing invented


# -- through the run loop, against the fake model server ---------------------------------------


def _long_thread(turns: int, size: int = 600) -> Thread:
    thread = Thread()
    for i in range(turns):
        thread.add_message(Message(role="user", content=f"question {i} " + "q" * size))
        thread.add_message(Message(role="assistant", content=f"answer {i} " + "a" * size))
    thread.add_message(Message(role="user", content="the latest question"))
    return thread


async def test_trim_sends_the_recent_messages_and_keeps_the_thread_whole(env: FakeModelServer) -> None:
    thread = _long_thread(10)
    env.enqueue(Turn(text="fine", finish_reason="length"))
    events = [e async for e in Agent(model_name="gpt-4o", context_window=1500, max_tokens=100).stream(thread)]
    trimmed = [e for e in events if e.type is EventType.CONTEXT_TRIMMED]
    assert len(trimmed) == 1 and trimmed[0].data["strategy"] == "trim"
    assert trimmed[0].data["omitted_messages"] > 0 and trimmed[0].data["context_window"] == 1500
    sent = env.requests[-1].body["messages"]
    assert sent[0]["role"] == "system" and sent[1]["role"] == "user"
    assert sent[-1] == {"role": "user", "content": "the latest question"}
    assert len(sent) - 1 == len(thread.messages) - 1 - trimmed[0].data["omitted_messages"]
    assert len(thread.messages) == 22  # 21 stored before, the reply added; nothing dropped
    assert events[-1].type is EventType.EXECUTION_COMPLETE and events[-1].data["finish_reason"] == "length"


async def test_a_huge_tool_result_is_cut_in_the_request_only(env: FakeModelServer) -> None:
    from tyler.testing import FakeToolCall

    def dump() -> str:
        """Return a lot of text."""
        return "start " + "x" * 40_000 + " end"

    env.enqueue(Turn(tool_calls=[FakeToolCall("dump", {})]), Turn(text="done"))
    thread = Thread(messages=[Message(role="user", content="dump it")])
    result = await Agent(model_name="gpt-4o", tools=[dump], context_window=2000, max_tokens=100).go(thread)
    assert result.content == "done"
    tool_sent = next(m for m in env.requests[-1].body["messages"] if m["role"] == "tool")
    assert "characters cut here" in tool_sent["content"] and tool_sent["content"].endswith(" end")
    assert len(tool_sent["content"]) < 8000
    stored = next(m for m in thread.messages if m.role == "tool")
    assert len(stored.text) > 40_000  # the thread keeps it whole


async def test_a_refused_request_is_retried_once_shorter(env: FakeModelServer) -> None:
    thread = _long_thread(6)
    env.enqueue(
        Turn(status=400, error_message="request (9000 tokens) exceeds the available context size (4096 tokens)",
             error_type="exceed_context_size_error"),
        Turn(text="short enough"),
    )
    events = [e async for e in Agent(model_name="my-model", api_base=f"{env.url}/v1").stream(thread)]
    assert events[-1].type is EventType.EXECUTION_COMPLETE, events[-1].data
    first, second = env.requests[-2:]
    assert len(second.body["messages"]) < len(first.body["messages"])
    assert second.body["messages"][-1]["content"] == "the latest question"
    assert [e.type for e in events].count(EventType.CONTEXT_TRIMMED) == 1
    # Refused twice: the second refusal is the run's error, not a third request.
    env.enqueue(*[Turn(status=400, error_message="prompt is too long: 9000 tokens > 4096 maximum")] * 2)
    before = len(env.requests)
    with pytest.raises(ContextLengthError):
        await Agent(model_name="my-model", api_base=f"{env.url}/v1").go(thread)
    assert len(env.requests) - before == 2


async def test_error_strategy_raises_before_sending(env: FakeModelServer) -> None:
    before = len(env.requests)
    with pytest.raises(ContextLengthError, match="context window"):
        await Agent(model_name="gpt-4o", context_window=500, context_strategy="error").go(_long_thread(5))
    assert len(env.requests) == before


async def test_summarize_through_the_loop_is_kept_and_reused(env: FakeModelServer) -> None:
    thread = _long_thread(8)
    agent = Agent(model_name="gpt-4o", context_window=2000, max_tokens=100, context_strategy="summarize")
    env.enqueue(Turn(text="SUMMARY: eight questions were asked."), Turn(text="the reply"))
    events = [e async for e in agent.stream(thread)]
    assert events[-1].type is EventType.EXECUTION_COMPLETE, events[-1].data
    summary_request, reply_request = env.requests[-2:]
    assert "Summarise this earlier part" in summary_request.body["messages"][-1]["content"]
    assert "tools" not in summary_request.body
    summary_sent = reply_request.body["messages"][1]
    assert summary_sent["role"] == "system" and "SUMMARY: eight questions were asked." in summary_sent["content"]
    report = next(e for e in events if e.type is EventType.CONTEXT_TRIMMED).data
    assert report["strategy"] == "summarize" and report["summarized_messages"] > 0
    assert thread.attributes["tyler.context_summary"]["text"] == "SUMMARY: eight questions were asked."
    # The next turn reuses the stored summary while nothing new falls out of the window.
    thread.add_message(Message(role="user", content="one more"))
    env.enqueue(Turn(text="again"))
    before = len(env.requests)
    await agent.go(thread)
    assert len(env.requests) == before + 1


async def test_an_unanswered_message_is_kept_but_not_sent_again(env: FakeModelServer) -> None:
    thread = Thread(messages=[
        Message(role="user", content="Tell me about Paris"),
        Message(role="assistant", content="Paris is big."),
        Message(role="user", content="And Rome?", attributes={"unanswered": True}),
        Message(role="user", content="And Berlin?"),
    ])
    env.enqueue(Turn(text="Berlin is cold."))
    await Agent(model_name="gpt-4o").go(thread)
    sent = [m["content"] for m in env.requests[-1].body["messages"] if m["role"] == "user"]
    assert sent == ["Tell me about Paris", "And Berlin?"]
    assert len(thread.messages) == 5


async def test_a_replaced_reply_is_kept_but_never_sent(env: FakeModelServer) -> None:
    # As the server leaves it after an AI SDK regenerate: the old answer (and its tool call) stay
    # on the thread, marked, and the model is asked the question again without them.
    replaced = {"replaced": {"reason": "regenerate", "at": "2026-12-03T10:00:00+00:00"}}
    thread = Thread(messages=[
        Message(role="user", content="Weather in Paris?"),
        Message(role="assistant", content="", attributes=dict(replaced), tool_calls=[
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]),
        Message(role="tool", content="Sunny", tool_call_id="call_1", name="get_weather", attributes=dict(replaced)),
        Message(role="assistant", content="It is sunny.", attributes=dict(replaced)),
    ])
    env.enqueue(Turn(text="Sunny and warm."))
    await Agent(model_name="gpt-4o").go(thread)
    sent = [(m["role"], m["content"]) for m in env.requests[-1].body["messages"] if m["role"] != "system"]
    assert sent == [("user", "Weather in Paris?")]
    assert len(thread.messages) == 5 and thread.messages[-1].content == "Sunny and warm."


_CITIES = ("Paris", "Tokyo", "Lagos", "Lima", "Oslo", "Cairo", "Delhi", "Quito", "Perth", "Seoul")


@pytest.mark.local_model
@pytest.mark.timeout(600)
async def test_a_long_chat_keeps_answering_in_a_small_local_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's repro: a 512-token window used to refuse every message after the fourth."""
    from tyler import EventType, ThreadStore
    from tyler.providers import local

    if not local.is_local_model_available():
        pytest.skip("needs xllamacpp and the model wheel")
    monkeypatch.setenv("TYLER_LOCAL_N_CTX", "512")
    monkeypatch.setenv("TYLER_LOCAL_N_PREDICT", "24")  # short replies: 20 turns stay quick
    local.stop_local_servers()  # the window is read when the server starts
    trimmed = 0
    try:
        async with await ThreadStore.create(f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}") as store:
            agent = Agent(model_name="local/smollm2", thread_store=store)
            thread = Thread()
            for turn in range(20):
                thread.add_message(Message(role="user", content=f"Tell me about {_CITIES[turn % 10]}."))
                last_trimmed = False
                async for event in agent.stream(thread):
                    assert event.type is not EventType.EXECUTION_ERROR, event.data["message"]
                    last_trimmed = last_trimmed or event.type is EventType.CONTEXT_TRIMMED
                trimmed += last_trimmed
                assert thread.messages[-1].role == "assistant" and thread.messages[-1].text.strip()
            stored = await store.get_thread(thread.id)
    finally:
        local.stop_local_servers()
    assert [m.role for m in stored.messages] == ["user", "assistant"] * 20  # every turn kept
    # The window really was too small: the later turns (how many depends on reply lengths) and the
    # last one sent only part of the conversation.
    assert trimmed >= 5 and last_trimmed


# -- attachments count in the budget ------------------------------------------------------------


def _attachment_thread() -> Thread:
    """Three images in an early message, a text file later, then the latest question."""
    from files_helpers import png

    thread = Thread()
    pictures = Message(role="user", content="what are these?")
    for i in range(3):
        pictures.add_attachment(png(), filename=f"pic{i}.png")
    thread.add_message(pictures)
    thread.add_message(Message(role="assistant", content="Three red squares."))
    notes = Message(role="user", content="and this file?")
    notes.add_attachment(b"note " * 1400, filename="notes.txt")  # 7,000 bytes of text
    thread.add_message(notes)
    thread.add_message(Message(role="assistant", content="Notes about notes."))
    thread.add_message(Message(role="user", content="the latest question"))
    return thread


def test_attachments_are_estimated_by_kind() -> None:
    from files_helpers import pdf, png

    message = Message(role="user", content="hi")
    assert attachment_tokens(message) == 0
    message.add_attachment(png(), filename="a.png")
    assert attachment_tokens(message) == 1_600
    message.add_attachment(b"x" * 3500, filename="a.txt")
    assert attachment_tokens(message) == 1_600 + 20 + 1000
    doc = Message(role="user", content="read")
    doc.add_attachment(pdf("hello"), filename="a.pdf")
    assert attachment_tokens(doc) > 20  # unextracted: sized from the file
    doc.attachments[0]._text = "t" * 700
    assert attachment_tokens(doc) == 20 + 200


async def test_attachments_that_overflow_the_window_get_the_thread_trimmed() -> None:
    thread = _attachment_thread()
    # No tokenizer: estimates. The texts alone (~40 tokens) fit 4,000 easily; the images do not.
    plan = await ContextPolicy("gpt-4o", "trim", window=4000).plan(
        object(), thread, "system", [], ModelSettings(max_tokens=100)
    )
    assert plan.omitted == 2  # the images' message and its answer
    assert [m.text for m in plan.messages] == ["and this file?", "Notes about notes.", "the latest question"]
    assert plan.tokens <= plan.budget and plan.tokens > 2000  # the text file is counted too


async def test_attachments_trimmed_through_the_run_loop(env: FakeModelServer) -> None:
    thread = _attachment_thread()
    env.enqueue(Turn(text="fine"))
    agent = Agent(model_name="gpt-4o", context_window=4000, max_tokens=100)
    events = [e async for e in agent.stream(thread)]
    trimmed = [e for e in events if e.type is EventType.CONTEXT_TRIMMED]
    assert len(trimmed) == 1 and trimmed[0].data["omitted_messages"] == 2
    request = env.requests[-1]
    assert request.images == []  # the pictures were left out of the request...
    assert len(thread.messages[0].attachments) == 3  # ...not out of the thread
    assert "note note" in str(request.body["messages"])  # the text file was sent
