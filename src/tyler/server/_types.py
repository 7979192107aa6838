"""What the endpoint modules (native, resume) need from the app's `Server`, as a Protocol.

`tyler.server.app` builds the `Server` and imports those modules to route to them; typing their
`server` argument with this Protocol instead of `app.Server` keeps them from importing `app`
back (a cycle, even type-only, ties the three into one unit).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from starlette.requests import Request

    from ..agent import Agent
    from ..messages import Thread
    from ..storage import ThreadStore
    from ._http import EventStream
    from .runs import Encoder, RunHandle, RunRegistry, Runs


class Host(Protocol):
    """The server state and helpers an endpoint is handed (`tyler.server.app.Server` is one)."""

    store: ThreadStore
    heartbeat: float
    registry: RunRegistry
    runs: Runs | None

    def agent(self, model: str | None, param: str = "model") -> tuple[str, Agent]:
        """The (model id, agent) a request names; the first agent when `model` is None."""
        ...

    async def body(self, request: Request) -> dict[str, Any]:
        """The request's JSON object body (size-limited)."""
        ...

    def open_run(self, request: Request, thread_id: str, run_id: str | None = None, *,
                 model: str | None = None) -> RunHandle:
        """Take a run slot for the request's API key (429 when it has too many)."""
        ...

    def stream(self, handle: RunHandle, agent: Agent, thread: Thread, encoder: Encoder,
               headers: dict[str, str] | None = None) -> EventStream:
        """The SSE response of one run."""
        ...
