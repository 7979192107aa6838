"""FILES_TOOLS: read, write, list and search files inside one workspace folder.

    from lye import FILES_TOOLS                      # root = $LYE_WORKSPACE or the current directory
    from lye.files import make_files_tools
    tools = make_files_tools(root="/data/reports")   # per-agent root

Every path is confined to the workspace root (see `lye.workspace`). Results are strings sized
for a model's context: long files are shown in windows with a note on how to read on, binary
files are described instead of dumped. Settings read at call time:

    LYE_WORKSPACE            the root when none is given (default: the current directory)
    LYE_MAX_READ_CHARS       characters files-read returns per call (default 20000)
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import fnmatch
import io
import json
import mimetypes
import os
from pathlib import Path
from typing import Any

from ._common import env_int, human_size, make_tool, schema
from ._content import clip, pdf_to_text
from .errors import FileToolError, WorkspaceEscapeError
from .workspace import Workspace

DEFAULT_MAX_CHARS = 20_000
SNIFF_BYTES = 8192
PARSE_LIMIT = 10 * 1024 * 1024  # JSON/CSV/PDF above this are not parsed whole
SEARCH_FILE_LIMIT = 2 * 1024 * 1024  # content search skips larger files
SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", ".mypy_cache", ".ruff_cache"}


def _max_chars(value: int | None) -> int:
    limit = value if value is not None else env_int("LYE_MAX_READ_CHARS", DEFAULT_MAX_CHARS)
    if limit <= 0:
        raise FileToolError("max_chars must be positive")
    return limit


def _is_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True
    # Text in legacy encodings has few control bytes; binary formats have many.
    controls = sum(1 for b in head if b < 9 or 13 < b < 32)
    return bool(head) and controls * 10 > len(head)


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE, whose BOM is its prefix
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _text_encoding(head: bytes) -> str:
    """The encoding to read a text file with, judged from its first bytes.

    A BOM names it (UTF-16 files, as Excel and Notepad write them, are full of NULs and would
    otherwise pass for binary); else UTF-8 when the head decodes as UTF-8 (a character cut at
    the end of the head is fine); else Windows-1252, the usual legacy 8-bit encoding, so
    "café" in a Latin-1 file is not shown as "caf\ufffd".
    """
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3 or len(head) < SNIFF_BYTES:
            return "cp1252"
    return "utf-8"


def _existing_file(ws: Workspace, path: str) -> tuple[Path, Path]:
    root = ws.root
    target = ws.resolve(path, root=root)
    if not target.exists():
        raise FileToolError(f"no such file: {path!r}")
    if target.is_dir():
        raise FileToolError(f"{path!r} is a directory; use files-list to see its contents")
    if not target.is_file():
        raise FileToolError(f"{path!r} is not a regular file (a FIFO, socket or device); it cannot be read")
    return root, target


# --------------------------------------------------------------------------------------------- read


def _read_text_window(target: Path, offset: int, max_chars: int, encoding: str) -> tuple[str, bool]:
    """Characters [offset, offset+max_chars) of a text file, without loading all of it."""
    with target.open("r", encoding=encoding, errors="replace", newline="") as handle:
        skipped = 0
        while skipped < offset:
            chunk = handle.read(min(1 << 20, offset - skipped))
            if not chunk:
                break
            skipped += len(chunk)
        window = handle.read(max_chars)
        more = bool(handle.read(1))
    return window, more


def _describe_binary(rel: str, target: Path, size: int) -> str:
    kind = mimetypes.guess_type(target.name)[0] or "unknown type"
    return (
        f"{rel} is a binary file ({kind}, {human_size(size)}); its content is not shown. "
        "Only text, JSON, CSV and PDF files can be read."
    )


def _render_json(raw: str) -> str:
    try:
        return json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    except json.JSONDecodeError as exc:
        return f"[not valid JSON: {exc}; showing the raw text]\n{raw}"


def _render_csv(raw: str, suffix: str) -> str:
    sample = raw[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel_tab if suffix == ".tsv" else csv.excel
    rows = list(csv.reader(io.StringIO(raw), dialect))
    if not rows:
        return "(empty CSV file)"
    width = max(len(row) for row in rows)
    lines = [f"CSV: {len(rows) - 1} data rows, {width} columns", ""]
    for number, row in enumerate(rows):
        cells = [cell.replace("|", "\\|").replace("\n", " ") for cell in row] + [""] * (width - len(row))
        lines.append("| " + " | ".join(cells) + " |")
        if number == 0:
            lines.append("|" + "---|" * width)
    return "\n".join(lines)


def _read_sync(ws: Workspace, path: str, offset: int, max_chars: int) -> str:
    root, target = _existing_file(ws, path)
    rel = ws.relative(target, root=root)
    size = target.stat().st_size
    if size == 0:
        return f"{rel} is empty (0 bytes)."
    with target.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    suffix = target.suffix.lower()
    if head.startswith(b"%PDF-") or suffix == ".pdf":
        if size > PARSE_LIMIT * 5:
            return f"{rel} is a PDF of {human_size(size)}, too large to extract text from here."
        try:
            text, pages = pdf_to_text(target.read_bytes())
        except ValueError as exc:
            raise FileToolError(f"{rel}: {exc}") from exc
        header = f"{rel} (PDF, {pages} pages, {human_size(size)})\n\n"
        return header + clip(text, max_chars, offset=offset, hint="call files-read again with offset={next}")
    encoding = _text_encoding(head)
    if encoding in ("utf-8", "cp1252") and _is_binary(head):
        return _describe_binary(rel, target, size)
    if size <= PARSE_LIMIT and suffix in (".json", ".csv", ".tsv"):
        raw = target.read_text(encoding=encoding, errors="replace")
        rendered = _render_json(raw) if suffix == ".json" else _render_csv(raw, suffix)
        return clip(rendered, max_chars, offset=offset, hint="call files-read again with offset={next}")
    window, more = _read_text_window(target, offset, max_chars, encoding)
    if offset and not window:
        return f"offset {offset} is at or past the end of {rel} ({human_size(size)}); nothing more to read."
    if offset == 0 and not more:
        return window
    end = offset + len(window)
    note = f"\n\n[truncated: showing characters {offset}-{end} of {rel} ({human_size(size)})"
    if more:
        note += f"; call files-read again with offset={end} to read on"
    return window + note + "]"


async def read_file(
    path: str, offset: int = 0, max_chars: int | None = None, *, workspace: Workspace | None = None
) -> str:
    """Read a text, JSON, CSV or PDF file from the workspace; long files come in windows."""
    if offset < 0:
        raise FileToolError("offset must be >= 0")
    ws = workspace or Workspace()
    return await asyncio.to_thread(_read_sync, ws, path, offset, _max_chars(max_chars))


# -------------------------------------------------------------------------------------------- write


def _write_sync(ws: Workspace, path: str, content: str, mode: str) -> str:
    root = ws.root
    target = ws.resolve(path, root=root)
    if target == root or target.is_dir():
        raise FileToolError(f"{path!r} is a directory; give a file path")
    if target.exists() and not target.is_file():
        # Opening a FIFO for writing blocks until a reader appears: a worker thread stuck forever.
        raise FileToolError(f"{path!r} is not a regular file (a FIFO, socket or device); it cannot be written")
    if mode == "create" and target.exists():
        raise FileToolError(f"{path!r} already exists (mode='create' never overwrites)")
    target.parent.mkdir(parents=True, exist_ok=True)
    # The parent now exists: resolve again so a symlinked parent created meanwhile is still caught.
    target = ws.resolve(target, root=root)
    data = content.encode("utf-8")
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "append" else os.O_TRUNC)
    # O_NOFOLLOW: a symlink swapped in at the last component after the check is not followed.
    fd = os.open(target, flags | getattr(os, "O_NOFOLLOW", 0), 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    verb = "Appended" if mode == "append" else "Wrote"
    return f"{verb} {human_size(len(data))} to {ws.relative(target, root=root)}"


async def write_file(path: str, content: str, mode: str = "overwrite", *, workspace: Workspace | None = None) -> str:
    """Write text to a file in the workspace (creating folders); mode overwrite, append or create."""
    if mode not in ("overwrite", "append", "create"):
        raise FileToolError(f"unknown mode {mode!r}: use 'overwrite', 'append' or 'create'")
    ws = workspace or Workspace()
    return await asyncio.to_thread(_write_sync, ws, path, content, mode)


# --------------------------------------------------------------------------------------------- list


def _entry_line(ws: Workspace, root: Path, entry: Path) -> str:
    rel = entry.relative_to(root).as_posix()
    if entry.is_symlink():
        try:
            ws.resolve(entry, root=root)
        except WorkspaceEscapeError:
            return f"{rel} -> (link outside the workspace, not accessible)"
        except FileToolError:
            return f"{rel} -> (broken link, not accessible)"
    if entry.is_dir():
        return f"{rel}/"
    try:
        return f"{rel}  ({human_size(entry.stat().st_size)})"
    except OSError:
        return f"{rel}  (unreadable)"


def _walk(base: Path, recursive: bool) -> list[Path]:
    if not recursive:
        return sorted(base.iterdir(), key=lambda p: p.name)
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        here = Path(dirpath)
        found.extend(here / d for d in dirnames)
        found.extend(here / f for f in sorted(filenames))
    return sorted(found)


def _list_sync(ws: Workspace, path: str, recursive: bool, pattern: str | None, limit: int) -> str:
    root = ws.root
    base = ws.resolve(path, root=root)
    if not base.exists():
        raise FileToolError(f"no such directory: {path!r}")
    if not base.is_dir():
        raise FileToolError(f"{path!r} is a file, not a directory; use files-read to read it")
    entries = _walk(base, recursive)
    if pattern:
        entries = [e for e in entries if fnmatch.fnmatch(e.name, pattern)]
    shown = [_entry_line(ws, root, e) for e in entries[:limit]]
    title = f"{ws.relative(base, root=root)}: {len(entries)} entries"
    if not entries:
        return title + " (empty)" if not pattern else title + f" matching {pattern!r}"
    if len(entries) > limit:
        shown.append(f"[... {len(entries) - limit} more not shown; raise max_entries or narrow the path]")
    return title + "\n" + "\n".join(shown)


async def list_files(
    path: str = ".",
    recursive: bool = False,
    pattern: str | None = None,
    max_entries: int = 200,
    *,
    workspace: Workspace | None = None,
) -> str:
    """List a folder of the workspace (optionally recursive, filtered by a glob on names)."""
    if max_entries <= 0:
        raise FileToolError("max_entries must be positive")
    ws = workspace or Workspace()
    return await asyncio.to_thread(_list_sync, ws, path, recursive, pattern, max_entries)


# ------------------------------------------------------------------------------------------- search


def _name_matches(name: str, query: str, case_sensitive: bool) -> bool:
    if any(ch in query for ch in "*?["):
        return fnmatch.fnmatchcase(name, query) if case_sensitive else fnmatch.fnmatch(name.lower(), query.lower())
    return query in name if case_sensitive else query.lower() in name.lower()


def _content_hits(path: Path, query: str, case_sensitive: bool, room: int) -> list[tuple[int, str]]:
    try:
        if path.stat().st_size > SEARCH_FILE_LIMIT:
            return []
        with path.open("rb") as handle:
            if _is_binary(handle.read(SNIFF_BYTES)):
                return []
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []  # unreadable files are simply not searched; listing them would be noise
    needle = query if case_sensitive else query.lower()
    hits = []
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in (line if case_sensitive else line.lower()):
            hits.append((number, line.strip()[:200]))
            if len(hits) >= room:
                break
    return hits


def _search_sync(
    ws: Workspace, query: str, *, path: str, search_in: str, glob: str | None, case_sensitive: bool, limit: int
) -> str:
    root = ws.root
    base = ws.resolve(path, root=root)
    if not base.is_dir():
        raise FileToolError(f"no such directory: {path!r}")
    results: list[str] = []
    for entry in _walk(base, recursive=True):
        if len(results) >= limit:
            break
        if glob and not fnmatch.fnmatch(entry.name, glob):
            continue
        try:
            ws.resolve(entry, root=root)
        except (WorkspaceEscapeError, FileToolError):
            continue  # a symlink leaving the workspace (or looping) is neither matched nor read
        rel = entry.relative_to(root).as_posix()
        if search_in in ("name", "both") and _name_matches(entry.name, query, case_sensitive):
            results.append(f"{rel}{'/' if entry.is_dir() else ''}  (name match)")
        if search_in in ("content", "both") and entry.is_file():
            for number, line in _content_hits(entry, query, case_sensitive, limit - len(results)):
                results.append(f"{rel}:{number}: {line}")
    where = ws.relative(base, root=root)
    if not results:
        return f"No matches for {query!r} in {where} (searched {search_in})."
    head = f"{len(results)} match{'es' if len(results) != 1 else ''} for {query!r} in {where}"
    if len(results) >= limit:
        head += f" (stopped at max_results={limit})"
    return head + ":\n" + "\n".join(results)


async def search_files(
    query: str,
    path: str = ".",
    *,
    search_in: str = "both",
    glob: str | None = None,
    case_sensitive: bool = False,
    max_results: int = 50,
    workspace: Workspace | None = None,
) -> str:
    """Find files in the workspace by name (substring or glob) and/or by a substring of their text."""
    if not query:
        raise FileToolError("query must not be empty")
    if search_in not in ("name", "content", "both"):
        raise FileToolError(f"unknown search_in {search_in!r}: use 'name', 'content' or 'both'")
    if max_results <= 0:
        raise FileToolError("max_results must be positive")
    ws = workspace or Workspace()
    return await asyncio.to_thread(
        _search_sync,
        ws,
        query,
        path=path,
        search_in=search_in,
        glob=glob,
        case_sensitive=case_sensitive,
        limit=max_results,
    )


# -------------------------------------------------------------------------------------------- tools

_PATH = {"type": "string", "description": "Path relative to the workspace root (e.g. 'reports/summary.md')."}


def make_files_tools(root: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """The four file tools bound to one workspace (`root=None`: $LYE_WORKSPACE or the cwd)."""
    ws = Workspace(root)

    async def files_read(path: str, offset: int = 0, max_chars: int | None = None) -> str:
        return await read_file(path, offset, max_chars, workspace=ws)

    async def files_write(path: str, content: str, mode: str = "overwrite") -> str:
        return await write_file(path, content, mode, workspace=ws)

    async def files_list(
        path: str = ".", recursive: bool = False, pattern: str | None = None, max_entries: int = 200
    ) -> str:
        return await list_files(path, recursive, pattern, max_entries, workspace=ws)

    async def files_search(
        query: str,
        path: str = ".",
        *,
        search_in: str = "both",
        glob: str | None = None,
        case_sensitive: bool = False,
        max_results: int = 50,
    ) -> str:
        return await search_files(
            query,
            path,
            search_in=search_in,
            glob=glob,
            case_sensitive=case_sensitive,
            max_results=max_results,
            workspace=ws,
        )

    return [
        make_tool(
            "files-read",
            "Read a file from the workspace: text, JSON (pretty-printed), CSV (as a table) or PDF "
            "(extracted text). Long files are returned in windows; use offset to read on.",
            schema(
                {
                    "path": _PATH,
                    "offset": {
                        "type": "integer",
                        "minimum": 0,
                        "default": 0,
                        "description": "Character offset to start reading at.",
                    },
                    "max_chars": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 200_000,
                        "description": "Maximum characters to return (default 20000).",
                    },
                },
                ["path"],
            ),
            files_read,
            timeout=60,
        ),
        make_tool(
            "files-write",
            "Write text to a file in the workspace, creating parent folders. mode: 'overwrite' "
            "(default), 'append', or 'create' (fail if the file exists).",
            schema(
                {
                    "path": _PATH,
                    "content": {"type": "string", "description": "The text to write (UTF-8)."},
                    "mode": {"type": "string", "enum": ["overwrite", "append", "create"], "default": "overwrite"},
                },
                ["path", "content"],
            ),
            files_write,
            timeout=60,
        ),
        make_tool(
            "files-list",
            "List files and folders in the workspace (folders end with '/').",
            schema(
                {
                    "path": {**_PATH, "default": "."},
                    "recursive": {"type": "boolean", "default": False},
                    "pattern": {"type": "string", "description": "Glob on names, e.g. '*.md'."},
                    "max_entries": {"type": "integer", "minimum": 1, "maximum": 5000, "default": 200},
                },
                [],
            ),
            files_list,
            timeout=60,
        ),
        make_tool(
            "files-search",
            "Search the workspace for files whose name matches the query (substring or glob), "
            "and/or whose text contains it (returns path:line: text).",
            schema(
                {
                    "query": {"type": "string", "minLength": 1},
                    "path": {**_PATH, "default": "."},
                    "search_in": {"type": "string", "enum": ["name", "content", "both"], "default": "both"},
                    "glob": {"type": "string", "description": "Only consider files whose name matches."},
                    "case_sensitive": {"type": "boolean", "default": False},
                    "max_results": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50},
                },
                ["query"],
            ),
            files_search,
            timeout=120,
        ),
    ]


FILES_TOOLS: list[dict[str, Any]] = make_files_tools()

__all__ = ["FILES_TOOLS", "Workspace", "list_files", "make_files_tools", "read_file", "search_files", "write_file"]
