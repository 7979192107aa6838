"""Processes the orchestrator drives: the fake model server and the contenders' worker clients.

Stdlib only. The fake server (`python -m tyler.testing --port 0`) runs in its own process so it
never competes for a client's interpreter; it is scripted over its HTTP control endpoints.
"""

from __future__ import annotations

import json
import os
import queue
import statistics
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
CLIENTS_DIR = BENCH_DIR / "clients"
MARK = "@@BENCH "

# Every contender process gets these: no tracing, no telemetry, no network fetch of cost maps.
QUIET_ENV = {
    "WEAVE_DISABLED": "true",
    "WANDB_MODE": "disabled",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOG": "ERROR",
    "PYTHONUNBUFFERED": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_OFFLINE": "1",
}


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    for key in ("PYTHONPATH", "VIRTUAL_ENV", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        env.pop(key, None)
    env.update(QUIET_ENV)
    if extra:
        env.update(extra)
    return env


class _LineReader:
    """Reads a child's stdout on a thread so the orchestrator can wait with a timeout."""

    def __init__(self, proc: subprocess.Popen, name: str, echo: bool = False) -> None:
        self.q: queue.Queue[str | None] = queue.Queue()
        self.tail: list[str] = []
        self.name = name
        self.echo = echo
        self._t = threading.Thread(target=self._run, args=(proc,), daemon=True)
        self._t.start()

    def _run(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(MARK):
                self.q.put(line[len(MARK):])
            else:
                self.tail = (self.tail + [line.rstrip()])[-40:]
                if self.echo:
                    print(f"  [{self.name}] {line.rstrip()}")
        self.q.put(None)

    def get(self, timeout: float) -> str | None:
        return self.q.get(timeout=timeout)


class FakeServer:
    """The `tyler.testing` fake model server in its own process, scripted over HTTP."""

    def __init__(self, python: Path, uvloop: bool = True) -> None:
        self.python = python
        # On uvloop (the `ours` venv has the extra): the sweep's K=2,000 x 50 events/s must be
        # written on schedule by one process sharing the machine with the client.
        self.uvloop = uvloop
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self._default: dict | None = None

    def start(self, timeout: float = 60.0) -> str:
        self.proc = subprocess.Popen(
            [str(self.python), "-m", "tyler.testing", "--port", "0", "--host", "127.0.0.1",
             *(["--uvloop"] if self.uvloop else [])],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=child_env(),
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            seen.append(line.rstrip())
            for word in line.split():
                if word.startswith("http://"):
                    self.url = word.rstrip("/")
                    threading.Thread(target=self._drain, daemon=True).start()
                    return self.url
        self.stop()
        raise RuntimeError("fake server did not print its URL:\n" + "\n".join(seen[-20:]))

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for _ in self.proc.stdout:
            pass

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=60) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def set_default(self, turn: dict) -> None:
        """The reply every request gets while the script queue is empty (kept across `reset`)."""
        self._default = turn
        self._call("POST", "/_fake/default", turn)

    def enqueue(self, turns: list[dict]) -> None:
        self._call("POST", "/_fake/enqueue", turns)

    def requests(self) -> list[dict]:
        got = self._call("GET", "/_fake/requests")
        return got["requests"] if isinstance(got, dict) and "requests" in got else got

    def reset(self) -> None:
        """Forget recorded requests and queued turns; the server's reset also drops the default
        reply, so ours is applied again."""
        self._call("POST", "/_fake/reset", {})
        if self._default is not None:
            self._call("POST", "/_fake/default", self._default)

    def cpu_seconds(self) -> float | None:
        """user+sys CPU the server process has used so far (from /proc)."""
        if self.proc is None:
            return None
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Contender:
    """One measured line in the tables: a client script run in a venv with options."""

    label: str
    venv: str
    script: str
    options: dict = field(default_factory=dict)
    streaming: bool = True
    reference: bool = False  # a bare reader of the stream (no tool loop): figures 1-3 only
    sweep: bool = True  # run in the concurrency sweep


class WorkerProc:
    """A contender's client process answering one JSON command per line."""

    def __init__(
        self, contender: Contender, python: Path, url: str, echo: bool = False, prefix: list[str] | None = None
    ) -> None:
        self.c = contender
        self.proc = subprocess.Popen(
            [*(prefix or []), str(python), str(CLIENTS_DIR / contender.script), url, json.dumps(contender.options)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=child_env(),
            cwd=str(CLIENTS_DIR),
        )
        self.reader = _LineReader(self.proc, contender.label, echo)
        self.ready: dict = {}

    def wait_ready(self, timeout: float = 180.0) -> dict:
        """Wait for the client's ready line (workers start in parallel, then each is awaited)."""
        self.ready = self._read(timeout)
        return self.ready

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self, timeout: float) -> dict:
        try:
            line = self.reader.get(timeout)
        except queue.Empty:
            raise TimeoutError(f"{self.c.label}: no answer in {timeout:.0f} s") from None
        if line is None:
            raise RuntimeError(f"{self.c.label} exited:\n" + "\n".join(self.reader.tail))
        return json.loads(line)

    def call(self, task: str, timeout: float = 300.0, **params: Any) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"task": task, **params}) + "\n")
        self.proc.stdin.flush()
        result = self._read(timeout)
        if not result.get("ok"):
            raise RuntimeError(f"{self.c.label} {task} failed: {result.get('error')}\n{result.get('traceback', '')}")
        return result

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(json.dumps({"task": "quit"}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def stat(values: list[float | None]) -> dict[str, Any]:
    """Median with min and max of the trials (None values are dropped)."""
    vals = [v for v in values if v is not None]
    if not vals:
        return {"median": None, "min": None, "max": None, "n": 0, "trials": []}
    return {
        "median": statistics.median(vals),
        "min": min(vals),
        "max": max(vals),
        "n": len(vals),
        "trials": vals,
    }


def ratio(value: float | None, floor: float | None) -> float | None:
    if value is None or not floor:
        return None
    return value / floor
