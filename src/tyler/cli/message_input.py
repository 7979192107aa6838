"""Reading the user's next message in `tyler chat` at a terminal (prompt_toolkit).

Enter sends. Alt+Enter (ESC CR in every terminal) inserts a newline, and so does Shift+Enter in
the terminals that tell it apart from Enter: those with the kitty keyboard protocol (`ESC[13;2u`)
or xterm's modifyOtherKeys (`ESC[27;2;13~`) turned on. Elsewhere Shift+Enter sends the same byte as
Enter, and sends. A paste arrives between the bracketed-paste markers (`ESC[200~` ... `ESC[201~`)
and is inserted whole, newlines included: a multi-line paste is one message. Ctrl-C and Ctrl-D (on
an empty line) raise KeyboardInterrupt and EOFError, as `input()` does. Up/Down walk the input
history, kept across sessions in the data directory.

This module imports prompt_toolkit (~0.1-0.2 s), so the CLI imports it only when a chat starts at
a terminal; `import tyler` and `tyler run` never load it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prompt_toolkit import PromptSession
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import FileHistory, InMemoryHistory
from prompt_toolkit.input import ansi_escape_sequences
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.keys import Keys

# Modified-Enter sequences that mean "newline". prompt_toolkit maps xterm's Shift+Enter to plain
# Enter and does not know kitty's CSI-u form (its characters would be typed into the message), and
# offers no other hook to name an input sequence than this table, so they are added to it. Each
# becomes the key pair of Alt+Enter (Escape, Enter), which the binding below turns into a newline.
# Ctrl+Enter keeps prompt_toolkit's meaning: send.
_NEWLINE_SEQUENCES = (
    "\x1b[13;2u",  # Shift+Enter, kitty keyboard protocol / CSI u
    "\x1b[13;3u",  # Alt+Enter, the same
    "\x1b[27;2;13~",  # Shift+Enter, xterm modifyOtherKeys
    "\x1b[27;3;13~",  # Alt+Enter, the same
)
PROMPT = "you ›"


def _add_newline_sequences() -> None:
    for sequence in _NEWLINE_SEQUENCES:
        ansi_escape_sequences.ANSI_SEQUENCES[sequence] = (Keys.Escape, Keys.ControlM)


def _bindings() -> KeyBindings:
    bindings = KeyBindings()

    @bindings.add("escape", "enter")
    # Alt+Enter typed ahead while a reply streams reaches the prompt as ESC LF: the terminal was
    # not in raw mode then, and turned its CR into LF.
    @bindings.add("escape", "c-j")
    def _newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    return bindings


class _History(FileHistory):
    """The input history file; a failure to write it is said once, and the chat goes on."""

    def __init__(self, path: Path, warn: Any) -> None:
        super().__init__(path)
        self._path = path
        self._warn = warn
        self._warned = False

    def load_history_strings(self) -> Iterable[str]:
        try:
            return list(super().load_history_strings())
        except OSError as exc:
            self._failed("read", exc)
            return []

    def store_string(self, string: str) -> None:
        try:
            super().store_string(string)
        except OSError as exc:
            self._failed("save", exc)

    def _failed(self, what: str, exc: OSError) -> None:
        if not self._warned:
            self._warned = True
            self._warn(f"could not {what} the input history {self._path}: {exc.strerror or exc}")


class MessageInput:
    """The chat's input line: `await read()` returns the next message (possibly several lines)."""

    def __init__(self, history_path: Path | None, *, color: bool, warn: Any) -> None:
        _add_newline_sequences()
        history = InMemoryHistory() if history_path is None else _History(history_path, warn)
        prompt: Any = FormattedText([("bold ansigreen", PROMPT), ("", " ")]) if color else f"{PROMPT} "
        self._session: PromptSession[str] = PromptSession(
            prompt,
            history=history,
            key_bindings=_bindings(),
            # Lines after the first line up under the text, not under the prompt.
            prompt_continuation=lambda width, line_number, wrap_count: " " * width,
            enable_open_in_editor=False,
            color_depth=None if color else _mono(),
        )

    @contextmanager
    def pastes_kept_whole(self) -> Iterator[None]:
        """While a reply streams: the terminal keeps marking pastes (bracketed paste stays on).

        prompt_toolkit turns bracketed paste off when a prompt ends; a paste made while the reply
        streams would then reach the next prompt as lines, its first line sent at once. With the
        markers on, the next prompt receives it as one paste.
        """
        output = self._session.output
        output.enable_bracketed_paste()
        output.flush()
        try:
            yield
        finally:
            output.disable_bracketed_paste()
            output.flush()

    async def read(self) -> str:
        """The next message; raises KeyboardInterrupt (Ctrl-C) or EOFError (Ctrl-D on an empty line)."""
        return await self._session.prompt_async()


def _mono() -> Any:
    from prompt_toolkit.output import ColorDepth

    return ColorDepth.DEPTH_1_BIT
