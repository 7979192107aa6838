"""Server tests: `create_app` served by a real uvicorn on 127.0.0.1, its agents on the fake model server.

`serve(**create_app_kwargs)` starts one server per call (its own thread and event loop, like a
separate process would be) and returns a `LiveServer` with its `url`; servers stop at teardown.
The default agent is `weather_agent()`: model "gpt-4o" (routed to the fake server by `env`), one
server-side tool `get_weather`, served as model id "tyler".
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from tyler import Agent
from tyler.server import create_app
from tyler.testing import FakeModelServer


def get_weather(city: str) -> str:
    """Weather for a city."""
    return f"Sunny in {city}"


def weather_agent(name: str = "tyler", **kwargs: Any) -> Agent:
    return Agent(name=name, model_name="gpt-4o", tools=[get_weather], max_retries=0, **kwargs)


class LiveServer:
    """A uvicorn server for `app` on a free loopback port, run in a background thread."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    @property
    def state(self) -> Any:
        return self.app.state.tyler

    def _run(self) -> None:
        try:
            asyncio.run(self.server.serve(sockets=[self.sock]))
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def start(self) -> LiveServer:
        self.thread.start()
        for _ in range(500):
            if self.server.started or not self.thread.is_alive():
                break
            threading.Event().wait(0.01)
        assert self.server.started, f"server did not start: {self.error!r}"
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()
        assert not self.thread.is_alive(), "server did not stop"


@pytest.fixture
def serve(env: FakeModelServer) -> Iterator[Callable[..., LiveServer]]:
    started: list[LiveServer] = []

    def start(agents: Any = None, **kwargs: Any) -> LiveServer:
        server = LiveServer(create_app(agents if agents is not None else weather_agent(), **kwargs)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def live(serve: Callable[..., LiveServer]) -> LiveServer:
    """A server with the default agent and a short heartbeat."""
    return serve(heartbeat=0.2)


JS_DIR = Path(__file__).parent / "js"


@pytest.fixture(scope="session")
def node_clients() -> Path:
    """tests/server/js with its pinned npm clients (ai@6, @ag-ui/client) installed by `npm ci`.

    Skips only when node is not installed; an install failure is an error, not a skip.
    """
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm not installed")
    stamp = JS_DIR / "node_modules" / ".package-lock.json"
    lock = JS_DIR / "package-lock.json"
    if not stamp.exists() or stamp.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=JS_DIR, check=True,
                       timeout=600)
    return JS_DIR


def run_node(script: Path, *args: str, timeout: float = 120) -> dict[str, Any]:
    """Run a client script; its stdout is one JSON object."""
    done = subprocess.run(["node", str(script), *args], capture_output=True, text=True, timeout=timeout,
                          check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
