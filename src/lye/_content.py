"""Turning bytes into text a model can read: charset decoding, HTML to Markdown, PDF text.

html2text and pypdf are imported inside the functions so `import lye` stays cheap.

Budgets: PDF text is extracted in a child process (`python -m lye._pdf_worker`) that is killed
when its time is up and runs under a memory limit, since one hostile page can keep pypdf busy
for many seconds inside a single call. HTML is converted the same way (`_html_worker.py`, run by
path so the child does not import tyler): html2text, too, can spend seconds inside one call.
"""

from __future__ import annotations

import asyncio
import codecs
import importlib.util
import io
import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from tyler.exceptions import ConfigurationError

from ._html_worker import convert as convert_html

HTML_TYPES = ("text/html", "application/xhtml+xml")
TEXT_TYPES = (
    "application/json",
    "application/ld+json",
    "application/xml",
    "application/javascript",
    "application/x-javascript",
    "application/x-ndjson",
    "application/yaml",
    "application/x-yaml",
    "application/toml",
    "application/csv",
)


def decode_bytes(data: bytes, charset: str | None = None, *, truncated: bool = False) -> str:
    """Decode `data` with `charset` if it names a real codec, else UTF-8, else Windows-1252.

    Undecodable bytes become U+FFFD rather than an error: a page with one bad byte is still
    worth reading. When the body was cut at a byte limit, a multi-byte character split by the
    cut is dropped instead of failing the whole UTF-8 attempt.
    """
    if charset:
        try:
            # rot13, base64, zlib... are codecs too, but not text encodings: bytes.decode refuses them.
            if not getattr(codecs.lookup(charset), "_is_text_encoding", True):
                charset = None
        except LookupError:
            charset = None
    if charset:
        try:
            return data.decode(charset, errors="replace")
        except (UnicodeError, ValueError, LookupError):  # "idna" and co. fail whatever `errors` says
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if truncated and exc.start >= len(data) - 3:
            return data[: exc.start].decode("utf-8", errors="replace")
    # Mostly UTF-8 with a few bad bytes stays UTF-8; otherwise it is likely a legacy 8-bit page.
    text = data.decode("utf-8", errors="replace")
    if text.count("\ufffd") * 100 <= max(len(text), 1):
        return text
    return data.decode("cp1252", errors="replace")


class _MetaCharset(HTMLParser):
    """Finds `<meta charset=...>` or `<meta http-equiv=content-type content="...; charset=...">`."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.charset: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "meta" or self.charset:
            return
        values = {k.lower(): (v or "") for k, v in attrs}
        if values.get("charset"):
            self.charset = values["charset"].strip()
        elif values.get("http-equiv", "").lower() == "content-type" and "charset=" in values.get("content", ""):
            self.charset = values["content"].split("charset=", 1)[1].split(";")[0].strip(" \"'")


def html_declared_charset(data: bytes) -> str | None:
    """The charset an HTML document declares in its first 4 KB (as browsers look for it), if any."""
    parser = _MetaCharset()
    parser.feed(data[:4096].decode("ascii", errors="replace"))
    return parser.charset or None


def looks_like_html(text: str) -> bool:
    head = text[:512].lstrip().lower()
    return head.startswith(("<!doctype html", "<html")) or "<html" in head


def looks_binary(text: str) -> bool:
    """Whether decoded text is mostly control characters (binary served as text/html...)."""
    head = text[:4096]
    controls = sum(1 for ch in head if ch < " " and ch not in "\t\n\r\f") + head.count("\ufffd")
    return bool(head) and controls * 10 > len(head)


HTML_MEMORY = 1 << 30  # address space of the converting process
_HTML_WORKER = str(Path(__file__).with_name("_html_worker.py"))


def html_to_markdown(html: str, *, base_url: str = "", plain: bool = False, max_chars: int | None = None) -> str:
    """Readable Markdown (or plain text) from an HTML document, via html2text, in this process.

    No time budget: for pages from the network use `html_to_markdown_async` (a killable child).
    """
    _need_html2text()
    return convert_html(html, base_url=base_url, plain=plain, max_chars=max_chars)


def _need_html2text() -> None:
    if importlib.util.find_spec("html2text") is None:  # pragma: no cover - depends on the environment
        raise ConfigurationError("converting HTML needs the 'html2text' package: pip install 'tyler-stream[web]'")


async def html_to_markdown_async(html: str, *, base_url: str, plain: bool, max_chars: int) -> str:
    """`html_to_markdown` in a child process (1 GiB address space) that is killed when this call is
    cancelled, e.g. by the fetch's timeout: the time budget holds inside a single parser call too."""
    _need_html2text()
    proc = await asyncio.create_subprocess_exec(
        # -I: isolated, nothing from the working directory or the environment is imported.
        sys.executable, "-I", _HTML_WORKER, str(max_chars), "1" if plain else "0", str(HTML_MEMORY), base_url,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await proc.communicate(html.encode("utf-8", errors="surrogatepass"))
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return str(_child_answer(out, err, proc.returncode, "conversion")["text"])


PDF_TIMEOUT = 30.0  # seconds files-read allows for extracting a PDF's text
PDF_MEMORY = 1 << 30  # address space of the extracting process


def _child_answer(out: bytes, err: bytes, code: int | None, what: str) -> dict[str, Any]:
    """The JSON answer a converting child wrote; ValueError with its error (or the end of its
    stderr, when it died without answering, e.g. past its memory cap)."""
    try:
        answer = json.loads(out)
    except ValueError:
        answer = {"error": f"{what} failed (exit {code}): {err.decode(errors='replace')[-300:].strip()}"}
    if "error" in answer:
        raise ValueError(answer["error"])
    return dict(answer)


def _pdf_result(out: bytes, err: bytes, code: int | None) -> tuple[str, int]:
    answer = _child_answer(out, err, code, "text extraction")
    return answer["text"], answer["pages"]


def _pdf_command(max_pages: int) -> list[str]:
    return [sys.executable, "-m", "lye._pdf_worker", str(max_pages), str(PDF_MEMORY)]


def pdf_to_text(data: bytes, *, timeout: float = PDF_TIMEOUT, max_pages: int = 200) -> tuple[str, int]:
    """Text of a PDF and its page count, extracted in a child process killed after `timeout` s."""
    try:
        done = subprocess.run(_pdf_command(max_pages), input=data, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ValueError(f"extracting its text took longer than {timeout:g} s; stopped") from None
    return _pdf_result(done.stdout, done.stderr, done.returncode)


async def pdf_to_text_async(data: bytes, *, max_pages: int = 200) -> tuple[str, int]:
    """`pdf_to_text` without blocking the loop; cancelling the call kills the child process."""
    proc = await asyncio.create_subprocess_exec(
        *_pdf_command(max_pages),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await proc.communicate(data)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return _pdf_result(out, err, proc.returncode)


def extract_pdf(data: bytes, *, max_pages: int = 200) -> tuple[str, int]:
    """Text of a PDF (first `max_pages` pages) and its page count, via pypdf, in this process."""
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigurationError("reading PDF files needs the 'pypdf' package: pip install pypdf") from exc
    try:
        reader = PdfReader(io.BytesIO(data))
        pages = reader.pages
        count = len(pages)
        parts = []
        for number, page in enumerate(pages):
            if number >= max_pages:
                parts.append(f"[stopped after {max_pages} of {count} pages]")
                break
            text = (page.extract_text() or "").strip()
            parts.append(f"--- page {number + 1} ---\n{text}")
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not a readable PDF: {exc}") from exc
    return "\n\n".join(parts), count


def clip(text: str, max_chars: int, *, offset: int = 0, hint: str = "") -> str:
    """`text[offset:offset+max_chars]`, with a note saying what was left out and how to get it."""
    total = len(text)
    window = text[offset : offset + max_chars]
    end = offset + len(window)
    if offset == 0 and end >= total:
        return window
    note = f"\n\n[truncated: showing characters {offset}-{end} of {total}"
    if end < total and hint:
        note += f"; {hint.format(next=end)}"
    return window + note + "]"
