"""The files workspace: one root folder that every file tool (and web-download) is confined to.

Paths given by the model are opened relative to a descriptor of the root, one component at a
time, never following a link on its own (`O_NOFOLLOW`): a symlink met on the way is read and its
target resolved by the same rules, so `..` components, absolute paths elsewhere, and symlinks
pointing out of the root are all refused (`WorkspaceEscapeError`). Because every step opens
relative to a descriptor already checked, another process swapping a path component for a
symlink between a check and the use cannot redirect the open outside the root (no
check-then-use race).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .errors import FileToolError, LyeError, WorkspaceEscapeError

WORKSPACE_ENV = "LYE_WORKSPACE"
MAX_LINKS = 40  # symlinks followed while resolving one path, as the kernel's own limit
MAX_DEPTH = 64  # folder levels a recursive walk descends (one descriptor is held per level)

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
DIR_FLAGS = os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC
# Reading never blocks on a FIFO or a device: the caller checks the type on the descriptor.
READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
# Only locates (Linux O_PATH): no open side effects on devices or FIFOs.
PATH_FLAGS = getattr(os, "O_PATH", READ_FLAGS)


@dataclass
class WalkState:
    """What a recursive walk left out: folders deeper than MAX_DEPTH, unreadable folders."""

    too_deep: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


class Workspace:
    """A root folder. `root=None` means $LYE_WORKSPACE, else the current directory, read at use time."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self._root = Path(root) if root is not None else None

    @property
    def root(self) -> Path:
        """The resolved root folder; it must exist."""
        configured = self._root
        if configured is None:
            env = os.environ.get(WORKSPACE_ENV, "").strip()
            configured = Path(env) if env else Path.cwd()
        root = configured.expanduser().resolve()
        if not root.is_dir():
            raise FileToolError(f"workspace root {str(root)!r} does not exist or is not a directory")
        return root

    def _escape(self, raw: str, root: Path) -> WorkspaceEscapeError:
        return WorkspaceEscapeError(f"path {raw!r} is outside the workspace ({root}); only files inside it can be used")

    def _parts(self, raw: str, root: Path, *, shown: str) -> list[str]:
        """The components of `raw` relative to the root (lexically; links are resolved later)."""
        if "\x00" in raw:
            raise FileToolError("invalid path: contains a NUL character")
        candidate = Path(raw)
        if raw.startswith("~"):
            try:
                candidate = candidate.expanduser()
            except (RuntimeError, KeyError):  # "~nosuchuser/x"
                raise FileToolError(f"invalid path {raw!r}: cannot expand {raw.split('/', maxsplit=1)[0]!r}") from None
        if not candidate.is_absolute():
            return list(candidate.parts)
        if candidate != root and not candidate.is_relative_to(root):
            raise self._escape(shown, root)
        return list(candidate.relative_to(root).parts)

    def open(
        self,
        path: str | os.PathLike[str],
        flags: int = READ_FLAGS,
        mode: int = 0o644,
        *,
        root: Path | None = None,
        make_parents: bool = False,
    ) -> tuple[int, str]:
        """Open `path` inside the workspace: (descriptor, path relative to the root).

        Components are opened one by one relative to the root's descriptor without following
        links; links are followed by hand and must stay inside. OSErrors of the final open
        (missing file, exists, is a directory...) are raised as they are, for the caller to word;
        `make_parents` creates missing folders on the way (files-write).
        """
        root = root or self.root
        raw = os.fspath(path)
        parts = self._parts(raw, root, shown=raw)
        stack = [os.open(root, DIR_FLAGS & ~_NOFOLLOW)]
        names: list[str] = []
        links = 0
        try:
            while parts:
                name = parts.pop(0)
                if name in ("", "."):
                    continue
                if name == "..":
                    if not names:
                        raise self._escape(raw, root)
                    os.close(stack.pop())
                    names.pop()
                    continue
                final = not parts
                try:
                    # make_parents: every folder on the way, and the last part too if a folder is asked for
                    make_dir = make_parents and (not final or bool(flags & _DIRECTORY))
                    fd = self._step(name, stack[-1], flags if final else DIR_FLAGS, mode, make_dir)
                except OSError as exc:
                    target = _link_target(name, stack[-1])
                    if target is None:
                        if exc.errno == errno.ENAMETOOLONG:
                            raise FileToolError(f"invalid path {raw!r}: a name in it is too long") from None
                        raise
                    fd = -1
                if fd < 0 or (final and stat.S_ISLNK(os.fstat(fd).st_mode)):  # O_PATH opens the link itself
                    if fd >= 0:
                        os.close(fd)
                        target = _link_target(name, stack[-1])
                    links += 1
                    if links > MAX_LINKS or target is None:
                        raise FileToolError(f"cannot resolve path {raw!r}: too many levels of symbolic links")
                    parts = self._link_parts(target, root, raw, stack, names) + parts
                    continue
                if final:
                    return fd, "/".join([*names, name]) or "."
                stack.append(fd)
                names.append(name)
            return os.dup(stack[-1]), "/".join(names) or "."
        finally:
            for fd in stack:
                os.close(fd)

    @staticmethod
    def _step(name: str, dir_fd: int, flags: int, mode: int, make_dir: bool) -> int:
        try:
            return os.open(name, flags | _NOFOLLOW | _CLOEXEC, mode, dir_fd=dir_fd)
        except FileNotFoundError:
            if not make_dir:
                raise
        # Made meanwhile by someone else: opened (and checked) below like any folder.
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o777, dir_fd=dir_fd)
        return os.open(name, flags | _NOFOLLOW | _CLOEXEC, mode, dir_fd=dir_fd)

    def _link_parts(self, target: str, root: Path, raw: str, stack: list[int], names: list[str]) -> list[str]:
        """Continue resolving at a link's target: relative to the link's folder, or from the root."""
        if not target.startswith("/"):
            return list(PurePosixPath(target).parts)
        # An absolute target must lie inside the root; resolution restarts there.
        parts = self._parts(target, root, shown=raw)
        while len(stack) > 1:
            os.close(stack.pop())
        names.clear()
        return parts

    def relative(self, path: Path, *, root: Path | None = None) -> str:
        """How a resolved path is shown to the model: relative to the root, POSIX style."""
        root = root or self.root
        rel = path.relative_to(root).as_posix()
        return rel or "."

    def walk(
        self, dir_fd: int, rel: str, state: WalkState, skip: set[str]
    ) -> Iterator[tuple[str, os.DirEntry[str], int]]:
        """Every entry below the folder `dir_fd` (shown as `rel`), depth first, names sorted.

        Yields (path relative to the root, entry, descriptor of its folder); the descriptor is
        open while the entry is being handled. Links are reported, never descended; folders
        deeper than MAX_DEPTH are noted in `state` instead of walked (no recursion, one
        descriptor per level).
        """
        frames: list[tuple[int, str, Iterator[os.DirEntry[str]]]] = []
        try:
            frames.append((os.dup(dir_fd), rel, _sorted_entries(dir_fd)))
            while frames:
                fd, prefix, entries = frames[-1]
                entry = next(entries, None)
                if entry is None:
                    os.close(fd)
                    frames.pop()
                    continue
                child = entry.name if prefix == "." else f"{prefix}/{entry.name}"
                yield child, entry, fd
                if entry.name in skip or not entry.is_dir(follow_symlinks=False):
                    continue
                if len(frames) >= MAX_DEPTH:
                    state.too_deep.append(child)
                    continue
                try:
                    sub = os.open(entry.name, DIR_FLAGS, dir_fd=fd)
                    listing = _sorted_entries(sub)
                except OSError:
                    state.unreadable.append(child)
                    continue
                frames.append((sub, child, listing))
        finally:
            for fd, _prefix, _entries in frames:
                os.close(fd)

    def __repr__(self) -> str:
        return f"Workspace(root={str(self._root) if self._root else None!r})"


def _sorted_entries(dir_fd: int) -> Iterator[os.DirEntry[str]]:
    with os.scandir(dir_fd) as it:
        return iter(sorted(it, key=lambda e: e.name))


def _link_target(name: str, dir_fd: int) -> str | None:
    """The target of the link `name` in `dir_fd`, or None if it is not a link."""
    try:
        return os.readlink(name, dir_fd=dir_fd)
    except OSError:
        return None


def os_error(exc: OSError, path: str) -> LyeError:
    """A FileToolError the model can act on, for an OSError met on `path`.

    A WorkspaceEscapeError is a PermissionError, so an OSError too: it is passed through.
    """
    if isinstance(exc, LyeError):
        return exc
    if isinstance(exc, FileNotFoundError):
        return FileToolError(f"no such file or directory: {path!r}")
    if isinstance(exc, NotADirectoryError):
        return FileToolError(f"{path!r}: a part of the path is a file, not a directory")
    if isinstance(exc, IsADirectoryError):
        return FileToolError(f"{path!r} is a directory")
    if exc.errno == errno.ELOOP:
        return FileToolError(f"cannot resolve path {path!r}: too many levels of symbolic links")
    return FileToolError(f"{path!r}: {exc.strerror or exc}")
