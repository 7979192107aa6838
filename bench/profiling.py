"""Where does a contender's client spend its CPU? py-spy samples a bench client while it streams.

    python bench/profiling.py ours-events                    # 1,000-chunk replies, one at a time
    python bench/profiling.py ours-raw --k 500 --chunks 200  # the concurrency sweep's load (20 ms spacing)
    python bench/profiling.py floor --top 30

Runs the same worker client the suite measures (bench/clients/), under `py-spy record` (from
the `profile` venv, so the measured venvs stay as they are), against the fake server in its own
process, and prints the functions holding the most samples, self and inclusive, plus a summary
by package (httpx/httpcore/h11, json, tyler, asyncio, ...).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _venvs  # noqa: E402
from _figures import _words  # noqa: E402
from _harness import FakeServer, WorkerProc  # noqa: E402
from run import CONTENDERS  # noqa: E402

IDLE = ("concurrent/futures/thread.py", "threading.py")  # the worker's stdin-reader thread


def _package(frame: str) -> str:
    """A raw py-spy frame reads "function (pkg/module.py:line)": the top folder, else the file."""
    path = frame.rsplit("(", 1)[-1].split(":", 1)[0]
    return path.split("/", 1)[0] if "/" in path else path.removesuffix(".py")


# Where a streamed chunk's CPU goes, by the part of the path that spends it (self time).
COMPONENTS = (
    ("JSON decoding", ("json/", "decode_json (tyler/providers/transport.py", "decode_event (tyler/providers/transport.py")),
    ("SSE split", ("tyler/providers/sse.py",)),
    ("chunk parsing (provider)", ("tyler/providers/openai.py", "tyler/providers/anthropic.py",
                                  "tyler/providers/base.py")),
    ("transport glue (tyler)", ("tyler/providers/transport.py",)),
    ("run loop, accumulation, events", ("tyler/_run.py", "tyler/events.py", "tyler/chunks.py",
                                        "tyler/messages.py", "tyler/agent.py")),
    ("HTTP client (aiohttp/httpx)", ("aiohttp/", "httpx/", "httpcore/", "h11/", "multidict/", "yarl/")),
    ("event loop and sockets", ("asyncio/", "socket.py", "selectors.py", "uvloop/", "ssl.py")),
    ("generator plumbing", ("contextlib.py",)),
    ("the benchmark's consumer", ("_common.py", "ours.py", "readers.py", "floor.py")),
)


def _component(frame: str) -> str:
    for name, needles in COMPONENTS:
        if any(n in frame for n in needles):
            return name
    return "other"


def analyze(raw: Path, top: int = 10) -> dict:
    """Busy samples by package (self time), and the top functions, self and inclusive (%)."""
    self_c: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    pkg_self: Counter[str] = Counter()
    parts: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n_s = line.rpartition(" ")
        if not stack:
            continue
        n = int(n_s)
        frames = stack.split(";")
        if any(marker in stack for marker in IDLE) or frames[-1].startswith("EpollSelector.select"):
            continue  # waiting, not working
        total += n
        self_c[frames[-1]] += n
        pkg_self[_package(frames[-1])] += n
        parts[_component(frames[-1])] += n
        for f in set(frames):
            incl[f] += n

    def pct(counter: Counter[str], k: int) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(k)] if total else []

    return {
        "busy_samples": total,
        "self_by_package": pct(pkg_self, 12),
        "self_by_component": pct(parts, len(COMPONENTS) + 1),
        "top_self": pct(self_c, top),
        "top_inclusive": pct(incl, top),
    }


def render(a: dict) -> str:
    out = [f"{a['busy_samples']} busy samples (idle waits left out)", "", "self time by part of the path:"]
    out += [f"  {v:5.1f}%  {p}" for p, v in a.get("self_by_component", [])]
    out += ["", "self time by package:"]
    out += [f"  {v:5.1f}%  {p}" for p, v in a["self_by_package"]]
    out += ["", "top self:"] + [f"  {v:5.1f}%  {f[:140]}" for f, v in a["top_self"]]
    out += ["", "top inclusive:"] + [f"  {v:5.1f}%  {f[:140]}" for f, v in a["top_inclusive"]]
    return "\n".join(out)


def profile_contender(label: str, k: int = 0, chunks: int = 1000, streams: int = 30, rate: int = 250,
                      top: int = 10) -> dict:
    """Sample `label`'s client with py-spy while it streams (after its warm-up)."""
    contender = next(c for c in CONTENDERS if c.label == label)
    for name in ("ours", contender.venv, "profile"):
        _venvs.ensure(name)
    pyspy = _venvs.VENVS_DIR / "profile" / "bin" / "py-spy"
    server = FakeServer(_venvs.python_of("ours"))
    url = server.start()
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "profile.txt"
        worker = WorkerProc(contender, _venvs.python_of(contender.venv), url)
        spy = None
        err = b""
        try:
            worker.wait_ready()
            server.set_default({"chunks": _words(chunks), **({"delay": 0.02} if k else {})})
            worker.call("warmup")
            # Attach only now, so imports and the warm-up stay out of the samples.
            spy = subprocess.Popen([str(pyspy), "record", "-f", "raw", "-r", str(rate), "-o", str(raw),
                                    "--pid", str(worker.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(1.0)
            if k:
                r = worker.call("sweep", k=k, spacing_s=0.02, time_limit_s=600)
                what = (f"{label}, K={k} streams of {chunks} chunks at 20 ms: p99 added gap "
                        f"{r['added_gap_p99_ms']:.1f} ms, client CPU {r['cpu_s']:.2f} s over {r['wall_s']:.1f} s")
            else:
                r = worker.call("cpu", chunks=chunks, streams=streams)
                what = f"{label}, {streams} sequential {chunks}-chunk replies: {r['cpu_us_per_chunk']:.1f} µs/chunk"
        finally:
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                _out, err = spy.communicate(timeout=60)
            worker.close()
            server.stop()
        if not raw.exists():
            raise RuntimeError("py-spy wrote no profile (is ptrace allowed here?) " + err.decode()[-1000:])
        return {"what": what, **analyze(raw, top)}


def import_profile(venv: str, stmt: str, top: int = 8) -> list[tuple[str, float]]:
    """`python -X importtime`: import self-time summed by root package (ms), largest first."""
    proc = subprocess.run([str(_venvs.python_of(venv)), "-X", "importtime", "-c", stmt],
                          capture_output=True, text=True, check=True)
    cumulative: dict[str, float] = {}
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, _cum, name = line[len("import time:"):].split("|")
        root = name.strip().split(".", 1)[0]
        cumulative[root] = cumulative.get(root, 0.0) + int(self_us) / 1000.0
    return sorted(cumulative.items(), key=lambda kv: -kv[1])[:top]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("contender", choices=[c.label for c in CONTENDERS])
    p.add_argument("--k", type=int, default=0, help="concurrent streams (0: sequential 1,000-chunk replies)")
    p.add_argument("--chunks", type=int, default=1000)
    p.add_argument("--streams", type=int, default=30, help="sequential replies to sample (when --k 0)")
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args()
    a = profile_contender(args.contender, args.k, args.chunks, args.streams, args.rate, args.top)
    print(a["what"])
    print(render(a))

if __name__ == "__main__":
    main()
