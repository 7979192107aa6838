"""Reference readers: how fast can the same SSE stream be read at all, library by library?

Not frameworks: each reads the OpenAI-style SSE stream, parses each `data:` JSON and picks the
content delta, like the floor (`floor.py`), only with a different reader underneath. They put the
floor (httpx `aiter_lines`) in context, so the tables show what a transport costs per chunk:

  httpx-raw      httpx `aiter_raw` + own line split (skips httpx's text decoding and line splitting)
  aiohttp-lines  aiohttp `content` line iteration + json.loads
  aiohttp-any    aiohttp `content.iter_any()` + own line split
  socket         asyncio streams + own HTTP/1.1 (chunked) + own line split: the practical limit of
                 a Python client on asyncio. A benchmark-only reader, never product code: no TLS,
                 no proxies, no redirects, no error handling beyond raising.

Run with option {"reader": NAME} (and {"uvloop": true} for the same reader on uvloop). No tool loop (figure 4 is skipped: `tool_round_trip` raises
NotImplementedError, which the orchestrator records as not applicable for these rows).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from _common import serve

BODY = {"model": "bench", "stream": True}


def _content(obj: dict) -> str | None:
    choices = obj.get("choices")
    if choices:
        return choices[0].get("delta", {}).get("content") or None
    return None


def _events(buf: bytes) -> tuple[list[bytes], bytes]:
    """Complete `data:` payloads in `buf` and the unfinished rest (SSE events end with a blank line)."""
    if b"\n\n" not in buf:
        return [], buf
    *blocks, rest = buf.split(b"\n\n")
    return [b[6:] for b in blocks if b.startswith(b"data: ")], rest


class Readers:
    stream: Any

    async def setup(self, url: str, options: dict) -> None:
        self.url = url + "/v1/chat/completions"
        self.reader = options["reader"]
        self.stream = self._stream
        if self.reader.startswith("httpx"):
            import httpx

            self.client = httpx.AsyncClient(
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=None),
                timeout=httpx.Timeout(120.0, connect=30.0),
            )
        elif self.reader.startswith("aiohttp"):
            import aiohttp

            self.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(sock_read=120, sock_connect=30)
            )
        elif self.reader == "socket":
            self.pool: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
            parts = urlsplit(self.url)
            self.host, self.port, self.path = parts.hostname, parts.port, parts.path
        else:
            raise ValueError(f"unknown reader {self.reader!r}")

    def _payloads(self, prompt: str) -> AsyncIterator[bytes]:
        body = {**BODY, "messages": [{"role": "user", "content": prompt}]}
        return getattr(self, "_" + self.reader.replace("-", "_"))(json.dumps(body).encode())

    async def _stream(self, prompt: str) -> AsyncIterator[str]:
        async for data in self._payloads(prompt):
            if data == b"[DONE]":
                return
            content = _content(json.loads(data))
            if content:
                yield content

    async def _httpx_raw(self, body: bytes) -> AsyncIterator[bytes]:
        headers = {"Content-Type": "application/json", "Authorization": "Bearer x"}
        async with self.client.stream("POST", self.url, content=body, headers=headers) as resp:
            resp.raise_for_status()
            buf = b""
            async for raw in resp.aiter_raw():
                events, buf = _events(buf + raw)
                for data in events:
                    yield data

    async def _aiohttp_lines(self, body: bytes) -> AsyncIterator[bytes]:
        headers = {"Content-Type": "application/json", "Authorization": "Bearer x"}
        async with self.session.post(self.url, data=body, headers=headers) as resp:
            resp.raise_for_status()
            async for line in resp.content:
                if line.startswith(b"data:"):
                    yield line[5:].strip()

    async def _aiohttp_any(self, body: bytes) -> AsyncIterator[bytes]:
        headers = {"Content-Type": "application/json", "Authorization": "Bearer x"}
        async with self.session.post(self.url, data=body, headers=headers) as resp:
            resp.raise_for_status()
            buf = b""
            async for raw in resp.content.iter_any():
                events, buf = _events(buf + raw)
                for data in events:
                    yield data

    async def _socket(self, body: bytes) -> AsyncIterator[bytes]:
        reader, writer = self.pool.pop() if self.pool else await asyncio.open_connection(self.host, self.port)
        writer.write(
            b"POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\nAuthorization: Bearer x\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (self.path.encode(), self.host.encode(), self.port, len(body), body)
        )
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            writer.close()
            raise RuntimeError(f"HTTP error: {head[:100]!r}")
        buf = b""  # SSE bytes not yet split into events
        raw = b""  # chunked-encoding bytes not yet decoded
        done = False
        while not done:
            got = await reader.read(65536)
            if not got:
                raise ConnectionError("server closed mid-response")
            raw += got
            body_bytes, raw, done = _dechunk(raw)
            events, buf = _events(buf + body_bytes)
            for data in events:
                yield data
        self.pool.append((reader, writer))

    async def complete(self, prompt: str) -> str:
        return "".join([c async for c in self._stream(prompt)])

    async def tool_round_trip(self, prompt: str) -> str:
        raise NotImplementedError("reference readers have no tool loop")

    async def close(self) -> None:
        if self.reader.startswith("httpx"):
            await self.client.aclose()
        elif self.reader.startswith("aiohttp"):
            await self.session.close()
        else:
            for _r, w in self.pool:
                w.close()


def _dechunk(raw: bytes) -> tuple[bytes, bytes, bool]:
    """Decode the complete chunks of HTTP/1.1 chunked encoding in `raw`: (data, rest, ended)."""
    out = []
    pos = 0
    while True:
        eol = raw.find(b"\r\n", pos)
        if eol < 0:
            break
        size = int(raw[pos:eol].split(b";", 1)[0], 16)
        end = eol + 2 + size
        if size == 0:
            if raw.find(b"\r\n\r\n", eol) < 0:
                break  # the last chunk's (empty) trailer section has not arrived yet
            return b"".join(out), b"", True
        if len(raw) < end + 2:
            break
        out.append(raw[eol + 2 : end])
        pos = end + 2
    return b"".join(out), raw[pos:], False


if __name__ == "__main__":
    serve(Readers())
