"""`tyler chat` driven in a real pseudo-terminal against the fake model server."""

from __future__ import annotations

import time
from pathlib import Path

from cli_helpers import run_tyler

from tyler.testing import FakeModelServer, FakeToolCall, Turn

PROMPT = r"you ›"  # prompt_toolkit moves the cursor past the trailing space


def test_round_trip_markdown_usage_and_exit(cli_env: dict[str, str], fake_server: FakeModelServer, spawn) -> None:
    chat = spawn(["chat"], cli_env)
    chat.expect(r"model: gpt-4o \(TYLER_MODEL\)")
    chat.expect(PROMPT)
    fake_server.enqueue(Turn(text="Here is **bold** text and a list:\n\n- first item\n- second item\n"))
    at = chat.mark()
    chat.sendline("hello fake")
    # Rendered as Markdown: no asterisks, bullets drawn by rich.
    chat.expect(r"Here is bold text and a list:", start=at)
    chat.expect(r"• first item", start=at)
    chat.expect(r"\d+ tokens \(\d+ in, \d+ out\) · [\d.]+ s · first token [\d.]+ s", start=at)
    chat.expect(PROMPT, start=at)
    assert fake_server.requests[-1].body["messages"][-1] == {"role": "user", "content": "hello fake"}
    chat.sendline("/exit")
    assert chat.wait() == 0


def test_ctrl_c_stops_the_reply_and_keeps_the_chat(
    cli_env: dict[str, str], fake_server: FakeModelServer, spawn
) -> None:
    chat = spawn(["chat"], cli_env)
    chat.expect(PROMPT)
    fake_server.enqueue(Turn(text=" ".join(f"w{i}" for i in range(400)), delay=0.05))
    at = chat.mark()
    chat.sendline("tell me a long story")
    chat.expect(r"w5 w6", start=at)
    chat.ctrl_c()
    chat.expect(r"⏹ interrupted", start=at)
    # The terminal did not echo "^C" into the live region (that garbles its redraw).
    assert "^C" not in chat.text[at:]
    assert fake_server.wait_for_disconnect(timeout=10), "the upstream request was not closed"
    assert fake_server.requests[-1].disconnected_early
    chat.expect(PROMPT, start=at)
    # Still chatting: the next message gets a reply, and the interrupted one is in the history.
    fake_server.enqueue(Turn(text="still here"))
    at = chat.mark()
    chat.sendline("are you there?")
    chat.expect(r"still here", start=at)
    chat.expect(PROMPT, start=at)
    sent = fake_server.requests[-1].body["messages"]
    partial = [m for m in sent if m["role"] == "assistant"]
    assert partial and partial[0]["content"].startswith("w0 w1")
    assert "w399" not in partial[0]["content"]
    # Ctrl-C at the prompt quits. (A pause first: CPython's readline shows the prompt before it
    # starts waiting for keys, and a SIGINT in between is noticed only at the next key.)
    time.sleep(0.3)
    chat.ctrl_c()
    assert chat.wait() == 0


def test_history_persists_and_resumes(
    cli_env: dict[str, str], fake_server: FakeModelServer, spawn, tmp_path: Path
) -> None:
    first = spawn(["chat"], cli_env)
    first.expect(PROMPT)
    fake_server.enqueue(Turn(text="Paris is the capital."))
    first.sendline("What is the capital of France?")
    first.expect(r"Paris is the capital\.")
    first.expect(PROMPT)
    first.sendline("/exit")
    assert first.wait() == 0
    assert (tmp_path / "data" / "chat.db").is_file()

    second = spawn(["chat", "--resume"], cli_env)
    second.expect(r"resumed [0-9a-f]{8} · What is the capital of France\? · 2 messages")
    second.expect(PROMPT)
    at = second.mark()
    second.sendline("/threads")
    second.expect(r"What is the capital of France\?\s+2", start=at)
    fake_server.enqueue(Turn(text="About 2 million people."))
    second.sendline("And its population?")
    second.expect(r"About 2 million people\.")
    second.expect(PROMPT)
    history = [(m["role"], m["content"]) for m in fake_server.requests[-1].body["messages"] if m["role"] != "system"]
    assert history == [
        ("user", "What is the capital of France?"),
        ("assistant", "Paris is the capital."),
        ("user", "And its population?"),
    ]
    # /new starts an empty conversation: the next request carries only the new message.
    second.sendline("/new")
    second.expect(r"new conversation")
    fake_server.enqueue(Turn(text="Fresh start."))
    second.sendline("hi again")
    second.expect(r"Fresh start\.")
    fresh = [m for m in fake_server.requests[-1].body["messages"] if m["role"] != "system"]
    assert fresh == [{"role": "user", "content": "hi again"}]
    second.sendline("/exit")
    assert second.wait() == 0


def test_thinking_section_and_tool_panel(
    cli_env: dict[str, str], fake_server: FakeModelServer, spawn, tmp_path: Path
) -> None:
    (tmp_path / "todo.md").write_text("buy oat milk\n")
    chat = spawn(["chat", "--tools", "files", "--reasoning", "low"], cli_env)
    chat.expect(PROMPT)
    fake_server.enqueue(
        Turn(thinking="I should read the file first", tool_calls=[FakeToolCall("files-read", {"path": "todo.md"})]),
        Turn(text="Your list says: buy oat milk."),
    )
    at = chat.mark()
    chat.sendline("what is on my list?")
    chat.expect(r"▾ thinking", start=at)
    chat.expect(r"I should read the file first", start=at)
    chat.expect(r"🔧 files-read", start=at)
    chat.expect(r"args\s+\{\"path\": \"todo.md\"\}", start=at)
    chat.expect(r"result\s+.*buy oat milk", start=at)
    chat.expect(r"Your list says: buy oat milk\.", start=at)
    chat.expect(PROMPT, start=at)
    chat.sendline("/exit")
    assert chat.wait() == 0


def test_model_errors_keep_the_chat_open(cli_env: dict[str, str], fake_server: FakeModelServer, spawn) -> None:
    chat = spawn(["chat"], cli_env)
    chat.expect(PROMPT)
    fake_server.enqueue(Turn(status=401, error_message="invalid api key"))
    at = chat.mark()
    chat.sendline("hello")
    chat.expect(r"AuthenticationError: .*invalid api key", start=at)
    chat.expect(PROMPT, start=at)
    assert chat.text[at:].count("invalid api key") == 1
    at = chat.mark()
    chat.sendline("/nonsense")
    chat.expect(r"unknown command /nonsense", start=at)
    # A wrong local model name is refused at once; the current model stays.
    chat.sendline("/model local/llama9")
    chat.expect(r"unknown local model 'local/llama9'", start=at)
    at = chat.mark()
    chat.sendline("/model")
    chat.expect(r"model: gpt-4o", start=at)
    chat.sendline("/model claude-sonnet-4-5")
    chat.expect(r"model: claude-sonnet-4-5", start=at)
    fake_server.enqueue(Turn(text="now via anthropic"))
    chat.sendline("again")
    chat.expect(r"now via anthropic", start=at)
    assert fake_server.requests[-1].api == "anthropic"
    chat.expect(PROMPT, start=chat.mark() - 10)
    time.sleep(0.3)  # let readline start reading (see the Ctrl-C test)
    chat.send("\x04")  # Ctrl-D quits too
    assert chat.wait() == 0


def test_run_in_a_terminal_renders_live_and_ctrl_c_exits_130(
    cli_env: dict[str, str], fake_server: FakeModelServer, spawn
) -> None:
    fake_server.enqueue(Turn(text=" ".join(f"w{i}" for i in range(300)), delay=0.03))
    run = spawn(["run", "go"], cli_env)
    run.expect(r"w5 w6")
    run.ctrl_c()
    assert run.wait() == 130
    assert "^C" not in run.text
    assert "⏹ interrupted" in run.text
    assert fake_server.wait_for_disconnect(timeout=10)
    assert "w299" not in run.text


def test_unusable_data_directory_is_a_clear_error(cli_env: dict[str, str], tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {**cli_env, "TYLER_DATA_DIR": str(blocker / "data")}
    done = run_tyler(["chat"], env, stdin="/exit\n")
    assert done.returncode == 2, done.stderr
    assert "set TYLER_DATA_DIR to a writable directory" in done.stderr
    assert "Traceback" not in done.stderr


def test_resume_of_nothing_is_a_usage_error(cli_env: dict[str, str]) -> None:
    # Both are the user's input, not a failure: exit 2, one line on stderr, no traceback.
    empty = run_tyler(["chat", "--resume"], cli_env)
    assert empty.returncode == 2, empty.stderr
    assert "no saved conversation to resume yet" in empty.stderr
    missing = run_tyler(["chat", "--resume", "nope"], cli_env)
    assert missing.returncode == 2, missing.stderr
    assert "no saved conversation 'nope'" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_attach_in_chat(cli_env: dict[str, str], fake_server: FakeModelServer, spawn, tmp_path: Path) -> None:
    from files_helpers import png

    (tmp_path / "pic.png").write_bytes(png())
    chat = spawn(["chat"], cli_env)
    chat.expect(PROMPT)
    at = chat.mark()
    chat.sendline(f"/attach {tmp_path / 'nope.png'}")
    chat.expect(r"cannot read attachment", start=at)
    chat.expect(PROMPT, start=at)
    at = chat.mark()
    chat.sendline(f"/attach {tmp_path / 'pic.png'}")
    chat.expect(r"attached pic.png to your next message", start=at)
    chat.expect(PROMPT, start=at)
    fake_server.enqueue(Turn(text="A red pixel square."))
    at = chat.mark()
    chat.sendline("what is it?")
    chat.expect(r"A red pixel square.", start=at)
    chat.expect(PROMPT, start=at)
    assert fake_server.requests[-1].images[0]["data"] == png()
    # Only that message carried it; the file went to the data directory's file store.
    fake_server.enqueue(Turn(text="ok"))
    at = chat.mark()
    chat.sendline("and now?")
    chat.expect(r"ok", start=at)
    chat.expect(PROMPT, start=at)
    assert len(fake_server.requests[-1].images) == 1  # the history still holds the first one
    assert len(list((Path(cli_env["TYLER_DATA_DIR"]) / "files").rglob("*.png"))) == 1
    chat.sendline("/exit")
    assert chat.wait() == 0


def test_chat_asks_before_a_writing_tool_runs(
    cli_env: dict[str, str], fake_server: FakeModelServer, spawn, tmp_path: Path
) -> None:
    chat = spawn(["chat", "--tools", "files"], cli_env)
    chat.expect(PROMPT)
    fake_server.enqueue(
        Turn(tool_calls=[FakeToolCall("files-write", {"path": "yes.txt", "content": "approved"})]),
        Turn(text="Written."),
        Turn(tool_calls=[FakeToolCall("files-write", {"path": "no.txt", "content": "denied"})]),
        Turn(text="Not written."),
    )
    at = chat.mark()
    chat.sendline("write yes.txt")
    chat.expect(r"allow files-write\(.*yes\.txt.*\)\? \[y/N\]", start=at)
    assert not (tmp_path / "yes.txt").exists()  # waits for the answer
    chat.sendline("y")
    chat.expect(r"Written\.", start=at)
    chat.expect(PROMPT, start=at)
    assert (tmp_path / "yes.txt").read_text() == "approved"
    at = chat.mark()
    chat.sendline("write no.txt")
    chat.expect(r"allow files-write\(.*no\.txt.*\)\? \[y/N\]", start=at)
    chat.sendline("n")
    chat.expect(r"Not written\.", start=at)
    chat.expect(PROMPT, start=at)
    assert not (tmp_path / "no.txt").exists()
    denied = [m for m in fake_server.requests[-1].body["messages"] if m["role"] == "tool"][-1]
    assert "the user answered no" in denied["content"]
    chat.sendline("/exit")
    assert chat.wait() == 0
