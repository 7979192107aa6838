"""Per-contender virtualenvs under bench/.venvs/, created on demand and reused.

Each venv is keyed by a hash of its requirement lines (plus the Python version): when the
stamp file in the venv matches, the venv is reused as is; otherwise it is rebuilt from scratch.
Stdlib only, because `bench/run.py` may be started by any Python 3.11+.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
VENVS_DIR = BENCH_DIR / ".venvs"
STAMP = ".bench-stamp"


@dataclass(frozen=True)
class VenvSpec:
    """A venv: its directory name and what pip installs into it (passed to pip as arguments)."""

    name: str
    requirements: tuple[str, ...]
    editable: tuple[str, ...] = ()  # local paths installed with `pip install -e` (may end in [extras])

    def digest(self) -> str:
        h = hashlib.sha256()
        h.update(sys.version.encode())
        for line in (*self.requirements, *("-e " + p for p in self.editable)):
            h.update(line.encode() + b"\n")
        # An editable install only needs redoing when the project's dependency list changes.
        for path in self.editable:
            pyproject = Path(path.split("[", 1)[0]) / "pyproject.toml"
            if pyproject.exists():
                h.update(pyproject.read_bytes())
        return h.hexdigest()[:16]


# Who lives where: one venv per contender, nothing shared with the measured code. The floor gets
# httpx under the same version range as ours declares, so both read the stream with the same httpx.
SPECS: dict[str, VenvSpec] = {
    "floor": VenvSpec("floor", ("httpx>=0.27,<1",)),
    # [postgres] so the thread-store figure can measure PostgreSQL too; figure 5's installed size
    # counts the core distribution's requirements only, not extras.
    "ours": VenvSpec("ours", (), (str(REPO_DIR) + "[postgres,uvloop]",)),
    # The reference readers (bench/clients/readers.py): httpx like the floor, plus aiohttp, and
    # uvloop for the socket limit on libuv's loop (the same range as ours' `uvloop` extra).
    "readers": VenvSpec("readers", ("httpx>=0.27,<1", "aiohttp>=3.10,<4", "uvloop>=0.19,<1")),
    "litellm": VenvSpec("litellm", ("litellm>=1.83",)),
    # The LiteLLM proxy server (bench/serving.py): what people put in front of a model for an
    # OpenAI endpoint. Its own venv: the [proxy] extra pulls FastAPI, uvicorn, gunicorn and more.
    "litellm-proxy": VenvSpec("litellm-proxy", ("litellm[proxy]>=1.83",)),
    # (slide-tyler 6.4.0 brings FastAPI and uvicorn: bench/serving.py serves its vercel mode with them.)
    "tyler640": VenvSpec("tyler640", ("slide-tyler==6.4.0",)),
    # Report tooling (plot) only; never imported by a contender.
    "report": VenvSpec("report", ("matplotlib>=3.7",)),
    # Sampling profiler for bench/profile.py (attaches from outside; the measured venvs stay clean).
    "profile": VenvSpec("profile", ("py-spy>=0.3.14",)),
}


def python_of(name: str) -> Path:
    return VENVS_DIR / name / "bin" / "python"


def ensure(name: str, log=print) -> Path:
    """Create (or reuse) the venv `name` and return its python executable.

    Holds an exclusive lock on bench/.venvs/.lock meanwhile: two runs started at once (a developer's
    and the test suite's) must not build the same venv over each other.
    """
    VENVS_DIR.mkdir(parents=True, exist_ok=True)
    with open(VENVS_DIR / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _ensure_locked(name, log)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _ensure_locked(name: str, log) -> Path:
    spec = SPECS[name]
    venv = VENVS_DIR / name
    stamp = venv / STAMP
    want = spec.digest()
    if stamp.exists() and stamp.read_text().strip() == want and python_of(name).exists():
        return python_of(name)
    t0 = time.perf_counter()
    log(f"[venv] building {name} ({', '.join(spec.requirements + spec.editable)}) ...")
    # Update in place when the venv's Python still runs: another bench run may be using this venv
    # right now (a changed pyproject.toml is the usual reason), and pip swaps files one by one.
    if venv.exists() and not _runs(python_of(name)):
        shutil.rmtree(venv)
    if not venv.exists():
        VENVS_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    args = [str(python_of(name)), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    args += list(spec.requirements)
    for path in spec.editable:
        args += ["-e", path]
    logfile = VENVS_DIR / f"{name}.pip.log"
    with logfile.open("w") as fh:
        proc = subprocess.run(args, check=False, stdout=fh, stderr=subprocess.STDOUT, env=_pip_env())
    if proc.returncode != 0:
        tail = logfile.read_text()[-3000:]
        raise RuntimeError(f"pip install failed for venv {name!r} (see {logfile}):\n{tail}")
    stamp.write_text(want + "\n")
    log(f"[venv] {name} ready in {time.perf_counter() - t0:.0f} s")
    return python_of(name)


def _runs(python: Path) -> bool:
    if not python.exists():
        return False
    probe = subprocess.run([str(python), "-c", "import sys; print(sys.version)"], capture_output=True, text=True,
                           check=False)
    return probe.returncode == 0 and probe.stdout.strip() == sys.version


def _pip_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    return env


def site_packages(name: str) -> Path:
    venv = VENVS_DIR / name
    found = sorted(venv.glob("lib/python3*/site-packages"))
    if not found:
        raise FileNotFoundError(f"no site-packages in {venv}")
    return found[0]


def dir_size(path: Path) -> int:
    """Bytes on disk of the regular files under `path` (symlinks not followed)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            p = os.path.join(root, f)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total


def installed_versions(name: str, packages: list[str]) -> dict[str, str]:
    """Versions of `packages` inside venv `name` (importlib.metadata, run in that venv)."""
    code = (
        "import json,sys,importlib.metadata as m\n"
        "out={}\n"
        "for p in sys.argv[1:]:\n"
        "    try: out[p]=m.version(p)\n"
        "    except m.PackageNotFoundError: out[p]=None\n"
        "print(json.dumps(out))\n"
    )
    res = subprocess.run([str(python_of(name)), "-c", code, *packages], check=False, capture_output=True, text=True)
    if res.returncode != 0:
        return {p: None for p in packages}
    import json

    return json.loads(res.stdout)
