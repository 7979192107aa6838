"""FILES_TOOLS confined to a temporary workspace."""

from __future__ import annotations

import codecs
import json
import os
from pathlib import Path

import pytest
from lye_loopback import make_pdf

from lye import FILES_TOOLS, FileToolError, WorkspaceEscapeError, make_files_tools, tool_names
from tyler.tools import dict_tool_name


@pytest.fixture()
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "notes.txt").write_text("hello world\nsecond line with Quantum\n")
    (root / "data.json").write_text('{"b": [1, 2], "a": "é"}')
    (root / "table.csv").write_text("name,score\nada,10\nbob,7\n")
    (root / "doc.pdf").write_bytes(make_pdf("Hello PDF world"))
    (root / "blob.bin").write_bytes(bytes(range(256)) * 64)
    (root / "sub").mkdir()
    (root / "sub" / "deep.md").write_text("# Deep\nquantum entanglement\n")
    (tmp_path / "outside.txt").write_text("top secret")
    return root


def tools(root: Path) -> dict:
    return {t["definition"]["function"]["name"]: t["implementation"] for t in make_files_tools(root)}


def test_tool_names() -> None:
    assert tool_names(FILES_TOOLS) == ["files-read", "files-write", "files-list", "files-search"]


async def test_read_kinds(ws: Path) -> None:
    read = tools(ws)["files-read"]
    assert await read(path="notes.txt") == "hello world\nsecond line with Quantum\n"
    assert json.loads(await read(path="data.json")) == {"b": [1, 2], "a": "é"}
    assert '  "b": [\n' in await read(path="data.json")  # pretty-printed
    table = await read(path="table.csv")
    assert table.startswith("CSV: 2 data rows, 2 columns") and "| ada | 10 |" in table
    pdf = await read(path="doc.pdf")
    assert "PDF, 1 pages" in pdf and "Hello PDF world" in pdf
    binary = await read(path="blob.bin")
    assert "binary file" in binary and "16.0 KB" in binary and len(binary) < 300


async def test_read_legacy_and_utf16_encodings(ws: Path) -> None:
    (ws / "latin1.txt").write_bytes("Café crème, naïve – déjà vu\n".encode("cp1252"))
    (ws / "excel.csv").write_bytes("name\tcity\nZoë\tMünchen\n".encode("utf-16"))  # BOM + NULs
    (ws / "bom.json").write_bytes(codecs.BOM_UTF8 + '{"a": "ü"}'.encode())
    read = tools(ws)["files-read"]
    assert await read(path="latin1.txt") == "Café crème, naïve – déjà vu\n"
    table = await read(path="excel.csv")
    assert "| Zoë | München |" in table, table
    assert json.loads(await read(path="bom.json")) == {"a": "ü"}
    # A UTF-8 character cut at the end of the sniffed head does not make the file "legacy".
    (ws / "long.txt").write_text("é" * 10_000)
    assert (await read(path="long.txt", max_chars=3)).startswith("ééé\n\n[truncated: showing characters 0-3 of")


async def test_large_file_comes_in_windows(ws: Path) -> None:
    content = "".join(f"line {i:06d}\n" for i in range(200_000))  # 2.4 MB
    (ws / "big.log").write_text(content)
    read = tools(ws)["files-read"]
    first = await read(path="big.log")
    assert first.startswith("line 000000\n")
    note = "[truncated: showing characters 0-20000 of big.log (2.3 MB); call files-read again with offset=20000"
    assert note in first
    assert len(first) < 20_300
    assert "past the end of big.log" in await read(path="big.log", offset=len(content) + 5)
    second = await read(path="big.log", offset=20000, max_chars=12)
    assert second.startswith(content[20000:20012] + "\n\n[truncated: showing characters 20000-20012 of")


async def test_escapes_refused(ws: Path) -> None:
    t = tools(ws)
    with pytest.raises(WorkspaceEscapeError, match="outside the workspace"):
        await t["files-read"](path="../outside.txt")
    with pytest.raises(WorkspaceEscapeError):
        await t["files-read"](path=str(ws.parent / "outside.txt"))
    with pytest.raises(WorkspaceEscapeError):
        await t["files-write"](path="sub/../../evil.txt", content="x")
    with pytest.raises(WorkspaceEscapeError):
        await t["files-list"](path="/")
    assert not (ws.parent / "evil.txt").exists()
    # An absolute path inside the workspace is fine.
    assert "hello" in await t["files-read"](path=str(ws / "notes.txt"))


async def test_symlinks_escaping_are_refused(ws: Path) -> None:
    os.symlink(ws.parent / "outside.txt", ws / "link.txt")
    os.symlink(ws.parent, ws / "linkdir")
    os.symlink(ws / "notes.txt", ws / "inside-link.txt")
    t = tools(ws)
    with pytest.raises(WorkspaceEscapeError):
        await t["files-read"](path="link.txt")
    with pytest.raises(WorkspaceEscapeError):
        await t["files-read"](path="linkdir/outside.txt")
    with pytest.raises(WorkspaceEscapeError):
        await t["files-write"](path="linkdir/new.txt", content="x")
    with pytest.raises(WorkspaceEscapeError):
        await t["files-write"](path="link.txt", content="overwrite the outside file")
    assert (ws.parent / "outside.txt").read_text() == "top secret"
    assert "hello" in await t["files-read"](path="inside-link.txt")
    listing = await t["files-list"]()
    assert "link.txt -> (link outside the workspace" in listing
    found = await t["files-search"](query="secret")
    assert "No matches" in found  # the search never reads through an escaping link


async def test_a_symlink_loop_does_not_break_listing_or_search(ws: Path) -> None:
    os.symlink("loop", ws / "loop")
    t = tools(ws)
    listing = await t["files-list"](recursive=True)
    assert "loop -> (broken link" in listing and "notes.txt" in listing
    assert "notes.txt:2:" in await t["files-search"](query="quantum")
    with pytest.raises(FileToolError, match="cannot resolve path 'loop'"):
        await t["files-read"](path="loop")


async def test_fifos_are_neither_read_nor_written(ws: Path) -> None:
    os.mkfifo(ws / "pipe")
    t = tools(ws)
    with pytest.raises(FileToolError, match="not a regular file"):
        await t["files-read"](path="pipe")
    # Writing must not open the FIFO: with no reader that blocks a thread nothing can cancel. A
    # reader is held open here only so that a regression fails this test instead of hanging it.
    reader = os.open(ws / "pipe", os.O_RDONLY | os.O_NONBLOCK)
    try:
        with pytest.raises(FileToolError, match="not a regular file"):
            await t["files-write"](path="pipe", content="x")
    finally:
        os.close(reader)


async def test_write_modes(ws: Path) -> None:
    write = tools(ws)["files-write"]
    assert await write(path="reports/q/summary.md", content="# Report\n") == "Wrote 9 bytes to reports/q/summary.md"
    await write(path="reports/q/summary.md", content="more\n", mode="append")
    assert (ws / "reports/q/summary.md").read_text() == "# Report\nmore\n"
    with pytest.raises(FileToolError, match="already exists"):
        await write(path="reports/q/summary.md", content="x", mode="create")
    with pytest.raises(FileToolError, match="is a directory"):
        await write(path="reports", content="x")


async def test_list_and_search(ws: Path) -> None:
    t = tools(ws)
    listing = await t["files-list"]()
    assert listing.splitlines()[0] == ".: 6 entries"
    assert "sub/" in listing and "notes.txt  (37 bytes)" in listing
    assert "sub/deep.md" in await t["files-list"](recursive=True)
    assert (await t["files-list"](pattern="*.json")).endswith("data.json  (24 bytes)")
    assert "sub/deep.md  (name match)" in await t["files-search"](query="*.md", search_in="name")
    content = await t["files-search"](query="quantum", search_in="content")
    assert "notes.txt:2: second line with Quantum" in content and "sub/deep.md:2: quantum entanglement" in content
    assert "notes.txt" not in await t["files-search"](query="quantum", search_in="content", case_sensitive=True)
    with pytest.raises(FileToolError, match="no such file"):
        await t["files-read"](path="missing.txt")
    with pytest.raises(FileToolError, match="is a directory"):
        await t["files-read"](path="sub")


async def test_default_tools_read_workspace_env_at_call_time(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    read = next(t["implementation"] for t in FILES_TOOLS if t["definition"]["function"]["name"] == "files-read")
    monkeypatch.setenv("LYE_WORKSPACE", str(ws))
    assert "hello world" in await read(path="notes.txt")
    monkeypatch.setenv("LYE_WORKSPACE", str(ws / "sub"))
    with pytest.raises(WorkspaceEscapeError):
        await read(path="../notes.txt")
    monkeypatch.setenv("LYE_WORKSPACE", str(ws / "nope"))
    with pytest.raises(FileToolError, match="does not exist"):
        await read(path="notes.txt")


def test_files_read_schema_states_the_default_it_applies(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def max_chars_doc() -> str:
        read = next(t for t in make_files_tools(tmp_path) if dict_tool_name(t) == "files-read")
        return read["definition"]["function"]["parameters"]["properties"]["max_chars"]["description"]

    assert "default 20000" in max_chars_doc()
    monkeypatch.setenv("LYE_MAX_READ_CHARS", "512")
    assert "default 512" in max_chars_doc()
