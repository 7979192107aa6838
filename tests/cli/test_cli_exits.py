"""The CLI never ends in a traceback (issue 15, item 16): output that cannot be written, a closed
stdout, input that is not text, Ctrl-C while it loads. One line on stderr and an exit code."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import TYLER

from tyler.testing import FakeModelServer, Turn


def _tyler(args: list[str], env: dict[str, str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    options: dict[str, object] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "timeout": 60}
    options.update(kwargs)
    return subprocess.run([*TYLER, *args], env=env, check=False, **options)  # type: ignore[call-overload]


def _one_line(stderr: bytes) -> str:
    text = stderr.decode(errors="replace")
    assert "Traceback" not in text and "Exception ignored" not in text, text
    return text


def test_output_to_a_full_device_is_one_line_and_exit_1(cli_env: dict[str, str], fake_server: FakeModelServer) -> None:
    fake_server.enqueue(Turn(text="an answer that cannot be written anywhere"))
    with open("/dev/full", "wb") as full:
        done = _tyler(["run", "hello"], cli_env, stdout=full)
    text = _one_line(done.stderr)
    assert done.returncode == 1, text
    assert "No space left on device" in text and text.count("tyler:") == 1


def test_a_closed_stdout_is_one_line_and_exit_1(cli_env: dict[str, str], fake_server: FakeModelServer) -> None:
    fake_server.enqueue(Turn(text="nobody reads this"))
    done = _tyler(["run", "hello"], cli_env, stdout=None, preexec_fn=lambda: os.close(1))
    text = _one_line(done.stderr)
    assert done.returncode == 1, text
    assert "tyler: cannot write the output: stdout is closed" in text


@pytest.mark.parametrize("locale", ["C.UTF-8", "C"])  # strict UTF-8 stdin, or surrogateescape
def test_binary_stdin_is_a_usage_error(cli_env: dict[str, str], fake_server: FakeModelServer, locale: str) -> None:
    env = {**cli_env, "LC_ALL": locale, "PYTHONIOENCODING": ""}
    done = _tyler(["run", "-"], env, input=b"\xff\xfe\x00\x81 not text")
    text = _one_line(done.stderr)
    assert done.returncode == 2, text
    assert "not UTF-8 text" in text
    assert fake_server.requests == []


def test_ctrl_c_while_loading_is_exit_130_without_traceback(cli_env: dict[str, str]) -> None:
    # SIGINT once `typer` is imported (importtime reports it), i.e. during
    # the imports of the command and its libraries that make up the first moments of a run.
    env = {**cli_env, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [*TYLER[:1], "-X", "importtime", *TYLER[1:], "run", "hello"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    seen = b""
    assert proc.stderr is not None
    while not re.search(rb"\| +typer\n", seen):
        line = proc.stderr.readline()
        assert line, seen.decode(errors="replace")[-2000:]  # the CLI must not get past its imports
        seen += line
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    text = (seen + err).decode(errors="replace")
    assert "Traceback" not in text, text
    assert proc.returncode in (130, -signal.SIGINT), text


# Put on PYTHONPATH as sitecustomize: the import of $TYLER_TEST_PAUSE_AT says so on stderr and
# waits, so the test's SIGINT lands inside that import for certain (no guessed delay).
PAUSER = """
import os, sys, time

class _PauseAt:
    def find_spec(self, name, path=None, target=None):
        if name == os.environ.get("TYLER_TEST_PAUSE_AT"):
            sys.meta_path.remove(self)
            os.write(2, f"pausing in the import of {name}\\n".encode())
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                time.sleep(0.02)
        return None

sys.meta_path.insert(0, _PauseAt())
"""

TYLER_COMMAND = Path(sys.executable).with_name("tyler")  # the console script users run


@pytest.mark.parametrize(
    "module",
    [
        "tyler.agent",  # `import tyler` itself, before any of the CLI's code
        "typer",  # the CLI's own imports
        "tyler.cli.run_cmd",  # the command's imports
        "tyler.cli.render",  # setting up the run, once the command handles Ctrl-C itself
    ],
)
def test_ctrl_c_at_any_point_of_loading_is_one_line_and_exit_130(
    cli_env: dict[str, str], tmp_path: Path, module: str
) -> None:
    (tmp_path / "sitecustomize.py").write_text(PAUSER)
    env = {**cli_env, "PYTHONPATH": str(tmp_path), "TYLER_TEST_PAUSE_AT": module}
    proc = subprocess.Popen(
        [str(TYLER_COMMAND), "run", "hello"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stderr is not None
    before = b""  # the banner (model and tools) once the command started
    while not before.endswith(f"pausing in the import of {module}\n".encode()):
        line = proc.stderr.readline()
        assert line, before + proc.stderr.read()  # ended without reaching the import
        before += line
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    text = err.decode(errors="replace")
    assert "Traceback" not in text and "Exception ignored" not in text, text
    assert text.splitlines() == ["tyler: interrupted"], before + err
    assert proc.returncode == 130, text
    assert out == b""
