"""`tyler run`: the real command in a subprocess against the fake model server."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cli_helpers import run_tyler

from tyler.testing import FakeModelServer, FakeToolCall, Turn


def test_streams_plain_text_to_stdout(cli_env: dict[str, str], fake_server: FakeModelServer) -> None:
    fake_server.enqueue(Turn(text="Hello from the fake model, **plainly**."))
    done = run_tyler(["run", "hello there"], cli_env)
    assert done.returncode == 0, done.stderr
    # Not a terminal: the raw text, no Markdown rendering, no escape codes, one final newline.
    assert done.stdout == "Hello from the fake model, **plainly**.\n"
    assert "model: gpt-4o (TYLER_MODEL)" in done.stderr
    (request,) = fake_server.requests
    assert request.body["model"] == "gpt-4o"
    assert request.body["stream"] is True
    assert request.body["messages"][-1] == {"role": "user", "content": "hello there"}


def test_hosted_models_get_read_only_tools_by_default(cli_env: dict[str, str], fake_server: FakeModelServer) -> None:
    done = run_tyler(["run", "hi"], cli_env)
    assert done.returncode == 0, done.stderr
    # Never files and web together by default (issue 15 item 6): the workspace's files only.
    assert "tools: files (read-only)" in done.stderr
    offered = {t["function"]["name"] for t in fake_server.requests[0].body["tools"]}
    assert offered == {"files-read", "files-list", "files-search"}
    fake_server.reset()
    done = run_tyler(["run", "--tools", "none", "hi"], cli_env)
    assert done.returncode == 0, done.stderr
    assert "tools: none" in done.stderr
    assert not fake_server.requests[0].body.get("tools")


def test_json_lines_one_event_per_line(cli_env: dict[str, str], fake_server: FakeModelServer) -> None:
    fake_server.enqueue(Turn(text="one two three"))
    done = run_tyler(["run", "--json", "count"], cli_env)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    types = [e["type"] for e in events]
    assert types[-1] == "execution_complete"
    assert "llm_request" in types and "llm_response" in types and "message_created" in types
    chunks = [e["data"]["content_chunk"] for e in events if e["type"] == "llm_stream_chunk"]
    assert len(chunks) >= 3  # streamed word by word, one event per chunk
    assert "".join(chunks) == "one two three"
    assert events[-1]["data"]["total_tokens"] > 0


def test_prompt_from_stdin_with_dash(cli_env: dict[str, str], fake_server: FakeModelServer) -> None:
    fake_server.enqueue(Turn(text="got it"))
    done = run_tyler(["run", "-"], cli_env, stdin="a prompt\nover two lines\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "got it\n"
    assert fake_server.requests[0].body["messages"][-1]["content"] == "a prompt\nover two lines\n"


def test_http_500_exits_nonzero_with_error_on_stderr(cli_env: dict[str, str], fake_server: FakeModelServer) -> None:
    # 500 is retried (before the first chunk) by the provider; every attempt fails here.
    fake_server.enqueue(Turn(status=500, error_message="the model server broke"), repeat=5)
    done = run_tyler(["run", "hi"], cli_env)
    assert done.returncode == 1
    assert done.stdout == ""
    assert "500" in done.stderr or "the model server broke" in done.stderr
    assert "Traceback" not in done.stderr


def test_http_401_is_an_authentication_error(cli_env: dict[str, str], fake_server: FakeModelServer) -> None:
    fake_server.enqueue(Turn(status=401, error_message="bad key"))
    done = run_tyler(["run", "--json", "hi"], cli_env)
    assert done.returncode == 1
    last = json.loads(done.stdout.splitlines()[-1])
    assert last["type"] == "execution_error"
    assert last["data"]["error_type"] == "AuthenticationError"
    assert "AuthenticationError" in done.stderr
    assert len(fake_server.requests) == 1  # 401 is not retried


def test_thinking_goes_to_stderr_answer_to_stdout(cli_env: dict[str, str], fake_server: FakeModelServer) -> None:
    fake_server.enqueue(Turn(thinking="Let me weigh the options", text="The answer is 42."))
    done = run_tyler(["run", "--reasoning", "low", "question"], cli_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "The answer is 42.\n"
    assert "[thinking] Let me weigh the options" in done.stderr


def test_tool_call_with_lye_files(cli_env: dict[str, str], fake_server: FakeModelServer, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("the secret word is marmalade\n")
    fake_server.enqueue(
        Turn(tool_calls=[FakeToolCall(name="files-read", arguments={"path": "notes.txt"})]),
        Turn(text="The file says marmalade."),
    )
    done = run_tyler(["run", "--tools", "files", "read notes.txt"], cli_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "The file says marmalade.\n"
    assert "[tool] files-read(" in done.stderr
    assert "marmalade" in done.stderr  # the abbreviated result
    offered = {t["function"]["name"] for t in fake_server.requests[0].body["tools"]}
    assert {"files-read", "files-write", "files-list", "files-search"} <= offered
    # The tool result went back to the model on the second request.
    tool_messages = [m for m in fake_server.requests[1].body["messages"] if m["role"] == "tool"]
    assert "marmalade" in tool_messages[0]["content"]


def test_usage_errors_exit_2(cli_env: dict[str, str]) -> None:
    empty = run_tyler(["run", "-"], cli_env, stdin="   \n")
    assert empty.returncode == 2
    assert "prompt is empty" in empty.stderr
    unknown_tools = run_tyler(["run", "--tools", "nope", "hi"], cli_env)
    assert unknown_tools.returncode == 2
    assert "unknown tool set 'nope'" in unknown_tools.stderr
    assert "model:" not in unknown_tools.stderr  # refused before the model/tools banner
    bad_reasoning = run_tyler(["run", "--reasoning", "max", "hi"], cli_env)
    assert bad_reasoning.returncode == 2
    assert "--reasoning must be one of" in bad_reasoning.stderr
    bad_local = run_tyler(["run", "--model", "local/llama9", "hi"], cli_env)
    assert bad_local.returncode == 2
    assert "unknown local model 'local/llama9'" in bad_local.stderr
    # Found only when the stream starts, still a setup problem: 2 as well.
    no_key = {k: v for k, v in cli_env.items() if not k.startswith("OPENAI_")}
    missing_key = run_tyler(["run", "--model", "gpt-4o", "hi"], no_key)
    assert missing_key.returncode == 2, missing_key.stderr
    assert "set OPENAI_API_KEY" in missing_key.stderr


def test_explicit_model_and_purpose(cli_env: dict[str, str], fake_server: FakeModelServer) -> None:
    done = run_tyler(
        ["run", "--model", "anthropic/claude-sonnet-4-5", "--purpose", "To talk like a pirate", "hi"], cli_env
    )
    assert done.returncode == 0, done.stderr
    assert "You said" in done.stdout  # the fake server's default reply
    (request,) = fake_server.requests
    assert request.api == "anthropic"
    assert "pirate" in json.dumps(request.body.get("system"))
    assert "model: anthropic/claude-sonnet-4-5 (--model)" in done.stderr


def test_broken_pipe_exits_quietly(cli_env: dict[str, str], fake_server: FakeModelServer) -> None:
    import subprocess

    fake_server.enqueue(Turn(text="word " * 400, delay=0.002))
    script = f"{sys.executable} -m tyler.cli run --json go | head -n 3"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", script], env=cli_env, capture_output=True, text=True, timeout=60, check=False
    )
    assert len(done.stdout.splitlines()) == 3
    assert done.returncode == 141
    assert "Traceback" not in done.stderr
    assert fake_server.wait_for_disconnect(timeout=10)  # the upstream stream was closed


def test_version_and_help(cli_env: dict[str, str]) -> None:
    version = run_tyler(["--version"], cli_env)
    assert version.returncode == 0
    assert version.stdout.startswith("tyler ")
    helped = run_tyler(["run", "--help"], cli_env)
    assert helped.returncode == 0
    assert "--json" in helped.stdout and "--tools" in helped.stdout


def test_attach_sends_the_file_and_refuses_bad_ones(
    cli_env: dict[str, str], fake_server: FakeModelServer, tmp_path: Path
) -> None:
    from files_helpers import png

    (tmp_path / "red.png").write_bytes(png())
    (tmp_path / "notes.txt").write_text("remember the milk\n")
    fake_server.enqueue(Turn(text="A red square and a note."))
    done = run_tyler(["run", "--attach", str(tmp_path / "red.png"), "-a", str(tmp_path / "notes.txt"),
                      "what are these?"], cli_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "A red square and a note.\n"
    (request,) = fake_server.requests
    assert request.images == [{"kind": "image", "media_type": "image/png", "data": png(), "role": "user"}]
    assert "remember the milk" in str(request.messages[-1]["content"])

    fake_server.reset()
    (tmp_path / "tool.bin").write_bytes(bytes(range(256)))
    for path, why in ((tmp_path / "missing.png", "cannot read attachment"),
                      (tmp_path / "tool.bin", "application/octet-stream, which the file store does not accept")):
        done = run_tyler(["run", "--attach", str(path), "hi"], cli_env)
        assert done.returncode == 2 and why in done.stderr, done.stderr
    assert fake_server.requests == []


def test_writing_tools_need_approval_and_a_pipe_cannot_give_it(
    cli_env: dict[str, str], fake_server: FakeModelServer, tmp_path: Path
) -> None:
    fake_server.enqueue(
        Turn(tool_calls=[FakeToolCall("files-write", {"path": "out.txt", "content": "hello"})]),
        Turn(text="I could not write the file."),
    )
    done = run_tyler(["run", "--tools", "files", "write hello to out.txt"], cli_env)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "out.txt").exists()
    denied = "[tool] files-write error: ApprovalDenied: the user denied this tool call: there is no terminal"
    assert denied in done.stderr
    tool_message = [m for m in fake_server.requests[1].body["messages"] if m["role"] == "tool"][0]
    assert "stdin is not a terminal" in tool_message["content"]
