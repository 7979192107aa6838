"""The CLI's event loop: uvloop when installed (the `uvloop` extra, in the dev environment),
asyncio's own with TYLER_UVLOOP=0."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from cli_helpers import run_tyler

from tyler.cli import _loop
from tyler.testing import FakeModelServer, Turn

pytest.importorskip("uvloop")


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_the_cli_runs_on_uvloop_when_it_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_loop.ENV, raising=False)
    assert _loop.uses_uvloop()
    assert _loop.run(_loop_module()).startswith("uvloop")


@pytest.mark.parametrize("off", ["0", "false", "off"])
def test_tyler_uvloop_0_keeps_asyncios_loop(monkeypatch: pytest.MonkeyPatch, off: str) -> None:
    monkeypatch.setenv(_loop.ENV, off)
    assert not _loop.uses_uvloop()
    assert _loop.run(_loop_module()).startswith("asyncio")


@pytest.mark.parametrize("setting", ["", "0"])
def test_tyler_run_streams_the_same_on_either_loop(
    cli_env: dict[str, str], fake_server: FakeModelServer, setting: str
) -> None:
    fake_server.enqueue(Turn(text="the same words on either loop", delay=0.001))
    done = run_tyler(["run", "hi"], {**cli_env, _loop.ENV: setting})
    assert done.returncode == 0, done.stderr
    assert done.stdout == "the same words on either loop\n"


@pytest.mark.parametrize(("setting", "expected"), [("", "uvloop"), ("0", "asyncio")])
def test_tyler_run_picks_its_loop_from_the_environment(
    cli_env: dict[str, str], fake_server: FakeModelServer, setting: str, expected: str
) -> None:
    """The real command's loop, seen from inside the run (a model call wrapped to report it)."""
    fake_server.enqueue(Turn(text="ok"))
    code = (
        "import asyncio, sys\n"
        "from tyler.cli import main\n"
        "from tyler.providers import openai\n"
        "real = openai.OpenAIProvider.stream\n"
        "def stream(self, request):\n"
        "    sys.stderr.write('LOOP=' + type(asyncio.get_running_loop()).__module__ + '\\n')\n"
        "    return real(self, request)\n"
        "openai.OpenAIProvider.stream = stream\n"
        "sys.argv = ['tyler', 'run', 'hi']\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env={**cli_env, _loop.ENV: setting}, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert f"LOOP={expected}" in done.stderr
