"""The shared HTTP layer of the native providers: one connection pool, SSE, retries, errors.

One `httpx.AsyncClient` per event loop: httpx connections belong to the loop that opened them, and
users call `asyncio.run` more than once per process (the spec's examples do).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import weakref
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import httpx

from ..exceptions import (
    AuthenticationError,
    ModelConnectionError,
    ModelHTTPError,
    ModelResponseError,
    ModelTimeoutError,
    RateLimitError,
    StallTimeoutError,
)
from .base import ModelSettings

_RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
_MAX_RETRY_AFTER = 60.0  # a longer Retry-After is reported, not slept through
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


@dataclass(slots=True)
class PoolConfig:
    """Limits of the shared pool; change before the first request (`configure_http`)."""

    max_connections: int | None = None
    max_keepalive_connections: int = 100
    keepalive_expiry: float = 30.0


_pool_config = PoolConfig()


def configure_http(
    *, max_connections: int | None = None, max_keepalive_connections: int = 100, keepalive_expiry: float = 30.0
) -> None:
    """Set the shared pool's limits (applies to clients created afterwards)."""
    global _pool_config
    _pool_config = PoolConfig(max_connections, max_keepalive_connections, keepalive_expiry)


def get_client() -> httpx.AsyncClient:
    """The shared client of the running event loop."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        cfg = _pool_config
        client = httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=cfg.max_connections,
                max_keepalive_connections=cfg.max_keepalive_connections,
                keepalive_expiry=cfg.keepalive_expiry,
            ),
            timeout=httpx.Timeout(30.0),
            follow_redirects=False,
        )
        _clients[loop] = client
    return client


async def aclose_http() -> None:
    """Close the running loop's shared client (open streams are closed with it)."""
    loop = asyncio.get_running_loop()
    client = _clients.pop(loop, None)
    if client is not None:
        await client.aclose()


def _retry_delay(response: httpx.Response | None, attempt: int) -> float:
    if response is not None:
        ms = response.headers.get("retry-after-ms")
        if ms:
            try:
                return float(ms) / 1000.0
            except ValueError:
                pass
        after = response.headers.get("retry-after")
        if after:
            try:
                return float(after)
            except ValueError:
                pass  # an HTTP date: fall back to backoff
    return min(8.0, 0.5 * (2**attempt)) * (0.75 + random.random() / 2)


def _error_message(body: Any, status: int) -> str:
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            return str(err.get("message") or err.get("type") or err)
        return str(err)
    text = str(body or "").strip()
    return text[:500] or f"HTTP {status}"


def http_error(status: int, body: Any, *, provider: str, model: str) -> ModelHTTPError:
    """The typed error for an HTTP error answer."""
    message = f"{provider} returned HTTP {status}: {_error_message(body, status)}"
    cls: type[ModelHTTPError] = ModelHTTPError
    if status in (401, 403):
        cls = AuthenticationError
    elif status == 429:
        cls = RateLimitError
    return cls(message, status_code=status, body=body, provider=provider, model=model)


async def _read_error_body(response: httpx.Response) -> Any:
    try:
        raw = await response.aread()
    except httpx.HTTPError:
        return None
    finally:
        await response.aclose()
    try:
        return response.json() if raw else None
    except ValueError:
        return raw.decode("utf-8", "replace")


async def open_stream(
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    settings: ModelSettings,
    *,
    provider: str,
    model: str,
    attempt: int = 0,
) -> tuple[httpx.Response, int]:
    """POST and return the streaming response once its status is OK, with the attempts used.

    Retries (with backoff, honouring Retry-After) happen only before any byte of the stream
    reached the caller: a stream that has started is never replayed. `attempt` counts the
    retries already spent on this request (see `sse_json`), so both share `max_retries`.
    """
    client = get_client()
    timeout = httpx.Timeout(
        connect=settings.connect_timeout, read=settings.stall_timeout, write=30.0, pool=settings.connect_timeout
    )
    while True:
        request = client.build_request("POST", url, json=body, headers=headers, timeout=timeout)
        try:
            response = await client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            if attempt < settings.max_retries:
                await asyncio.sleep(_retry_delay(None, attempt))
                attempt += 1
                continue
            if isinstance(exc, httpx.ConnectError):
                raise ModelConnectionError(
                    f"cannot connect to {provider} at {url}: {exc}", provider=provider, model=model
                ) from exc
            raise ModelTimeoutError(
                f"timed out connecting to {provider} at {url}", provider=provider, model=model
            ) from exc
        except httpx.TimeoutException as exc:
            raise StallTimeoutError(
                f"{provider} sent no response for {settings.stall_timeout:g}s", provider=provider, model=model
            ) from exc
        except httpx.HTTPError as exc:
            raise ModelConnectionError(f"request to {provider} failed: {exc}", provider=provider, model=model) from exc
        if response.status_code < 400:
            return response, attempt
        err_body = await _read_error_body(response)
        delay = _retry_delay(response, attempt)
        if response.status_code in _RETRY_STATUS and attempt < settings.max_retries and delay <= _MAX_RETRY_AFTER:
            await asyncio.sleep(delay)
            attempt += 1
            continue
        raise http_error(response.status_code, err_body, provider=provider, model=model)


_raw_decode = json.JSONDecoder().raw_decode


def decode_json(data: bytes) -> Any:
    """json.loads for one SSE data field, about twice as fast on this hot path.

    `json.loads(bytes)` sniffs the encoding in Python and `json.loads(str)` runs two regex passes
    for surrounding whitespace; SSE data is UTF-8 with none, so decode and scan directly, and
    still refuse trailing garbage. Raises ValueError like json.loads.
    """
    text = data.decode("utf-8")
    try:
        obj, end = _raw_decode(text)
    except ValueError:
        return json.loads(text)  # leading whitespace and friends: the full parser decides
    if end != len(text) and text[end:].strip():
        raise ValueError(f"extra data after JSON at position {end}")
    return obj


def _parse_block(block: bytes) -> tuple[str | None, bytes] | None:
    """One SSE event (the lines between blank lines) → (event name, data), None for no data."""
    if block.startswith(b"data: ") and b"\n" not in block:
        return None, block[6:]  # the common case: a single data line
    event: str | None = None
    data: list[bytes] = []
    for line in block.split(b"\n"):
        name, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            data.append(value)
        elif name == b"event":
            event = value.decode("utf-8", "replace")
    if not data:
        return (event, b"") if event == "ping" else None
    return event, data[0] if len(data) == 1 else b"\n".join(data)


async def iter_sse(
    response: httpx.Response, settings: ModelSettings, *, provider: str, model: str
) -> AsyncGenerator[list[tuple[str | None, bytes]], None]:
    """Yield, per network read, the list of (event, data) server-sent events it completed.

    Written out rather than taken from a library because this is the hottest loop of the package:
    working on bytes and in batches skips text decoding (json.loads takes bytes) and one
    generator hop per event, which is most of what a line-based reader costs per token.
    It handles the SSE grammar this package meets: event/data fields, multi-line data, comments,
    CRLF. A stream that only sends keep-alives is a stall: httpx's read timeout catches silence,
    the clock check here catches pings and comments without data.
    """
    stall = settings.stall_timeout
    last = time.monotonic()
    buf = b""
    try:
        async for raw in response.aiter_bytes():
            buf += raw
            if b"\r" in buf:
                buf = buf.replace(b"\r\n", b"\n")
                tail = buf.endswith(b"\r")  # maybe half of a CRLF split across reads
                buf = buf[:-1].replace(b"\r", b"\n") + b"\r" if tail else buf.replace(b"\r", b"\n")
            if b"\n\n" not in buf:
                continue
            *blocks, buf = buf.split(b"\n\n")
            batch = []
            for block in blocks:
                parsed = _parse_block(block.lstrip(b"\n"))
                if parsed is None or parsed[0] == "ping":
                    continue
                batch.append(parsed)
            now = time.monotonic()
            if batch:
                last = now
                yield batch
            elif now - last > stall:
                raise StallTimeoutError(
                    f"{provider} sent only keep-alives for {stall:g}s", provider=provider, model=model
                )
        if buf.strip():
            parsed = _parse_block(buf.strip(b"\n"))
            if parsed is not None and parsed[0] != "ping":
                yield [parsed]
    except httpx.ReadTimeout as exc:
        raise StallTimeoutError(
            f"{provider} stream stalled: no data for {stall:g}s", provider=provider, model=model
        ) from exc
    except httpx.TimeoutException as exc:
        raise ModelTimeoutError(f"{provider} stream timed out: {exc}", provider=provider, model=model) from exc
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.NetworkError) as exc:
        raise ModelConnectionError(
            f"{provider} connection dropped mid-stream: {exc or type(exc).__name__}", provider=provider, model=model
        ) from exc


DONE = object()
"""What `sse_json` yields for OpenAI's `data: [DONE]` terminator."""


async def sse_json(
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    settings: ModelSettings,
    *,
    provider: str,
    model: str,
) -> AsyncGenerator[tuple[str | None, Any], None]:
    """POST `body`, then yield (event name, decoded JSON data) per server-sent event.

    Closing this generator closes the HTTP response (and so the upstream connection) at once.
    """
    if settings.extra_headers:
        headers = {**headers, **settings.extra_headers}
    attempt = 0
    while True:
        response, attempt = await open_stream(
            url, body, headers, settings, provider=provider, model=model, attempt=attempt
        )
        started = False
        try:
            async with aclosing(iter_sse(response, settings, provider=provider, model=model)) as batches:
                async for batch in batches:
                    for event, data in batch:
                        started = True  # from here on nothing is replayed
                        yield event, _decode_event(data, provider, model)
            return
        except ModelConnectionError:
            # Dropped after the headers but before a single event: nothing reached the caller,
            # so this is as retryable as a refused connection.
            if started or attempt >= settings.max_retries:
                raise
        finally:
            await response.aclose()
        await asyncio.sleep(_retry_delay(None, attempt))
        attempt += 1


def _decode_event(data: bytes, provider: str, model: str) -> Any:
    if data == b"[DONE]":
        return DONE
    try:
        return decode_json(data)
    except ValueError:
        raise ModelResponseError(
            f"{provider} sent a malformed chunk: {data[:200]!r}", provider=provider, model=model
        ) from None


__all__ = [
    "DONE",
    "aclose_http",
    "configure_http",
    "decode_json",
    "get_client",
    "http_error",
    "iter_sse",
    "open_stream",
    "sse_json",
]
