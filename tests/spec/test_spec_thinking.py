"""The "Thinking Tokens" section, for an Anthropic extended-thinking model and for o1-preview.

The scripted thinking and answer are taken from the spec's own sample output, so the test checks
that the printed [type] lines are the sample's lines.
"""

from __future__ import annotations

import dataclasses
import re

import pytest
from spec_support import exec_fragment, namespace, parse_blocks, user_thread

from tyler import Agent
from tyler.testing import FakeModelServer, Turn

CLAUDE = "anthropic/claude-3-7-sonnet-20250219"
# (model, thinking_type the events report, wire API the request must use)
MODELS = [(CLAUDE, "reasoning", "anthropic"), ("o1-preview", "reasoning", "openai")]


def sample(spec_text: str) -> tuple[list[str], str]:
    """(thinking chunks, response) from the spec's "Output:" block."""
    (block,) = [b for b in parse_blocks(spec_text) if b.marker == "Event Streaming with Thinking[text]#1"]
    lines = block.code.splitlines()
    thinking = [line.removeprefix("[reasoning] ") for line in lines if line.startswith("[reasoning] ")]
    (response,) = [line.removeprefix("💬 Response: ") for line in lines if line.startswith("💬")]
    assert len(thinking) == 2 and response
    return thinking, response


def thinking_turn(spec_text: str) -> Turn:
    thinking, response = sample(spec_text)
    return Turn(thinking_chunks=thinking, text=response)


def with_model(code: str, model: str) -> str:
    """The block with the alternative model its own comment names (`# or "o1-preview"`)."""
    if model == CLAUDE:
        return code
    pattern = re.compile(r'model_name="[^"]+",(\s*)# or "' + re.escape(model) + '"')
    new, count = pattern.subn(f'model_name="{model}",\\1#', code)
    assert count == 1, "the block no longer offers this model as an alternative"
    return new


@pytest.mark.parametrize(("model", "kind", "api"), MODELS)
async def test_event_streaming_with_thinking(blocks, spec_text, fake: FakeModelServer, capsys, model, kind, api):
    thinking, response = sample(spec_text)
    fake.enqueue(thinking_turn(spec_text))
    block = blocks["Event Streaming with Thinking#1"]
    ns = namespace()
    await exec_fragment(dataclasses.replace(block, code=with_model(block.code, model)), ns)
    out = capsys.readouterr().out
    expected_lines = "".join(f"\n[{kind}] {t}\n" for t in thinking)
    assert out == "💭 Thinking: \n💬 Response: " + expected_lines + response
    if kind == "reasoning":  # the spec's sample lines, verbatim
        for t in thinking:
            assert f"[reasoning] {t}" in out.splitlines()
    (request,) = fake.requests
    assert request.api == api and request.model == model.removeprefix("anthropic/")
    assert ns["agent"].model_name == model
    assert request.messages[-1]["role"] == "user"


@pytest.mark.parametrize(("model", "kind", "api"), MODELS)
async def test_thinking_in_message_object(blocks, spec_text, fake: FakeModelServer, capsys, model, kind, api):
    thinking, response = sample(spec_text)
    fake.enqueue(thinking_turn(spec_text))
    thread = user_thread("What's 137 * 284? Show your thinking.")
    await exec_fragment(blocks["Thinking in Message Object#1"], namespace(agent=Agent(model_name=model), thread=thread))
    assert capsys.readouterr().out == f"Full reasoning: {''.join(thinking)}\n"
    final = thread.messages[-1]
    assert final.role == "assistant" and final.content == response
    assert final.reasoning_content == "".join(thinking)


@pytest.mark.parametrize(("model", "kind", "api"), MODELS)
async def test_raw_streaming_with_thinking(blocks, spec_text, fake: FakeModelServer, capsys, model, kind, api):
    thinking, response = sample(spec_text)
    fake.enqueue(thinking_turn(spec_text))
    thread = user_thread("What's 137 * 284?")
    ns = namespace(agent=Agent(model_name=model), thread=thread)
    await exec_fragment(blocks["Raw Streaming with Thinking#1"], ns)
    out = capsys.readouterr().out
    assert out == "".join(f"[Reasoning] {t}\n" for t in thinking) + response
    # Raw mode keeps the run agentic: the thread has the answer and its reasoning too.
    assert thread.messages[-1].reasoning_content == "".join(thinking)


@pytest.mark.parametrize(("model", "kind", "api"), MODELS)
async def test_ui_pattern_separated_display(blocks, spec_text, fake: FakeModelServer, capsys, model, kind, api):
    thinking, response = sample(spec_text)
    fake.enqueue(thinking_turn(spec_text))
    ns = namespace(agent=Agent(model_name=model), thread=user_thread("What's 137 * 284?"))
    await exec_fragment(blocks["UI Pattern: Separated Display#1"], ns)
    assert capsys.readouterr().out == (
        "─── Thinking Process (click to expand) ───\n"
        f"{''.join(thinking)}\n"
        "─── Response ───\n"
        f"{response}\n"
    )
    assert ns["thinking_section"] == thinking


async def test_backward_compatibility_without_thinking(blocks, fake: FakeModelServer, capsys):
    fake.enqueue(Turn(text="Plain answer, no reasoning."))
    ns = namespace(agent=Agent(model_name=CLAUDE), thread=user_thread("Hi"))
    await exec_fragment(blocks["Backward Compatibility#1"], ns)
    assert capsys.readouterr().out == "Plain answer, no reasoning."
    assert ns["agent"].name == "regular" and ns["agent"].model_name == "gpt-4o"
    (request,) = fake.requests
    assert request.api == "openai" and request.model == "gpt-4o"
    assert ns["thread"].messages[-1].reasoning_content is None
