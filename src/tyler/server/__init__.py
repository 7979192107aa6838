"""`tyler.server`: serve agents over HTTP for the clients people already use.

    from tyler.server import create_app
    app = create_app(agents=[agent], store="sqlite+aiosqlite:///threads.db")   # any ASGI server

or from the command line: `tyler serve --model gpt-4o --tools web`. Endpoints: OpenAI Chat
Completions (`/v1/chat/completions`, `/v1/models`), native event streams
(`/v1/threads/{id}/runs` SSE, `/v1/ws` WebSocket), threads (`/v1/threads`), `POST
/v1/runs/{id}/cancel` and `GET /health`. Needs the `serve` extra (Starlette, uvicorn).
One module per protocol encoder; `runs.frames` is the one place a run becomes wire text.
"""

from __future__ import annotations

try:
    import starlette  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    from ..exceptions import ConfigurationError

    raise ConfigurationError("tyler.server needs the 'serve' extra: pip install 'tyler-stream[serve]'") from exc

from .app import Server, create_app

__all__ = ["Server", "create_app"]
