"""Benchmarks, one command: ours vs Tyler 6.4.0, LiteLLM and the floor, in one run.

    python bench/run.py [--quick] [--only fig1,fig3] [--out bench/results] [--trials N]

Creates (or reuses) one virtualenv per contender under bench/.venvs/, starts the fake model server
(`python -m tyler.testing`) in its own process, runs each contender's client (bench/clients/) in
its own venv as a worker process, and writes results.json, results.md and plot.png to --out.
Stdlib only: any Python 3.11+ can start it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import contextlib

import _figures  # noqa: E402
import _notes  # noqa: E402
import _report  # noqa: E402
import _venvs  # noqa: E402
from _harness import BENCH_DIR, Contender, FakeServer, WorkerProc, child_env  # noqa: E402

CONTENDERS = [
    Contender("floor", "floor", "floor.py"),
    Contender("litellm", "litellm", "litellm_client.py"),
    Contender("tyler640-events", "tyler640", "tyler640.py", {"mode": "events"}),
    Contender("tyler640-openai", "tyler640", "tyler640.py", {"mode": "openai"}),
    Contender("tyler640-run", "tyler640", "tyler640.py", {"mode": "run"}, streaming=False),
    Contender("ours-events", "ours", "ours.py", {"mode": "events"}),
    Contender("ours-raw", "ours", "ours.py", {"mode": "raw"}),
    Contender("ours-go", "ours", "ours.py", {"mode": "go"}, streaming=False),
    Contender("ours-events-uvloop", "ours", "ours.py", {"mode": "events", "uvloop": True}),
    # Reference readers of the same stream (bench/clients/readers.py): what a transport costs.
    Contender("ref-httpx-raw", "readers", "readers.py", {"reader": "httpx-raw"}, reference=True, sweep=False),
    Contender("ref-aiohttp-lines", "readers", "readers.py", {"reader": "aiohttp-lines"}, reference=True, sweep=False),
    Contender("ref-aiohttp-any", "readers", "readers.py", {"reader": "aiohttp-any"}, reference=True),
    Contender("ref-socket", "readers", "readers.py", {"reader": "socket"}, reference=True),
    Contender("ref-socket-uvloop", "readers", "readers.py", {"reader": "socket", "uvloop": True}, reference=True),
]

WHAT = {
    "floor": "bare httpx + json reading the SSE stream (its own venv: httpx only)",
    "litellm": "`litellm.acompletion(stream=True)`",
    "tyler640-events": "slide-tyler 6.4.0 `Agent.stream(thread)` ExecutionEvents",
    "tyler640-openai": "slide-tyler 6.4.0 `Agent.stream(thread, mode=\"openai\")`",
    "tyler640-run": "slide-tyler 6.4.0 `await Agent.run(thread)` (no streaming)",
    "ours-events": "`agent.stream(thread)` ExecutionEvents",
    "ours-raw": "`agent.stream(thread, mode=\"raw\")` OpenAI-shaped chunks",
    "ours-go": "`await agent.go(thread)` (no streaming)",
    "ours-events-uvloop": "`agent.stream(thread)` ExecutionEvents, on uvloop (the `uvloop` extra)",
    "ref-httpx-raw": "reference reader: httpx `aiter_raw` + own SSE split + json (bench only)",
    "ref-aiohttp-lines": "reference reader: aiohttp line iteration + json (bench only)",
    "ref-aiohttp-any": "reference reader: aiohttp `iter_any` + own SSE split + json (bench only)",
    "ref-socket": "reference reader, the practical limit: asyncio streams + own HTTP/1.1 + SSE split + json "
    "(bench only, not product code)",
    "ref-socket-uvloop": "the same socket-limit reader on uvloop (bench only)",
}

FIGS_WITH_WORKERS = ("fig1", "fig2", "fig3", "fig4")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a ~1-minute smoke: every figure, small sizes, few trials")
    p.add_argument("--only", default="", help="comma-separated figures to run (fig1..fig6); default all")
    p.add_argument("--out", default=str(BENCH_DIR / "results"), help="output folder")
    p.add_argument("--trials", type=int, default=None, help="trials per figure (default 5; quick 2)")
    p.add_argument("--contenders", default="", help="comma-separated contender labels (default all)")
    p.add_argument("--ks", default="", help="comma-separated K values for the sweep (default 1,100,500,1000,2000)")
    p.add_argument("--no-profile", action="store_true",
                   help="skip profiling ours for missed targets (done by default in full runs)")
    p.add_argument("--echo", action="store_true", help="echo the clients' own output")
    return p.parse_args(argv)


def machine_meta(quick: bool) -> dict:
    cpu_model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    with contextlib.suppress(ValueError, OSError):
        mem_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gb": mem_gb,
        "python": sys.version.replace("\n", " "),
        "platform": platform.platform(),
        "quick": quick,
        "load_start": round(os.getloadavg()[0], 2),
    }


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    ours = _venvs.installed_versions("ours", ["tyler-stream", "httpx", "pydantic"])
    out["tyler-stream (ours)"] = ours.get("tyler-stream")
    out["httpx (ours)"] = ours.get("httpx")
    out["httpx (floor)"] = _venvs.installed_versions("floor", ["httpx"]).get("httpx")
    out["pydantic (ours)"] = ours.get("pydantic")
    out["aiohttp (ours)"] = _venvs.installed_versions("ours", ["aiohttp"]).get("aiohttp")
    out["aiohttp (readers)"] = _venvs.installed_versions("readers", ["aiohttp"]).get("aiohttp")
    out["litellm"] = _venvs.installed_versions("litellm", ["litellm"]).get("litellm")
    ty = _venvs.installed_versions("tyler640", ["slide-tyler", "litellm"])
    out["slide-tyler"] = ty.get("slide-tyler")
    out["litellm (in Tyler 6.4.0's venv)"] = ty.get("litellm")
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t_start = time.perf_counter()
    cfg = _figures.Config.make(args.quick, args.trials)
    if args.ks:
        cfg.fig3_ks = [int(k) for k in args.ks.split(",")]
    only = [f.strip() for f in args.only.split(",") if f.strip()] or list(_report.FIGURES)
    unknown = set(only) - set(_report.FIGURES)
    if unknown:
        raise SystemExit(f"unknown figure(s): {sorted(unknown)}; choose from {_report.FIGURES}")
    contenders = CONTENDERS
    if args.contenders:
        wanted = {c.strip() for c in args.contenders.split(",")}
        contenders = [c for c in CONTENDERS if c.label in wanted]
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    profiling = not args.quick and not args.no_profile
    for name in ("floor", "readers", "ours", "litellm", "tyler640", "report", *(["profile"] if profiling else [])):
        _venvs.ensure(name)

    res: dict = {"meta": machine_meta(args.quick), "config": vars(cfg), "figures": {}, "errors": {}, "notes": []}
    res["meta"]["versions"] = versions()
    res["meta"]["contenders"] = [{"label": c.label, "venv": c.venv, "what": WHAT[c.label]} for c in contenders]

    if any(f in only for f in FIGS_WITH_WORKERS):
        _run_worker_figures(res, cfg, only, contenders, args.echo)
    if "fig5" in only:
        _guard(res, "fig5", lambda: _figures.fig5_import(cfg))
    if "fig6" in only:
        _guard(res, "fig6", lambda: _figures.fig6_store(cfg))

    res["notes"] += _notes.sweep_notes(res)
    if profiling:
        print("== profiles of missed targets", flush=True)
        res["notes"] += _notes.profile_misses(res, cfg)
    res["meta"]["elapsed_s"] = time.perf_counter() - t_start
    res["meta"]["load_end"] = round(os.getloadavg()[0], 2)
    _write(res, out_dir)
    missing = [f for f in only if f not in res["figures"]]
    print(f"done in {res['meta']['elapsed_s']:.0f} s; results in {out_dir}"
          + (f"; MISSING {missing}" if missing else ""))
    return 1 if missing else 0


def _guard(res: dict, key: str, fn) -> None:
    """Run one figure; a failure is recorded (and makes the run exit non-zero), others go on."""
    print(f"== {key}", flush=True)
    t0 = time.perf_counter()
    try:
        res["figures"][key] = fn()
    except Exception as exc:
        res["errors"][key] = f"{type(exc).__name__}: {exc}"
        print(f"!! {key} failed:\n{traceback.format_exc()}", flush=True)
    took = time.perf_counter() - t0
    res["meta"].setdefault("seconds", {})[key] = round(took, 1)
    print(f"   ({key} took {took:.0f} s)", flush=True)


def _run_worker_figures(res: dict, cfg, only: list[str], contenders: list[Contender], echo: bool) -> None:
    server = FakeServer(_venvs.python_of("ours"))
    url = server.start()
    workers: list[WorkerProc] = []
    try:
        for c in contenders:
            workers.append(WorkerProc(c, _venvs.python_of(c.venv), url, echo=echo))
        t0 = time.perf_counter()
        for w in workers:
            w.wait_ready()
            print(f"  started {w.c.label} (pid {w.pid}, {w.ready.get('rss_kb', 0) / 1024:.0f} MB)", flush=True)
        res["meta"].setdefault("seconds", {})["start_workers"] = round(time.perf_counter() - t0, 1)
        steps = [
            ("fig1", _figures.fig1_cpu),
            ("fig2", _figures.fig2_first_event),
            ("fig4", _figures.fig4_tool),
            ("fig3", _figures.fig3_sweep),  # last: it leaves the largest heaps behind
        ]
        for key, fn in steps:
            if key in only:
                _guard(res, key, lambda fn=fn: fn(server, workers, cfg))
                server.reset()
    finally:
        for w in workers:
            w.close()
        server.stop()


def _write(res: dict, out_dir: Path) -> None:
    (out_dir / "results.json").write_text(json.dumps(res, indent=1, default=str) + "\n")
    (out_dir / "results.md").write_text(_report.markdown(res))
    plot = subprocess.run(
        [str(_venvs.python_of("report")), str(BENCH_DIR / "plot.py"), str(out_dir / "results.json"),
         str(out_dir / "plot.png")],
        check=False, capture_output=True, text=True, env=child_env(),
    )
    if plot.returncode != 0:
        res["errors"]["plot"] = plot.stderr[-2000:]
        print("!! plot failed:\n" + plot.stderr[-2000:], flush=True)
        (out_dir / "results.json").write_text(json.dumps(res, indent=1, default=str) + "\n")


if __name__ == "__main__":
    sys.exit(main())
