"""Reading one string from a GGUF file's metadata (e.g. its chat template).

The `gguf` package on PyPI reads everything but brings numpy, requests, tqdm and PyYAML along; the
local model only needs one string out of the header, so the header is walked here: magic, version,
counts, then typed key/value pairs (layout: ggml's docs/gguf.md). Only the metadata section is
touched (a few MB of a several-hundred-MB file), through mmap so nothing else is read.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

from ..exceptions import ConfigurationError

_MAGIC = b"GGUF"
_STRING = 8
_ARRAY = 9
# Fixed sizes of the scalar value types (uint8 .. float64); 8 (string) and 9 (array) vary.
_SCALAR_SIZE = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


class _Cursor:
    __slots__ = ("buf", "pos")

    def __init__(self, buf: mmap.mmap) -> None:
        self.buf = buf
        self.pos = 0

    def unpack(self, fmt: str) -> tuple[int, ...]:
        values = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return values

    def string(self) -> bytes:
        (length,) = self.unpack("<Q")
        start, self.pos = self.pos, self.pos + length
        if self.pos > len(self.buf):
            raise ValueError("string runs past the end of the file")
        return self.buf[start : self.pos]

    def skip(self, value_type: int) -> None:
        if value_type in _SCALAR_SIZE:
            self.pos += _SCALAR_SIZE[value_type]
        elif value_type == _STRING:
            (length,) = self.unpack("<Q")
            self.pos += length
        elif value_type == _ARRAY:
            item_type, count = self.unpack("<IQ")
            if item_type in _SCALAR_SIZE:
                self.pos += _SCALAR_SIZE[item_type] * count
            elif item_type == _STRING:  # the tokenizer's vocabulary: ~150k strings, kept tight
                buf, pos, unpack_from = self.buf, self.pos, struct.unpack_from
                for _ in range(count):
                    pos += 8 + unpack_from("<Q", buf, pos)[0]
                self.pos = pos
            else:  # arrays of arrays
                for _ in range(count):
                    self.skip(item_type)
        else:
            raise ValueError(f"unknown GGUF value type {value_type}")


def read_string(path: Path, key: str) -> str | None:
    """The string value of metadata `key` in the GGUF file at `path`, or None when absent.

    Raises ConfigurationError when the file is not a readable GGUF file.
    """
    wanted = key.encode()
    try:
        with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            if buf[:4] != _MAGIC:
                raise ValueError("not a GGUF file (bad magic)")
            cursor = _Cursor(buf)
            cursor.pos = 8  # magic + version
            _tensors, pairs = cursor.unpack("<QQ")
            for _ in range(pairs):
                name = cursor.string()
                (value_type,) = cursor.unpack("<I")
                if name == wanted and value_type == _STRING:
                    return cursor.string().decode("utf-8", errors="replace")
                cursor.skip(value_type)
    except (OSError, ValueError, struct.error) as exc:
        raise ConfigurationError(f"cannot read the GGUF metadata of {path}: {exc}") from exc
    return None


__all__ = ["read_string"]
