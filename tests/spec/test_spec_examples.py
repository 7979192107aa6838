"""The runnable examples in examples/, run as scripts against the fake model server."""

from __future__ import annotations

import importlib.util
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from spec_support import REPO, program_env, run_script, serve

from tyler.testing import FakeModelServer, FakeToolCall, Turn
from tyler.testing.server import last_user_text

EXAMPLES = REPO / "examples"
CLAUDE = "anthropic/claude-3-7-sonnet-20250219"


def example(name: str) -> Path:
    path = EXAMPLES / name
    assert path.is_file(), f"missing example {path}"
    return path


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name.removesuffix(".py").replace("0", "ex0", 1), example(name))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_004_event_streaming(fake: FakeModelServer, tmp_path: Path) -> None:
    fake.enqueue(
        Turn(
            text="Let me check.",
            tool_calls=[
                FakeToolCall("current_time", {"city": "Tokyo"}),
                FakeToolCall("multiply", {"a": 17, "b": 23}),
                FakeToolCall("current_time", {"city": "Atlantis"}),
            ],
            usage={"prompt_tokens": 50, "completion_tokens": 20},
        ),
        Turn(text="It is late in Tokyo, and 17 * 23 = 391.", usage={"prompt_tokens": 90, "completion_tokens": 12}),
    )
    out = run_script(example("004_event_streaming.py"), fake, tmp_path, "Time", "in", "Tokyo?").stdout
    lines = out.splitlines()
    assert lines[0] == "🤖 Let me check."
    assert lines[1:4] == [
        "🔧 current_time({'city': 'Tokyo'})",
        "🔧 multiply({'a': 17.0, 'b': 23.0})",
        "🔧 current_time({'city': 'Atlantis'})",
    ]
    results = sorted(lines[4:7])
    assert re.fullmatch(r"   ✅ current_time: \d\d:\d\d", results[0]), results
    assert results[1] == "   ✅ multiply: 391.0"
    assert results[2].startswith("   ❌ current_time: ValueError: unknown city 'Atlantis'")
    assert lines[7] == "🤖 It is late in Tokyo, and 17 * 23 = 391."
    assert re.fullmatch(r"📊 172 tokens in \d+ ms", lines[-1])
    assert fake.requests[0].messages[-1]["content"] == "Time in Tokyo?"
    assert [t["function"]["name"] for t in fake.requests[0].body["tools"]] == ["current_time", "multiply"]


def test_005_raw_streaming_prints_text_and_tokens(fake: FakeModelServer, tmp_path: Path) -> None:
    fake.enqueue(Turn(text="Hello there, proxy user!", usage={"prompt_tokens": 4, "completion_tokens": 3}))
    out = run_script(example("005_raw_streaming.py"), fake, tmp_path, "Hi").stdout
    assert out == "Hello there, proxy user!\n\nTokens: 7\n"
    assert fake.requests[0].model == "gpt-4o"


def _sse_payloads(raw: str) -> list[str]:
    assert raw.endswith("\n\n")
    events = raw.split("\n\n")[:-1]
    assert all(e.startswith("data: ") for e in events), events
    return [e.removeprefix("data: ") for e in events]


def test_005_raw_streaming_sse(fake: FakeModelServer, tmp_path: Path) -> None:
    fake.enqueue(
        Turn(tool_calls=[FakeToolCall("nothing", {})], usage={"prompt_tokens": 2, "completion_tokens": 1}),
        Turn(text="As SSE.", usage={"prompt_tokens": 3, "completion_tokens": 2}),
    )
    out = run_script(example("005_raw_streaming.py"), fake, tmp_path, "--sse", "Hi").stdout
    payloads = _sse_payloads(out)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    finishes = [ch["finish_reason"] for c in chunks for ch in c["choices"] if ch["finish_reason"]]
    assert finishes == ["tool_calls", "stop"]
    assert "".join(ch["delta"].get("content") or "" for c in chunks for ch in c["choices"]) == "As SSE."
    assert [c["usage"]["total_tokens"] for c in chunks if c.get("usage")] == [3, 5]


async def test_005_openai_compatible_server(fake: FakeModelServer) -> None:
    module = load("005_raw_streaming.py")
    fake.enqueue(Turn(text="Streamed to an OpenAI client."), Turn(text="Not streamed."))
    with serve(module.create_app(module.make_agent())) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            body = {"model": "any", "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
            async with client.stream("POST", "/v1/chat/completions", json=body) as response:
                assert response.status_code == 200
                raw = "".join([part async for part in response.aiter_text()])
            plain = await client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "Hi"}]})
            bad = await client.post("/v1/chat/completions", json={"messages": []})
    payloads = _sse_payloads(raw)
    assert payloads[-1] == "[DONE]"
    text = "".join(ch["delta"].get("content") or "" for p in payloads[:-1] for ch in json.loads(p)["choices"])
    assert text == "Streamed to an OpenAI client."
    assert plain.status_code == 200
    assert plain.json()["choices"][0]["message"] == {"role": "assistant", "content": "Not streamed."}
    assert plain.json()["usage"]["total_tokens"] > 0
    assert bad.status_code == 400
    assert len(fake.requests) == 2


def test_005_serve_without_uvicorn_says_what_to_install(fake: FakeModelServer, tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "uvicorn.py").write_text('raise ImportError("No module named uvicorn", name="uvicorn")\n')
    done = subprocess.run(
        [sys.executable, str(example("005_raw_streaming.py")), "--serve", "0"], cwd=tmp_path,
        env=program_env(fake, PYTHONPATH=str(blocked)), capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 2
    assert "pip install fastapi uvicorn" in done.stderr and "uvicorn is missing" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("stack", ["default", "h11-asyncio"])
def test_005_serve_is_silent_when_clients_disconnect_mid_stream(
    fake: FakeModelServer, tmp_path: Path, stack: str
) -> None:
    """Issue 13: `--serve` with clients that go away mid-reply prints no "socket.send() raised
    exception" (nor anything else) and closes each upstream request. Real process, real clients:
    the OpenAI SDK closing its stream, and a raw socket reset (RST) with the reply still coming.
    "h11-asyncio" hides uvloop and httptools so uvicorn falls back to its pure-Python stack."""
    from openai import OpenAI

    extra: dict[str, str] = {}
    if stack == "h11-asyncio":
        blocked = tmp_path / "blocked"
        blocked.mkdir()
        for name in ("uvloop", "httptools"):
            (blocked / f"{name}.py").write_text(f'raise ImportError("hidden by the test", name="{name}")\n')
        extra["PYTHONPATH"] = str(blocked)
    fake.set_default_turn(Turn(text=" ".join(f"w{i}" for i in range(3000)), delay=0.002))
    proc = subprocess.Popen(
        [sys.executable, str(example("005_raw_streaming.py")), "--serve", "0"], cwd=tmp_path,
        env=program_env(fake, **extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stderr is not None
        started = [proc.stderr.readline() for _ in range(4)]
        found = re.search(r"running on http://127\.0\.0\.1:(\d+)", "".join(started))
        assert found, started
        port = int(found.group(1))
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0)
        for _ in range(2):
            stream = client.chat.completions.create(
                model="any", stream=True, messages=[{"role": "user", "content": "hi"}]
            )
            for i, _chunk in enumerate(stream):
                if i == 20:
                    break
            stream.close()  # the client goes away mid-reply
            assert fake.wait_for_disconnect(timeout=20), "the upstream request was not closed"
        _reset_mid_stream(port)
        assert fake.wait_for_disconnect(timeout=20), "the upstream request was not closed"
        assert len(fake.requests) == 3
    finally:
        fake.set_default_turn(None)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    for noise in ("socket.send() raised exception", "Traceback", "ERROR", "Exception"):
        assert noise not in err and noise not in out, err


def _reset_mid_stream(port: int) -> None:
    """A raw HTTP client that reads part of a streamed reply, then resets the connection."""
    import socket
    import struct

    body = json.dumps({"stream": True, "messages": [{"role": "user", "content": "hi"}]}).encode()
    head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(f"{head}content-length: {len(body)}\r\n\r\n".encode() + body)
        received = b""
        while received.count(b"data:") < 20:
            data = sock.recv(4096)
            assert data, "the server closed first"
            received += data
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST


def test_006_thinking_tokens_claude(fake: FakeModelServer, tmp_path: Path) -> None:
    turn = Turn(thinking_chunks=["137 * 284 = ", "38,908."], text="The answer is 38,908.")
    fake.enqueue(turn, turn, turn)
    out = run_script(example("006_thinking_tokens.py"), fake, tmp_path).stdout
    assert out == (
        "=== 1. Events ===\n"
        "💭 [reasoning] 137 * 284 = 38,908.\n💬 The answer is 38,908.\n"
        "=== 2. The message ===\n"
        "Full reasoning: 137 * 284 = 38,908.\n"
        "Answer: The answer is 38,908.\n"
        "=== 3. Raw chunks ===\n"
        "[Reasoning] 137 * 284 = \n[Reasoning] 38,908.\nThe answer is 38,908.\n"
    )
    assert all(r.api == "anthropic" and r.body["thinking"]["type"] == "enabled" for r in fake.requests)


def test_006_thinking_tokens_o1(fake: FakeModelServer, tmp_path: Path) -> None:
    turn = Turn(thinking_chunks=["Multiply. "], text="38,908")
    fake.enqueue(turn, turn, turn)
    out = run_script(example("006_thinking_tokens.py"), fake, tmp_path, "o1-preview", "What's", "137*284?").stdout
    assert "💭 [reasoning] Multiply. \n💬 38,908\n" in out
    assert "Full reasoning: Multiply. \n" in out and "[Reasoning] Multiply. \n38,908\n" in out
    assert all(r.api == "openai" and r.body["reasoning_effort"] == "low" for r in fake.requests)
    assert fake.requests[0].messages[-1]["content"] == "What's 137*284?"


def test_006_without_thinking(fake: FakeModelServer, tmp_path: Path) -> None:
    fake.set_default_turn(Turn(text="Plain."))
    out = run_script(example("006_thinking_tokens.py"), fake, tmp_path, "gpt-4o").stdout
    assert "💭" not in out and "Full reasoning: (none)\n" in out and "[Reasoning]" not in out


def test_007_streaming_chat_resumes(fake: FakeModelServer, tmp_path: Path) -> None:
    script = example("007_streaming_chat.py")
    fake.enqueue(Turn(text="Hi! I am listening."))
    data = str(tmp_path / "data")  # the database goes to the data directory, not the current one
    first = run_script(script, fake, tmp_path, stdin="hello\n\nexit\n", TYLER_DATA_DIR=data).stdout
    assert (tmp_path / "data" / "example-chat.db").is_file() and not (tmp_path / "chat.db").exists()
    assert first.startswith("🆕 Starting new conversation 'main-chat'...\n")
    assert "🤖 Hi! I am listening.\n\n" in first and first.endswith("👋 Bye\n")
    assert len(fake.requests) == 1  # the empty line was not sent

    fake.enqueue(Turn(text="You said hello."))
    second = run_script(script, fake, tmp_path, stdin="what did I say?\n", TYLER_DATA_DIR=data).stdout  # EOF too
    assert second.startswith("📚 Resuming conversation 'main-chat' (2 messages)...\n")
    assert "🤖 You said hello.\n\n" in second
    history = [(m["role"], m["content"]) for m in fake.requests[1].messages if m["role"] != "system"]
    assert history == [("user", "hello"), ("assistant", "Hi! I am listening."), ("user", "what did I say?")]

    fake.enqueue(Turn(text="Fresh start."))
    third = run_script(script, fake, tmp_path, stdin="/new\nagain\n/exit\n", TYLER_DATA_DIR=data).stdout
    assert "🧹 History cleared." in third and "🤖 Fresh start." in third
    assert [m["role"] for m in fake.requests[2].messages] == ["system", "user"]


STORY = " ".join(f"wave{i}" for i in range(300))
PIECES = [f"p{i} " for i in range(12)]


def test_008_streaming_patterns(fake: FakeModelServer, tmp_path: Path) -> None:
    def respond(request) -> Turn:
        said = last_user_text(request.body) or ""
        if said.startswith("Name five planets"):
            return Turn(chunks=PIECES)
        if said.startswith("Tell me a long story"):
            return Turn(text=STORY, delay=0.01)
        return Turn(text=f"An answer about {said.removeprefix('What is ').rstrip('?')}.", delay=0.03)

    fake.set_responder(respond)
    out = run_script(example("008_streaming_patterns.py"), fake, tmp_path).stdout
    lines = out.splitlines()
    assert lines[:2] == ["=== 1. Buffered ===", "[p0 p1 p2 p3 p4 ][p5 p6 p7 p8 p9 ][p10 p11 ]"]
    assert lines[2:9] == [
        "=== 2. Concurrent ===",
        "Q: What is a comet?", "A: An answer about a comet.",
        "Q: What is a quasar?", "A: An answer about a quasar.",
        "Q: What is a nebula?", "A: An answer about a nebula.",
    ]
    assert lines[9] == "=== 3. Stopping early ==="
    shown = lines[10].removeprefix("Shown: ")
    assert len(shown) >= 40 and STORY.startswith(shown) and len(shown) < len(STORY)
    kept = re.fullmatch(r"Kept on the thread: assistant, interrupted=True, (\d+) characters", lines[11])
    assert kept and len(shown) <= int(kept.group(1)) < len(STORY)
    finished = [fake.wait_for_request_finished(i) for i in range(len(fake.requests))]
    assert all(finished), "a model request never finished"
    story_request = next(r for r in finished if "long story" in (last_user_text(r.body) or ""))
    assert story_request.disconnected_early and not story_request.completed
    concurrent = [r for r in finished if (last_user_text(r.body) or "").startswith("What is")]
    assert max(r.started for r in concurrent) < min(r.finished for r in concurrent)


def test_007_ctrl_c_stops_only_the_answer(fake: FakeModelServer, tmp_path: Path) -> None:
    fake.enqueue(Turn(text=STORY, delay=0.02), Turn(text="Second answer."))
    proc = subprocess.Popen(
        [sys.executable, str(example("007_streaming_chat.py"))], cwd=tmp_path,
        env=program_env(fake, TYLER_DATA_DIR=str(tmp_path / "data")),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
    )
    try:
        assert proc.stdin is not None
        proc.stdin.write("tell me a story\n")
        proc.stdin.flush()
        deadline = time.monotonic() + 15
        while not (fake.requests and fake.requests[0].chunks_sent >= 5):
            assert time.monotonic() < deadline and proc.poll() is None, "the answer never started"
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        assert fake.wait_for_disconnect(0, timeout=10), "Ctrl-C did not close the model request"
        out, err = proc.communicate("again\nexit\n", timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "\n⚠️ stopped\n" in out and "🤖 Second answer.\n" in out and out.endswith("👋 Bye\n")
    roles = [m["role"] for m in fake.requests[1].messages]
    assert roles == ["system", "user", "assistant", "user"]  # the partial answer stayed in the history
    assert STORY.startswith(fake.requests[1].messages[2]["content"])


def test_examples_report_a_failed_model_call_in_one_line(fake: FakeModelServer, tmp_path: Path) -> None:
    # The server refuses the key: each example says so and exits non-zero, without a traceback.
    names = ("004_event_streaming.py", "005_raw_streaming.py", "006_thinking_tokens.py", "008_streaming_patterns.py")
    for name in names:
        fake.enqueue(Turn(status=401, error_message="Incorrect API key provided"))
        proc = subprocess.run(
            [sys.executable, str(example(name))], cwd=tmp_path, env=program_env(fake),
            capture_output=True, text=True, encoding="utf-8", timeout=60, check=False,
        )
        assert "Traceback" not in proc.stderr, (name, proc.stderr)
        assert proc.returncode != 0, (name, proc.stdout)
        assert "Incorrect API key" in proc.stdout + proc.stderr, (name, proc.stdout, proc.stderr)
