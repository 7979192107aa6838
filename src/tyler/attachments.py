"""Attachments: files (images, PDFs, text) sent along with a message.

    message = Message(role="user", content="What is in this picture?")
    message.add_attachment(Path("cat.png"))              # or bytes + filename=...

The mime type is detected from the content (magic numbers, then UTF-8 text), falling back to the
file name. A `ThreadStore` writes attachment bytes to its `FileStore` and keeps only a reference
(id, name, type, size, digest, path) in the message row; loading the thread gives attachments
that read their bytes back from that store on demand.

Sending: images go to the model as images (OpenAI `image_url` data URLs, Anthropic image blocks);
PDFs as documents where the API takes them (Anthropic document blocks, OpenAI `file` parts on
api.openai.com) and as extracted text elsewhere; text files as text.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from .exceptions import AttachmentError

if TYPE_CHECKING:
    from collections.abc import Iterable


class ContentSource(Protocol):
    """Where a stored attachment's bytes are read back from (a `FileStore`). Declared here, by
    its user, so an attachment needs no import of the store (the store imports attachments)."""

    async def read(self, storage_path: str) -> bytes: ...

Kind = Literal["image", "pdf", "text", "other"]

# Leading bytes of the types a model can take, most specific first.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
)
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_TEXT_LIKE = frozenset({"application/json", "application/xml", "application/x-yaml", "application/yaml"})
_SNIFF = 4096  # bytes looked at to tell text from binary


def detect_mime_type(data: bytes, filename: str | None = None) -> str:
    """The mime type of `data`: from its leading bytes, else text/binary sniffing plus the name."""
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    guessed = mimetypes.guess_type(filename)[0] if filename else None
    if _looks_like_text(data[:_SNIFF]):
        # A name saying .csv/.json/.md refines "text"; a name claiming an image does not.
        if guessed and (guessed.startswith("text/") or guessed in _TEXT_LIKE):
            return guessed
        return "text/plain"
    if guessed and not guessed.startswith("text/") and guessed not in IMAGE_TYPES | {"application/pdf"}:
        return guessed
    return "application/octet-stream"


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the sniff boundary is still text.
        return exc.start >= len(head) - 3 and len(head) == _SNIFF
    return True


def kind_of(mime_type: str) -> Kind:
    if mime_type in IMAGE_TYPES:
        return "image"
    if mime_type == "application/pdf":
        return "pdf"
    if mime_type.startswith("text/") or mime_type in _TEXT_LIKE:
        return "text"
    return "other"


class Attachment(BaseModel):
    """A file attached to a message.

    Only the reference fields are serialized (and stored in the message row); the bytes live in
    memory until a `ThreadStore` saves them to its `FileStore` (`storage_path` set), and are read
    back from there by `await attachment.get_content()`.
    """

    model_config = ConfigDict(extra="ignore")

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    filename: str
    mime_type: str
    size: int
    sha256: str
    storage_path: str | None = None

    _content: bytes | None = PrivateAttr(default=None)
    _store: ContentSource | None = PrivateAttr(default=None)
    _text: str | None = PrivateAttr(default=None)  # a PDF's extracted text, once computed

    @classmethod
    def from_source(
        cls, source: bytes | str | os.PathLike[str], *, filename: str | None = None, mime_type: str | None = None
    ) -> Attachment:
        """An attachment from bytes or a file path; the mime type is detected unless given."""
        if isinstance(source, bytes | bytearray | memoryview):
            data = bytes(source)
            if not filename:
                raise AttachmentError("an attachment given as bytes needs filename=...")
        elif isinstance(source, str | os.PathLike):
            path = Path(source)
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise AttachmentError(f"cannot read attachment {str(path)!r}: {exc.strerror or exc}") from exc
            filename = filename or path.name
        else:
            raise AttachmentError(f"an attachment is bytes or a file path, got {type(source).__name__}")
        assert filename is not None
        attachment = cls(
            filename=Path(filename).name or "file",
            mime_type=mime_type or detect_mime_type(data, filename),
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )
        attachment._content = data
        return attachment

    @property
    def kind(self) -> Kind:
        return kind_of(self.mime_type)

    @property
    def extracted_text(self) -> str | None:
        """A PDF's text once `load_contents` extracted it (what providers without PDF input get)."""
        return self._text

    @property
    def content(self) -> bytes | None:
        """The bytes if they are in memory (always after `get_content()` or before saving)."""
        return self._content

    async def get_content(self) -> bytes:
        """The bytes, read from the file store the attachment was loaded from if needed."""
        if self._content is None:
            if self._store is None or self.storage_path is None:
                raise AttachmentError(f"attachment {self.filename!r} has no content and no file store to read it from")
            self._content = await self._store.read(self.storage_path)
        return self._content

    def __eq__(self, other: object) -> bool:
        # The reference is the value: a loaded attachment equals the one that was saved.
        if not isinstance(other, Attachment):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]


async def load_contents(attachments: Iterable[Attachment]) -> None:
    """Before a run: read the bytes of attachments that only have a reference, and extract PDFs'
    text (off the event loop) for providers that cannot take the file itself."""
    for attachment in attachments:
        data = await attachment.get_content()
        if attachment.kind == "pdf" and attachment._text is None:
            attachment._text = await _pdf_text(data)


async def _pdf_text(data: bytes) -> str:
    try:
        from lye._content import pdf_to_text_async

        return (await pdf_to_text_async(data))[0]
    except Exception as exc:  # no pypdf, or an unreadable PDF: say so instead of failing the run
        return f"[the PDF's text could not be extracted: {exc}]"


# -- provider formats ------------------------------------------------------------------------


def _data_url(a: Attachment) -> str:
    return f"data:{a.mime_type};base64,{base64.b64encode(a.content or b'').decode()}"


def _as_text(a: Attachment) -> str:
    data = a.content or b""
    if a.kind == "text":
        body = data.decode("utf-8", errors="replace")
    elif a.kind == "pdf":
        body = a._text if a._text is not None else "[the PDF's text was not extracted]"
    else:
        return f"[Attached file {a.filename} ({a.mime_type}, {a.size} bytes): this type cannot be shown to the model]"
    return f"[Attached file {a.filename} ({a.mime_type})]\n{body}"


def _text_parts(content: str | list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return list(content or [])


def openai_content(
    content: str | list[dict[str, Any]] | None, attachments: Iterable[Attachment], *, native_files: bool = False
) -> list[dict[str, Any]]:
    """A message's content as Chat Completions parts, its attachments after it.

    `native_files`: send PDFs as `file` parts (api.openai.com takes them; most compatible servers
    do not, and get the extracted text instead).
    """
    parts = _text_parts(content)
    for a in attachments:
        if a.kind == "image":
            parts.append({"type": "image_url", "image_url": {"url": _data_url(a)}})
        elif a.kind == "pdf" and native_files:
            parts.append({"type": "file", "file": {"filename": a.filename, "file_data": _data_url(a)}})
        else:
            parts.append({"type": "text", "text": _as_text(a)})
    return parts


def anthropic_blocks(attachments: Iterable[Attachment]) -> list[dict[str, Any]]:
    """Anthropic content blocks for a message's attachments (images and PDFs natively)."""
    blocks: list[dict[str, Any]] = []
    for a in attachments:
        data = base64.b64encode(a.content or b"").decode()
        if a.kind == "image":
            blocks.append({"type": "image", "source": {"type": "base64", "media_type": a.mime_type, "data": data}})
        elif a.kind == "pdf":
            blocks.append({"type": "document", "source": {"type": "base64", "media_type": a.mime_type, "data": data}})
        else:
            blocks.append({"type": "text", "text": _as_text(a)})
    return blocks


__all__ = [
    "IMAGE_TYPES", "Attachment", "ContentSource", "anthropic_blocks", "detect_mime_type", "load_contents",
    "openai_content",
]
