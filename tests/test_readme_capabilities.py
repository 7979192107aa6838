"""The README's snippets for structured output, delegation and attachments, run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from files_helpers import png
from tyler import EventType, Message, Thread
from tyler.testing import FakeModelServer, FakeToolCall, Turn

README = (Path(__file__).parents[1] / "README.md").read_text()


def snippet(heading: str) -> dict:
    """Run the first python block under `heading`; return the names it defined."""
    section = README.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, heading
    names: dict = {}
    exec(compile(code.group(1), f"README:{heading}", "exec"), names)
    return names


async def test_structured_output_snippet(env: FakeModelServer) -> None:
    env.enqueue(Turn(text='{"name": "Paris"}'), Turn(text='{"name": "Paris", "country": "France"}'))
    city = await snippet("Structured output")["capital_of_france"]()
    assert (city.name, city.country) == ("Paris", "France")


async def test_delegation_snippet(env: FakeModelServer, capsys: pytest.CaptureFixture[str]) -> None:
    names = snippet("Delegation to other agents")
    env.enqueue(
        Turn(tool_calls=[FakeToolCall("researcher", {"task": "t"})]),
        Turn(text="found"),
        Turn(text="done"),
    )
    thread = Thread()
    thread.add_message(Message(role="user", content="q"))
    await names["answer"](thread)
    assert capsys.readouterr().out.splitlines() == ["[researcher] found", "[lead] done"]
    assert [r.model for r in env.requests] == ["gpt-4o", "claude-sonnet-4-5", "gpt-4o"]
    assert names["EventType"] is EventType


async def test_attachments_snippet(env: FakeModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pic.png").write_bytes(png())
    describe = snippet("Attachments: images, PDFs, text files")["describe"]
    env.enqueue(Turn(text="A red square."))
    assert await describe("pic.png") == "A red square."
    assert env.requests[0].images[0]["data"] == png()
    assert len(list((tmp_path / "files").rglob("*.png"))) == 1
    (tmp_path / "big.txt").write_bytes(b"x" * 5_000_001)
    assert (await describe("big.txt")).startswith("refused: attachment 'big.txt' is 5000001 bytes")


async def test_approval_snippet(env: FakeModelServer) -> None:
    names = snippet("Tool approval (human in the loop)")
    env.enqueue(
        Turn(tool_calls=[
            FakeToolCall("pay", {"to": "a", "amount": 50}), FakeToolCall("pay", {"to": "b", "amount": 500}),
            FakeToolCall("pay", {"to": "c", "amount": 50000}),
        ]),
        Turn(text="done"),
    )
    thread = Thread()
    thread.add_message(Message(role="user", content="pay them"))
    await names["pay_with_approval"](thread)
    results = [m.content for m in thread.messages if m.role == "tool"]
    assert results[:2] == ["paid 50.0 to a", "paid 500.0 to b"]
    assert "denied this tool call: over the limit" in results[2]
