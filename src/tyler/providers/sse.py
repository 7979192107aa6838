"""Server-sent events, decoded incrementally: bytes in, complete (event, data) pairs out.

Written out rather than taken from a library because this is the hottest loop of the package:
working on bytes and in batches (one list per network read) skips text decoding (the JSON decoder
takes the data bytes) and one generator hop per event, which is most of what a line-based reader
costs per token. It handles the SSE grammar model APIs use: event/data fields, multi-line data,
comments, CR, LF and CRLF line ends.

Linear in the stream's length: each byte is normalized once and searched once (a large event that
arrives in many reads is not re-scanned from its start), and an event (or an endless `data:` line)
larger than `max_event_bytes` is refused with `SSEEventTooLargeError` instead of growing the buffer
without bound.
"""

from __future__ import annotations

from ..exceptions import SSEEventTooLargeError

Event = tuple[str | None, bytes]
"""(event name or None, data bytes) of one server-sent event that carried data."""

DEFAULT_MAX_EVENT_BYTES = 16 * 1024 * 1024


def parse_block(block: bytes) -> Event | None:
    """One SSE event (its lines, without the blank line) → (event name, data); None for no data.

    Comments (`: keep-alive`) and events without data, including Anthropic's `ping`, are None:
    they are not progress.
    """
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
    if not data or event == "ping":
        return None
    return event, data[0] if len(data) == 1 else b"\n".join(data)


class SSEDecoder:
    """Feed network reads, get the events each one completed.

    >>> d = SSEDecoder()
    >>> d.feed(b'data: {"a": 1}\\n\\ndata: {"b"')
    [(None, b'{"a": 1}')]
    >>> d.feed(b': 2}\\n\\n')
    [(None, b'{"b": 2}')]
    """

    __slots__ = ("_buf", "_cr", "_scan", "max_event_bytes")

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self.max_event_bytes = max_event_bytes
        self._buf = bytearray()  # the unfinished event, line ends already normalized to LF
        self._scan = 0  # where the search for the next blank line resumes in _buf
        self._cr = False  # the last read ended in CR: maybe the first half of a CRLF

    def feed(self, data: bytes) -> list[Event]:
        """The events `data` completed, in order (empty when it completed none)."""
        if self._cr:
            self._cr = False
            data = b"\r" + data
        if b"\r" in data:
            if data.endswith(b"\r"):
                self._cr = True
                data = data[:-1]
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buf = self._buf
        if not buf:
            # Fast path: nothing pending, so `data` holds whole events and at most one unfinished tail.
            end = data.rfind(b"\n\n")
            if end < 0:
                buf += data
                return self._check()
            # The commonest read of a busy server: exactly one single-line data event (what _blocks
            # and parse_block would return, without their loop and calls; a too large one goes on).
            if (end == len(data) - 2 and data.find(b"\n") == end and data.startswith(b"data: ")
                    and end <= self.max_event_bytes):
                return [(None, data[6:end])]
            tail = data[end + 2 :]
            if tail:
                buf += tail
                self._check()
            return self._blocks(data[:end])
        start = max(self._scan - 1, 0)  # a blank line may straddle the previous read
        buf += data
        end = buf.rfind(b"\n\n", start)
        if end < 0:
            self._scan = len(buf)
            return self._check()
        done = bytes(buf[:end])
        del buf[: end + 2]
        self._scan = 0
        if buf:
            self._scan = len(buf)
            self._check()
        return self._blocks(done)

    def flush(self) -> list[Event]:
        """At the end of the stream: the last event, if the server did not end it with a blank line."""
        rest = bytes(self._buf).strip(b"\n")
        self._buf.clear()
        self._scan = 0
        return self._blocks(rest) if rest else []

    def _check(self) -> list[Event]:
        if len(self._buf) > self.max_event_bytes:
            size = len(self._buf)
            self._buf.clear()
            raise SSEEventTooLargeError(
                f"a server-sent event exceeded the maximum event size of {self.max_event_bytes} bytes "
                f"({size} bytes received and the event has not ended)"
            )
        return []

    def _blocks(self, text: bytes) -> list[Event]:
        out = []
        limit = self.max_event_bytes
        for block in text.split(b"\n\n"):
            if len(block) > limit:
                raise SSEEventTooLargeError(
                    f"a server-sent event of {len(block)} bytes exceeded the maximum event size of {limit} bytes"
                )
            # lstrip: blank lines beyond the one that ends an event
            parsed = parse_block(block.lstrip(b"\n") if block[:1] == b"\n" else block)
            if parsed is not None:
                out.append(parsed)
        return out


__all__ = ["DEFAULT_MAX_EVENT_BYTES", "Event", "SSEDecoder", "parse_block"]
