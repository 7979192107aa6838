"""HTML to Markdown in a child process: `python -I _html_worker.py MAX_CHARS PLAIN MAX_BYTES BASE_URL`.

Reads the HTML (UTF-8) on stdin and writes `{"text"}` or `{"error"}` as JSON on stdout. The
parent kills this process when the fetch's time is up: html2text can spend seconds inside one
`feed` call on a small hostile page (4,000 nested lists: 36 KB, 5 s; an unterminated tag of
4 MB: minutes), so checks between chunks in a thread are not a budget, and a thread cannot
be stopped. The address space is capped first, as for PDF extraction.

Run by path in isolated mode (`-I`), it imports only the standard library and html2text, not
lye or tyler: starting it costs tens of milliseconds, not the half second of `import tyler`.
"""

from __future__ import annotations

import json
import sys
from typing import Any

_CHUNK = 32 * 1024
STOPPED_NOTE = "\n\n[conversion stopped here: the page goes on]"


def convert(html: str, *, base_url: str = "", plain: bool = False, max_chars: int | None = None) -> str:
    """Readable Markdown (or plain text) from an HTML document, via html2text, in this process.

    The document is fed in chunks and conversion ends early (with a note) once about
    `max_chars` characters were produced. No time limit here: the caller runs this in a child
    process it can kill (`lye._content.html_to_markdown_async`).
    """
    import html2text

    converter = html2text.HTML2Text(baseurl=base_url)
    converter.body_width = 0  # no hard wrapping: models and files prefer long lines
    converter.unicode_snob = True
    converter.ignore_images = plain
    converter.ignore_links = plain
    converter.ignore_emphasis = plain
    converter.single_line_break = False
    converter.start = True
    stopped = _feed(converter, html, max_chars)
    text = converter.finish()
    if max_chars is not None and len(text) > max_chars:  # one chunk can produce megabytes (deep lists)
        text, stopped = text[:max_chars], True
    # Collapse runs of blank lines html2text leaves behind deep layouts.
    out: list[str] = []
    for line in (line.rstrip() for line in text.splitlines()):
        if line or (out and out[-1]):
            out.append(line)
    text = "\n".join(out).strip()
    return text + STOPPED_NOTE if stopped else text


def _feed(converter: Any, html: str, max_chars: int | None) -> bool:
    """Feed `html` chunk by chunk; True when stopped early because enough text was produced."""
    produced = 0
    counted = 0
    for start in range(0, len(html), _CHUNK):
        converter.feed(html[start : start + _CHUNK])
        out = converter.outtextlist
        produced += sum(len(piece) for piece in out[counted:])
        counted = len(out)
        if max_chars is not None and produced > max_chars:
            return True
    converter.feed("")
    return False


def main() -> None:
    max_chars, plain, memory, base_url = int(sys.argv[1]), sys.argv[2] == "1", int(sys.argv[3]), sys.argv[4]
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    except (ImportError, ValueError, OSError):  # pragma: no cover - platforms without the limit
        pass
    html = sys.stdin.buffer.read().decode("utf-8", errors="surrogatepass")
    try:
        answer: dict[str, object] = {"text": convert(html, base_url=base_url, plain=plain, max_chars=max_chars)}
    except MemoryError:
        answer = {"error": "converting the page needs more memory than allowed"}
    except (ValueError, RecursionError, AssertionError) as exc:  # html2text's own failures on odd markup
        answer = {"error": f"the page could not be converted: {exc}"}
    sys.stdout.write(json.dumps(answer))


if __name__ == "__main__":
    main()
