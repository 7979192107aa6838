"""Turning an event stream into output: live rich rendering, plain text, or JSON Lines.

Every renderer has the same three methods: `handle(event)`, `interrupted()` and `close()`, and
keeps a `TurnStats` so the caller can report usage after the reply.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from ..events import EventType, ExecutionEvent

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.live import Live
    from rich.text import Text

_CONTENT_EVENTS = (EventType.LLM_STREAM_CHUNK, EventType.LLM_THINKING_CHUNK)


@dataclass
class TurnStats:
    """Usage of one reply: tokens, wall time, generation speed, time to the first token."""

    started: float = field(default_factory=time.perf_counter)
    first_token_at: float | None = None
    call_started: float | None = None
    streaming_seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    duration_ms: float | None = None
    finished_at: float | None = None
    finish_reason: str | None = None
    error: str | None = None
    error_type: str | None = None
    # The exception behind EXECUTION_ERROR: callers test its class (subclasses included), not a name.
    exception: BaseException | None = None

    def observe(self, event: ExecutionEvent) -> None:
        now = time.perf_counter()
        kind = event.type
        if kind in _CONTENT_EVENTS or kind == EventType.LLM_TOOL_CALL_CHUNK:
            if self.first_token_at is None:
                self.first_token_at = now
            if self.call_started is None:
                self.call_started = now
        elif kind == EventType.LLM_RESPONSE:
            if self.call_started is not None:
                self.streaming_seconds += now - self.call_started
                self.call_started = None
            self.finish_reason = event.data.get("finish_reason")
            usage = event.data.get("tokens") or {}
            self.prompt_tokens += int(usage.get("prompt_tokens") or 0)
            self.completion_tokens += int(usage.get("completion_tokens") or 0)
            self.total_tokens += int(usage.get("total_tokens") or 0)
        elif kind == EventType.EXECUTION_COMPLETE:
            self.finished_at = now
            self.duration_ms = event.data.get("duration_ms")
            total = event.data.get("total_tokens")
            if total:
                self.total_tokens = int(total)
        elif kind == EventType.EXECUTION_ERROR:
            self.finished_at = now
            self.error = str(event.data.get("message") or "unknown error")
            self.error_type = event.data.get("error_type")
            self.exception = event.data.get("exception")

    @property
    def elapsed(self) -> float:
        # The same clock as the first token's: the run's own duration_ms starts later than this
        # renderer (a model loading in another thread can hold the interpreter in between), and a
        # first token shown later than the total reads as nonsense.
        return (self.finished_at or time.perf_counter()) - self.started

    @property
    def truncated(self) -> bool:
        """The last reply stopped at the token limit (or the context's end), not by itself."""
        return self.finish_reason == "length"

    @property
    def first_token_latency(self) -> float | None:
        return None if self.first_token_at is None else self.first_token_at - self.started

    @property
    def tokens_per_second(self) -> float | None:
        if self.completion_tokens and self.streaming_seconds > 0:
            return self.completion_tokens / self.streaming_seconds
        return None

    def summary(self) -> str:
        parts = []
        if self.total_tokens:
            parts.append(f"{self.total_tokens} tokens ({self.prompt_tokens} in, {self.completion_tokens} out)")
        parts.append(f"{self.elapsed:.2f} s")
        if self.first_token_latency is not None:
            parts.append(f"first token {self.first_token_latency:.2f} s")
        speed = self.tokens_per_second
        if speed is not None:
            parts.append(f"{speed:.0f} tokens/s")
        return " · ".join(parts)


def error_text(label: str | None, message: str, *, style: str = "bold red") -> Text:
    """The one form of an error the CLI prints: `label: message`, the label styled, the message
    as it is (a Text, so brackets in it are never read as rich markup). Without a label the
    whole message carries the style."""
    from rich.text import Text

    if label is None:
        return Text(message, style=style)
    return Text.assemble((f"{label}:", style), " ", message)


TRUNCATED_NOTE = "reply cut short: it reached the token limit or the end of the context window"


def context_note(data: dict[str, Any]) -> str:
    """One line saying what of the conversation was not sent as it is (CONTEXT_TRIMMED)."""
    parts = []
    if data.get("summarized_messages"):
        parts.append(f"{data['summarized_messages']} earlier messages sent as a summary")
    if data.get("omitted_messages"):
        parts.append(f"{data['omitted_messages']} earlier messages left out")
    if data.get("truncated_messages"):
        parts.append(f"{data['truncated_messages']} long messages cut")
    detail = ", ".join(parts) or "shortened"
    return f"{detail} to fit the model's context window (all are kept in the conversation)"


def abbreviate(value: Any, limit: int = 240, max_lines: int = 6) -> str:
    """A short one-glance form of a tool argument or result."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = text.rstrip()  # a trailing newline (most file contents) would show as an empty row
    lines = text.splitlines() or [""]
    if len(lines) > max_lines:
        text = "\n".join(lines[:max_lines]) + f"\n… ({len(lines) - max_lines} more lines)"
    if len(text) > limit:
        text = text[:limit] + f"… ({len(text) - limit} more chars)"
    return text


def tool_outcome(data: dict[str, Any], *, failed: bool) -> Any:
    """What a finished tool call produced: its result, or for TOOL_ERROR its error text."""
    if not failed:
        return data.get("result")
    error = data.get("error")
    return data.get("message") if error is None else error


def _tool_key(data: dict[str, Any]) -> str:
    return str(data.get("tool_call_id") or data.get("tool_name") or "?")


def complete_blocks_end(text: str) -> int:
    """Length of the prefix of `text` made of complete Markdown blocks (0 if none).

    A block is complete once a blank line follows it outside a code fence; fenced code blocks
    may contain blank lines and stay open until their closing fence.
    """
    end = 0
    pos = 0
    fence: str | None = None
    for line in text.splitlines(keepends=True):
        pos += len(line)
        if not line.endswith("\n"):
            break  # the last line is still being written
        stripped = line.strip()
        if fence is not None:
            if stripped.startswith(fence):
                fence = None
            continue
        if stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
        elif not stripped and text[:pos].strip():
            end = pos
    return end


class _Tail:
    """A renderable that, while streaming, shows only the last screenful of a growing text.

    Rich's Live cannot scroll, so a reply taller than the terminal would otherwise freeze at its
    first screen. When `full` is set (just before the Live stops) the whole text is rendered.
    """

    def __init__(self, build: Any) -> None:
        self.parts: list[str] = []
        self.build = build
        self.full = False

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.segment import Segment

        renderable = self.build(self.text)
        if self.full:
            yield renderable
            return
        lines = console.render_lines(renderable, options, pad=False)
        limit = max(3, console.size.height - 2)
        for line in lines[-limit:]:
            yield from line
            yield Segment.line()


def _thinking_view(text: str) -> Any:
    from rich import box
    from rich.panel import Panel
    from rich.text import Text

    return Panel(
        Text(text.strip() or "…", style="dim italic"),
        title="▾ thinking",
        title_align="left",
        border_style="dim",
        box=box.ROUNDED,
    )


class _TrimmedMarkdown:
    """Markdown without the blank lines rich puts around some blocks (lists), so that blocks
    printed one at a time are spaced exactly like a whole document: one blank line apart."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.markdown import Markdown
        from rich.segment import Segment

        lines = console.render_lines(Markdown(self.text), options, pad=False)
        while lines and _is_blank(lines[-1]):
            lines.pop()
        start = 0
        while start < len(lines) and _is_blank(lines[start]):
            start += 1
        for line in lines[start:]:
            yield from line
            yield Segment.line()


def _is_blank(line: list[Any]) -> bool:
    """No text and no background (a code block's padding rows have a background: keep them)."""
    return all(not seg.text.strip() and not (seg.style and seg.style.bgcolor) for seg in line)


def _markdown_view(text: str) -> Any:
    return _TrimmedMarkdown(text)


class Renderer:
    """The base of every renderer: keeps the reply's `TurnStats` and hands each event to the one
    `on_*` method for its type (`_HANDLERS`). A renderer overrides what it shows; the rest are
    no-ops, so the event vocabulary is written once, here, not in an if-chain per renderer."""

    def __init__(self) -> None:
        self.stats = TurnStats()

    def handle(self, event: ExecutionEvent) -> None:
        self.stats.observe(event)
        self.on_event(event)
        handler = _HANDLERS.get(event.type)
        if handler is not None:
            handler(self, event)

    # -- hooks: one per kind of event (the default shows nothing) ------------------------------
    def on_event(self, event: ExecutionEvent) -> None:
        """Every event, before its own hook."""

    def on_text(self, chunk: str) -> None:
        """A non-empty piece of the answer."""

    def on_thinking(self, chunk: str) -> None:
        """A non-empty piece of the model's reasoning."""

    def on_tool_selected(self, data: dict[str, Any]) -> None:
        """The model called a tool (TOOL_SELECTED)."""

    def on_tool_progress(self, data: dict[str, Any]) -> None:
        """A running tool reported progress."""

    def on_approval_requested(self, data: dict[str, Any]) -> None:
        """A tool call waits for the user's y/n."""

    def on_tool_finished(self, data: dict[str, Any], *, failed: bool) -> None:
        """A tool call ended: TOOL_RESULT, or TOOL_ERROR when `failed`."""

    def on_iteration_limit(self, data: dict[str, Any]) -> None:
        """The run stopped at max_tool_iterations."""

    def on_context_trimmed(self, data: dict[str, Any]) -> None:
        """Part of the conversation was not sent as it is."""

    def on_end(self, *, failed: bool) -> None:
        """The terminal event: EXECUTION_COMPLETE, or EXECUTION_ERROR when `failed`."""
        self.close()

    def interrupted(self) -> None:
        """The user stopped the generation."""
        self.close()

    def close(self) -> None:
        """End of the reply (may be called more than once)."""


def _text(r: Renderer, e: ExecutionEvent) -> None:
    chunk = e.data.get("content_chunk") or ""
    if chunk:
        r.on_text(chunk)


def _thinking(r: Renderer, e: ExecutionEvent) -> None:
    chunk = e.data.get("thinking_chunk") or ""
    if chunk:
        r.on_thinking(chunk)


_HANDLERS: dict[EventType, Callable[[Renderer, ExecutionEvent], None]] = {
    EventType.LLM_STREAM_CHUNK: _text,
    EventType.LLM_THINKING_CHUNK: _thinking,
    EventType.TOOL_SELECTED: lambda r, e: r.on_tool_selected(e.data),
    EventType.TOOL_PROGRESS: lambda r, e: r.on_tool_progress(e.data),
    EventType.APPROVAL_REQUESTED: lambda r, e: r.on_approval_requested(e.data),
    EventType.TOOL_RESULT: lambda r, e: r.on_tool_finished(e.data, failed=False),
    EventType.TOOL_ERROR: lambda r, e: r.on_tool_finished(e.data, failed=True),
    EventType.ITERATION_LIMIT: lambda r, e: r.on_iteration_limit(e.data),
    EventType.CONTEXT_TRIMMED: lambda r, e: r.on_context_trimmed(e.data),
    EventType.EXECUTION_COMPLETE: lambda r, e: r.on_end(failed=False),
    EventType.EXECUTION_ERROR: lambda r, e: r.on_end(failed=True),
}


class RichRenderer(Renderer):
    """Live terminal rendering: spinner, Markdown as it streams, thinking section, tool panels."""

    def __init__(self, console: Console, *, show_usage: bool = True, errors: Console | None = None) -> None:
        super().__init__()
        self.console = console
        self.errors = errors or console
        self.show_usage = show_usage
        self._live: Live | None = None
        self._kind: str | None = None
        self._view: _Tail | None = None
        self._tools: dict[str, tuple[str, Any]] = {}
        self._spinner: Any = None
        self._closed = False
        self._spin("thinking…")

    # -- live segment management -------------------------------------------------------------
    def _stop(self) -> None:
        if self._view is not None:
            self._view.full = True
        if self._live is not None:
            self._live.stop()
            if not self.console.is_terminal and self._kind != "spinner":
                # rich ends a live region with a newline only on a terminal; without one, the
                # next output (a panel, the usage line) would continue the region's last line.
                self.console.line()
        self._live = None
        self._view = None
        self._kind = None

    def _start(self, kind: str, renderable: Any, *, transient: bool) -> None:
        from rich.live import Live

        self._stop()
        self._kind = kind
        self._live = Live(
            renderable,
            console=self.console,
            refresh_per_second=12,
            transient=transient,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.start(refresh=True)

    def _spin(self, label: str) -> None:
        from rich.spinner import Spinner
        from rich.text import Text

        self._spinner = Spinner("dots", text=Text(label, style="dim"))
        self._start("spinner", self._spinner, transient=True)

    def _progress(self, data: dict[str, Any]) -> None:
        """A tool reported progress: show it on the spinner that stands for the running tool."""
        from rich.text import Text

        if self._kind != "spinner" or self._spinner is None:
            return
        progress, total, message = data.get("progress"), data.get("total"), data.get("message")
        label = f"running {data.get('tool_name')}…"
        if progress is not None:
            label += f" {progress:g}/{total:g}" if total else f" {progress:g}"
        if message:
            label += f" {message}"
        self._spinner.update(text=Text(label, style="dim"))

    def _append(self, kind: str, text: str) -> None:
        if self._kind != kind or self._view is None:
            view = _Tail(_thinking_view if kind == "thinking" else _markdown_view)
            self._start(kind, view, transient=False)
            self._view = view
        self._view.parts.append(text)
        if kind == "text" and "\n" in text:
            self._commit_complete_blocks(self._view)

    def _commit_complete_blocks(self, view: _Tail) -> None:
        """Print finished Markdown blocks for good and keep only the open one live.

        Re-rendering the whole reply at every refresh costs time proportional to its length
        (CPU the local model needs), and a Live region taller than the screen cannot scroll;
        committed blocks avoid both and land in the terminal's scrollback.
        """
        text = view.text
        cut = complete_blocks_end(text)
        if cut <= 0:
            return
        view.parts = [text[cut:]]
        self.console.print(_markdown_view(text[:cut]))
        self.console.print()

    # -- events ------------------------------------------------------------------------------
    def on_text(self, chunk: str) -> None:
        self._append("text", chunk)

    def on_thinking(self, chunk: str) -> None:
        self._append("thinking", chunk)

    def on_tool_selected(self, data: dict[str, Any]) -> None:
        self._tools[_tool_key(data)] = (str(data.get("tool_name")), data.get("arguments"))
        self._spin(f"running {data.get('tool_name')}…")

    def on_tool_progress(self, data: dict[str, Any]) -> None:
        self._progress(data)

    def on_approval_requested(self, data: dict[str, Any]) -> None:
        self._stop()  # the y/n question is printed below what is already shown

    def on_tool_finished(self, data: dict[str, Any], *, failed: bool) -> None:
        self._stop()
        self._tool_panel(data, failed=failed)
        self._spin("thinking…")

    def on_iteration_limit(self, data: dict[str, Any]) -> None:
        self._stop()
        self.console.print("[yellow]tool iteration limit reached[/yellow]")

    def on_context_trimmed(self, data: dict[str, Any]) -> None:
        self.errors.print(f"[dim]context: {context_note(data)}[/dim]", highlight=False)

    def _tool_panel(self, data: dict[str, Any], *, failed: bool) -> None:
        from rich.panel import Panel
        from rich.table import Table
        from rich.text import Text

        name, arguments = self._tools.pop(_tool_key(data), (str(data.get("tool_name")), None))
        result = tool_outcome(data, failed=failed)
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column()
        if arguments not in (None, "", {}):
            grid.add_row("args", Text(abbreviate(arguments, 160, 3)))
        grid.add_row("error" if failed else "result", Text(abbreviate(result), style="red" if failed else ""))
        self.console.print(
            Panel(grid, title=f"🔧 {name}", title_align="left", border_style="red" if failed else "cyan", expand=False)
        )

    def interrupted(self) -> None:
        """The user stopped the generation: keep what was shown, say so."""
        self._stop()
        self._closed = True
        self.console.print("[dim]⏹ interrupted[/dim]")

    def close(self) -> None:
        """End of the reply: freeze the output, then print the error or the usage line (once)."""
        self._stop()
        if self._closed:
            return
        self._closed = True
        if self.stats.error is not None:
            self.errors.print(error_text(self.stats.error_type or "error", self.stats.error))
            return
        if self.stats.truncated:
            self.errors.print(f"[yellow]{TRUNCATED_NOTE}[/yellow]", highlight=False)
        if self.show_usage and self.stats.duration_ms is not None:
            self.console.print(f"[dim]{self.stats.summary()}[/dim]", highlight=False)


class PlainRenderer(Renderer):
    """Pipes and scripts: the answer text on stdout, everything else (thinking, tools) on stderr."""

    def __init__(self, out: IO[str] | None = None, err: IO[str] | None = None) -> None:
        super().__init__()
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self._wrote_text = False
        self._last_char = "\n"
        self._thinking_open = False

    def on_text(self, chunk: str) -> None:
        self._end_thinking()
        self.out.write(chunk)
        self.out.flush()
        self._wrote_text = True
        self._last_char = chunk[-1]

    def on_thinking(self, chunk: str) -> None:
        if not self._thinking_open:
            self.err.write("[thinking] ")
            self._thinking_open = True
        self.err.write(chunk)
        self.err.flush()

    def on_tool_selected(self, data: dict[str, Any]) -> None:
        self._end_thinking()
        args = abbreviate(data.get("arguments"), 160, 1)
        self.err.write(f"[tool] {data.get('tool_name')}({args})\n")
        self.err.flush()

    def on_tool_finished(self, data: dict[str, Any], *, failed: bool) -> None:
        label = "error" if failed else "result"
        value = abbreviate(tool_outcome(data, failed=failed), 200, 1)
        self.err.write(f"[tool] {data.get('tool_name')} {label}: {value}\n")
        self.err.flush()

    def on_context_trimmed(self, data: dict[str, Any]) -> None:
        self._end_thinking()
        self.err.write(f"[context] {context_note(data)}\n")
        self.err.flush()

    def on_end(self, *, failed: bool) -> None:
        self.close()
        if not failed and self.stats.truncated:
            self.err.write(f"[{TRUNCATED_NOTE}]\n")
            self.err.flush()

    def _end_thinking(self) -> None:
        if self._thinking_open:
            self.err.write("\n")
            self.err.flush()
            self._thinking_open = False

    def close(self) -> None:
        self._end_thinking()
        if self._wrote_text and self._last_char != "\n":
            self.out.write("\n")
            self._last_char = "\n"
        self.out.flush()


class JsonRenderer(Renderer):
    """`--json`: one JSON object per event (JSON Lines) on stdout."""

    def __init__(self, out: IO[str] | None = None) -> None:
        super().__init__()
        self.out = out or sys.stdout

    def on_event(self, event: ExecutionEvent) -> None:
        self.out.write(json.dumps(event.to_dict(), ensure_ascii=False, default=str) + "\n")
        self.out.flush()

    def on_end(self, *, failed: bool) -> None:
        """Nothing to close: the terminal event is written like any other."""

    def close(self) -> None:
        self.out.flush()
