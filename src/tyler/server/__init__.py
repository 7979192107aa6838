"""`tyler.server`: serve agents over HTTP for the clients people already use.

    from tyler.server import create_app
    app = create_app(agents=[agent], store="sqlite+aiosqlite:///threads.db")   # any ASGI server

or from the command line: `tyler serve --model gpt-4o --tools web`. Endpoints: OpenAI Chat
Completions (`/v1/chat/completions`, `/v1/models`) and Responses (`/v1/responses`), the Vercel AI
SDK UI message stream (`/api/chat`), AG-UI (`/ag-ui`), native event streams (`/v1/threads/{id}/runs` SSE, `/v1/ws`
WebSocket), threads (`/v1/threads`), `POST /v1/runs/{id}/cancel` and `GET /health`. The app needs
the `serve` extra (Starlette, uvicorn); the encoders (`tyler.server.vercel`...) do not.
One module per protocol encoder; `runs.frames` is the one place a run becomes wire text.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Server", "create_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        try:
            from . import app
        except ImportError as exc:  # Starlette missing: say which extra brings it
            from ..exceptions import ConfigurationError

            raise ConfigurationError("tyler.server needs the 'serve' extra: pip install 'tyler-stream[serve]'") from exc
        return getattr(app, name)
    raise AttributeError(f"module 'tyler.server' has no attribute {name!r}")
