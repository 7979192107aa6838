"""The chat page `tyler serve` shows at `/`: static files shipped inside the package.

No build step and no CDN, so it works offline: plain JavaScript speaking the server's native events
protocol, with two vendored libraries (marked for markdown, DOMPurify for sanitizing it; versions in
`static/vendor/VERSIONS`, rebuilt by `scripts/vendor-web.sh`). The page holds no secret, so it is
served without authentication; it asks for the API key when the API answers 401.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"

# The same policy as the page's <meta> tag, sent as a header too (it also covers the assets).
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "content-security-policy": _CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}


def is_public(path: str) -> bool:
    """True for the page and its static assets, which need no API key."""
    return path == "/" or path.startswith("/ui/")


async def _index(_: Request) -> Response:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)


class _Assets(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


def routes() -> list[BaseRoute]:
    """Starlette routes for the page: `GET /` and its assets under `/ui/`."""
    return [
        Route("/", _index, methods=["GET", "HEAD"]),
        Mount("/ui", app=_Assets(directory=STATIC_DIR), name="ui"),
    ]
