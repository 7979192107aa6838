"""`FileStore`: where attachment bytes live (a local folder), with size and type limits.

Thread tables keep only a reference to each attachment (see `tyler.attachments`); the bytes are
written here as `<thread id>/<attachment id><ext>`, so deleting a thread deletes one folder.

    store = await ThreadStore.create("sqlite+aiosqlite:///chat.db",
                                     file_store=FileStore("./files", max_file_size=5_000_000))

The folder defaults to `$TYLER_FILE_STORAGE_PATH`, else the user data dir + `/tyler/files`.
File I/O runs in a worker thread so the event loop keeps streaming.
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from .exceptions import AttachmentError, ConfigurationError, StorageError

if TYPE_CHECKING:
    from .attachments import Attachment

DEFAULT_MAX_FILE_SIZE = 20 * 1024 * 1024  # what the large model APIs accept per image/PDF, roughly
DEFAULT_ALLOWED_TYPES = frozenset({
    "image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf",
    "text/plain", "text/markdown", "text/csv", "text/html", "text/x-python", "application/json",
    "application/xml", "text/xml", "application/x-yaml", "application/yaml",
})
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")


def default_path() -> Path:
    override = os.environ.get("TYLER_FILE_STORAGE_PATH")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("tyler", appauthor=False)) / "files"


class FileStore:
    """Attachment bytes in a local folder.

    Args:
        base_path: the folder (created on first write); default `default_path()`.
        max_file_size: largest attachment accepted, in bytes.
        allowed_mime_types: mime types accepted; `None` accepts any type. A type ending in "/*"
            (e.g. "image/*") accepts that whole family.
    """

    def __init__(
        self,
        base_path: str | os.PathLike[str] | None = None,
        *,
        max_file_size: int = DEFAULT_MAX_FILE_SIZE,
        allowed_mime_types: Iterable[str] | None = DEFAULT_ALLOWED_TYPES,
    ) -> None:
        if not isinstance(max_file_size, int) or isinstance(max_file_size, bool) or max_file_size < 1:
            raise ConfigurationError(f"max_file_size must be a positive int (bytes), got {max_file_size!r}")
        self.base_path = Path(base_path).expanduser() if base_path is not None else default_path()
        self.max_file_size = max_file_size
        self.allowed_mime_types = frozenset(allowed_mime_types) if allowed_mime_types is not None else None

    def __repr__(self) -> str:
        return f"FileStore({str(self.base_path)!r})"

    def check(self, attachment: Attachment) -> None:
        """Raise `AttachmentError` if this store refuses `attachment` (size or type)."""
        if attachment.size > self.max_file_size:
            raise AttachmentError(
                f"attachment {attachment.filename!r} is {attachment.size} bytes; "
                f"the file store accepts at most {self.max_file_size} (max_file_size)"
            )
        allowed = self.allowed_mime_types
        if allowed is not None and attachment.mime_type not in allowed and (
            attachment.mime_type.split("/")[0] + "/*" not in allowed
        ):
            raise AttachmentError(
                f"attachment {attachment.filename!r} has type {attachment.mime_type}, which the file store "
                f"does not accept (allowed_mime_types: {', '.join(sorted(allowed))})"
            )

    def _path(self, storage_path: str) -> Path:
        parts = storage_path.split("/")
        if len(parts) != 2 or not all(_SAFE_ID.match(p) and p not in (".", "..") for p in parts):
            raise StorageError(f"invalid attachment storage path {storage_path!r}")
        return self.base_path / parts[0] / parts[1]

    async def save(self, thread_id: str, attachment: Attachment) -> str:
        """Write the attachment's bytes (checked first); returns its `storage_path`."""
        self.check(attachment)
        data = attachment.content
        if data is None:
            raise AttachmentError(f"attachment {attachment.filename!r} has no content to save")
        ext = mimetypes.guess_extension(attachment.mime_type) or Path(attachment.filename).suffix or ".bin"
        storage_path = f"{_folder(thread_id)}/{attachment.id}{ext}"
        await asyncio.to_thread(_write_atomic, self._path(storage_path), data)
        return storage_path

    async def read(self, storage_path: str) -> bytes:
        path = self._path(storage_path)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            raise StorageError(f"cannot read attachment {storage_path!r} from {self.base_path}: {exc}") from exc

    async def delete_thread(self, thread_id: str) -> None:
        """Delete every file of the thread (nothing to do if it has none)."""
        path = self.base_path / _folder(thread_id)
        await asyncio.to_thread(shutil.rmtree, path, True)


def _folder(thread_id: str) -> str:
    if _SAFE_ID.match(thread_id) and thread_id not in (".", ".."):
        return thread_id
    # Thread ids are free text; a folder name must not be able to climb out of base_path.
    return "x" + hashlib.sha256(thread_id.encode("utf-8", "surrogatepass")).hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise StorageError(f"cannot write attachment to {path.parent}: {exc}") from exc


__all__ = ["DEFAULT_ALLOWED_TYPES", "DEFAULT_MAX_FILE_SIZE", "FileStore"]
