"""WEB_TOOLS: fetch pages, search the web, download files — with an SSRF guard on by default.

    from lye import WEB_TOOLS
    from lye.web import make_web_tools, fetch_page
    tools = make_web_tools(allow_private=True, workspace="/data")   # per-agent settings
    text = await fetch_page("https://example.com")                 # direct use

Settings read at call time (explicit arguments of `make_web_tools` win):

    LYE_ALLOW_PRIVATE_NETWORK=1   allow private/loopback/link-local/metadata addresses (off by default)
    LYE_ALLOWED_HOSTS             comma-separated hosts (or host:port) allowed even if private
    LYE_FETCH_MAX_BYTES           bytes read from a fetched page (default 5 MB; the rest is cut)
    LYE_FETCH_MAX_CHARS           characters returned to the model (default 20000)
    LYE_DOWNLOAD_MAX_BYTES        largest download (default 100 MB)
    LYE_HTTP_TIMEOUT              seconds for a whole fetch, redirects and conversion included
                                  (default 30); for web-download, seconds to the response headers
    LYE_DOWNLOAD_TIMEOUT          seconds for a whole download, headers included (default 300)
    LYE_WORKSPACE                 where web-download saves files (default: the current directory)
    web-search backends: see `lye.search`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import posixpath
import stat
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import unquote

from pydantic import Field

from tyler.tools import ToolContext, ToolDict

from ._common import ALLOW_PRIVATE_ENV, ALLOWED_HOSTS_ENV, derived_tool, env_flag, env_float, env_int, human_size
from ._content import (
    HTML_TYPES,
    TEXT_TYPES,
    clip,
    decode_bytes,
    html_declared_charset,
    html_to_markdown_async,
    looks_binary,
    looks_like_html,
    pdf_to_text_async,
)
from ._decode import ACCEPT_ENCODING, DecodedBody
from .errors import FetchError, FileToolError
from .search import search_web
from .workspace import DIR_FLAGS, Workspace, os_error

if TYPE_CHECKING:
    import httpx

USER_AGENT = "Mozilla/5.0 (compatible; lye-web-tools/0.1; +https://pypi.org/project/tyler-stream/)"
MAX_REDIRECTS = 5


@dataclass(frozen=True)
class WebSettings:
    """Limits and policy for the web tools; None fields fall back to the environment at call time."""

    allow_private: bool | None = None
    max_bytes: int | None = None
    max_chars: int | None = None
    download_max_bytes: int | None = None
    timeout: float | None = None
    max_redirects: int = MAX_REDIRECTS
    allowed_hosts: frozenset[str] | None = None
    download_timeout: float | None = None

    def private_allowed(self) -> bool:
        return self.allow_private if self.allow_private is not None else env_flag(ALLOW_PRIVATE_ENV)

    def hosts_allowed(self) -> frozenset[str]:
        if self.allowed_hosts is not None:
            return frozenset(h.lower() for h in self.allowed_hosts)
        raw = os.environ.get(ALLOWED_HOSTS_ENV) or ""
        return frozenset(item.strip().lower() for item in raw.split(",") if item.strip())

    def fetch_bytes(self) -> int:
        return self.max_bytes or env_int("LYE_FETCH_MAX_BYTES", 5 * 1024 * 1024)

    def fetch_chars(self) -> int:
        return self.max_chars or env_int("LYE_FETCH_MAX_CHARS", 20_000)

    def download_bytes(self) -> int:
        return self.download_max_bytes or env_int("LYE_DOWNLOAD_MAX_BYTES", 100 * 1024 * 1024)

    def total_timeout(self) -> float:
        return self.timeout or env_float("LYE_HTTP_TIMEOUT", 30.0)

    def whole_download_timeout(self) -> float:
        return self.download_timeout or env_float("LYE_DOWNLOAD_TIMEOUT", 300.0)


def _parse_url(url: str) -> httpx.URL:
    """`url` as an httpx.URL; a malformed one is a FetchError (httpx checks redirect targets itself)."""
    import httpx

    try:
        return httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise FetchError(f"invalid URL {url!r}: {exc}") from exc


@contextlib.asynccontextmanager
async def open_url(url: str, settings: WebSettings | None = None) -> AsyncIterator[httpx.Response]:
    """GET `url` through the SSRF guard, following up to `max_redirects` redirects (each checked).

    Yields the final response with its body not yet read. Raises FetchError for network
    failures and HTTP error statuses, BlockedAddressError for refused addresses.
    """
    import httpx  # imported here, not with lye: `import lye` stays cheap

    from ._net import GuardedTransport, check_scheme

    settings = settings or WebSettings()
    current = _parse_url(url)
    check_scheme(current)
    transport = GuardedTransport(
        allow_private=settings.private_allowed(), allowed_hosts=settings.hosts_allowed(), retries=0
    )
    timeout = httpx.Timeout(min(settings.total_timeout(), 15.0), read=settings.total_timeout())
    # Only encodings that can be decoded under a size cap are asked for (see lye._decode).
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING}
    async with httpx.AsyncClient(
        transport=transport, timeout=timeout, follow_redirects=False, headers=headers
    ) as client:
        for _hop in range(settings.max_redirects + 1):
            try:
                response = await client.send(client.build_request("GET", current), stream=True)
            except httpx.TimeoutException as exc:
                raise FetchError(f"timed out fetching {current}") from exc
            except httpx.HTTPError as exc:
                raise FetchError(f"could not fetch {current}: {exc.__class__.__name__}: {exc}") from exc
            if response.is_redirect and "location" in response.headers:
                await response.aclose()
                current = response.url.join(response.headers["location"])
                check_scheme(current)
                continue
            try:
                if response.status_code >= 400:
                    raise FetchError(f"HTTP {response.status_code} {response.reason_phrase} for {current}")
                yield response
            finally:
                await response.aclose()
            return
        raise FetchError(f"too many redirects (more than {settings.max_redirects}) starting at {url}")


async def _read_body(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """Up to `limit` bytes of the decoded body, and whether more was left unread."""
    body = DecodedBody(response, limit)
    parts: list[bytes] = []
    size = 0
    async for chunk in body:
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts)[:limit], body.over


async def _page_text(body: bytes, response: httpx.Response, cut: bool, output_format: str, max_chars: int) -> str:
    """The readable text of a fetched body; heavy conversions run off the event loop."""
    ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/pdf" or body.startswith(b"%PDF-"):
        if cut:
            return f"[PDF larger than the {human_size(len(body))} fetch limit; use web-download to save it]"
        try:
            return (await pdf_to_text_async(body))[0]
        except ValueError as exc:
            raise FetchError(f"{response.url}: {exc}") from exc
    textual = (
        ctype.startswith("text/") or ctype in HTML_TYPES or ctype in TEXT_TYPES or ctype.endswith(("+json", "+xml"))
    )
    if not textual and (ctype or b"\x00" in body[:1024]):
        return _binary_note(ctype, body, cut)
    charset = response.charset_encoding
    if charset is None and ctype in HTML_TYPES:
        charset = html_declared_charset(body)
    text = decode_bytes(body, charset, truncated=cut)
    if looks_binary(text):
        return _binary_note(ctype, body, cut)
    if output_format != "raw" and (ctype in HTML_TYPES or (not ctype and looks_like_html(text))):
        # Enough for the window the model gets, with room for what the clean-up drops.
        room = 2 * max_chars + 4096
        plain = output_format == "text"
        try:
            return await html_to_markdown_async(text, base_url=str(response.url), plain=plain, max_chars=room)
        except ValueError as exc:
            raise FetchError(f"{response.url}: {exc}") from exc
    return text


def _binary_note(ctype: str, body: bytes, cut: bool) -> str:
    return (
        f"[binary content ({ctype or 'unknown type'}, {human_size(len(body))}"
        f"{'+' if cut else ''}) not shown; use web-download to save it to the workspace]"
    )


async def fetch_page(url: str, output_format: str = "markdown", *, settings: WebSettings | None = None) -> str:
    """Fetch a URL and return its readable content (HTML as Markdown or text, PDF as text).

    The result starts with the final URL (after redirects) and ends with a note when the body
    or the text was cut at the configured limits.
    """
    if output_format not in ("markdown", "text", "raw"):
        raise FetchError(f"unknown output_format {output_format!r}: use 'markdown', 'text' or 'raw'")
    settings = settings or WebSettings()
    try:
        async with asyncio.timeout(settings.total_timeout()):
            async with open_url(url, settings) as response:
                body, cut = await _read_body(response, settings.fetch_bytes())
                text = await _page_text(body, response, cut, output_format, settings.fetch_chars())
                final_url = str(response.url)
    except TimeoutError as exc:
        raise FetchError(f"fetching {url} took longer than {settings.total_timeout():g} s") from exc
    text = f"URL: {final_url}\n\n" + clip(text, settings.fetch_chars())
    if cut:
        text += f"\n[body cut at {human_size(settings.fetch_bytes())}: the page is larger than the fetch limit]"
    return text


def _download_name(url: httpx.URL, response: httpx.Response) -> str:
    """A bare file name for the download; never "." or "..", which the server may send."""
    name = PurePosixPath(unquote(url.path)).name
    disposition = response.headers.get("content-disposition", "")
    for part in disposition.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "filename" and value.strip('"'):
            name = PurePosixPath(value.strip('"')).name
            break
    # No control characters, no leading "~" (a home directory), not longer than a file name may be.
    name = "".join(ch for ch in name if ch >= " " and ch != "\x7f").lstrip("~")[:200]
    return name if name not in ("", ".", "..") else "download"


async def _stream_to(body: DecodedBody, handle: Any, total: int | None, ctx: Any) -> int:
    size = 0
    reported = 0
    async for chunk in body:
        size += len(chunk)
        if body.over or size > body.limit:
            raise FetchError(f"download larger than the {human_size(body.limit)} limit; stopped")
        handle.write(chunk)
        if ctx is not None and size - reported >= max(total or 0, 1 << 20) // 10:
            reported = size
            await ctx.report_progress(size, total, f"downloaded {human_size(size)}")
    if body.over:
        raise FetchError(f"download larger than the {human_size(body.limit)} limit; stopped")
    return size


def _download_dir(ws: Workspace, root: Path, path: str | None, name: str, overwrite: bool) -> tuple[int, str, str]:
    """(descriptor of the target's folder, file name in it, shown path), checked and created."""
    wanted = path or name
    try:
        try:
            folder, shown = ws.open(wanted, DIR_FLAGS, root=root)  # an existing folder: save into it
            base = name
        except (FileNotFoundError, NotADirectoryError):
            parent, base = posixpath.split(wanted.rstrip("/"))
            if base in ("", ".", ".."):
                raise FileToolError(f"{wanted!r} is a directory; give a file path") from None
            folder, shown = ws.open(parent or ".", DIR_FLAGS, root=root, make_parents=True)
    except OSError as exc:
        raise os_error(exc, wanted) from None
    shown = base if shown == "." else f"{shown}/{base}"
    try:
        existing = os.stat(base, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return folder, base, shown
    except OSError as exc:
        os.close(folder)
        raise os_error(exc, shown) from None
    if stat.S_ISDIR(existing.st_mode):
        os.close(folder)
        raise FileToolError(f"{shown!r} is a directory; give a file path")
    if not overwrite:
        os.close(folder)
        raise FileToolError(f"{shown} already exists; pass overwrite=true to replace it")
    return folder, base, shown


async def download_file(
    url: str,
    path: str | None = None,
    overwrite: bool = False,
    *,
    settings: WebSettings | None = None,
    workspace: Workspace | None = None,
    ctx: Any = None,
) -> str:
    """Download `url` into the workspace (`path` or the URL's file name); returns what was saved.

    The response headers must arrive within LYE_HTTP_TIMEOUT and the whole download end within
    LYE_DOWNLOAD_TIMEOUT (see `WebSettings`).
    """
    settings = settings or WebSettings()
    whole = settings.whole_download_timeout()
    try:
        async with asyncio.timeout(whole):
            return await _download(url, path, overwrite, settings=settings, ws=workspace or Workspace(), ctx=ctx)
    except TimeoutError as exc:
        raise FetchError(f"downloading {url} took longer than {whole:g} s (the download time limit)") from exc


async def _download(
    url: str, path: str | None, overwrite: bool, *, settings: WebSettings, ws: Workspace, ctx: Any
) -> str:
    root = ws.root
    limit = settings.download_bytes()
    async with contextlib.AsyncExitStack() as stack:
        try:
            async with asyncio.timeout(settings.total_timeout()):
                response = await stack.enter_async_context(open_url(url, settings))
        except TimeoutError as exc:
            raise FetchError(f"{url} sent no response within {settings.total_timeout():g} s") from exc
        declared = int(response.headers.get("content-length") or 0)
        if declared > limit:
            raise FetchError(f"{url} is {human_size(declared)}, over the {human_size(limit)} download limit")
        body = DecodedBody(response, limit)
        folder, base, shown = _download_dir(ws, root, path, _download_name(response.url, response), overwrite)
        stack.callback(os.close, folder)
        # The temporary file goes next to the target, both named relative to the folder's
        # descriptor: a folder swapped for a link meanwhile cannot redirect either.
        tmp = f".download-{uuid.uuid4().hex[:12]}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                size = await _stream_to(body, handle, int(response.headers.get("content-length") or 0) or None, ctx)
            os.replace(tmp, base, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=folder)
            raise
        ctype = response.headers.get("content-type", "unknown type").split(";")[0]
        final_url = str(response.url)
    return f"Downloaded {human_size(size)} ({ctype}) from {final_url} to {shown}"


def make_web_tools(
    allow_private: bool | None = None,
    workspace: str | os.PathLike[str] | None = None,
    *,
    max_bytes: int | None = None,
    max_chars: int | None = None,
    download_max_bytes: int | None = None,
    timeout: float | None = None,
    search_backend: str | None = None,
    allowed_hosts: list[str] | None = None,
    download_timeout: float | None = None,
) -> list[ToolDict]:
    """web-search, web-fetch and web-download with per-agent settings (None: environment).

    `allow_private=True` turns the SSRF guard off; `allowed_hosts=["intranet:8080"]` lets just
    those hosts through. `workspace` is where web-download saves files.
    """
    settings = WebSettings(
        allow_private,
        max_bytes,
        max_chars,
        download_max_bytes,
        timeout,
        allowed_hosts=frozenset(allowed_hosts) if allowed_hosts is not None else None,
        download_timeout=download_timeout,
    )
    ws = Workspace(workspace)

    async def web_fetch(url: str, output_format: Literal["markdown", "text", "raw"] = "markdown") -> str:
        """Fetch a web page and return its readable content (HTML converted to Markdown, PDF to
        text). Long pages are truncated with a note.

        Args:
            url: An http or https URL.
        """
        return await fetch_page(url, output_format, settings=settings)

    async def web_search(
        query: Annotated[str, Field(min_length=1)], max_results: Annotated[int, Field(ge=1, le=20)] = 5
    ) -> str:
        """Search the web. Returns the top results as title, URL and snippet.

        Args:
            query: What to search for.
        """
        return await search_web(query, max_results, backend=search_backend)

    async def web_download(
        url: str, path: str | None = None, overwrite: bool = False, ctx: ToolContext | None = None
    ) -> str:
        """Download a URL to a file in the workspace (default name: the URL's file name).

        Args:
            url: An http or https URL.
            path: Where to save it, relative to the workspace.
        """
        return await download_file(url, path, overwrite, settings=settings, workspace=ws, ctx=ctx)

    # Descriptions and schemas derived from the signatures and docstrings above.
    return [
        derived_tool("web-search", web_search, timeout=60),
        derived_tool("web-fetch", web_fetch, timeout=90),
        derived_tool("web-download", web_download, timeout=600, context_param="ctx"),
    ]


WEB_TOOLS: list[ToolDict] = make_web_tools()

__all__ = ["WEB_TOOLS", "WebSettings", "download_file", "fetch_page", "make_web_tools", "open_url", "search_web"]
