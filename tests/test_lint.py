"""The house rules are checked, not hoped for: ruff (with complexity and async rules) and mypy."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    exe = Path(sys.executable).with_name(name)
    found = str(exe) if exe.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (it is in the dev extra)")
    return found


def test_ruff_clean() -> None:
    proc = subprocess.run(
        [_tool("ruff"), "check", "src", "tests", "bench", "examples", "--output-format", "concise"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_clean() -> None:
    proc = subprocess.run([_tool("mypy")], cwd=ROOT, capture_output=True, text=True, timeout=280, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_lint_tools_are_pinned_exactly() -> None:
    """A new ruff/mypy release must not turn this suite red by itself: both are pinned with ==."""
    import tomllib

    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    pins = {req.split("==")[0]: req.split("==")[1] for req in dev if "==" in req}
    assert {"ruff", "mypy"} <= set(pins), dev
    for name in ("ruff", "mypy"):
        out = subprocess.run([_tool(name), "--version"], capture_output=True, text=True, check=True).stdout
        assert pins[name] in out, (name, out)


# The core: the run loop and what it is made of (values, events, tools, providers, context,
# approval, structured output, delegation). `mypy --strict` on these modules: no Any leaking out
# of a typed function, no untyped def, no implicit re-export. The rest of the package is checked
# by test_mypy_clean's (non-strict) configuration.
STRICT_MODULES = (
    "tyler._run", "tyler._context", "tyler._repair", "tyler.agent", "tyler.approval", "tyler.attachments",
    "tyler.chunks", "tyler.context", "tyler.delegation", "tyler.events", "tyler.exceptions", "tyler.messages",
    "tyler.structured", "tyler.tools", "tyler.providers.base", "tyler.providers.openai",
    "tyler.providers.anthropic", "tyler.providers.litellm", "tyler.providers.sse",
)


def test_mypy_strict_on_the_core_modules() -> None:
    args = [_tool("mypy"), "--strict", "--cache-dir", ".mypy_cache/strict"]
    for module in STRICT_MODULES:
        args += ["-m", module]
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=280, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_strict_list_names_real_modules() -> None:
    src = ROOT / "src"
    missing = [m for m in STRICT_MODULES if not (src / (m.replace(".", "/") + ".py")).exists()]
    assert missing == []
