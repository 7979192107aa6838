"""The child process that extracts a PDF's text: `python -m lye._pdf_worker MAX_PAGES MAX_BYTES`.

Reads the PDF on stdin and writes `{"text", "pages"}` or `{"error"}` as JSON on stdout. Its
address space is capped first, so a PDF that inflates to gigabytes fails here, not in the agent.
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    max_pages, memory = int(sys.argv[1]), int(sys.argv[2])
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    except (ImportError, ValueError, OSError):  # pragma: no cover - platforms without the limit
        pass
    data = sys.stdin.buffer.read()
    from lye._content import extract_pdf

    try:
        text, pages = extract_pdf(data, max_pages=max_pages)
        answer: dict[str, object] = {"text": text, "pages": pages}
    except MemoryError:
        answer = {"error": "extracting its text needs more memory than allowed"}
    except (ValueError, RecursionError) as exc:
        answer = {"error": str(exc)}
    sys.stdout.write(json.dumps(answer))


if __name__ == "__main__":
    main()
