"""Content-Encoding decoding under a cap: what a decompression bomb cannot get past.

httpx inflates each received chunk in one call, so 2 KB of `Content-Encoding: gzip, gzip` can
become a gigabyte in memory before any size limit is looked at. Here the raw body is inflated
layer by layer in pieces of at most `PIECE` bytes, every layer's output is counted, and decoding
stops as soon as any layer has produced more than the caller's limit: memory stays near the
limit whatever the encoding. Encodings that cannot be decoded this way (br, zstd, compress) are
not asked for, and refused when a server sends them anyway.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

from .errors import FetchError

if TYPE_CHECKING:
    import httpx

ACCEPT_ENCODING = "gzip, deflate"
PIECE = 64 * 1024
MAX_LAYERS = 3


class _Layer:
    """One gzip or deflate layer, inflated at most PIECE bytes at a time."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.inflater: zlib._Decompress | None = None  # deflate: zlib or raw, known at the first byte
        self.produced = 0
        if name in ("gzip", "x-gzip"):
            self.inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def pieces(self, data: bytes) -> Iterator[bytes]:
        if self.inflater is None:
            # "deflate" is meant to be zlib-wrapped, but servers also send raw deflate.
            zlib_header = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self.inflater = zlib.decompressobj(zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS)
        while data and not self.inflater.eof:
            try:
                out = self.inflater.decompress(data, PIECE)
            except zlib.error as exc:
                raise FetchError(f"the response's {self.name} encoding is corrupt: {exc}") from exc
            data = self.inflater.unconsumed_tail
            if out:
                self.produced += len(out)
                yield out


def _layers(response: httpx.Response) -> list[_Layer]:
    names = [n.strip().lower() for n in response.headers.get("content-encoding", "").split(",")]
    names = [n for n in names if n and n != "identity"]
    unknown = [n for n in names if n not in ("gzip", "x-gzip", "deflate")]
    if unknown:
        raise FetchError(f"{response.url} uses Content-Encoding {', '.join(unknown)}, which is not supported")
    if len(names) > MAX_LAYERS:
        raise FetchError(f"{response.url} stacks {len(names)} content encodings; at most {MAX_LAYERS} are decoded")
    return [_Layer(n) for n in reversed(names)]  # the last encoding applied is undone first


def _through(layers: list[_Layer], data: bytes, limit: int) -> Iterator[bytes]:
    """`data` pushed through every layer; stops once a layer has produced more than `limit`."""
    if not layers:
        yield data
        return
    first, rest = layers[0], layers[1:]
    for piece in first.pieces(data):
        yield from _through(rest, piece, limit)
        if first.produced > limit:
            return


class DecodedBody:
    """`async for piece in DecodedBody(response, limit)`: the decoded body in pieces.

    Iteration ends early, without error, once more than `limit` bytes were produced by any
    layer; `over` then tells the caller that the body is larger than its limit.
    """

    def __init__(self, response: httpx.Response, limit: int) -> None:
        self.response = response
        self.limit = limit
        self.over = False
        self._layers = _layers(response)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        import httpx

        produced = 0
        try:
            async for raw in self.response.aiter_raw(PIECE):
                for piece in _through(self._layers, raw, self.limit):
                    produced += len(piece)
                    yield piece
                    if produced > self.limit:
                        self.over = True
                        return
                if any(layer.produced > self.limit for layer in self._layers):
                    self.over = True
                    return
        except httpx.HTTPError as exc:
            url = self.response.url
            raise FetchError(f"reading {url} failed: {exc.__class__.__name__}: {exc}") from exc
