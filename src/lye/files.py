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
import errno
import fnmatch
import io
import json
import mimetypes
import os
import stat
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import Field

from tyler.tools import ToolDict

from ._common import derived_tool, env_int, human_size
from ._content import PDF_TIMEOUT, clip, pdf_to_text
from .errors import FileToolError, WorkspaceEscapeError
from .workspace import _NOFOLLOW, DIR_FLAGS, MAX_DEPTH, PATH_FLAGS, READ_FLAGS, WalkState, Workspace, os_error

DEFAULT_MAX_CHARS = 20_000
SNIFF_BYTES = 8192
PARSE_LIMIT = 10 * 1024 * 1024  # JSON/CSV/PDF above this are not parsed whole
RENDER_LIMIT = 16_000_000  # characters of a formatted JSON/CSV view rendered at most
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


def _open_existing(ws: Workspace, path: str) -> tuple[int, str, os.stat_result]:
    """A descriptor of the regular file `path`, its shown path and its stat."""
    try:
        fd, rel = ws.open(path, READ_FLAGS)
    except FileNotFoundError:
        raise FileToolError(f"no such file: {path!r}") from None
    except OSError as exc:
        raise os_error(exc, path) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        if stat.S_ISDIR(info.st_mode):
            raise FileToolError(f"{path!r} is a directory; use files-list to see its contents")
        raise FileToolError(f"{path!r} is not a regular file (a FIFO, socket or device); it cannot be read")
    return fd, rel, info


# --------------------------------------------------------------------------------------------- read


def _read_text_window(handle: Any, offset: int, max_chars: int, encoding: str) -> tuple[str, bool]:
    """Characters [offset, offset+max_chars) of a text file, without loading all of it."""
    text = io.TextIOWrapper(handle, encoding=encoding, errors="replace", newline="")
    skipped = 0
    while skipped < offset:
        chunk = text.read(min(1 << 20, offset - skipped))
        if not chunk:
            break
        skipped += len(chunk)
    window = text.read(max_chars)
    more = bool(text.read(1))
    text.detach()
    return window, more


def _describe_binary(rel: str, size: int) -> str:
    kind = mimetypes.guess_type(rel)[0] or "unknown type"
    return (
        f"{rel} is a binary file ({kind}, {human_size(size)}); its content is not shown. "
        "Only text, JSON, CSV and PDF files can be read."
    )


class _Window:
    """Collects characters [offset, offset+size] of a rendering produced piece by piece.

    Pieces before the window are counted and dropped, and rendering stops one character past
    it, so memory stays near `size` whatever the rendering's full length (a 2 MB JSON nested
    900 deep is a gigabyte pretty-printed). At most RENDER_LIMIT characters are rendered.
    """

    def __init__(self, offset: int, size: int) -> None:
        self.offset, self.stop = offset, min(offset + size + 1, RENDER_LIMIT)
        self.reset()

    def reset(self) -> None:
        self.seen = 0
        self.parts: list[str] = []

    def add(self, piece: str) -> bool:
        """Take a piece; True when the window is full (stop rendering)."""
        start, self.seen = self.seen, self.seen + len(piece)
        if self.seen > self.offset:
            self.parts.append(piece[max(self.offset - start, 0) : self.stop - start])
        return self.seen >= self.stop

    def render(self, rel: str, max_chars: int, complete: bool) -> str:
        text = "".join(self.parts)
        window, more = text[:max_chars], len(text) > max_chars or not complete
        if self.offset and not window:
            if self.seen >= RENDER_LIMIT:
                return (
                    f"offset {self.offset} is past the first {RENDER_LIMIT} characters of the formatted view of "
                    f"{rel}, the most shown; read less of it or convert it to smaller files"
                )
            return f"offset {self.offset} is at or past the end of {rel}; nothing more to read."
        if self.offset == 0 and not more:
            return window
        end = self.offset + len(window)
        total = f" of {self.seen}" if complete else ""
        note = f"\n\n[truncated: showing characters {self.offset}-{end}{total}"
        if more and end < RENDER_LIMIT:
            note += f"; call files-read again with offset={end} to read on"
        elif more:
            note += f"; the formatted view stops at {RENDER_LIMIT} characters"
        return window + note + "]"


def _render_json(raw: str, window: _Window) -> bool:
    """Pretty-print into `window`; False when it stopped before the end."""
    try:
        pieces = json.JSONEncoder(indent=2, ensure_ascii=False).iterencode(json.loads(raw))
        return all(not window.add(piece) for piece in pieces)
    except json.JSONDecodeError as exc:
        reason = f"not valid JSON: {exc}"
    except RecursionError:
        reason = "JSON nested too deeply to pretty-print"
    window.reset()
    return not window.add(f"[{reason}; showing the raw text]\n") and not window.add(raw)


def _render_csv(raw: str, suffix: str, window: _Window) -> bool:
    """A Markdown table into `window`; False when it stopped before the end."""
    try:
        dialect: Any = csv.Sniffer().sniff(raw[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel_tab if suffix == ".tsv" else csv.excel
    try:
        rows = width = 0
        for row in csv.reader(io.StringIO(raw), dialect):  # counted first, never kept
            rows, width = rows + 1, max(width, len(row))
    except csv.Error as exc:  # a field over csv.field_size_limit(), a NUL...
        return not window.add(f"[not readable as CSV: {exc}; showing the raw text]\n") and not window.add(raw)
    if not rows:
        return not window.add("(empty CSV file)")
    if window.add(f"CSV: {rows - 1} data rows, {width} columns\n"):
        return False
    for number, row in enumerate(csv.reader(io.StringIO(raw), dialect)):
        # Rows are not padded to the widest one: one wide row would multiply every other row.
        line = "\n| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in row) + " |"
        if window.add(line) or (number == 0 and window.add("\n|" + "---|" * width)):
            return False
    return True


def _read_pdf(handle: Any, rel: str, size: int, offset: int, max_chars: int) -> str:
    if size > PARSE_LIMIT * 5:
        return f"{rel} is a PDF of {human_size(size)}, too large to extract text from here."
    handle.seek(0)
    try:
        text, pages = pdf_to_text(handle.read(), timeout=PDF_TIMEOUT)
    except ValueError as exc:
        raise FileToolError(f"{rel}: {exc}") from exc
    header = f"{rel} (PDF, {pages} pages, {human_size(size)})\n\n"
    return header + clip(text, max_chars, offset=offset, hint="call files-read again with offset={next}")


def _read_sync(ws: Workspace, path: str, offset: int, max_chars: int) -> str:
    fd, rel, info = _open_existing(ws, path)
    size = info.st_size
    with os.fdopen(fd, "rb") as handle:
        if size == 0:
            return f"{rel} is empty (0 bytes)."
        head = handle.read(SNIFF_BYTES)
        suffix = PurePosixPath(rel).suffix.lower()
        if head.startswith(b"%PDF-") or suffix == ".pdf":
            return _read_pdf(handle, rel, size, offset, max_chars)
        encoding = _text_encoding(head)
        if encoding in ("utf-8", "cp1252") and _is_binary(head):
            return _describe_binary(rel, size)
        handle.seek(0)
        if size <= PARSE_LIMIT and suffix in (".json", ".csv", ".tsv"):
            raw = handle.read().decode(encoding, errors="replace")
            window = _Window(offset, max_chars)
            complete = _render_json(raw, window) if suffix == ".json" else _render_csv(raw, suffix, window)
            return window.render(rel, max_chars, complete)
        window_text, more = _read_text_window(handle, offset, max_chars, encoding)
    if offset and not window_text:
        return f"offset {offset} is at or past the end of {rel} ({human_size(size)}); nothing more to read."
    if offset == 0 and not more:
        return window_text
    end = offset + len(window_text)
    note = f"\n\n[truncated: showing characters {offset}-{end} of {rel} ({human_size(size)})"
    if more:
        note += f"; call files-read again with offset={end} to read on"
    return window_text + note + "]"


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
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NONBLOCK", 0)
    flags |= {"append": os.O_APPEND, "create": os.O_EXCL, "overwrite": 0}[mode]
    try:
        # Non-blocking: opening a FIFO with no reader fails instead of blocking a worker thread
        # forever; the descriptor is checked to be a regular file before anything is written.
        fd, rel = ws.open(path, flags, 0o644, make_parents=True)
    except FileExistsError:
        raise FileToolError(f"{path!r} already exists (mode='create' never overwrites)") from None
    except IsADirectoryError:
        raise FileToolError(f"{path!r} is a directory; give a file path") from None
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise FileToolError(f"{path!r} is not a regular file (a FIFO, socket or device); cannot write") from None
        raise os_error(exc, path) from None
    with os.fdopen(fd, "wb") as handle:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise FileToolError(f"{path!r} is a directory; give a file path")
        if not stat.S_ISREG(info.st_mode):
            raise FileToolError(f"{path!r} is not a regular file (a FIFO, socket or device); it cannot be written")
        if mode == "overwrite":
            handle.truncate(0)  # only now: O_TRUNC would have emptied before the checks
        data = content.encode("utf-8", errors="replace")  # a lone surrogate cannot be UTF-8
        handle.write(data)
    verb = "Appended" if mode == "append" else "Wrote"
    return f"{verb} {human_size(len(data))} to {rel}"


async def write_file(path: str, content: str, mode: str = "overwrite", *, workspace: Workspace | None = None) -> str:
    """Write text to a file in the workspace (creating folders); mode overwrite, append or create."""
    if mode not in ("overwrite", "append", "create"):
        raise FileToolError(f"unknown mode {mode!r}: use 'overwrite', 'append' or 'create'")
    ws = workspace or Workspace()
    return await asyncio.to_thread(_write_sync, ws, path, content, mode)


# --------------------------------------------------------------------------------------------- list


def _link_line(ws: Workspace, root: Path, rel: str) -> str:
    """How a symlink is listed: what it leads to, if that is inside the workspace."""
    try:
        fd, _target = ws.open(rel, PATH_FLAGS, root=root)
    except WorkspaceEscapeError:
        return f"{rel} -> (link outside the workspace, not accessible)"
    except (FileToolError, OSError):
        return f"{rel} -> (broken link, not accessible)"
    try:
        info = os.fstat(fd)
    finally:
        os.close(fd)
    return f"{rel}/" if stat.S_ISDIR(info.st_mode) else f"{rel}  ({human_size(info.st_size)})"


def _entry_line(ws: Workspace, root: Path, rel: str, entry: os.DirEntry[str]) -> str:
    if entry.is_symlink():
        return _link_line(ws, root, rel)
    try:
        info = entry.stat(follow_symlinks=False)
    except OSError:
        return f"{rel}  (unreadable)"
    return f"{rel}/" if stat.S_ISDIR(info.st_mode) else f"{rel}  ({human_size(info.st_size)})"


def _open_dir(ws: Workspace, root: Path, path: str) -> tuple[int, str]:
    try:
        return ws.open(path, DIR_FLAGS, root=root)
    except FileNotFoundError:
        raise FileToolError(f"no such directory: {path!r}") from None
    except NotADirectoryError:
        raise FileToolError(f"{path!r} is a file, not a directory; use files-read to read it") from None
    except OSError as exc:
        raise os_error(exc, path) from None


def _walk_notes(state: WalkState) -> list[str]:
    notes = []
    if state.too_deep:
        notes.append(
            f"[{len(state.too_deep)} folder(s) deeper than {MAX_DEPTH} levels not walked, e.g. "
            f"{state.too_deep[0][:200]}/; list them directly]"
        )
    if state.unreadable:
        notes.append(f"[{len(state.unreadable)} folder(s) could not be read, e.g. {state.unreadable[0][:200]}/]")
    return notes


def _list_sync(ws: Workspace, path: str, recursive: bool, pattern: str | None, limit: int) -> str:
    root = ws.root
    fd, rel = _open_dir(ws, root, path)
    state = WalkState()
    lines: list[tuple[str, str]] = []
    count = 0
    try:
        if recursive:
            entries = ws.walk(fd, rel, state, SKIP_DIRS)
        else:
            entries = ((e.name if rel == "." else f"{rel}/{e.name}", e, fd) for e in _scan(fd))
        for child, entry, _dir_fd in entries:
            if pattern and not fnmatch.fnmatch(entry.name, pattern):
                continue
            count += 1
            lines.append((child, _entry_line(ws, root, child, entry)))
    finally:
        os.close(fd)
    lines.sort()
    shown = [line for _child, line in lines[:limit]]
    title = f"{rel}: {count} entries"
    if not lines:
        return title + " (empty)" if not pattern else title + f" matching {pattern!r}"
    if count > limit:
        shown.append(f"[... {count - limit} more not shown; raise max_entries or narrow the path]")
    return "\n".join([title, *shown, *_walk_notes(state)])


def _scan(fd: int) -> list[os.DirEntry[str]]:
    with os.scandir(fd) as it:
        return sorted(it, key=lambda e: e.name)


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


def _open_for_search(ws: Workspace, root: Path, rel: str, entry: os.DirEntry[str], dir_fd: int) -> int | None:
    """A descriptor of a regular file to search, or None (links out, FIFOs, unreadable...)."""
    try:
        if entry.is_symlink():
            fd, _target = ws.open(rel, READ_FLAGS, root=root)  # followed inside the workspace only
        else:
            fd = os.open(entry.name, READ_FLAGS | _NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except (OSError, FileToolError):
        return None
    if stat.S_ISREG(os.fstat(fd).st_mode):
        return fd
    os.close(fd)
    return None


def _content_hits(fd: int, query: str, case_sensitive: bool, room: int) -> list[tuple[int, str]]:
    with os.fdopen(fd, "rb") as handle:
        try:
            if os.fstat(fd).st_size > SEARCH_FILE_LIMIT or _is_binary(handle.read(SNIFF_BYTES)):
                return []
            handle.seek(0)
            text = handle.read(SEARCH_FILE_LIMIT + 1).decode("utf-8", errors="replace")
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
    base, where = _open_dir(ws, root, path)
    state = WalkState()
    results: list[str] = []
    try:
        for rel, entry, dir_fd in ws.walk(base, where, state, SKIP_DIRS):
            if len(results) >= limit:
                break
            if glob and not fnmatch.fnmatch(entry.name, glob):
                continue
            is_dir = entry.is_dir(follow_symlinks=False)
            named = search_in in ("name", "both") and _name_matches(entry.name, query, case_sensitive)
            if named and (not entry.is_symlink() or _link_inside(ws, root, rel)):
                results.append(f"{rel}{'/' if is_dir else ''}  (name match)")
            if search_in in ("content", "both") and not is_dir:
                fd = _open_for_search(ws, root, rel, entry, dir_fd)
                if fd is not None:
                    hits = _content_hits(fd, query, case_sensitive, limit - len(results))
                    results.extend(f"{rel}:{number}: {line}" for number, line in hits)
    finally:
        os.close(base)
    notes = _walk_notes(state)
    if not results:
        return "\n".join([f"No matches for {query!r} in {where} (searched {search_in}).", *notes])
    head = f"{len(results)} match{'es' if len(results) != 1 else ''} for {query!r} in {where}"
    if len(results) >= limit:
        head += f" (stopped at max_results={limit})"
    return head + ":\n" + "\n".join([*results, *notes])


def _link_inside(ws: Workspace, root: Path, rel: str) -> bool:
    try:
        fd, _target = ws.open(rel, PATH_FLAGS, root=root)
    except (OSError, FileToolError):
        return False  # a link leaving the workspace (or looping) is neither matched nor read
    os.close(fd)
    return True


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

def _max_chars_doc() -> str:
    """files-read's max_chars description: the default the tool really applies (LYE_MAX_READ_CHARS,
    read when the tools are made), not a copy of it. Called from the annotation below, which
    `tool_from_callable` evaluates each time `make_files_tools` runs."""
    return f"Maximum characters to return (default {_max_chars(None)})."


def make_files_tools(root: str | os.PathLike[str] | None = None) -> list[ToolDict]:
    """The four file tools bound to one workspace (`root=None`: $LYE_WORKSPACE or the cwd).

    Each tool's description and schema are derived from its signature and docstring below.
    """
    ws = Workspace(root)

    async def files_read(
        path: str,
        offset: Annotated[int, Field(ge=0)] = 0,
        max_chars: Annotated[int | None, Field(ge=1, le=200_000, description=_max_chars_doc())] = None,
    ) -> str:
        """Read a file from the workspace: text, JSON (pretty-printed), CSV (as a table) or PDF
        (extracted text). Long files are returned in windows; use offset to read on.

        Args:
            path: Path relative to the workspace root (e.g. 'reports/summary.md').
            offset: Character offset to start reading at.
        """
        return await read_file(path, offset, max_chars, workspace=ws)

    async def files_write(path: str, content: str, mode: Literal["overwrite", "append", "create"] = "overwrite") -> str:
        """Write text to a file in the workspace, creating parent folders. mode: 'overwrite'
        (default), 'append', or 'create' (fail if the file exists).

        Args:
            path: Path relative to the workspace root (e.g. 'reports/summary.md').
            content: The text to write (UTF-8).
        """
        return await write_file(path, content, mode, workspace=ws)

    async def files_list(
        path: str = ".",
        recursive: bool = False,
        pattern: str | None = None,
        max_entries: Annotated[int, Field(ge=1, le=5000)] = 200,
    ) -> str:
        """List files and folders in the workspace (folders end with '/').

        Args:
            path: Path relative to the workspace root (e.g. 'reports/summary.md').
            pattern: Glob on names, e.g. '*.md'.
        """
        return await list_files(path, recursive, pattern, max_entries, workspace=ws)

    async def files_search(
        query: Annotated[str, Field(min_length=1)],
        path: str = ".",
        *,
        search_in: Literal["name", "content", "both"] = "both",
        glob: str | None = None,
        case_sensitive: bool = False,
        max_results: Annotated[int, Field(ge=1, le=1000)] = 50,
    ) -> str:
        """Search the workspace for files whose name matches the query (substring or glob),
        and/or whose text contains it (returns path:line: text).

        Args:
            path: Path relative to the workspace root (e.g. 'reports/summary.md').
            glob: Only consider files whose name matches.
        """
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
        derived_tool("files-read", files_read, timeout=60),
        derived_tool("files-write", files_write, timeout=60),
        derived_tool("files-list", files_list, timeout=60),
        derived_tool("files-search", files_search, timeout=120),
    ]


FILES_TOOLS: list[ToolDict] = make_files_tools()

__all__ = ["FILES_TOOLS", "Workspace", "list_files", "make_files_tools", "read_file", "search_files", "write_file"]
