"""Serving figure: CPU per streamed chunk in the server process, client reading over loopback.

    python bench/serving.py [--chunks 2000] [--trials 5]

Runs the fake model server (`python -m tyler.testing`) in its own process, then measures, for one
reply of --chunks text chunks (medians of --trials after a warm-up):

- in-process: `agent.stream(thread)` events consumed in one process, no server (its process CPU);
- with --streams N: N concurrent chat streams paced at 50 chunks/s by the upstream, against
  `--workers 1` and `--workers 2`: the p50/p99 gap between chunks added on top of the upstream's;
- `tyler serve` (one uvicorn worker, memory store) answering `/v1/chat/completions` (stream) and
  `/api/chat` (AI SDK UI message stream) to an httpx client in this process; the server's CPU
  is read from /proc/<pid>/task/*/schedstat (nanoseconds, every thread of the process and of its
  child processes);
- unless --no-contenders, the same for (b) the LiteLLM proxy (`litellm[proxy]`, venv
  bench/.venvs/litellm-proxy, no database: a config with one model_list entry whose api_base is
  the fake server) answering `/v1/chat/completions`, and (c) Tyler 6.4.0's `mode="vercel"` behind
  a FastAPI `StreamingResponse` under uvicorn (venv bench/.venvs/tyler640, as figure 1's).

Stdlib + httpx (the bench's own venv: run it with the project's .venv). Prints a table and writes
--out (JSON).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import _venvs
import httpx

ROOT = Path(__file__).resolve().parent.parent
# Tracing/telemetry off and no network fetch of the model cost map (as in bench/_harness.py).
QUIET = {"WEAVE_DISABLED": "true", "WANDB_MODE": "disabled", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
         "LITELLM_LOG": "ERROR", "NO_PROXY": "127.0.0.1"}

LITELLM_CONFIG = """model_list:
  - model_name: bench
    litellm_params:
      model: openai/bench
      api_base: {api_base}
      api_key: x
general_settings:
  master_key: {key}
"""
LITELLM_KEY = "sk-bench-" + "0" * 32  # the proxy refuses to start without a master key

TYLER640_SERVER = r"""
import sys
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from tyler import Agent, Message, Thread
url, port = sys.argv[1], int(sys.argv[2])
agent = Agent(name="bench", model_name="openai/bench", api_base=url + "/v1", api_key="x")
app = FastAPI()
@app.get("/health")
async def health():
    return {"status": "ok"}
@app.post("/api/chat")
async def chat(request: Request):
    body = await request.json()
    thread = Thread()
    thread.add_message(Message(role="user", content=body["messages"][-1]["parts"][0]["text"]))
    return StreamingResponse(agent.stream(thread, mode="vercel"), media_type="text/event-stream",
                             headers={"x-vercel-ai-ui-message-stream": "v1", "cache-control": "no-cache"})
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
"""

IN_PROCESS = r"""
import asyncio, json, sys, time
from tyler import Agent, EventType, Message, Thread
url, trials = sys.argv[1], int(sys.argv[2])
agent = Agent(name="bench", model_name="openai/bench", api_base=url + "/v1", api_key="x")
async def once():
    thread = Thread(messages=[Message(role="user", content="go")])
    chunks = 0
    start = time.process_time()
    async for event in agent.stream(thread):
        chunks += event.type is EventType.LLM_STREAM_CHUNK
    return time.process_time() - start, chunks
async def main():
    await once()
    out = [await once() for _ in range(trials)]
    print(json.dumps(out))
asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_cpu_ns(pid: int) -> int:
    """CPU time of every thread of `pid` and of its child processes (the LiteLLM CLI may fork)."""
    total = 0
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # a thread that just ended
                total += int((task / "schedstat").read_text().split()[0])
                total += sum(process_cpu_ns(int(c)) for c in (task / "children").read_text().split())
    return total


def start_fake(chunks: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "tyler.testing", "--port", "0", "--chunks", str(chunks)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip().split()[-1]
    return proc, url.rstrip("/")


def wait_health(url: str, path: str = "/health", proc: subprocess.Popen | None = None) -> None:
    for _ in range(1800):
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the server at {url} exited with {proc.returncode}")
        try:
            if httpx.get(url + path, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit("the server did not start")


def measure_server(url: str, pid: int, path: str, body: dict, trials: int,
                   headers: dict[str, str] | None = None) -> list[tuple[float, int]]:
    out = []
    with httpx.Client(timeout=120, headers=headers) as client:
        for trial in range(trials + 1):
            before = process_cpu_ns(pid)
            chunks = 0
            with client.stream("POST", url + path, json=body) as response:
                response.raise_for_status()
                for line in response.iter_lines():
                    chunks += line.startswith("data: ") and ('"content"' in line or '"text-delta"' in line)
            spent = (process_cpu_ns(pid) - before) / 1e9
            if trial:  # the first one warms up
                out.append((spent, chunks))
    return out


async def _gaps(url: str, streams: int, body: dict) -> list[float]:
    """Open `streams` chat streams at once; the gaps between consecutive content chunks (seconds)."""
    import asyncio

    gaps: list[float] = []

    async def one(client: httpx.AsyncClient) -> None:
        last = None
        async with client.stream("POST", url + "/v1/chat/completions", json=body) as response:
            async for line in response.aiter_lines():
                if '"content"' in line:
                    now = time.perf_counter()
                    if last is not None:
                        gaps.append(now - last)
                    last = now

    limits = httpx.Limits(max_connections=None, max_keepalive_connections=streams)
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:
        await asyncio.gather(*(one(client) for _ in range(streams)))
    return gaps


def paced(env: dict[str, str], workers: int, streams: int, chunks: int, delay: float) -> dict[str, float]:
    """p50/p99 added gap (ms over the upstream's `delay`) with `streams` concurrent paced streams."""
    import asyncio

    fake, fake_url = start_fake_paced(chunks, delay)
    env = {**env, "OPENAI_BASE_URL": fake_url + "/v1"}
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "tyler.cli", "serve", "--model", "gpt-4o", "--store", "memory",
                               "--port", str(port), "--workers", str(workers), "--max-runs-per-key", "10000"],
                              env=env, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_health(url)
        body = {"model": "tyler", "messages": [{"role": "user", "content": "go"}], "stream": True}
        gaps = sorted(asyncio.run(_gaps(url, streams, body)))
    finally:
        server.terminate()
        server.wait(30)
        fake.terminate()
        fake.wait(30)
    pick = lambda q: (gaps[min(len(gaps) - 1, int(q * len(gaps)))] - delay) * 1000  # noqa: E731
    return {"p50_added_ms": round(pick(0.50), 2), "p99_added_ms": round(pick(0.99), 2), "gaps": len(gaps)}


def start_fake_paced(chunks: int, delay: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "tyler.testing", "--port", "0", "--chunks", str(chunks),
                             "--chunk-delay", str(delay)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip().split()[-1].rstrip("/")


def contenders(fake_url: str, trials: int) -> dict[str, float]:
    """(b) the LiteLLM proxy's /v1/chat/completions, (c) Tyler 6.4.0 vercel behind FastAPI: us/chunk."""
    out: dict[str, float] = {}
    env = {**os.environ, **QUIET}
    env.pop("OPENAI_BASE_URL", None)
    user = [{"role": "user", "content": "go"}]
    config = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-litellm-{os.getpid()}.yaml"
    config.write_text(LITELLM_CONFIG.format(api_base=fake_url + "/v1", key=LITELLM_KEY))
    litellm = _venvs.ensure("litellm-proxy").parent / "litellm"
    port = free_port()
    proxy = subprocess.Popen([str(litellm), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
                              "--num_workers", "1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_health(url, "/health/liveliness", proxy)
        body = {"model": "bench", "messages": user, "stream": True}
        out["LiteLLM proxy /v1/chat/completions"] = per_chunk_us(
            measure_server(url, proxy.pid, "/v1/chat/completions", body, trials,
                           {"authorization": f"Bearer {LITELLM_KEY}"}))
    finally:
        proxy.terminate()
        proxy.wait(30)
        config.unlink()
    port = free_port()
    old = subprocess.Popen([str(_venvs.ensure("tyler640")), "-c", TYLER640_SERVER, fake_url, str(port)], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_health(url, proc=old)
        ui = {"messages": [{"id": "u", "role": "user", "parts": [{"type": "text", "text": "go"}]}]}
        out["Tyler 6.4.0 vercel + FastAPI"] = per_chunk_us(measure_server(url, old.pid, "/api/chat", ui, trials))
    finally:
        old.terminate()
        old.wait(30)
    return out


def per_chunk_us(samples: list[tuple[float, int]]) -> float:
    return statistics.median(s / max(c, 1) * 1e6 for s, c in samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--no-contenders", action="store_true",
                        help="skip the LiteLLM proxy and Tyler 6.4.0 (their venvs take minutes to build)")
    parser.add_argument("--streams", type=int, default=0,
                        help="also: this many concurrent streams at 50 chunks/s, --workers 1 and 2 (p50/p99 added gap)")
    args = parser.parse_args()
    fake, fake_url = start_fake(args.chunks)
    env = {**os.environ, "OPENAI_BASE_URL": fake_url + "/v1", "OPENAI_API_KEY": "x", "NO_PROXY": "127.0.0.1"}
    results: dict[str, float] = {}
    try:
        done = subprocess.run([sys.executable, "-c", IN_PROCESS, fake_url, str(args.trials)], env=env,
                              capture_output=True, text=True, check=True)
        results["in-process events"] = per_chunk_us([tuple(x) for x in json.loads(done.stdout)])  # type: ignore[misc]
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "tyler.cli", "serve", "--model", "gpt-4o", "--store", "memory",
                                   "--port", str(port)], env=env, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_health(url)
            user = [{"role": "user", "content": "go"}]
            chat = {"model": "tyler", "messages": user, "stream": True}
            results["tyler serve /v1/chat/completions"] = per_chunk_us(
                measure_server(url, server.pid, "/v1/chat/completions", chat, args.trials))
            ui = {"messages": [{"id": "u", "role": "user", "parts": [{"type": "text", "text": "go"}]}]}
            results["tyler serve /api/chat (AI SDK)"] = per_chunk_us(
                measure_server(url, server.pid, "/api/chat", ui, args.trials))
        finally:
            server.terminate()
            server.wait(30)
        if not args.no_contenders:
            results.update(contenders(fake_url, args.trials))
    finally:
        fake.terminate()
        fake.wait(30)
    concurrency = {}
    if args.streams:
        for workers in (1, 2):
            concurrency[f"workers={workers}"] = paced(env, workers, args.streams, 200, 0.02)
    base = results["in-process events"]
    ours = max(results["tyler serve /v1/chat/completions"], results["tyler serve /api/chat (AI SDK)"])
    print(f"{'what':40} {'us/chunk':>9} {'x in-process':>12} {'x ours (slower)':>15}")
    for name, value in results.items():
        print(f"{name:40} {value:9.1f} {value / base:12.2f} {value / ours:15.2f}")
    print(f"load average at the end: {os.getloadavg()}")
    for name, figures in concurrency.items():
        print(f"{args.streams} streams at 50 chunks/s, {name}: {figures}")
    if args.out:
        args.out.write_text(json.dumps({"chunks": args.chunks, "trials": args.trials, "us_per_chunk": results,
                                        "concurrency": concurrency, "loadavg": os.getloadavg()}, indent=2))


if __name__ == "__main__":
    main()
