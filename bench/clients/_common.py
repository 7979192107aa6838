"""The measuring side shared by every contender's client (stdlib only).

A client script (`bench/clients/<name>.py`) defines a contender object and calls `serve(contender)`.
The process then works as a small worker: it reads one JSON command per line on stdin and answers
each with one JSON result line on stdout, prefixed by `@@BENCH ` so library chatter on stdout
is never mistaken for a result. Keeping one worker per contender alive for a whole figure lets the
orchestrator alternate contenders trial by trial without paying each library's import again.

A contender provides:
  async setup(url, options)           -- build its client/agent against the fake server at `url`
  stream(prompt) -> async iterator    -- yields once per *content* event (streaming modes only)
  async complete(prompt) -> str       -- one whole reply without streaming (the `go()` mode)
  async tool_round_trip(prompt) -> str -- a reply that calls the `add` tool once, then answers
`stream` may be None for a non-streaming mode; the sweep and first-event tasks then answer
{"skipped": reason}.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import resource
import sys
import time
import traceback
import urllib.request
from typing import Any

MARK = "@@BENCH "

# The trivial tool of figure 4, in every contender's own tool format. OpenAI function schema:
ADD_SCHEMA = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Add two integers.",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    },
}


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def answer_tool_calls(messages: list[dict], content: list[str], calls: dict[int, dict]) -> None:
    """Append the assistant turn with its tool calls and each `add` result, in the model's order.

    Used by the hand-written clients (floor, LiteLLM) that run the tool loop themselves.
    """
    ordered = [calls[i] for i in sorted(calls)]
    messages.append({
        "role": "assistant",
        "content": "".join(content) or None,
        "tool_calls": [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["args"]}}
            for c in ordered
        ],
    })
    for c in ordered:
        result = add(**json.loads(c["args"] or "{}"))
        messages.append({"role": "tool", "tool_call_id": c["id"], "content": json.dumps(result)})


def raise_fd_limit() -> int:
    """Lift the open-files soft limit to the hard limit (K=1,000 sockets need it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_kb() -> int | None:
    return _status_kb("VmRSS")


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) so a later read covers only what follows."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss_kb() -> int:
    hwm = _status_kb("VmHWM")
    if hwm is not None:
        return hwm
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(q / 100.0 * len(s)) - 1))
    return s[k]


def fetch_send_times(url: str) -> dict[str, list[float]]:
    """The fake server's wall-clock write time of each event, per request, keyed by the request's
    last message (the sweep's prompts "s0", "s1"... name the streams). Recorded only for turns
    with `record_send_times`."""
    with urllib.request.urlopen(url + "/_fake/requests", timeout=300) as resp:
        got = json.loads(resp.read())
    out: dict[str, list[float]] = {}
    for q in got["requests"] if isinstance(got, dict) else got:
        messages = (q.get("body") or {}).get("messages") or []
        content = messages[-1].get("content") if messages else None
        if q.get("sent_at") and isinstance(content, str):
            out[content] = q["sent_at"]
    return out


def server_relative(
    arrivals: list[list[float]], sends: dict[str, list[float]], spacing: float, window: tuple[float, float] | None
) -> dict:
    """Separate the producer's lag from the client's, per chunk, from the server's write times.

    Content event j of stream i is the server's event j + 1 (event 0, the role chunk, goes out at
    once, then one event per `spacing`). Producer: how late each write was against its own
    schedule (first write + n * spacing). Client: how long after its write each chunk reached the
    consumer (`lag`, loopback and kernel included), and the gap between consecutive chunks beyond
    the gap between their writes (the client's own added gap). Both clocks are this machine's
    `time.time()`. `window`: the steady window (arrival times) the gaps are counted in.
    """
    producer_late: list[float] = []
    producer_gaps: list[float] = []
    lag: list[float] = []
    gaps: list[float] = []
    unmatched = 0
    for i, times in enumerate(arrivals):
        sent = sends.get(f"s{i}")
        if not times or not sent or len(sent) < len(times) + 1:
            unmatched += 1
            continue
        first = sent[0]
        prev = None
        for j, t in enumerate(times):
            s = sent[j + 1]
            producer_late.append((s - first - (j + 1) * spacing) * 1000.0)
            here = (t - s) * 1000.0
            lag.append(here)
            if prev is not None and (window is None or (times[j - 1] >= window[0] and t <= window[1])):
                # Per pair, end-to-end added gap = the producer's (its writes' gap beyond the
                # spacing) + the client's (the change in lag).
                gaps.append(here - prev)
                producer_gaps.append((s - sent[j] - spacing) * 1000.0)
            prev = here
    return {
        "producer_late_p50_ms": percentile(producer_late, 50),
        "producer_late_p99_ms": percentile(producer_late, 99),
        "producer_late_max_ms": max(producer_late) if producer_late else None,
        "producer_added_gap_p99_ms": percentile(producer_gaps, 99),
        "client_lag_p50_ms": percentile(lag, 50),
        "client_lag_p99_ms": percentile(lag, 99),
        "client_added_gap_p99_ms": percentile(gaps, 99),
        "streams_unmatched": unmatched,
    }


class GCPauses:
    """The garbage collector's pauses while active (gc.callbacks): a full collection walks every
    live object, and with K streams' state alive that stops every stream at once."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._t = 0.0

    def _cb(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t = time.perf_counter()
        elif info.get("generation") == 2:
            self.pauses.append((time.perf_counter() - self._t) * 1000.0)

    def __enter__(self) -> GCPauses:
        gc.callbacks.append(self._cb)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._cb)


class Worker:
    def __init__(self, contender: Any, url: str = "") -> None:
        self.c = contender
        self.url = url
        # RSS before the first sweep trial: freed heap stays mapped after a trial, so a later
        # trial's own starting RSS would hide what K streams need. Ks run in increasing order, so
        # peak minus this baseline is the memory K streams take.
        self.sweep_base_kb: int | None = None

    async def warmup(self, cmd: dict) -> dict:
        """One full stream (or reply) so lazy imports, pools and caches are hot before measuring."""
        n = 0
        if self.c.stream is not None:
            async for _ in self.c.stream(cmd.get("prompt", "warm up")):
                n += 1
        else:
            await self.c.complete(cmd.get("prompt", "warm up"))
        return {"content_events": n}

    async def cpu(self, cmd: dict) -> dict:
        """Figure 1: user+sys CPU of this process around consuming whole replies, per server chunk."""
        streams = int(cmd.get("streams", 1))
        chunks = int(cmd["chunks"])
        gc.collect()
        n = 0
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        w0 = time.perf_counter()
        for _ in range(streams):
            if self.c.stream is not None:
                async for _ in self.c.stream("cpu"):
                    n += 1
            else:
                await self.c.complete("cpu")
        wall = time.perf_counter() - w0
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        return {
            "cpu_s": cpu,
            "user_s": r1.ru_utime - r0.ru_utime,
            "sys_s": r1.ru_stime - r0.ru_stime,
            "wall_s": wall,
            "cpu_us_per_chunk": cpu * 1e6 / (chunks * streams),
            "content_events": n,
        }

    async def first(self, cmd: dict) -> dict:
        """Figure 2: wall clock at the first content event (the fake server stamps requests with
        time.time(), the same clock for every process on the machine)."""
        if self.c.stream is None:
            return {"skipped": "no streaming in this mode"}
        t_req = time.time()
        t_first = None
        n = 0
        async for _ in self.c.stream("first"):
            if t_first is None:
                t_first = time.time()
            n += 1
        return {"t_request": t_req, "t_first_event": t_first, "content_events": n}

    async def sweep(self, cmd: dict) -> dict:
        """Figure 3: K concurrent streams; per-chunk arrival gaps, throughput and RSS.

        Stream starts are spread evenly over `ramp_s` (clients do not all connect in the same
        millisecond), and the gap figures count only the steady window: from the moment every
        stream has received its first chunk to the moment the first stream ends. Start-up cost is
        figure 2's subject; here a start-up burst would otherwise fill the p99 by itself. The
        all-gaps p99 is reported too.
        """
        if self.c.stream is None:
            return {"skipped": "no streaming in this mode"}
        k = int(cmd["k"])
        spacing = float(cmd["spacing_s"])
        ramp = float(cmd.get("ramp_s", 0.0))
        limit = float(cmd.get("time_limit_s", 120))
        gc.collect()
        base_rss = rss_kb() or 0
        if self.sweep_base_kb is None:
            self.sweep_base_kb = base_rss
        exact_peak = reset_peak_rss()
        errors: list[str] = []
        arrivals: list[list[float]] = [[] for _ in range(k)]

        async def one(i: int) -> None:
            times = arrivals[i]
            if ramp:
                await asyncio.sleep(ramp * i / k)
            try:
                async for _ in self.c.stream(f"s{i}"):
                    times.append(time.time())  # the fake server stamps its writes with the same clock
            except Exception as exc:  # counted and reported, never hidden
                errors.append(f"{type(exc).__name__}: {exc}"[:300])

        t0 = time.time()
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        tasks = [asyncio.ensure_future(one(i)) for i in range(k)]
        with GCPauses() as gc_pauses:
            _done, pending = await asyncio.wait(tasks, timeout=limit)
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        wall = time.time() - t0
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        peak = peak_rss_kb()
        started = [times[0] for times in arrivals if times]
        ended = [times[-1] for times in arrivals if times]
        w0 = max(started) if started else 0.0
        w1 = min(ended) if ended else 0.0
        steady = w1 - w0 > 5 * spacing
        added: list[float] = []
        added_all: list[float] = []
        late: list[float] = []
        total = 0
        for times in arrivals:
            total += len(times)
            for a, b in zip(times, times[1:], strict=False):
                gap = (b - a - spacing) * 1000.0
                added_all.append(gap)
                if not steady or (a >= w0 and b <= w1):
                    added.append(gap)
            # How far behind its own schedule (anchored at its first chunk) each chunk arrived: a
            # client that falls behind reads chunks in bursts (small gaps) yet grows late.
            if times:
                first = times[0]
                late.extend((t - first - j * spacing) * 1000.0 for j, t in enumerate(times))
        span = (max(ended) - min(started)) if started else 0.0
        relative = {}
        if cmd.get("server_times") and self.url:
            window = (w0, w1) if steady else None
            relative = server_relative(arrivals, fetch_send_times(self.url), spacing, window)
        return {
            **relative,
            "k": k,
            "wall_s": wall,
            "chunks": total,
            "throughput_chunks_s": total / span if span > 0 else None,
            "lateness_p99_ms": percentile(late, 99),
            "steady_window_s": (w1 - w0) if steady else None,
            "added_gap_p50_ms": percentile(added, 50),
            "added_gap_p99_ms": percentile(added, 99),
            "added_gap_max_ms": max(added) if added else None,
            "added_gap_p99_all_ms": percentile(added_all, 99),
            "base_rss_kb": base_rss,
            "peak_rss_kb": peak,
            "peak_rss_exact": exact_peak,
            "idle_rss_kb": self.sweep_base_kb,
            "rss_per_stream_kb": (peak - self.sweep_base_kb) / k,
            "cpu_s": (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime),
            "gc_full_collections": len(gc_pauses.pauses),
            "gc_full_max_ms": max(gc_pauses.pauses) if gc_pauses.pauses else 0.0,
            "errors": len(errors),
            "error_sample": errors[:3],
            "timed_out": len(pending),
        }

    async def tool(self, cmd: dict) -> dict:
        """Figure 4: wall time of one tool round trip (two model calls around a local tool call)."""
        t0 = time.perf_counter()
        content = await self.c.tool_round_trip("tool")
        return {"wall_s": time.perf_counter() - t0, "content": (content or "")[:200]}

    async def dispatch(self, cmd: dict) -> dict:
        task = cmd["task"]
        if task == "ping":
            return {"pong": True, "rss_kb": rss_kb()}
        fn = getattr(self, task, None)
        if fn is None or task.startswith("_"):
            raise ValueError(f"unknown task {task!r}")
        return await fn(cmd)


def _emit(obj: dict) -> None:
    sys.stdout.write(MARK + json.dumps(obj) + "\n")
    sys.stdout.flush()


async def _main(contender: Any) -> None:
    url = sys.argv[1]
    options = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    raise_fd_limit()
    await contender.setup(url, options)
    worker = Worker(contender, url)
    _emit({"ready": True, "rss_kb": rss_kb()})
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        line = line.strip()
        if not line:
            continue
        cmd = json.loads(line)
        if cmd.get("task") == "quit":
            break
        try:
            result = await worker.dispatch(cmd)
            result["ok"] = True
        except Exception as exc:
            result = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        _emit(result)
    close = getattr(contender, "close", None)
    if close is not None:
        await close()


def serve(contender: Any) -> None:
    """Run the worker loop for `contender` (argv: URL [options-json]). Option {"uvloop": true}: the
    same client on libuv's event loop (its venv must have uvloop)."""
    if len(sys.argv) > 2 and json.loads(sys.argv[2]).get("uvloop"):
        import uvloop

        uvloop.install()
    asyncio.run(_main(contender))
