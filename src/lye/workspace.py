"""The files workspace: one root folder that every file tool (and web-download) is confined to.

Paths given by the model are resolved against the root with symlinks followed, and refused
(`WorkspaceEscapeError`) when the result is not inside the root: `..` components, absolute
paths elsewhere, and symlinks pointing out of the root are all caught by the same check.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import FileToolError, WorkspaceEscapeError

WORKSPACE_ENV = "LYE_WORKSPACE"


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

    def resolve(self, path: str | os.PathLike[str], *, root: Path | None = None) -> Path:
        """The absolute, symlink-free path of `path` inside the workspace, or WorkspaceEscapeError."""
        root = root or self.root
        raw = os.fspath(path)
        if "\x00" in raw:
            raise FileToolError("invalid path: contains a NUL character")
        candidate = Path(raw).expanduser() if raw.startswith("~") else Path(raw)
        if not candidate.is_absolute():
            candidate = root / candidate
        # strict=False: the file may not exist yet (files-write); existing parts are still resolved,
        # symlinks included, so a link to /etc lands outside the root and is refused below.
        try:
            resolved = candidate.resolve(strict=False)
        except (RuntimeError, OSError) as exc:  # Python < 3.13 raises RuntimeError on a symlink loop
            raise FileToolError(f"cannot resolve path {raw!r}: {exc}") from None
        if resolved != root and not resolved.is_relative_to(root):
            raise WorkspaceEscapeError(
                f"path {raw!r} is outside the workspace ({root}); only files inside it can be used"
            )
        return resolved

    def relative(self, path: Path, *, root: Path | None = None) -> str:
        """How a resolved path is shown to the model: relative to the root, POSIX style."""
        root = root or self.root
        rel = path.relative_to(root).as_posix()
        return rel or "."

    def __repr__(self) -> str:
        return f"Workspace(root={str(self._root) if self._root else None!r})"
