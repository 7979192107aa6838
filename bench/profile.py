"""Where does a contender's client spend its CPU? py-spy samples a bench client while it streams.

    python bench/profile.py ours-events                    # 1,000-chunk replies, one at a time
    python bench/profile.py ours-raw --k 500 --chunks 200  # the concurrency sweep's load (20 ms spacing)
    python bench/profile.py floor --top 30

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


def summarize(raw: Path, top: int) -> str:
    self_c: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    pkg_self: Counter[str] = Counter()
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
        for f in set(frames):
            incl[f] += n
    if not total:
        return "no samples"
    out = [f"{total} busy samples (idle waits left out)", "", "self time by package:"]
    out += [f"  {100 * n / total:5.1f}%  {p}" for p, n in pkg_self.most_common()]
    out += ["", f"top {top} self:"]
    out += [f"  {100 * n / total:5.1f}%  {f[:140]}" for f, n in self_c.most_common(top)]
    out += ["", f"top {top} inclusive:"]
    out += [f"  {100 * n / total:5.1f}%  {f[:140]}" for f, n in incl.most_common(top)]
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("contender", choices=[c.label for c in CONTENDERS])
    p.add_argument("--k", type=int, default=0, help="concurrent streams (0: sequential 1,000-chunk replies)")
    p.add_argument("--chunks", type=int, default=1000)
    p.add_argument("--streams", type=int, default=30, help="sequential replies to sample (when --k 0)")
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args()
    contender = next(c for c in CONTENDERS if c.label == args.contender)
    for name in ("ours", contender.venv, "profile"):
        _venvs.ensure(name)
    pyspy = _venvs.VENVS_DIR / "profile" / "bin" / "py-spy"
    server = FakeServer(_venvs.python_of("ours"))
    url = server.start()
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "profile.txt"
        worker = WorkerProc(contender, _venvs.python_of(contender.venv), url)
        spy = None
        try:
            worker.wait_ready()
            server.set_default({"chunks": _words(args.chunks), **({"delay": 0.02} if args.k else {})})
            worker.call("warmup")
            # Attach only now, so imports and the warm-up stay out of the samples.
            spy = subprocess.Popen([str(pyspy), "record", "-f", "raw", "-r", str(args.rate), "-o", str(raw),
                                    "--pid", str(worker.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(1.0)
            if args.k:
                r = worker.call("sweep", k=args.k, spacing_s=0.02, time_limit_s=600)
                print(f"K={args.k}: p99 added gap {r['added_gap_p99_ms']:.1f} ms, "
                      f"client CPU {r['cpu_s']:.2f} s over {r['wall_s']:.1f} s")
            else:
                r = worker.call("cpu", chunks=args.chunks, streams=args.streams)
                print(f"{r['cpu_us_per_chunk']:.1f} µs CPU per chunk (under the profiler)")
        finally:
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                _out, err = spy.communicate(timeout=60)
            worker.close()
            server.stop()
        if not raw.exists():
            raise SystemExit("py-spy wrote no profile (is ptrace allowed here?)\n" + (err or b"").decode()[-2000:])
        print(summarize(raw, args.top))

if __name__ == "__main__":
    main()
