"""Attachments through the public API: type detection, and what each wire format receives.

Requests go over loopback HTTP to the fake model server, which decodes the image and document
parts it received (`RecordedRequest.files`), so the assertions are on what was really sent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from files_helpers import pdf, png
from tyler import Agent, Attachment, Message, Thread
from tyler.exceptions import AttachmentError
from tyler.testing import FakeModelServer, Turn

MODELS = ["gpt-4o", "anthropic/claude-sonnet-4-5"]


def test_type_is_detected_from_content_not_name(tmp_path: Path) -> None:
    message = Message(role="user", content="look")
    a = message.add_attachment(png(), filename="holiday.txt")  # a misleading name
    assert (a.mime_type, a.kind, a.size, a.filename) == ("image/png", "image", len(png()), "holiday.txt")
    (tmp_path / "report.pdf").write_bytes(pdf("Quarterly numbers"))
    b = message.add_attachment(tmp_path / "report.pdf")
    assert (b.mime_type, b.filename, b.kind) == ("application/pdf", "report.pdf", "pdf")
    c = message.add_attachment(b"name,qty\napples,3\n", filename="stock.csv")
    assert (c.mime_type, c.kind) == ("text/csv", "text")
    d = message.add_attachment(b"plain words", filename="fake.png")  # text named like an image
    assert d.mime_type == "text/plain"
    assert message.attachments == [a, b, c, d]
    assert Attachment.from_source(bytes(range(256)) * 4, filename="blob").mime_type == "application/octet-stream"


def test_bad_sources_are_clear_errors(tmp_path: Path) -> None:
    message = Message(role="user", content="x")
    with pytest.raises(AttachmentError, match="needs filename"):
        message.add_attachment(b"data")
    with pytest.raises(AttachmentError, match="cannot read attachment"):
        message.add_attachment(tmp_path / "missing.png")
    with pytest.raises(AttachmentError, match="bytes or a file path"):
        message.add_attachment(123)  # type: ignore[arg-type]
    assert message.attachments == []


def test_serialized_message_holds_references_not_bytes() -> None:
    message = Message(role="user", content="see")
    a = message.add_attachment(png(), filename="p.png")
    dumped = message.model_dump(mode="json")
    assert dumped["attachments"] == [{
        "id": a.id, "filename": "p.png", "mime_type": "image/png", "size": a.size, "sha256": a.sha256,
        "storage_path": None,
    }]
    assert Message.model_validate(dumped).attachments == [a]


@pytest.mark.parametrize("model", MODELS)
async def test_image_reaches_the_model_as_an_image(env: FakeModelServer, model: str) -> None:
    env.enqueue(Turn(text="A red square."))
    thread = Thread()
    message = Message(role="user", content="What is in this picture?")
    message.add_attachment(png(), filename="square.png")
    thread.add_message(message)
    result = await Agent(model_name=model).run(thread)
    assert result.content == "A red square."
    request = env.requests[0]
    assert request.images == [{"kind": "image", "media_type": "image/png", "data": png(), "role": "user"}]
    assert "What is in this picture?" in str(request.messages[-1]["content"])


@pytest.mark.parametrize("model", MODELS)
async def test_pdf_and_text_files(env: FakeModelServer, model: str) -> None:
    env.enqueue(Turn(text="Read them."))
    thread = Thread()
    message = Message(role="user", content="Summarize these.")
    message.add_attachment(pdf("Revenue grew by 12 percent"), filename="q3.pdf")
    message.add_attachment(b"line one\nline two\n", filename="notes.txt")
    thread.add_message(message)
    await Agent(model_name=model).run(thread)
    request = env.requests[0]
    sent = str(request.messages[-1]["content"])
    assert "[Attached file notes.txt (text/plain)]\\nline one\\nline two" in sent
    if model.startswith("anthropic/"):  # Anthropic reads PDFs itself
        assert request.files == [{
            "kind": "document", "media_type": "application/pdf", "data": pdf("Revenue grew by 12 percent"),
            "role": "user",
        }]
    else:  # an OpenAI-compatible server that is not api.openai.com gets the PDF's text
        assert request.files == []
        assert "Revenue grew by 12 percent" in sent


async def test_unshowable_type_is_named_not_sent(env: FakeModelServer) -> None:
    thread = Thread()
    message = Message(role="user", content="what is this?")
    message.add_attachment(b"PK\x03\x04" + bytes(100), filename="archive.zip")
    thread.add_message(message)
    await Agent(model_name="gpt-4o").run(thread)
    sent = str(env.requests[0].messages[-1]["content"])
    assert "archive.zip (application/zip, 104 bytes): this type cannot be shown to the model" in sent
