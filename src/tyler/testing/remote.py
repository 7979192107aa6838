"""`RemoteFakeServer`: script a fake model server running in another process, over HTTP.

The benchmarks run `python -m tyler.testing` in its own process (so the fixture does not share a
GIL with the code being measured) and drive it through the `/_fake/` control endpoints.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from ._endpoints import FakeEndpoints
from .turns import RecordedRequest, Turn


class RemoteFakeServer(FakeEndpoints):
    """Same scripting surface as `FakeModelServer` (enqueue, requests, reset...), for a server URL."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self._url = url.rstrip("/")
        self._client = httpx.Client(base_url=self._url, timeout=timeout, trust_env=False)

    @property
    def url(self) -> str:
        return self._url

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        response = self._client.get(path) if method == "GET" else self._client.post(path, json=payload)
        response.raise_for_status()
        return response.json()

    def enqueue(self, *turns: Turn | dict[str, Any], repeat: int = 1) -> None:
        """Append scripted turns to the remote server's FIFO."""
        dicts = [Turn.from_dict(t).to_dict() for t in turns]  # validates locally, clear errors early
        self._call("POST", "/_fake/enqueue", {"turns": dicts, "repeat": repeat})

    def set_default_turn(self, turn: Turn | dict[str, Any] | None) -> None:
        self._call("POST", "/_fake/default", None if turn is None else Turn.from_dict(turn).to_dict())

    @property
    def pending(self) -> int:
        return int(self._call("GET", "/_fake/health")["pending"])

    @property
    def requests(self) -> list[RecordedRequest]:
        return [RecordedRequest.from_dict(d) for d in self._call("GET", "/_fake/requests")]

    def reset(self) -> None:
        self._call("POST", "/_fake/reset")

    def wait_for_request_finished(self, index: int = -1, timeout: float = 5.0) -> RecordedRequest | None:
        deadline = time.monotonic() + timeout
        while True:
            requests = self.requests
            try:
                request = requests[index]
            except IndexError:
                request = None
            if request is not None and request.done:
                return request
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.02)

    def wait_for_disconnect(self, index: int = -1, timeout: float = 5.0) -> bool:
        request = self.wait_for_request_finished(index, timeout)
        return bool(request and request.disconnected_early)

    async def await_disconnect(self, index: int = -1, timeout: float = 5.0) -> bool:  # noqa: ASYNC109
        return await asyncio.to_thread(self.wait_for_disconnect, index, timeout)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RemoteFakeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
