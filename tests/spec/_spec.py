"""Find the user's streaming spec and split it into its fenced code blocks.

The tests run the spec's code exactly as written, so they read it from the file at test time
rather than from a copy. Each block gets a stable marker, "<section heading>#<n>" (n counts the
python blocks under that heading from 1), so a test names the block it runs and an edit that
adds, drops or moves a block fails the inventory test instead of silently losing coverage.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SPEC_ENV = "TYLER_SPEC_PATH"

_FENCE = re.compile(r"^```(\S*)\s*$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of the spec."""

    marker: str  # "<heading>#<n>", stable across unrelated edits
    heading: str
    index: int  # 1-based among the python blocks under `heading`
    language: str
    code: str
    line: int  # 1-based line of the opening fence, for error messages

    @property
    def is_program(self) -> bool:
        """A full program: it runs itself with asyncio.run at module level."""
        return re.search(r"^asyncio\.run\(", self.code, re.MULTILINE) is not None


def spec_path() -> Path:
    """Where the spec is: $TYLER_SPEC_PATH, else <repo>/../shared/spec/streaming.md."""
    override = os.environ.get(SPEC_ENV)
    if override:
        return Path(override)
    return REPO.parent / "shared" / "spec" / "streaming.md"


def parse_blocks(text: str) -> list[Block]:
    """Every fenced block in document order (python and others), with its marker."""
    blocks: list[Block] = []
    heading = "(top)"
    counts: dict[tuple[str, str], int] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        head = _HEADING.match(lines[i])
        if head:
            heading = head.group(2)
        if fence is None:
            i += 1
            continue
        language = fence.group(1).lower()
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        if i >= len(lines):
            raise ValueError(f"unclosed code fence at line {start + 1} of the spec")
        i += 1  # closing fence
        key = (heading, language)
        counts[key] = counts.get(key, 0) + 1
        suffix = "" if language == "python" else f"[{language or 'text'}]"
        marker = f"{heading}{suffix}#{counts[key]}"
        blocks.append(Block(marker, heading, counts[key], language, "\n".join(body) + "\n", start + 1))
    return blocks


def python_blocks(text: str) -> dict[str, Block]:
    return {b.marker: b for b in parse_blocks(text) if b.language == "python"}
