"""Issue 13's CLI items in the real pseudo-terminal: the chat's input line (bracketed paste,
Alt+Enter and Shift+Enter newlines), and the rough edges a new user saw at a terminal."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from cli_pty import PtyProcess

from tyler.context import UNANSWERED
from tyler.messages import Thread
from tyler.testing import FakeModelServer, Turn

PROMPT = r"you ›"


def stored_threads(env: dict[str, str]) -> list[Thread]:
    """The threads `tyler chat` saved in its data directory, read back with a ThreadStore."""
    from tyler.storage import ThreadStore

    async def read() -> list[Thread]:
        store = await ThreadStore.create(f"sqlite+aiosqlite:///{Path(env['TYLER_DATA_DIR']) / 'chat.db'}")
        try:
            return await store.list_threads(limit=10, offset=0)
        finally:
            await store.close()

    return asyncio.run(read())


def _send(chat: PtyProcess, server: FakeModelServer, keys: str, reply: str, *, paste: str = "") -> None:
    """At the prompt: paste `paste`, type `keys` (Enter included), wait for `reply` and the next prompt."""
    server.enqueue(Turn(text=reply))
    at = chat.mark()
    if paste:
        chat.paste(paste)
    chat.send(keys)
    shown = chat.expect(re.escape(reply), start=at)
    # The next prompt: after the reply (the accepted input is redrawn with its prompt before it).
    chat.expect(PROMPT, start=at + shown.end())


def test_a_multi_line_paste_is_one_message_and_alt_or_shift_enter_a_newline(
    cli_env: dict[str, str], fake_server: FakeModelServer, spawn
) -> None:
    chat = spawn(["chat"], cli_env)
    chat.expect(PROMPT)
    # A paste arrives between the bracketed-paste markers (the chat turned them on); its newline
    # must not send it.
    assert chat.bracketed_paste
    _send(chat, fake_server, "\r", "Got the paste.", paste="line1\nline2")
    # Alt+Enter is ESC CR in every terminal.
    _send(chat, fake_server, "first\x1b\rsecond\r", "Got Alt+Enter.")
    # Shift+Enter where the terminal tells it apart: kitty's CSI u, xterm's modifyOtherKeys.
    _send(chat, fake_server, "kitty\x1b[13;2ushift\r", "Got CSI u.")
    _send(chat, fake_server, "xterm\x1b[27;2;13~shift\r", "Got modifyOtherKeys.")
    sent = [m["content"] for m in fake_server.requests[-1].body["messages"] if m["role"] == "user"]
    expected = ["line1\nline2", "first\nsecond", "kitty\nshift", "xterm\nshift"]
    assert sent == expected
    chat.sendline("/exit")
    assert chat.wait() == 0
    (thread,) = stored_threads(cli_env)
    assert [m.text for m in thread.messages if m.role == "user"] == expected


def test_a_failed_reply_is_stored_once_marked_and_retry_answers_it(
    cli_env: dict[str, str], fake_server: FakeModelServer, spawn
) -> None:
    chat = spawn(["chat"], cli_env)
    chat.expect(PROMPT)
    fake_server.enqueue(Turn(status=400, error_message="the model refused"))
    at = chat.mark()
    chat.sendline("What is 6 x 7?")
    chat.expect(r"the model refused", start=at)
    hint = chat.expect(r"/retry sends it again", start=at)
    chat.expect(PROMPT, start=at + hint.end())
    (thread,) = stored_threads(cli_env)  # saved after the failure, before any retry
    assert [(m.role, m.text, bool(m.attributes.get(UNANSWERED))) for m in thread.messages] == [
        ("user", "What is 6 x 7?", True)
    ]
    _send(chat, fake_server, "/retry\r", "It is 42.")
    sent = [m for m in fake_server.requests[-1].body["messages"] if m["role"] != "system"]
    assert sent == [{"role": "user", "content": "What is 6 x 7?"}]
    chat.sendline("/exit")
    assert chat.wait() == 0
    (thread,) = stored_threads(cli_env)
    assert [(m.role, m.text) for m in thread.messages] == [("user", "What is 6 x 7?"), ("assistant", "It is 42.")]
    assert not thread.messages[0].attributes.get(UNANSWERED)  # answered now


def test_a_cut_reply_is_marked_and_the_first_token_is_within_the_total(
    cli_env: dict[str, str], fake_server: FakeModelServer, spawn
) -> None:
    chat = spawn(["chat"], cli_env)
    chat.expect(PROMPT)
    # The first chunk comes late, so a first-token time measured on another clock than the
    # total would show.
    fake_server.enqueue(Turn(text="The answer is", finish_reason="length", first_byte_delay=0.5))
    at = chat.mark()
    chat.sendline("hi")
    chat.expect(r"reply cut short", start=at)
    usage = chat.expect(r"([\d.]+) s · first token ([\d.]+) s", start=at)
    total, first = float(usage.group(1)), float(usage.group(2))
    assert 0.5 <= first <= total
    chat.expect(PROMPT, start=at + usage.end())
    fake_server.enqueue(Turn(text="Complete."))
    at = chat.mark()
    chat.sendline("again")
    done = chat.expect(r"[\d.]+ s · first token", start=at)
    assert "reply cut short" not in chat.text[at:at + done.end()]
    chat.sendline("/exit")
    assert chat.wait() == 0


@pytest.mark.parametrize("command", [["chat"], ["run", "hello"]])
def test_a_missing_api_key_at_a_terminal_exits_2_naming_the_variable(
    cli_env: dict[str, str], spawn, command: list[str]
) -> None:
    env = {k: v for k, v in cli_env.items() if not k.endswith("_API_KEY")}
    proc = spawn([*command, "--model", "groq/llama-3.3-70b-versatile"], env)
    proc.expect(r"missing API key")
    assert proc.wait() == 2
    assert "GROQ_API_KEY" in proc.text and "--model" in proc.text
    assert "api_key=" not in proc.text and "Traceback" not in proc.text
    assert "you ›" not in proc.text  # refused before the chat asks for a message


def test_up_recalls_a_message_of_an_earlier_chat(
    cli_env: dict[str, str], fake_server: FakeModelServer, spawn
) -> None:
    first = spawn(["chat"], cli_env)
    first.expect(PROMPT)
    _send(first, fake_server, "two\x1b\rlines\r", "Noted.")
    first.sendline("/exit")
    assert first.wait() == 0
    second = spawn(["chat"], cli_env)
    second.expect(PROMPT)
    # Up once: /exit; twice: the two-line message, sent again whole.
    _send(second, fake_server, "\x1b[A\x1b[A\r", "Noted again.")
    assert fake_server.requests[-1].body["messages"][-1] == {"role": "user", "content": "two\nlines"}
    second.sendline("/exit")
    assert second.wait() == 0


def test_a_paste_made_while_a_reply_streams_stays_one_message(
    cli_env: dict[str, str], fake_server: FakeModelServer, spawn
) -> None:
    chat = spawn(["chat"], cli_env)
    chat.expect(PROMPT)
    fake_server.enqueue(Turn(text=" ".join(f"w{i}" for i in range(300)), delay=0.01))
    at = chat.mark()
    chat.sendline("tell me a story")
    chat.expect(r"w5 w6", start=at)
    chat.paste("pasted\nwhile streaming")  # typed ahead: it waits for the next prompt
    usage = chat.expect(r"first token [\d.]+ s", start=at)
    prompt = chat.expect(PROMPT, start=at + usage.end())
    _send(chat, fake_server, "\r", "One message.")
    assert fake_server.requests[-1].body["messages"][-1] == {"role": "user", "content": "pasted\nwhile streaming"}
    assert len(fake_server.requests) == 2  # no message was sent by the paste's newline
    assert prompt
    chat.sendline("/exit")
    assert chat.wait() == 0


def test_a_dumb_terminal_gets_a_plain_input_line(cli_env: dict[str, str], fake_server: FakeModelServer, spawn) -> None:
    chat = spawn(["chat"], {**cli_env, "TERM": "dumb"})
    chat.expect(PROMPT)
    _send(chat, fake_server, "hello\r", "Plain.")
    assert "\x1b[?2004h" not in chat.raw and "\x1b[6n" not in chat.raw  # no sequences it cannot show
    assert fake_server.requests[-1].body["messages"][-1] == {"role": "user", "content": "hello"}
    chat.sendline("/exit")
    assert chat.wait() == 0


def test_run_at_a_terminal_marks_a_cut_reply(cli_env: dict[str, str], fake_server: FakeModelServer, spawn) -> None:
    fake_server.enqueue(Turn(text="The answer is", finish_reason="length"))
    run = spawn(["run", "hi"], cli_env)
    run.expect(r"The answer is")
    run.expect(r"reply cut short")
    assert run.wait() == 0


def test_an_unusable_data_dir_at_a_terminal_is_one_error(cli_env: dict[str, str], spawn, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    chat = spawn(["chat"], {**cli_env, "TYLER_DATA_DIR": str(blocker / "sub")})
    assert chat.wait() == 2
    assert chat.text.count("TYLER_DATA_DIR") == 1, chat.text
    assert "Traceback" not in chat.text and "input history" not in chat.text


def test_a_pasted_approval_answer_counts(
    cli_env: dict[str, str], fake_server: FakeModelServer, spawn, tmp_path: Path
) -> None:
    from tyler.testing import FakeToolCall

    chat = spawn(["chat", "--tools", "files"], cli_env)
    chat.expect(PROMPT)
    fake_server.enqueue(
        Turn(tool_calls=[FakeToolCall("files-write", {"path": "yes.txt", "content": "pasted yes"})]),
        Turn(text="Written."),
    )
    at = chat.mark()
    chat.sendline("write yes.txt")
    chat.expect(r"allow files-write\(.*\)\? \[y/N\]", start=at)
    assert chat.bracketed_paste  # on while the reply streams
    chat.paste("y")
    chat.send("\r")
    chat.expect(r"Written\.", start=at)
    assert (tmp_path / "yes.txt").read_text() == "pasted yes"
    chat.sendline("/exit")
    assert chat.wait() == 0
