"""`tyler chat`: the interactive terminal chat, persisted in SQLite."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..context import UNANSWERED
from ..exceptions import ConfigurationError, ThreadNotFoundError, TylerError
from ._loop import loop_factory
from .config import ModelChoice, chat_db_url, data_dir
from .run_cmd import attach_files
from .session import AgentOptions, TurnOutcome, stream_reply

if TYPE_CHECKING:
    from rich.console import Console

    from ..messages import Message, Thread

HELP = """\
[bold]commands[/bold]
  /new              start a new conversation
  /threads          list recent conversations
  /resume ID        continue a conversation (ID or a prefix of it; "latest" for the last one)
  /model [NAME]     show or switch the model (e.g. /model local/smollm2, /model gpt-4o)
  /attach FILE      attach a file (image, PDF, text) to your next message
  /retry            send your last message again (after a failed reply)
  /help             this help
  /exit             quit (also Ctrl-D, or Ctrl-C at the prompt)
[bold]keys[/bold]
  Enter sends · Alt+Enter (or Shift+Enter where the terminal tells it apart) starts a new line
  a multi-line paste stays one message · Up/Down: earlier messages
Ctrl-C while a reply streams stops it and keeps the chat open."""

LATEST = "latest"
_QUIT = object()


class ChatSession:
    """One `tyler chat` process: an event loop, a thread store, an agent, the current thread."""

    def __init__(self, options: AgentOptions, console: Console) -> None:
        from ..messages import Thread

        self.options = options
        self.console = console
        self.loop = loop_factory()()  # uvloop when installed (see _loop)
        self.store: Any = None
        self.agent: Any = options.build()
        self.thread: Thread = Thread()
        self.pending: list[Any] = []  # Attachments /attach-ed for the next message
        self.input: Any = _terminal_input(console)  # None: stdin or stdout is not a terminal

    # -- lifecycle ---------------------------------------------------------------------------
    def run(self, resume: str | None) -> int:
        try:
            self.store = self.loop.run_until_complete(_open_store())
            if resume is not None:
                self._resume(resume)
            self._preload_local_model()
            self.console.print("[dim]tyler chat · /help for commands · Ctrl-C stops a reply · /exit quits[/dim]")
            self._loop()
        finally:
            self._shutdown()
        return 0

    def _loop(self) -> None:
        while True:
            try:
                line = self._read()
            except (KeyboardInterrupt, EOFError):
                self.console.print()
                return
            text = line.strip()
            if not text:
                continue
            if text.startswith("/"):
                if self._command(text) is _QUIT:
                    return
                continue
            self._turn(line)

    def _read(self) -> str:
        if self.input is not None:
            return self.loop.run_until_complete(self.input.read())
        # Not a terminal (pipes, scripts): one message per line.
        return input("you › ")

    def _shutdown(self) -> None:
        try:
            self.loop.run_until_complete(self.agent.close())
            if self.store is not None:
                self.loop.run_until_complete(self.store.close())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()

    def _preload_local_model(self) -> None:
        """Load the embedded model while the user types the first message."""
        if not self.options.model.is_local:
            return
        from ..providers.local import ensure_local_server_sync

        def load() -> None:
            # A failure here is not lost: the first reply meets it again and reports it, with the
            # install command.
            with contextlib.suppress(TylerError):
                ensure_local_server_sync(self.options.model.name)

        threading.Thread(target=load, name="tyler-local-preload", daemon=True).start()

    # -- one reply ---------------------------------------------------------------------------
    def _turn(self, text: str) -> None:
        from ..messages import Message

        last = self.thread.messages[-1] if self.thread.messages else None
        if last is not None and _unanswered(last) and last.text == text and not self.pending:
            # The same message typed again after a failure: one message, asked again.
            self._reply(last)
            return
        message = Message(role="user", content=text)
        message.attachments, self.pending = self.pending, []
        self.thread.add_message(message)
        if not self.thread.title:
            self.thread.title = _title_from(text)
        self._reply(message)

    def _retry(self) -> None:
        """/retry: ask for a reply to the last user message again."""
        from ..messages import Message

        last_user = self.thread.get_last_message_by_role("user")
        if last_user is None:
            self.console.print("[dim]nothing to retry yet[/dim]")
            return
        if self.thread.messages[-1] is last_user:
            self._reply(last_user)  # it got no reply: ask again, without a copy
        else:
            again = Message(role="user", content=last_user.content, attachments=list(last_user.attachments))
            self._reply(self.thread.add_message(again))

    def _reply(self, message: Message) -> None:
        from .render import RichRenderer

        message.attributes.pop(UNANSWERED, None)
        renderer = RichRenderer(self.console)
        # Whatever the outcome (done, failed, interrupted) the chat goes on and the thread, with
        # any partial answer the agent kept on it, is saved.
        outcome = TurnOutcome.ERROR
        try:
            with self.input.pastes_kept_whole() if self.input is not None else contextlib.nullcontext():
                outcome = self.loop.run_until_complete(stream_reply(self.agent, self.thread, renderer))
        except KeyboardInterrupt:  # where no SIGINT handler could be installed
            renderer.interrupted()
            outcome = TurnOutcome.INTERRUPTED
        except TylerError as exc:
            from .render import error_text

            renderer.close()
            self.console.print(error_text(type(exc).__name__, str(exc)))
        if outcome == TurnOutcome.ERROR and self.thread.messages[-1] is message:
            # Kept as it happened, but marked: later requests leave it out (no pile of unanswered
            # questions), a resumed chat shows it once, and /retry asks it again.
            message.attributes[UNANSWERED] = True
            self.console.print("[dim]/retry sends it again[/dim]")
        self._save()

    def _save(self) -> None:
        try:
            self.loop.run_until_complete(self.store.save_thread(self.thread))
        except TylerError as exc:
            self.console.print(f"[yellow]could not save the conversation:[/yellow] {_escape(str(exc))}")

    # -- slash commands ----------------------------------------------------------------------
    def _command(self, text: str) -> object:
        name, _, arg = text.partition(" ")
        name, arg = name.lower(), arg.strip()
        if name in ("/exit", "/quit", "/q"):
            return _QUIT
        handlers = {
            "/help": lambda: self.console.print(HELP),
            "/new": self._new,
            "/threads": self._threads,
            "/resume": lambda: self._resume(arg or LATEST),
            "/model": lambda: self._model(arg),
            "/attach": lambda: self._attach(arg),
            "/retry": self._retry,
        }
        handler = handlers.get(name)
        if handler is None:
            self.console.print(f"[yellow]unknown command {_escape(name)}[/yellow] (/help lists them)")
            return None
        try:
            handler()
        except TylerError as exc:
            from .console import user_message
            from .render import error_text

            self.console.print(error_text(None, user_message(exc), style="red"))
        return None

    def _attach(self, arg: str) -> None:
        from ..messages import Message

        if not arg:
            raise ConfigurationError("usage: /attach FILE")
        path = Path(arg).expanduser()
        holder = Message(role="user")
        attach_files(holder, [path])  # refused now, not when the message is sent
        self.pending.extend(holder.attachments)
        self.console.print(f"[dim]attached {_escape(path.name)} to your next message[/dim]")

    def _new(self) -> None:
        from ..messages import Thread

        self.thread = Thread()
        self.console.print("[dim]new conversation[/dim]")

    def _threads(self) -> None:
        from rich.table import Table

        threads = self.loop.run_until_complete(self.store.list_threads(limit=20, offset=0))
        if not threads:
            self.console.print("[dim]no saved conversations yet[/dim]")
            return
        table = Table(box=None, header_style="dim", pad_edge=False)
        for column in ("id", "title", "messages", "updated"):
            table.add_column(column)
        for thread in threads:
            marker = " ◀" if thread.id == self.thread.id else ""
            table.add_row(
                thread.id[:8] + marker,
                _escape(thread.title or "(untitled)"),
                str(len(thread.messages)),
                thread.updated_at.astimezone().strftime("%Y-%m-%d %H:%M"),
            )
        self.console.print(table)

    def _resume(self, wanted: str) -> None:
        self.thread = self.loop.run_until_complete(_find_thread(self.store, wanted))
        count = len(self.thread.messages)
        title = self.thread.title or "(untitled)"
        self.console.print(f"[dim]resumed {self.thread.id[:8]} · {_escape(title)} · {count} messages[/dim]")
        for message in self.thread.messages[-6:]:
            if message.role in ("user", "assistant") and message.text:
                who = "you" if message.role == "user" else "tyler"
                note = " (no reply: /retry sends it again)" if _unanswered(message) else ""
                self.console.print(f"[dim]{who} › {_escape(_title_from(message.text, 200))}{note}[/dim]")

    def _model(self, name: str) -> None:
        if not name:
            self.console.print(f"[dim]model: {self.options.model.name}[/dim]")
            return
        options = AgentOptions(
            model=ModelChoice(name, "/model"),
            purpose=self.options.purpose,
            tool_sets=self.options.tool_sets,
            reasoning=self.options.reasoning,
        )
        agent = options.build()
        self.loop.run_until_complete(self.agent.close())
        self.agent, self.options = agent, options
        self._preload_local_model()
        self.console.print(f"[dim]model: {name}[/dim]")


async def _open_store() -> Any:
    from ..file_store import FileStore
    from ..storage import ThreadStore

    return await ThreadStore.create(chat_db_url(), file_store=FileStore(data_dir() / "files"))


async def _find_thread(store: Any, wanted: str) -> Thread:
    """A thread by id, by unique id prefix, or the most recent one for "latest"."""
    if wanted == LATEST:
        recent = await store.list_threads(limit=1, offset=0)
        if not recent:
            raise ConfigurationError("no saved conversation to resume yet")
        return recent[0]
    try:
        return await store.get_thread(wanted)
    except ThreadNotFoundError:
        pass
    matches = [t for t in await _all_threads(store) if t.id.startswith(wanted)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ConfigurationError(f"{wanted!r} matches {len(matches)} conversations; give more of the id")
    # The user's input, like an ambiguous prefix: a usage error (exit 2), not a storage failure.
    raise ConfigurationError(f"no saved conversation {wanted!r} (/threads in a chat lists them)")


async def _all_threads(store: Any, page: int = 200) -> list[Thread]:
    found: list[Thread] = []
    offset = 0
    while True:
        batch = await store.list_threads(limit=page, offset=offset)
        found.extend(batch)
        if len(batch) < page:
            return found
        offset += page


def _unanswered(message: Message) -> bool:
    return message.role == "user" and bool(message.attributes.get(UNANSWERED))


def _title_from(text: str, limit: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def run_chat(options: AgentOptions, resume: str | None) -> int:
    """Entry of `tyler chat`; returns the exit code."""
    from .console import out_console
    from .run_cmd import EXIT_BROKEN_PIPE, silence_stdout

    chat_db_url()  # an unusable data directory is one error, before the history is touched
    try:
        return ChatSession(options, out_console()).run(resume)
    except BrokenPipeError:
        # The reader went away (`tyler chat | head`): stop quietly, like `tyler run`.
        silence_stdout()
        return EXIT_BROKEN_PIPE


def _is_terminal(stream: Any) -> bool:
    try:
        return stream is not None and bool(stream.isatty())
    except (OSError, ValueError):  # closed
        return False


def _terminal_input(console: Console) -> Any:
    """The line editor when both stdin and stdout are terminals (else None: plain `input()`)."""
    if not (_is_terminal(sys.stdin) and _is_terminal(sys.stdout)):
        return None
    if os.environ.get("TERM", "").lower() in ("dumb", "unknown"):
        # No cursor movement there (Emacs' shell-mode, some CI logs): the terminal edits the line
        # itself, and escape sequences would show as text.
        return None
    from .console import err_console
    from .message_input import MessageInput

    def warn(text: str) -> None:
        err_console().print(f"[dim]{_escape(text)}[/dim]")

    return MessageInput(data_dir() / "input-history", color=not console.no_color, warn=warn)
