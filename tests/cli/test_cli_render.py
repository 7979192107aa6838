"""Pieces of the renderers that are plain functions: block splitting, usage, abbreviation."""

from __future__ import annotations

import io
import re

from tyler.cli.render import PlainRenderer, TurnStats, abbreviate, complete_blocks_end
from tyler.events import EventType, ExecutionEvent


def test_complete_blocks_end_keeps_open_blocks_live() -> None:
    text = "para one\n\npara two still"
    assert text[: complete_blocks_end(text)] == "para one\n\n"
    assert complete_blocks_end("one line\nand another") == 0
    fenced = "```py\nx = 1\n\ny = 2\n"  # a blank line inside an open fence ends nothing
    assert complete_blocks_end(fenced) == 0
    closed = fenced + "```\n\nafter"
    assert closed[: complete_blocks_end(closed)] == fenced + "```\n\n"
    assert complete_blocks_end("\n\nleading blank lines only") == 0


def test_turn_stats_from_events() -> None:
    stats = TurnStats()
    stats.observe(ExecutionEvent(EventType.LLM_STREAM_CHUNK, data={"content_chunk": "hi"}))
    stats.observe(
        ExecutionEvent(
            EventType.LLM_RESPONSE, data={"tokens": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}
        )
    )
    stats.observe(ExecutionEvent(EventType.EXECUTION_COMPLETE, data={"duration_ms": 1500.0, "total_tokens": 15}))
    summary = stats.summary()
    # Times come from the renderer's own clock (see test_first_token_is_never_later_than_the_total).
    assert re.match(r"15 tokens \(10 in, 5 out\) · \d+\.\d\d s · first token \d+\.\d\d s", summary), summary
    assert stats.tokens_per_second is not None and stats.tokens_per_second > 0
    failed = TurnStats()
    failed.observe(ExecutionEvent(EventType.EXECUTION_ERROR, data={"message": "boom", "error_type": "ModelError"}))
    assert (failed.error, failed.error_type) == ("boom", "ModelError")


def test_abbreviate() -> None:
    assert abbreviate({"path": "a.txt"}) == '{"path": "a.txt"}'
    long = abbreviate("x" * 500, limit=100)
    assert long.startswith("x" * 100) and long.endswith("(400 more chars)")
    lines = abbreviate("\n".join(str(i) for i in range(20)), max_lines=3)
    assert lines == "0\n1\n2\n… (17 more lines)"


def test_plain_renderer_separates_answer_from_the_rest() -> None:
    out, err = io.StringIO(), io.StringIO()
    renderer = PlainRenderer(out, err)
    for event in (
        ExecutionEvent(EventType.LLM_THINKING_CHUNK, data={"thinking_chunk": "hmm"}),
        ExecutionEvent(EventType.LLM_STREAM_CHUNK, data={"content_chunk": "Hello"}),
        ExecutionEvent(EventType.TOOL_SELECTED, data={"tool_name": "t", "arguments": {"a": 1}}),
        ExecutionEvent(EventType.TOOL_RESULT, data={"tool_name": "t", "result": "done"}),
        ExecutionEvent(EventType.LLM_STREAM_CHUNK, data={"content_chunk": " world"}),
        ExecutionEvent(EventType.EXECUTION_COMPLETE, data={"duration_ms": 1.0}),
    ):
        renderer.handle(event)
    assert out.getvalue() == "Hello world\n"
    assert err.getvalue() == '[thinking] hmm\n[tool] t({"a": 1})\n[tool] t result: done\n'


def test_rich_renderer_full_reply_to_a_plain_console() -> None:
    from rich.console import Console

    from tyler.cli.render import RichRenderer

    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=False, color_system=None)
    renderer = RichRenderer(console)
    events = [
        (EventType.LLM_THINKING_CHUNK, {"thinking_chunk": "pondering deeply"}),
        (EventType.TOOL_SELECTED, {"tool_name": "lookup", "arguments": {"q": "x"}, "tool_call_id": "c1"}),
        (EventType.TOOL_PROGRESS, {"tool_name": "lookup", "tool_call_id": "c1", "progress": 1, "total": 2}),
        (EventType.TOOL_RESULT, {"tool_name": "lookup", "tool_call_id": "c1", "result": "found it\n"}),
        (EventType.LLM_STREAM_CHUNK, {"content_chunk": "# Heading\n\nSome **bold**"}),
        (EventType.LLM_STREAM_CHUNK, {"content_chunk": " text.\n\n- a\n- b"}),
        (EventType.LLM_RESPONSE, {"tokens": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}),
        (EventType.EXECUTION_COMPLETE, {"duration_ms": 250.0, "total_tokens": 7}),
    ]
    for kind, data in events:
        renderer.handle(ExecutionEvent(kind, data=data))
    text = out.getvalue()
    order = [
        "▾ thinking",
        "pondering deeply",
        "🔧 lookup",
        '{"q": "x"}',
        "found it",
        "Heading",
        "Some bold text.",
        "• a",
        "• b",
        "7 tokens (3 in, 4 out) · ",
    ]
    positions = [text.find(piece) for piece in order]
    assert -1 not in positions, text
    assert positions == sorted(positions), text
    assert "**" not in text  # Markdown was rendered, not echoed
    lines = [line.rstrip() for line in text.splitlines()]
    # Each part starts on a line of its own (rich ends a live region with a newline only on a
    # terminal), and the result's trailing newline adds no empty row to the panel.
    assert not any("╯╭" in line for line in lines), text
    assert lines[-1].startswith("7 tokens"), text
    result_row = next(i for i, line in enumerate(lines) if "found it" in line)
    assert lines[result_row + 1].startswith("╰"), text


def test_a_shortened_context_is_said_once_on_stderr() -> None:
    out, err = io.StringIO(), io.StringIO()
    renderer = PlainRenderer(out, err)
    renderer.handle(ExecutionEvent(EventType.CONTEXT_TRIMMED, data={
        "strategy": "trim", "omitted_messages": 6, "summarized_messages": 0, "truncated_messages": 1,
    }))
    renderer.handle(ExecutionEvent(EventType.LLM_STREAM_CHUNK, data={"content_chunk": "ok"}))
    renderer.handle(ExecutionEvent(EventType.EXECUTION_COMPLETE, data={"duration_ms": 1.0}))
    assert out.getvalue() == "ok\n"
    assert err.getvalue() == (
        "[context] 6 earlier messages left out, 1 long messages cut to fit the model's context "
        "window (all are kept in the conversation)\n"
    )


def test_one_base_dispatches_every_event_to_its_hook() -> None:
    """The event vocabulary is read once, in `Renderer.handle`: a renderer only overrides hooks."""
    from typing import Any

    from tyler.cli.render import JsonRenderer, Renderer, RichRenderer

    class Recorder(Renderer):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[tuple[Any, ...]] = []

        def on_text(self, chunk: str) -> None:
            self.calls.append(("text", chunk))

        def on_thinking(self, chunk: str) -> None:
            self.calls.append(("thinking", chunk))

        def on_tool_selected(self, data: dict[str, Any]) -> None:
            self.calls.append(("selected", data["tool_name"]))

        def on_tool_progress(self, data: dict[str, Any]) -> None:
            self.calls.append(("progress", data["progress"]))

        def on_approval_requested(self, data: dict[str, Any]) -> None:
            self.calls.append(("approval", data["tool_name"]))

        def on_tool_finished(self, data: dict[str, Any], *, failed: bool) -> None:
            self.calls.append(("finished", data["tool_name"], failed))

        def on_iteration_limit(self, data: dict[str, Any]) -> None:
            self.calls.append(("limit", data["iterations_used"]))

        def on_context_trimmed(self, data: dict[str, Any]) -> None:
            self.calls.append(("trimmed", data["strategy"]))

        def on_end(self, *, failed: bool) -> None:
            self.calls.append(("end", failed))

    events = [
        (EventType.LLM_THINKING_CHUNK, {"thinking_chunk": "hmm"}),
        (EventType.LLM_THINKING_CHUNK, {"thinking_chunk": ""}),  # empty pieces reach no hook
        (EventType.LLM_STREAM_CHUNK, {"content_chunk": "Hi"}),
        (EventType.LLM_STREAM_CHUNK, {"content_chunk": ""}),
        (EventType.TOOL_SELECTED, {"tool_name": "a"}),
        (EventType.APPROVAL_REQUESTED, {"tool_name": "a"}),
        (EventType.TOOL_PROGRESS, {"tool_name": "a", "progress": 1}),
        (EventType.TOOL_RESULT, {"tool_name": "a", "result": "r"}),
        (EventType.TOOL_ERROR, {"tool_name": "b", "error": "e"}),
        (EventType.ITERATION_LIMIT, {"iterations_used": 3}),
        (EventType.CONTEXT_TRIMMED, {"strategy": "trim"}),
        (EventType.LLM_RESPONSE, {"tokens": {"total_tokens": 4}}),  # stats only
        (EventType.EXECUTION_ERROR, {"message": "boom", "error_type": "ModelError"}),
        (EventType.EXECUTION_COMPLETE, {"duration_ms": 1.0}),
    ]
    recorder = Recorder()
    for type_, data in events:
        recorder.handle(ExecutionEvent(type_, data=data))
    assert recorder.calls == [
        ("thinking", "hmm"), ("text", "Hi"), ("selected", "a"), ("approval", "a"), ("progress", 1),
        ("finished", "a", False), ("finished", "b", True), ("limit", 3), ("trimmed", "trim"),
        ("end", True), ("end", False),
    ]
    assert recorder.stats.total_tokens == 4 and recorder.stats.error == "boom"  # the base keeps the stats
    assert all(issubclass(cls, Renderer) for cls in (RichRenderer, PlainRenderer, JsonRenderer))


def test_error_text_is_the_label_then_the_message_read_literally() -> None:
    from tyler.cli.render import error_text

    line = error_text("ValueError", "bad [bold]input[/bold]")
    assert line.plain == "ValueError: bad [bold]input[/bold]"
    assert [(line.plain[s.start:s.end], str(s.style)) for s in line.spans] == [("ValueError:", "bold red")]
    assert error_text(None, "no such thread", style="red").plain == "no such thread"
