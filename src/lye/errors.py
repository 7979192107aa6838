"""Errors raised by lye tools.

A lye tool that cannot do what it was asked raises one of these; when the tool runs inside an
agent, the core turns the exception into a TOOL_ERROR event and an error tool message, so the
model reads the message and can react. Called directly (``await lye.web.fetch_page(...)``), they
are ordinary exceptions.

    TylerError
    └── LyeError
        ├── AccessDeniedError (PermissionError)   a path outside the workspace, a private address
        │   ├── WorkspaceEscapeError              `..`, absolute path or symlink leaving the root
        │   └── BlockedAddressError               SSRF guard: private/loopback/metadata address
        ├── FetchError                            an HTTP fetch or download failed
        ├── SearchError                           no search backend answered
        └── FileToolError                         a file operation failed (missing file, bad args)
"""

from __future__ import annotations

from tyler.exceptions import TylerError


class LyeError(TylerError):
    """Base class of every error raised by a lye tool."""


class AccessDeniedError(LyeError, PermissionError):
    """The tool refused the request by policy (not a transient failure)."""


class WorkspaceEscapeError(AccessDeniedError):
    """A path resolves outside the files workspace root."""


class BlockedAddressError(AccessDeniedError):
    """A URL's host resolves to an address the SSRF guard refuses."""


class FetchError(LyeError):
    """An HTTP request made by a web tool failed (connection, status, limits)."""


class SearchError(LyeError):
    """Web search failed: no backend configured or reachable, or a backend answered badly."""


class FileToolError(LyeError):
    """A file tool could not complete (missing file, not a directory, invalid argument)."""


__all__ = [
    "AccessDeniedError",
    "BlockedAddressError",
    "FetchError",
    "FileToolError",
    "LyeError",
    "SearchError",
    "WorkspaceEscapeError",
]
