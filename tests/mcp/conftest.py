from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SERVER = Path(__file__).with_name("mcp_test_server.py")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_http(token: str | None = None) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    cmd = [sys.executable, str(SERVER), "http", "--port", str(port)]
    if token:
        cmd += ["--token", token]
    # stderr to a file, not a pipe: nobody drains a pipe, and a full one would block the server.
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
    log.close()  # the child has its own copy of the descriptor
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"MCP test server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}/mcp"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("MCP test server did not start listening in 30 s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture()
def stdio_config() -> dict:
    return {
        "servers": [
            {
                "name": "test",
                "transport": "stdio",
                "command": sys.executable,
                "args": [str(SERVER), "stdio"],
                "env": {"TYLER_MCP_TEST": "from-config"},
            }
        ]
    }


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    proc, url = _start_http()
    try:
        yield url
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def http_server_with_token() -> Iterator[str]:
    proc, url = _start_http(token="s3cret")
    try:
        yield url
    finally:
        _stop(proc)
