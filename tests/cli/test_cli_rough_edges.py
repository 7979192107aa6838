"""The rough edges a new user hit in `tyler chat` / `tyler run` (issue 13), each driven for real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import TYLER, run_tyler
from cli_pty import PtyProcess

from tyler.events import EventType, ExecutionEvent
from tyler.testing import FakeModelServer, Turn

PROMPT = r"you ›"  # prompt_toolkit moves the cursor past the trailing space
ROOT = Path(__file__).resolve().parents[2]


def _ask(chat: PtyProcess, server: FakeModelServer, turn: Turn, line: str, *shown: str) -> None:
    """Script the model's `turn`, type `line`, wait for each of `shown`, then for the prompt."""
    server.enqueue(turn)
    at = chat.mark()
    chat.sendline(line)
    for pattern in shown:
        chat.expect(pattern, start=at)
    chat.expect(PROMPT, start=at)


def test_a_failed_reply_is_kept_once_not_resent_and_retry_asks_again(
    cli_env: dict[str, str], fake_server: FakeModelServer, spawn
) -> None:
    chat = spawn(["chat"], cli_env)
    chat.expect(PROMPT)
    failed = Turn(status=400, error_message="the model is unavailable")
    _ask(chat, fake_server, failed, "Tell me about Paris", r"the model is unavailable", r"/retry sends it again")
    # Typed again after the failure: one message, asked again (no duplicate on the thread).
    _ask(chat, fake_server, Turn(status=400, error_message="still unavailable"), "Tell me about Paris",
         r"still unavailable")
    _ask(chat, fake_server, Turn(text="Paris is big."), "/retry", r"Paris is big\.")
    sent = fake_server.requests[-1].body["messages"]
    assert [m["content"] for m in sent if m["role"] == "user"] == ["Tell me about Paris"]
    # A new question after another failure does not carry the unanswered one.
    _ask(chat, fake_server, Turn(status=400, error_message="down again"), "And Rome?", r"down again")
    _ask(chat, fake_server, Turn(text="Rome is old."), "And Berlin?", r"Rome is old\.")
    sent = fake_server.requests[-1].body["messages"]
    assert [m["content"] for m in sent if m["role"] == "user"] == ["Tell me about Paris", "And Berlin?"]
    chat.sendline("/exit")
    assert chat.wait() == 0
    # Resumed, the conversation shows each message once, the unanswered one marked.
    resumed = spawn(["chat", "--resume"], cli_env)
    resumed.expect(r"5 messages")
    resumed.expect(r"tyler › Rome is old\.")
    shown = resumed.text
    assert shown.count("you › Tell me about Paris") == 1
    assert "you › And Rome? (no reply: /retry sends it again)" in shown
    resumed.sendline("/exit")
    assert resumed.wait() == 0


@pytest.mark.parametrize(
    ("model", "env_var"),
    [("groq/llama-3.3-70b-versatile", "GROQ_API_KEY"), ("deepseek/deepseek-chat", "DEEPSEEK_API_KEY"),
     ("xai/grok-4", "XAI_API_KEY"), ("openrouter/openai/gpt-4o", "OPENROUTER_API_KEY"),
     ("together_ai/meta-llama/Llama-3-8b", "TOGETHERAI_API_KEY")],
)
def test_a_missing_api_key_is_a_usage_error_naming_the_variable(
    cli_env: dict[str, str], model: str, env_var: str
) -> None:
    env = {k: v for k, v in cli_env.items() if not k.endswith("_API_KEY")}
    done = run_tyler(["run", "--model", model, "hi"], env)
    assert done.returncode == 2, done.stderr
    assert "missing API key" in done.stderr and env_var in done.stderr and "--model" in done.stderr
    assert "api_key=" not in done.stderr  # CLI words, not Python arguments
    chat = run_tyler(["chat", "--model", model], env, stdin="hello\n")
    assert chat.returncode == 2, chat.stderr
    assert env_var in chat.stderr


def test_a_reply_cut_at_the_token_limit_is_marked(cli_env: dict[str, str], fake_server: FakeModelServer) -> None:
    fake_server.enqueue(Turn(text="The answer is", finish_reason="length"))
    done = run_tyler(["run", "hi"], cli_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "The answer is\n"
    assert "reply cut short" in done.stderr
    fake_server.enqueue(Turn(text="The answer is", finish_reason="length"))
    as_json = run_tyler(["run", "--json", "hi"], cli_env)
    events = [json.loads(line) for line in as_json.stdout.splitlines()]
    response = next(e for e in events if e["type"] == "llm_response")
    assert response["data"]["finish_reason"] == "length"
    fake_server.enqueue(Turn(text="Complete."))
    assert "reply cut short" not in run_tyler(["run", "hi"], cli_env).stderr


def test_first_token_is_never_later_than_the_total() -> None:
    from tyler.cli.render import TurnStats

    stats = TurnStats()
    stats.observe(ExecutionEvent(EventType.LLM_STREAM_CHUNK, data={"content_chunk": "hi"}))
    # The run's own duration starts later than the renderer (a model loading in between).
    stats.observe(ExecutionEvent(EventType.EXECUTION_COMPLETE, data={"duration_ms": 0.001}))
    assert stats.first_token_latency is not None
    assert stats.first_token_latency <= stats.elapsed


def test_chat_options_work_with_stdin_not_a_terminal(
    cli_env: dict[str, str], fake_server: FakeModelServer
) -> None:
    fake_server.enqueue(Turn(text="First answer."))
    first = run_tyler(["chat"], cli_env, stdin="first question\n")
    assert first.returncode == 0, first.stderr
    fake_server.enqueue(Turn(text="Second answer."))
    resumed = run_tyler(["chat", "--resume"], cli_env, stdin="second question\n")
    assert resumed.returncode == 0, resumed.stderr
    assert "Second answer." in resumed.stdout
    sent = [m["content"] for m in fake_server.requests[-1].body["messages"] if m["role"] == "user"]
    assert sent == ["first question", "second question"]


def test_chat_sh_sends_chat_options_to_tyler_chat(tmp_path: Path) -> None:
    """scripts/chat.sh with stdin not a terminal: --resume goes to `tyler chat`, a prompt to `run`."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    fake = venv / "bin" / "tyler"
    fake.write_text('#!/bin/sh\necho "tyler $*"\n')
    fake.chmod(0o755)
    (venv / "bin" / "python").symlink_to(sys.executable)
    (venv / ".tyler-local-ready").touch()
    (venv / ".tyler-local-model-ready").touch()  # the offline model's packages count as installed
    env = {**os.environ, "TYLER_VENV": str(venv)}

    def chat_sh(*args: str) -> str:
        done = subprocess.run(
            [str(ROOT / "scripts" / "chat.sh"), *args], env=env, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=30, check=True,
        )
        return done.stdout.strip()

    assert chat_sh("--resume") == "tyler chat --resume"
    assert chat_sh("-r", "abc") == "tyler chat -r abc"
    assert chat_sh("hello") == "tyler run hello"


def test_chat_into_a_closed_pipe_exits_like_run(cli_env: dict[str, str], fake_server: FakeModelServer) -> None:
    fake_server.set_default_turn(Turn(text="\n".join(f"line {i}" for i in range(2000))))
    try:
        for command in (["chat"], ["run", "hi"]):
            proc = subprocess.Popen(
                [*TYLER, *command], env=cli_env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True,
            )
            assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
            proc.stdin.write("hello\n")
            proc.stdin.close()
            proc.stdout.readline()
            proc.stdout.close()  # what `| head -1` does
            assert proc.wait(timeout=60) == 141, command
            assert "Traceback" not in proc.stderr.read()
    finally:
        fake_server.set_default_turn(None)


def test_python_dash_m_tyler_and_help_flags(cli_env: dict[str, str]) -> None:
    version = subprocess.run(
        [sys.executable, "-m", "tyler", "--version"], env=cli_env, capture_output=True, text=True, timeout=60,
        check=False,
    )
    assert version.returncode == 0 and version.stdout.startswith("tyler "), version.stderr
    helped = run_tyler(["run", "--help"], {**cli_env, "COLUMNS": "100"})
    json_line = next(line for line in helped.stdout.splitlines() if "--json" in line)
    assert "<bool>" not in json_line  # a flag, not an option taking a value


def test_an_unusable_data_dir_is_one_error(cli_env: dict[str, str], tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    done = run_tyler(["chat"], {**cli_env, "TYLER_DATA_DIR": str(blocker / "sub")}, stdin="hi\n")
    assert done.returncode == 2
    assert done.stderr.count("TYLER_DATA_DIR") == 1, done.stderr
    assert "input history" not in done.stderr


def test_a_too_small_local_context_is_an_error_not_silently_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    from tyler.exceptions import ConfigurationError
    from tyler.providers import local

    engine = pytest.importorskip("xllamacpp")  # building the parameters loads no model
    monkeypatch.setenv("TYLER_LOCAL_N_CTX", "64")
    with pytest.raises(ConfigurationError, match=r"TYLER_LOCAL_N_CTX must be at least 256"):
        local._build_params(engine, Path("m.gguf"), "m")
    monkeypatch.setenv("TYLER_LOCAL_N_CTX", "512")
    assert local._build_params(engine, Path("m.gguf"), "m").n_ctx == 512
