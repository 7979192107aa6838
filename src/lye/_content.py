"""Turning bytes into text a model can read: charset decoding, HTML to Markdown, PDF text.

html2text and pypdf are imported inside the functions so `import lye` stays cheap.
"""

from __future__ import annotations

import codecs
import io
from html.parser import HTMLParser

from tyler.exceptions import ConfigurationError

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
            codecs.lookup(charset)
        except LookupError:
            charset = None
    if charset:
        return data.decode(charset, errors="replace")
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


def html_to_markdown(html: str, *, base_url: str = "", plain: bool = False) -> str:
    """Readable Markdown (or plain text) from an HTML document, via html2text."""
    try:
        import html2text
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigurationError(
            "converting HTML needs the 'html2text' package: pip install 'tyler-stream[web]'"
        ) from exc
    converter = html2text.HTML2Text(baseurl=base_url)
    converter.body_width = 0  # no hard wrapping: models and files prefer long lines
    converter.unicode_snob = True
    converter.ignore_images = plain
    converter.ignore_links = plain
    converter.ignore_emphasis = plain
    converter.single_line_break = False
    text = converter.handle(html)
    # Collapse runs of blank lines html2text leaves behind deep layouts.
    lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


def pdf_to_text(data: bytes, *, max_pages: int = 200) -> tuple[str, int]:
    """Text of a PDF (first `max_pages` pages) and its page count, via pypdf."""
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
