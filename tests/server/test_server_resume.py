"""Resumable runs on the server (`create_app(runs=...)`, `tyler serve --resumable/--redis`).

In-process: a disconnect detaches, `GET /v1/runs/{id}/events` resumes after Last-Event-ID (or
?after=) exactly once, cancel is explicit and closes the upstream request, bad ids are 4xx.
Two real `tyler serve` processes on one Redis and one PostgreSQL store: start on A, resume on B exactly
once; kill -9 of A ends the run for a reader on B; a cancel sent to B stops the run on A.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from test_server_cli import Proc, serve_env  # noqa: F401  (serve_env: the fixture, shared)

from conftest import LiveServer
from pg_helpers import fresh_database
from tyler import Agent
from tyler.testing import FakeModelServer, FakeToolCall, Turn

LONG = " ".join(f"word{i}" for i in range(300))
REDIS_URL = os.environ.get("TYLER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def sse_frames(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """SSE frames as {id, event, data (parsed)} dicts, comments skipped, as they arrive."""
    block: list[str] = []
    for line in lines:
        if line:
            block.append(line)
            continue
        fields: dict[str, Any] = dict(item.partition(": ")[::2] for item in block if not item.startswith(":"))
        block = []
        if fields:
            if "data" in fields:
                fields["data"] = json.loads(fields["data"])
            yield fields


def read_events(response: httpx.Response, stop: int | None = None) -> list[dict[str, Any]]:
    """The response's frames until the stream ends (or `stop` frames were read)."""
    return list(islice(sse_frames(response.iter_lines()), stop))


def start_run(url: str, thread_id: str, stop: int, text: str = "Tell me a long story") -> tuple[str, list[dict]]:
    """Start a native run and read `stop` events, then drop the connection."""
    with httpx.stream("POST", f"{url}/v1/threads/{thread_id}/runs", json={"input": text}, timeout=60) as response:
        assert response.status_code == 200, response.read()
        return response.headers["x-run-id"], read_events(response, stop)


def resume(url: str, run_id: str, last_id: str | None = None, **params: str) -> list[dict[str, Any]]:
    headers = {"last-event-id": last_id} if last_id else {}
    with httpx.stream("GET", f"{url}/v1/runs/{run_id}/events", headers=headers, params=params,
                      timeout=60) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["x-run-id"] == run_id
        return read_events(response)


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A Redis key prefix of this test's own (its keys, which outlive the test by days, are deleted)."""
    prefix = f"tyler-test-{uuid.uuid4().hex[:10]}:"
    yield prefix
    try:
        import redis
    except ImportError:
        return
    client = redis.Redis.from_url(REDIS_URL)
    try:
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
    except redis.ConnectionError:
        pass  # no Redis here: the test that used the prefix was skipped or ran in memory
    finally:
        client.close()


@pytest.fixture
def resumable(serve: Any) -> LiveServer:
    return serve(runs="memory", heartbeat=0.5)


def test_disconnect_detaches_and_resume_is_exactly_the_rest(resumable: LiveServer, env: FakeModelServer) -> None:
    env.enqueue(Turn(thinking="Let me check.", tool_calls=[FakeToolCall("get_weather", {"city": "Oslo"})]),
                Turn(text=LONG, delay=0.003))
    run_id, first = start_run(resumable.url, "resume-1", stop=6)
    rest = resume(resumable.url, run_id, first[-1]["id"])
    reference = resume(resumable.url, run_id)
    assert first + rest == reference
    assert [e["event"] for e in reference].count("execution_complete") == 1
    assert reference[-1]["event"] == "execution_complete"
    assert len({e["id"] for e in reference}) == len(reference)
    status = httpx.get(f"{resumable.url}/v1/runs/{run_id}").json()
    assert status["status"] == "completed" and status["thread_id"] == "resume-1"
    thread = httpx.get(f"{resumable.url}/v1/threads/resume-1").json()
    assert [m["role"] for m in thread["messages"]] == ["user", "assistant", "tool", "assistant"]
    assert thread["messages"][-1]["content"] == LONG
    assert not any(r.disconnected_early for r in env.requests)  # the run went on without its client
    # ?after= for clients that cannot set headers; after the last event: nothing more.
    assert resume(resumable.url, run_id, after=first[2]["id"]) == reference[3:]
    assert resume(resumable.url, run_id, reference[-1]["id"]) == []


def test_cancel_is_explicit_closes_upstream_and_ends_every_reader(
    resumable: LiveServer, env: FakeModelServer
) -> None:
    env.enqueue(Turn(text=LONG, delay=0.01))
    run_id, first = start_run(resumable.url, "resume-cancel", stop=4)
    with httpx.stream("GET", f"{resumable.url}/v1/runs/{run_id}/events",
                      headers={"last-event-id": first[-1]["id"]}, timeout=60) as response:
        lines = response.iter_lines()
        answer = httpx.post(f"{resumable.url}/v1/runs/{run_id}/cancel")
        assert answer.status_code == 200 and answer.json()["status"] == "cancelling"
        events = list(sse_frames(lines))
    assert events[-1]["event"] == "execution_error"
    assert events[-1]["data"]["data"]["error_type"] == "RunCancelledError"
    assert env.wait_for_disconnect(timeout=30)
    assert httpx.get(f"{resumable.url}/v1/runs/{run_id}").json()["status"] == "cancelled"
    again = httpx.post(f"{resumable.url}/v1/runs/{run_id}/cancel")
    assert again.status_code == 409
    thread = httpx.get(f"{resumable.url}/v1/threads/resume-cancel").json()
    assert thread["messages"][-1]["role"] == "assistant"
    assert thread["messages"][-1]["metrics"] is not None


def test_bad_resume_requests_are_clear_errors(resumable: LiveServer, env: FakeModelServer) -> None:
    env.enqueue(Turn(text="short"))
    run_id, events = start_run(resumable.url, "resume-bad", stop=1000)
    assert events[-1]["event"] == "execution_complete"
    unknown = httpx.get(f"{resumable.url}/v1/runs/run_nope/events")
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "run_not_found"
    assert httpx.get(f"{resumable.url}/v1/runs/run_nope").status_code == 404
    malformed = httpx.get(f"{resumable.url}/v1/runs/{run_id}/events", headers={"last-event-id": "x-y"})
    assert malformed.status_code == 400 and malformed.json()["error"]["type"] == "invalid_event_id"
    gone = httpx.get(f"{resumable.url}/v1/runs/{run_id}/events", params={"after": "99999"})
    assert gone.status_code == 410 and gone.json()["error"]["type"] == "event_id_expired"
    assert httpx.post(f"{resumable.url}/v1/runs/run_nope/cancel").status_code == 404


def test_chat_completions_stream_through_the_run_log(resumable: LiveServer, env: FakeModelServer) -> None:
    env.enqueue(Turn(text="Hello from the log."))
    body = {"model": "tyler", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.stream("POST", f"{resumable.url}/v1/chat/completions", json=body, timeout=60) as response:
        run_id = response.headers["x-run-id"]
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    text = "".join(json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
                   for line in lines[:-1] if json.loads(line[6:])["choices"])
    assert text == "Hello from the log."
    native = resume(resumable.url, run_id)
    assert native[-1]["event"] == "execution_complete"


@pytest.mark.parametrize("backend", ["memory", pytest.param(REDIS_URL, marks=pytest.mark.redis)])
def test_after_retention_the_final_messages_come_from_the_thread_store(
    serve: Any, env: FakeModelServer, backend: str, redis_prefix: str
) -> None:
    if backend != "memory":
        pytest.importorskip("redis")
    live = serve(runs=backend, run_retention=1.0, heartbeat=0.5, redis_prefix=redis_prefix)
    env.enqueue(Turn(tool_calls=[FakeToolCall("get_weather", {"city": "Oslo"})]), Turn(text="Sunny in Oslo."),
                Turn(text="A later answer."))
    thread_id = f"retention-{uuid.uuid4().hex[:8]}"
    run_id, events = start_run(live.url, thread_id, stop=1000, text="Weather in Oslo?")
    assert events[-1]["event"] == "execution_complete"
    created = [e["data"]["data"]["message"] for e in events if e["event"] == "message_created"]
    _, later = start_run(live.url, thread_id, stop=1000, text="And tomorrow?")  # must not count as this run's
    assert later[-1]["event"] == "execution_complete"

    def replayed_from_store() -> list[dict[str, Any]] | None:
        frames = resume(live.url, run_id, events[3]["id"])  # an id the log no longer has
        return frames if frames and frames[-1]["data"]["data"].get("replayed_from") == "thread_store" else None

    deadline = time.monotonic() + 60  # retention is 1 s; generous for a loaded machine
    while (stored := replayed_from_store()) is None:
        assert time.monotonic() < deadline, "the run's log did not expire"
        time.sleep(0.1)
    assert [f["event"] for f in stored] == ["message_created"] * 3 + ["execution_complete"]
    assert all("id" not in f for f in stored)  # no log ids to resume from any more
    messages = [f["data"]["data"]["message"] for f in stored[:-1]]
    assert [(m["id"], m["role"], m["content"]) for m in messages] == [
        (m["id"], m["role"], m["content"]) for m in created
    ]
    assert messages[-1]["content"] == "Sunny in Oslo."
    assert httpx.get(f"{live.url}/v1/runs/{run_id}").json()["status"] == "completed"  # the record outlives the log


async def _ws_until_end(ws: Any, out: list[dict[str, Any]], cancel_at: int | None = None) -> list[dict[str, Any]]:
    """Receive event objects until the terminal one (sending a cancel after `cancel_at` of them)."""
    while not out or out[-1]["type"] not in ("execution_complete", "execution_error"):
        out.append(json.loads(await asyncio.wait_for(ws.recv(), 60)))
        if len(out) == cancel_at:
            await ws.send(json.dumps({"type": "cancel"}))
    return out


def test_websocket_close_detaches_and_a_resume_message_continues_exactly_once(
    resumable: LiveServer, env: FakeModelServer
) -> None:
    env.enqueue(Turn(thinking="Hmm.", text=LONG, delay=0.003), Turn(text=LONG, delay=0.01))
    ws_url = resumable.url.replace("http", "ws") + "/v1/ws"

    async def session() -> tuple[list[dict], list[dict], list[dict], dict]:
        async with websockets.connect(ws_url + "?thread_id=ws-resume") as ws:
            await ws.send(json.dumps({"content": "story"}))
            first = [json.loads(await asyncio.wait_for(ws.recv(), 60)) for _ in range(6)]
        async with websockets.connect(ws_url) as ws:  # a new socket (it could be another worker)
            await ws.send(json.dumps({"type": "resume", "run_id": first[0]["run_id"], "after": first[-1]["id"]}))
            rest = await _ws_until_end(ws, [])
            await ws.send(json.dumps({"type": "resume", "run_id": "run_nope"}))
            unknown = json.loads(await asyncio.wait_for(ws.recv(), 60))
        async with websockets.connect(ws_url + "?thread_id=ws-resume") as ws:
            await ws.send(json.dumps({"content": "another"}))
            second = [json.loads(await asyncio.wait_for(ws.recv(), 60)) for _ in range(3)]
        async with websockets.connect(ws_url) as ws:  # resume, then cancel the run from here
            await ws.send(json.dumps({"type": "resume", "run_id": second[0]["run_id"], "after": second[-1]["id"]}))
            cancelled = await _ws_until_end(ws, [], cancel_at=2)
        return first, rest, cancelled, unknown

    first, rest, cancelled, unknown = asyncio.run(session())
    run_id = first[0]["run_id"]
    reference = resume(resumable.url, run_id)
    assert [m["id"] for m in first + rest] == [f["id"] for f in reference]
    assert all(m["run_id"] == run_id for m in first + rest)
    assert [{k: v for k, v in m.items() if k not in ("id", "run_id")} for m in first + rest] == [
        f["data"] for f in reference
    ]
    assert rest[-1]["type"] == "execution_complete"
    assert not env.requests[0].disconnected_early  # closing the socket did not stop the run
    assert unknown["type"] == "error" and unknown["error"]["type"] == "run_not_found"
    assert cancelled[-1]["type"] == "execution_error" and cancelled[-1]["data"]["error_type"] == "RunCancelledError"
    assert env.wait_for_disconnect(timeout=30)
    messages = httpx.get(f"{resumable.url}/v1/threads/ws-resume").json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[1]["content"] == LONG and messages[-1]["interrupted"]


def test_runs_endpoints_answer_404_when_runs_are_off(live: LiveServer) -> None:
    answer = httpx.get(f"{live.url}/v1/runs/run_x/events")
    assert answer.status_code == 404 and answer.json()["error"]["type"] == "runs_not_enabled"


# -- two `tyler serve` processes sharing Redis and one PostgreSQL store ---------------------------


@contextmanager
def two_workers(serve_env: dict[str, str], *extra: str) -> Iterator[tuple[Proc, Proc]]:  # noqa: F811
    """Two `tyler serve` processes sharing Redis and a PostgreSQL thread store (a fresh database),
    as several hosts would."""
    redis = pytest.importorskip("redis")
    prefix = f"tyler-test-{uuid.uuid4().hex[:10]}:"  # its own keys and queue: other workers on this Redis stay out
    with fresh_database() as store:
        args = ["--model", "gpt-4o", "--store", store, "--redis", REDIS_URL, "--redis-prefix", prefix,
                "--heartbeat", "0.5", *extra]
        a, b = Proc(args, serve_env), Proc(args, serve_env)
        try:
            a.wait_ready()
            b.wait_ready()
            yield a, b
        finally:
            for proc in (a, b):
                proc.stop()
            client = redis.Redis.from_url(REDIS_URL)
            for key in client.scan_iter(match=f"{prefix}*"):
                client.delete(key)
            client.close()


@pytest.fixture
def pair(serve_env: dict[str, str]) -> Iterator[tuple[Proc, Proc]]:  # noqa: F811
    with two_workers(serve_env) as workers:
        yield workers


@pytest.mark.redis
@pytest.mark.postgres
def test_start_on_one_worker_resume_on_the_other_exactly_once(pair: tuple[Proc, Proc], fake_server: FakeModelServer,
                                                              ) -> None:
    a, b = pair
    fake_server.enqueue(Turn(text=LONG, delay=0.003))
    thread_id = f"pair-{uuid.uuid4().hex[:8]}"
    run_id, first = start_run(a.url, thread_id, stop=10)
    rest = resume(b.url, run_id, first[-1]["id"])
    reference = resume(a.url, run_id)
    assert first + rest == reference and reference[-1]["event"] == "execution_complete"
    assert httpx.get(f"{b.url}/v1/runs/{run_id}").json()["status"] == "completed"
    thread = httpx.get(f"{b.url}/v1/threads/{thread_id}").json()
    assert thread["messages"][-1]["content"] == LONG


@pytest.mark.redis
@pytest.mark.postgres
def test_kill_9_of_the_worker_ends_the_run_for_a_reader_on_the_other(
    pair: tuple[Proc, Proc], fake_server: FakeModelServer
) -> None:
    a, b = pair
    fake_server.enqueue(Turn(thinking="Hmm.", text=LONG, stall_after=20))  # hangs upstream until its worker dies
    thread_id = f"pair-{uuid.uuid4().hex[:8]}"
    run_id, first = start_run(a.url, thread_id, stop=5)
    with httpx.stream("GET", f"{b.url}/v1/runs/{run_id}/events", headers={"last-event-id": first[-1]["id"]},
                      timeout=60) as response:
        lines = response.iter_lines()
        # Killed once the run streams text, so the lost reply has some to keep.
        seen = list(first)
        for event in sse_frames(lines):
            seen.append(event)
            if event["event"] == "llm_stream_chunk":
                break
        os.kill(a.proc.pid, signal.SIGKILL)
        seen += sse_frames(lines)  # ends within lease (5 s) + reader block (1 s)
    assert seen[-1]["event"] == "execution_error"
    assert seen[-1]["data"]["data"]["error_type"] == "WorkerLostError"
    status = httpx.get(f"{b.url}/v1/runs/{run_id}").json()
    assert status["status"] == "failed"
    # The reply that was streaming is rebuilt from the log into the shared store, once.
    text = "".join(e["data"]["data"]["content_chunk"] for e in seen if e["event"] == "llm_stream_chunk")
    assert text and LONG.startswith(text)
    resume(b.url, run_id)  # more readers and status queries on the ended run write nothing more
    assert httpx.get(f"{b.url}/v1/runs/{run_id}").json()["status"] == "failed"
    messages = httpx.get(f"{b.url}/v1/threads/{thread_id}").json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    partial = messages[-1]
    assert partial["interrupted"] and partial["content"] == text and partial["reasoning_content"] == "Hmm."
    assert partial["attributes"]["error_type"] == "WorkerLostError"


@pytest.mark.redis
@pytest.mark.postgres
def test_cancel_sent_to_one_worker_stops_the_run_on_the_other(
    pair: tuple[Proc, Proc], fake_server: FakeModelServer
) -> None:
    a, b = pair
    fake_server.enqueue(Turn(text=LONG, delay=0.01))
    run_id, first = start_run(a.url, f"pair-{uuid.uuid4().hex[:8]}", stop=5)
    answer = httpx.post(f"{b.url}/v1/runs/{run_id}/cancel")
    assert answer.status_code == 200
    events = resume(b.url, run_id, first[-1]["id"])
    assert events[-1]["data"]["data"]["error_type"] == "RunCancelledError"
    assert fake_server.wait_for_disconnect(timeout=30)
    assert httpx.get(f"{b.url}/v1/runs/{run_id}").json()["status"] == "cancelled"


def test_ai_sdk_reconnect_replays_the_run_in_progress_from_start(
    serve: Any, env: FakeModelServer, node_clients: Path
) -> None:
    gate = threading.Event()

    async def hold() -> str:
        """Wait until the test lets go (the run stays in progress meanwhile)."""
        await asyncio.to_thread(gate.wait, 60)
        return "released"

    live = serve(Agent(name="tyler", model_name="gpt-4o", tools=[hold], max_retries=0), runs="memory", heartbeat=0.5)
    env.enqueue(Turn(thinking="Planning.", text="Part one.", tool_calls=[FakeToolCall("hold", {})]),
                Turn(text=LONG))
    body = {"id": "chat-resume", "trigger": "submit-message",
            "messages": [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": "story please"}]}]}
    with httpx.stream("POST", f"{live.url}/api/chat", json=body, timeout=60) as response:
        run_id = response.headers["x-run-id"]
        first = list(islice(sse_frames(response.iter_lines()), 3))  # the tab reloads after 3 parts
    assert first[0]["data"]["type"] == "start"
    node = subprocess.Popen(["node", str(node_clients / "ai_sdk_resume.mjs"), f"{live.url}/api/chat", "chat-resume"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert node.stdout is not None
        assert json.loads(node.stdout.readline()) == {"connected": True}  # the run is held: still in progress
        gate.set()
        out = json.loads(node.stdout.readline())
    finally:
        gate.set()
        node.wait(timeout=60)
    assert out["reconnected"] and out["streamErrors"] == []
    kinds = [c["type"] for c in out["chunks"]]
    assert kinds[0] == "start" and kinds[-1] == "finish" and kinds.count("start") == 1
    texts = [p["text"] for p in out["message"]["parts"] if p["type"] == "text"]
    assert texts == ["Part one.", LONG]  # the whole message from its start, once
    assert [p["text"] for p in out["message"]["parts"] if p["type"] == "reasoning"] == ["Planning."]
    assert httpx.get(f"{live.url}/v1/runs/{run_id}").json()["status"] == "completed"
    done = subprocess.run(["node", str(node_clients / "ai_sdk_resume.mjs"), f"{live.url}/api/chat", "chat-resume"],
                          capture_output=True, text=True, timeout=120, check=True)
    assert [json.loads(line) for line in done.stdout.splitlines()] == [
        {"connected": False}, {"reconnected": False, "chunks": [], "message": None, "streamErrors": []},
    ]  # 204: nothing in progress any more


def test_ag_ui_client_reconnecting_gets_the_run_once_and_last_event_id_resumes(
    serve: Any, env: FakeModelServer, node_clients: Path
) -> None:
    gate = threading.Event()

    async def hold() -> str:
        """Wait until the test lets go (the run stays in progress meanwhile)."""
        await asyncio.to_thread(gate.wait, 60)
        return "released"

    live = serve(Agent(name="tyler", model_name="gpt-4o", tools=[hold], max_retries=0), runs="memory", heartbeat=0.5)
    env.enqueue(Turn(thinking="Planning.", text="Part one.", tool_calls=[FakeToolCall("hold", {})]),
                Turn(text=LONG))
    node = subprocess.Popen(["node", str(node_clients / "ag_ui_resume.mjs"), f"{live.url}/ag-ui", "agui-resume",
                             "run-r", "story please", "4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert node.stdout is not None
        line = node.stdout.readline()
        assert line, node.stderr.read() if node.stderr else ""
        first = json.loads(line)["first"]  # the reconnect is attached while the run is held in progress
        gate.set()
        out = json.loads(node.stdout.readline())
    finally:
        gate.set()
        node.wait(timeout=60)
    assert out["error"] is None  # HttpAgent's verifyEvents accepted the replayed + live stream
    kinds = [e["type"] for e in out["events"]]
    assert kinds.count("RUN_STARTED") == 1 and kinds[0] == "RUN_STARTED" and kinds[-1] == "RUN_FINISHED"
    seen = [e for e in first if e.get("code") != "abort"]  # HttpAgent adds a RUN_ERROR of its own on abort
    assert len(seen) >= 4 and out["events"][:len(seen)] == seen  # replayed from the start, as first seen
    texts = [m["content"] for m in out["messages"] if m["role"] == "assistant" and m.get("content")]
    assert texts == ["Part one.", LONG]
    assert not env.requests[0].disconnected_early  # the abort only detached
    # Clients that keep SSE ids resume after one with Last-Event-ID (POST, same threadId + runId).
    body = {"threadId": "agui-resume", "runId": "run-r", "messages": [{"id": "u1", "role": "user", "content": "x"}],
            "tools": [], "context": [], "state": {}, "forwardedProps": {}}

    def frames(headers: dict[str, str]) -> list[dict[str, Any]]:
        with httpx.stream("POST", f"{live.url}/ag-ui", json=body, headers=headers, timeout=60) as response:
            assert response.status_code == 200, response.read()
            return read_events(response)

    whole = frames({})
    assert [f["data"] for f in whole] == out["events"]
    marked = [i for i, f in enumerate(whole) if "id" in f]
    cut = marked[len(marked) // 2]
    assert frames({"last-event-id": whole[cut]["id"]}) == whole[cut + 1:]
    assert len(httpx.get(f"{live.url}/v1/threads/agui-resume").json()["messages"]) == 4  # no second run


@pytest.mark.redis
def test_a_full_worker_queues_the_run_and_another_worker_runs_it(
    serve: Any, env: FakeModelServer, tmp_path: Path
) -> None:
    redis = pytest.importorskip("redis")
    from tyler.runs import RedisRunLog, RunManager

    prefix = f"tyler-test-{uuid.uuid4().hex[:10]}:"
    gate = threading.Event()

    async def hold() -> str:
        """Wait until the test lets go (worker A stays full meanwhile)."""
        await asyncio.to_thread(gate.wait, 60)
        return "released"

    store = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    managers = [RunManager(RedisRunLog(REDIS_URL, prefix=prefix, lease=3.0, max_queue=1), max_runs=1, block=0.2)
                for _ in range(2)]
    a, b = (serve(Agent(name="tyler", model_name="gpt-4o", tools=[hold], max_retries=0), runs=m, store=store,
                  heartbeat=0.5) for m in managers)
    try:
        assert httpx.get(f"{b.url}/v1/runs/run_none").status_code == 404  # B's run manager is up, taking runs
        env.enqueue(Turn(tool_calls=[FakeToolCall("hold", {})]), Turn(text="Queued answer."), Turn(text="Held."))
        with httpx.stream("POST", f"{a.url}/v1/threads/held/runs", json={"input": "hold on"}, timeout=60) as held:
            held_id = held.headers["x-run-id"]
            for frame in sse_frames(held.iter_lines()):
                if frame["event"] == "tool_executing":
                    break  # A drives its one run, held in a tool
            run_id, events = start_run(a.url, "spilled", stop=1000, text="queue me")  # A is full
            status = httpx.get(f"{a.url}/v1/runs/{run_id}").json()
            gate.set()
        assert events[-1]["event"] == "execution_complete"
        text = "".join(e["data"]["data"]["content_chunk"] for e in events if e["event"] == "llm_stream_chunk")
        assert text == "Queued answer."
        assert status["status"] == "completed" and status["worker"] == managers[1].log.worker_id  # run by B
        messages = httpx.get(f"{a.url}/v1/threads/spilled").json()["messages"]
        assert [(m["role"], m["content"]) for m in messages] == [("user", "queue me"), ("assistant", "Queued answer.")]
        assert resume(a.url, held_id)[-1]["event"] == "execution_complete"
    finally:
        gate.set()
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
        client.close()



@pytest.mark.redis
@pytest.mark.postgres
def test_full_workers_queue_runs_up_to_max_queued_runs_then_429(
    serve_env: dict[str, str], fake_server: FakeModelServer  # noqa: F811
) -> None:
    # Each of the first two runs stalls upstream, so each worker is full with one run.
    fake_server.enqueue(Turn(text=LONG, stall_after=3), Turn(text=LONG, stall_after=3), Turn(text="Third."))
    with two_workers(serve_env, "--max-runs-per-worker", "1", "--max-queued-runs", "1") as (a, b):
        first, _ = start_run(a.url, "q-1", stop=2)
        second, _ = start_run(a.url, "q-2", stop=2)  # A is full: queued, and B takes it
        with httpx.stream("POST", f"{a.url}/v1/threads/q-3/runs", json={"input": "third"}, timeout=60) as third:
            assert third.status_code == 200  # both full: it waits in the queue (1 place)
            third_id = third.headers["x-run-id"]
            assert httpx.get(f"{b.url}/v1/runs/{third_id}").json()["status"] == "queued"
            refused = httpx.post(f"{b.url}/v1/threads/q-4/runs", json={"input": "fourth"}, timeout=60)
            assert refused.status_code == 429, refused.text
            owners = {httpx.get(f"{a.url}/v1/runs/{r}").json()["worker"] for r in (first, second)}
            assert len(owners) == 2  # one run on each worker
            assert httpx.post(f"{b.url}/v1/runs/{first}/cancel").status_code == 200  # A has room again
            events = read_events(third)
    assert events[-1]["event"] == "execution_complete"
    assert "".join(e["data"]["data"]["content_chunk"] for e in events if e["event"] == "llm_stream_chunk") == "Third."
