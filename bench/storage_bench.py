"""Thread persistence benchmark: cost of `save_thread` after each appended message, and of loading.

    .venv/bin/python bench/storage_bench.py            # full: 10 / 1,000 / 10,000 messages
    .venv/bin/python bench/storage_bench.py --quick    # 10 / 100 / 1,000, about a minute

Measured on SQLite (a file under bench/.work/) and PostgreSQL (a fresh database per run on
$TYLER_BENCH_POSTGRES_URL, else $TYLER_TEST_POSTGRES_URL, else postgres@127.0.0.1:5432; skipped
with a note if unreachable), for this project's `ThreadStore` and, side by side, Tyler 6.4.0's
(`slide-tyler==6.4.0`, whose store is `narrator.ThreadStore`) installed in its own virtualenv
under bench/.venvs/ by this script.

Two ways of reaching N messages:

* grow  - the real chat: one thread, append one message, save, repeat up to the largest size.
          "save @N" is the median of the 10 saves that brought the thread to N-9..N messages.
          grow-all: the same with `ThreadStore(edit_window=None)`, i.e. every save compares every
          message for in-place edits (the default compares the last 256).
          Only run for this project: a store whose save rewrites the thread is O(N) per save, so
          growing to 10,000 would be O(N^2) (hours).
* point - a thread of N-1 messages saved once (untimed), then `reps` times: append one, save
          (timed). Same figure, affordable for both stores, so this is the side-by-side one.

"load @N" is the median time of loading the N-message thread by id with a fresh store call.
Every measurement runs in a child process of the store's own interpreter; this module imports
only the standard library at the top so Tyler 6.4.0's venv can run it as the worker.
Target: per-save cost flat in thread length (within 2x from 10 to 10,000 messages).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
WORK_DIR = BENCH_DIR / ".work" / "storage"
RESULTS = BENCH_DIR / "results" / "storage.md"
DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"

# ---------------------------------------------------------------------------------------------
# Worker side (runs inside the measured store's interpreter)
# ---------------------------------------------------------------------------------------------


def _api(impl: str) -> tuple[Any, Any, Any]:
    if impl == "ours":
        from tyler import Message, Thread, ThreadStore
    else:
        from narrator import Message, Thread, ThreadStore  # type: ignore[no-redef]
    return Message, Thread, ThreadStore


def _message(message_cls: Any, i: int) -> Any:
    if i % 2:
        return message_cls(
            role="assistant",
            content=f"Answer {i}: " + "lorem ipsum dolor sit amet " * 8,
            metrics={"model": "gpt-4o", "usage": {"prompt_tokens": 100 + i, "completion_tokens": 50}},
        )
    return message_cls(role="user", content=f"Question {i}: " + "what about this and that? " * 4)


async def _open(impl: str, url: str, check_all: bool = False) -> tuple[Any, Any, Any]:
    message_cls, thread_cls, store_cls = _api(impl)
    store = await (store_cls.create(url, edit_window=None) if check_all else store_cls.create(url))
    save = store.save_thread if impl == "ours" else store.save
    return store, save, (message_cls, thread_cls)


async def _close(store: Any) -> None:
    close = getattr(store, "close", None)
    if close is not None:
        await close()
    elif getattr(getattr(store, "_backend", None), "engine", None) is not None:
        await store._backend.engine.dispose()


async def _grow(impl: str, url: str, sizes: list[int], check_all: bool = False) -> dict[str, Any]:
    store, save, (message_cls, thread_cls) = await _open(impl, url, check_all)
    thread = thread_cls(id=f"grow-{uuid.uuid4().hex[:8]}")
    times: list[float] = []
    loads: dict[str, float] = {}
    for i in range(max(sizes)):
        thread.add_message(_message(message_cls, i))
        t0 = time.perf_counter()
        await save(thread)
        times.append(time.perf_counter() - t0)
        n = i + 1
        if n in sizes:
            loads[str(n)] = await _time_load(store, impl, thread.id, 3)
    await _close(store)
    per_save = {str(n): statistics.median(times[max(0, n - 10) : n]) for n in sizes}
    return {"save": per_save, "load": loads}


async def _time_load(store: Any, impl: str, thread_id: str, reps: int) -> float:
    get = store.get_thread if impl == "ours" else store.get
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        loaded = await get(thread_id)
        samples.append(time.perf_counter() - t0)
        assert loaded is not None
    return statistics.median(samples)


async def _point(impl: str, url: str, sizes: list[int], reps: int) -> dict[str, Any]:
    store, save, (message_cls, thread_cls) = await _open(impl, url)
    per_save: dict[str, float] = {}
    loads: dict[str, float] = {}
    for n in sizes:
        thread = thread_cls(id=f"point-{n}-{uuid.uuid4().hex[:8]}")
        for i in range(n - 1):
            thread.add_message(_message(message_cls, i))
        await save(thread)
        samples = []
        for r in range(reps):
            thread.add_message(_message(message_cls, n - 1 + r))
            t0 = time.perf_counter()
            await save(thread)
            samples.append(time.perf_counter() - t0)
        per_save[str(n)] = statistics.median(samples)
        loads[str(n)] = await _time_load(store, impl, thread.id, 3)
    await _close(store)
    return {"save": per_save, "load": loads}


def worker_main(spec: dict[str, Any]) -> None:
    if spec["mode"].startswith("grow"):
        out = asyncio.run(_grow(spec["impl"], spec["url"], spec["sizes"], spec["mode"] == "grow-all"))
    else:
        out = asyncio.run(_point(spec["impl"], spec["url"], spec["sizes"], spec["reps"]))
    print("@@RESULT " + json.dumps(out), flush=True)


# ---------------------------------------------------------------------------------------------
# Orchestrator side
# ---------------------------------------------------------------------------------------------


def _tyler640_python(log: Any) -> Path:
    """Tyler 6.4.0's interpreter, its venv built on first use (shared with bench/run.py)."""
    sys.path.insert(0, str(BENCH_DIR))
    try:
        import _venvs  # the bench suite's venv manager, when present

        return Path(_venvs.ensure("tyler640", log=log))
    except ImportError:
        venv = BENCH_DIR / ".venvs" / "tyler640"
        python = venv / "bin" / "python"
        if not python.exists():
            log("[venv] building tyler640 (slide-tyler==6.4.0) ...")
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", "slide-tyler==6.4.0"], check=True)
        return python
    finally:
        sys.path.remove(str(BENCH_DIR))


def _pg_base() -> str:
    return os.environ.get("TYLER_BENCH_POSTGRES_URL") or os.environ.get("TYLER_TEST_POSTGRES_URL") or DEFAULT_PG


def _pg_admin(sql: str) -> str | None:
    """Run one statement on the PostgreSQL server (via the project's asyncpg); None on success."""
    from sqlalchemy import make_url

    dsn = make_url(_pg_base()).set(drivername="postgresql").render_as_string(hide_password=False)

    async def go() -> None:
        import asyncpg

        conn = await asyncpg.connect(dsn, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(go())
        return None
    except Exception as exc:  # reported in the results as the reason PostgreSQL was skipped
        return f"{type(exc).__name__}: {exc}"


def _pg_version() -> str:
    from sqlalchemy import make_url

    dsn = make_url(_pg_base()).set(drivername="postgresql").render_as_string(hide_password=False)

    async def go() -> str:
        import asyncpg

        conn = await asyncpg.connect(dsn, timeout=5)
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    try:
        return asyncio.run(go())
    except Exception as exc:
        return f"unreachable ({type(exc).__name__})"


def _fresh_url(backend: str, label: str) -> tuple[str, Any]:
    """A URL of an empty database for one run, and a cleanup callable."""
    if backend == "sqlite":
        WORK_DIR.mkdir(parents=True, exist_ok=True)
        path = WORK_DIR / f"{label}-{uuid.uuid4().hex[:8]}.db"

        def cleanup() -> None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(str(path) + suffix).unlink(missing_ok=True)

        return f"sqlite+aiosqlite:///{path}", cleanup
    from sqlalchemy import make_url

    name = f"tyler_bench_{uuid.uuid4().hex[:10]}"
    problem = _pg_admin(f'CREATE DATABASE "{name}"')
    if problem:
        raise RuntimeError(problem)
    url = make_url(_pg_base()).set(database=name).render_as_string(hide_password=False)
    return url, lambda: _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run_worker(python: Path, spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["NARRATOR_FILE_STORAGE_PATH"] = str(WORK_DIR / "files")  # Tyler's attachment dir
    env["NARRATOR_LOG_LEVEL"] = "WARNING"
    proc = subprocess.run(
        [str(python), str(Path(__file__).resolve()), "--worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("@@RESULT "):
            return dict(json.loads(line[len("@@RESULT ") :]))
    raise RuntimeError(f"worker {spec['impl']}/{spec['mode']} failed:\n{proc.stderr[-3000:]}")


def run(quick: bool, log: Any = print) -> dict[str, Any]:
    """Measure everything; returns {"sizes", "rows": [...], "notes": [...], "machine": {...}}."""
    sizes = [10, 100, 1000] if quick else [10, 1000, 10000]
    reps = 3 if quick else 5
    ours = Path(sys.executable)
    machine = machine_info()
    notes: list[str] = []
    try:
        theirs: Path | None = _tyler640_python(log)
    except Exception as exc:
        theirs = None
        notes.append(f"Tyler 6.4.0 venv could not be built: {exc}")
    backends = ["sqlite"]
    problem = _pg_admin("SELECT 1")
    if problem:
        notes.append(f"PostgreSQL skipped: {problem}")
    else:
        backends.append("postgresql")
    plan = [("ours", "grow", ours), ("ours", "point", ours)]
    if not quick:  # shows what checking every message for edits would cost (minutes at 10,000)
        plan.insert(1, ("ours", "grow-all", ours))
    if theirs is not None:
        plan.append(("tyler640", "point", theirs))
    rows = []
    for backend in backends:
        for impl, mode, python in plan:
            log(f"[storage] {impl} {mode} on {backend} ...")
            url, cleanup = _fresh_url(backend, impl)
            # Our saves take about a millisecond: more repetitions for a steadier median.
            spec = {"impl": impl, "mode": mode, "url": url, "sizes": sizes, "reps": reps * (4 if impl == "ours" else 1)}
            t0 = time.perf_counter()
            try:
                result = _run_worker(python, spec, timeout=3600)
            except Exception as exc:
                notes.append(f"{impl} {mode} on {backend} failed: {str(exc)[-500:]}")
                continue
            finally:
                cleanup()
            rows.append({"impl": impl, "mode": mode, "backend": backend, **result})
            log(f"[storage]   done in {time.perf_counter() - t0:.0f} s: {result}")
    return {"sizes": sizes, "rows": rows, "notes": notes, "machine": machine, "quick": quick}


def machine_info() -> dict[str, str]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import sqlite3

    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.system()} {platform.release()} {platform.machine()}, {os.cpu_count()} CPUs ({cpu})",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": _pg_version(),
        "load": "load average {:.2f} {:.2f} {:.2f} at the start".format(*os.getloadavg()),
    }


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


def to_markdown(result: dict[str, Any]) -> str:
    sizes = result["sizes"]
    head = ["store", "backend", "mode", *[f"save @{n:,}" for n in sizes], f"{sizes[-1]:,}/{sizes[0]} ratio"]
    head += [f"load @{n:,}" for n in sizes[1:]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    names = {"ours": "tyler (this project)", "tyler640": "Tyler 6.4.0 (narrator)"}
    for row in result["rows"]:
        save, load = row["save"], row["load"]
        ratio = save[str(sizes[-1])] / save[str(sizes[0])]
        cells = [names[row["impl"]], row["backend"], row["mode"], *[_ms(save.get(str(n))) for n in sizes]]
        cells += [f"{ratio:.2f}x", *[_ms(load.get(str(n))) for n in sizes[1:]]]
        lines.append("| " + " | ".join(cells) + " |")
    m = result["machine"]
    out = [
        f"Storage benchmark ({'quick' if result['quick'] else 'full'}), {m['date']}",
        "",
        f"Machine: {m['machine']}; Python {m['python']}; SQLite {m['sqlite']}; PostgreSQL {m['postgresql']}; "
        f"{m.get('load', '')} (shared machine: other jobs ran meanwhile).",
        "",
        *lines,
    ]
    if result["notes"]:
        out += ["", *[f"- {n}" for n in result["notes"]]]
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes 10/100/1,000 (about a minute)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--write", action="store_true", help=f"also write {RESULTS.relative_to(BENCH_DIR.parent)}")
    args = parser.parse_args()
    if args.worker:
        worker_main(json.loads(args.worker))
        return
    result = run(args.quick, log=lambda s: print(s, file=sys.stderr, flush=True))
    text = to_markdown(result)
    print(text)
    if args.write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text("# " + text + _EXPLAIN)
        print(f"written to {RESULTS}", file=sys.stderr)


_EXPLAIN = """
How to read it: "save @N" is the time of one `save_thread` (Tyler 6.4.0: `ThreadStore.save`) right
after appending one message to a thread of N-1 already saved messages. "grow" measures it while
the thread really grows by append-and-save (median of the 10 saves ending at N); "point" builds
the N-1 messages, saves them once untimed, then times a few append-and-save steps (median). "load
@N" is one `get_thread`/`get` of the N-message thread. The ratio column is save @largest / save @10:
the target for this project is within 2x (per-save cost flat in thread length).

Reproduce: `.venv/bin/python bench/storage_bench.py --write` (add `--quick` for the CI size).
"""


if __name__ == "__main__":
    main()
