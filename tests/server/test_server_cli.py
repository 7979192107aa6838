"""`tyler serve` as users run it: a real process (uvicorn, one or two workers) on a free port."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tyler.testing import FakeModelServer

TYLER = [sys.executable, "-m", "tyler.cli"]
README = Path(__file__).parents[2] / "README.md"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def serve_env(fake_server: FakeModelServer, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_", "TYLER_"))}
    env.update(fake_server.env())
    env.update(TYLER_DATA_DIR=str(tmp_path / "data"), NO_PROXY="127.0.0.1,localhost", PYTHONPATH=str(tmp_path))
    return env


class Proc:
    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([*TYLER, "serve", "--port", str(self.port), *args], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.communicate()[0]
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError("tyler serve did not become ready")

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.communicate(timeout=30)[0]


@pytest.fixture
def spawn(serve_env: dict[str, str]) -> Iterator[object]:
    procs: list[Proc] = []

    def start(*args: str) -> Proc:
        proc = Proc(list(args), serve_env)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.stop()


def test_help_documents_every_option() -> None:
    import typer.main

    from tyler.cli.app import app

    serve = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    options = [p for p in serve.params if p.param_type_name == "option"]
    out = subprocess.run([*TYLER, "serve", "--help"], capture_output=True, text=True, env={**os.environ,
                         "COLUMNS": "200"}, check=True).stdout
    names = [name for option in options for name in option.opts if name.startswith("--")]
    assert {"--agent", "--model", "--tools", "--host", "--port", "--store", "--api-key", "--cors-origin",
            "--workers", "--resumable", "--redis", "--reasoning-alias"} <= set(names)  # the issue's, and later ones
    for option in options:  # every option the command has, not a list kept by hand
        assert option.help and option.help.strip(), f"{option.opts} has no help text"
        assert any(re.search(rf"{re.escape(name)}\b", out) for name in option.opts), f"{option.opts} not in --help"


def test_serve_model_with_key_answers_openai_sdk(spawn, fake_server: FakeModelServer, tmp_path: Path) -> None:
    server = spawn("--model", "gpt-4o", "--api-key", "secret", "--store", f"sqlite+aiosqlite:///{tmp_path}/t.db")
    server.wait_ready()
    api = openai.OpenAI(base_url=server.url + "/v1", api_key="secret", max_retries=0)
    reply = api.chat.completions.create(model="tyler", messages=[{"role": "user", "content": "ping"}])
    assert reply.choices[0].message.content.endswith('You said: "ping"')
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server.url + "/v1", api_key="bad", max_retries=0).models.list()
    assert (tmp_path / "t.db").exists()


def test_serve_agent_module_with_two_workers(spawn, tmp_path: Path) -> None:
    (tmp_path / "my_agents.py").write_text(
        "from tyler import Agent\n"
        "agents = {'alpha': Agent(name='a', model_name='gpt-4o'), 'beta': Agent(name='b', model_name='gpt-4o')}\n"
    )
    server = spawn("--agent", "my_agents:agents", "--workers", "2")
    server.wait_ready()
    models = httpx.get(server.url + "/v1/models").json()
    assert [m["id"] for m in models["data"]] == ["alpha", "beta"]
    output = server.stop()
    assert output.count("Started server process") == 2, output


@pytest.mark.parametrize(("args", "message"), [
    (["--agent", "no_such_module:x"], "cannot import"),
    (["--agent", "nocolon"], "module:attribute"),
    (["--workers", "0"], "--workers"),
    (["--model", "gpt-4o", "--store", "oracle://x"], "unsupported"),
    # In-process runs live in one worker: a reconnect to another worker would not find them.
    (["--model", "gpt-4o", "--resumable", "--workers", "2"], "--redis URL"),
    (["--model", "gpt-4o", "--resumable", "--run-retention", "0"], "--run-retention"),
    (["--model", "gpt-4o", "--resumable", "--run-max-events", "0"], "--run-max-events"),
    (["--model", "gpt-4o", "--resumable", "--max-queued-runs", "0"], "--max-queued-runs"),
])
def test_bad_options_exit_2_with_one_line(serve_env: dict[str, str], args: list[str], message: str) -> None:
    done = subprocess.run([*TYLER, "serve", "--port", str(free_port()), *args], env=serve_env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr


def test_public_host_without_key_warns(spawn) -> None:
    server = spawn("--model", "gpt-4o", "--host", "0.0.0.0")
    server.wait_ready()
    assert "without --api-key" in server.stop()


def serving_blocks() -> list[tuple[str, str]]:
    """The README's "Serving" section (up to its first subsection): its fenced blocks as (language, code)."""
    text = README.read_text(encoding="utf-8")
    start = text.index("## Serving: `tyler serve`")
    section = text[start:text.index("\n### ", start)]
    return re.findall(r"```(\w*)\n(.*?)```", section, re.S)


def test_readme_serving_command_and_snippets_run(spawn, serve_env: dict[str, str], node_clients: Path,
                                                 fake_server: FakeModelServer) -> None:
    """The copy-paste `tyler serve` command and one client snippet per protocol, run as written
    (only the port changes), all continuing the same conversation."""
    blocks = serving_blocks()
    command = next(line for lang, code in blocks if not lang for line in code.splitlines()
                   if line.startswith("tyler serve"))
    args = shlex.split(command.partition("#")[0])[2:]
    del args[args.index("--port"):args.index("--port") + 2]  # a free port instead of 8000
    server = spawn(*args)
    server.wait_ready()
    runners = {"python": [sys.executable, "-c"], "js": ["node", "--input-type=module", "-e"], "sh": ["bash", "-c"]}
    outputs = []
    for lang, code in blocks:
        if lang not in runners:
            continue
        done = subprocess.run([*runners[lang], code.replace("http://127.0.0.1:8000", server.url)], cwd=node_clients,
                              env=serve_env, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0 and "error" not in done.stderr.lower(), (code, done.stdout, done.stderr)
        outputs.append((lang, done.stdout))
    assert [lang for lang, _ in outputs] == ["python", "python", "js", "js", "sh"]  # one per protocol
    said = [f'You said: "{text}"' for text in ("hi", "and now?", "hi again", "one more", "last one")]
    for (_, out), expected in zip(outputs, said, strict=True):  # as printed, or inside SSE JSON (curl)
        assert expected in out or json.dumps(expected)[1:-1] in out, (expected, out)
    agui = outputs[3][1]  # the AG-UI client got the whole conversation (MESSAGES_SNAPSHOT)
    assert all(f"user: {text}" in agui for text in ("hi", "and now?", "hi again", "one more")), agui
    sent = [m["content"] for m in fake_server.requests[-1].messages if m["role"] == "user"]
    assert sent == ["hi", "and now?", "hi again", "one more", "last one"]
