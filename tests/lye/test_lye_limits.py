"""Limits the web and file tools keep against hostile input (issue 15, items 1, 2, 3, 13, 15).

Each test serves or writes what an adversarial review found, on loopback and in temporary
folders, and checks the bound: memory near the configured limit (measured with tracemalloc),
the event loop kept free (the longest gap between ticks of a concurrent task), time budgets
that really stop the work, and typed errors instead of raw exceptions.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import traceback
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lye_loopback import LoopbackServer, make_pdf

from lye import FetchError, FileToolError, make_files_tools, make_web_tools
from lye._content import html_to_markdown_async
from lye.web import download_file, fetch_page
from lye.workspace import Workspace


def _gzip_stream(chunks: Iterator[bytes]) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return b"".join(packer.compress(c) for c in chunks) + packer.flush()


def _zeros(megabytes: int) -> Iterator[bytes]:
    block = b"\0" * (1 << 20)
    return (block for _ in range(megabytes))


BOMB_MB = 200
_BOMB: dict[str, bytes] = {}


def gzip_bomb() -> bytes:
    """`Content-Encoding: gzip, gzip` for 200 MB of zeros: about 1 KB on the wire."""
    if "bomb" not in _BOMB:
        once = _gzip_stream(_zeros(BOMB_MB))
        _BOMB["bomb"] = _gzip_stream(iter([once]))
    return _BOMB["bomb"]


# About 12 KB that keeps pypdf busy for tens of seconds (100,000 text operations).
SLOW_PDF = make_pdf(content=b"BT /F1 12 Tf 1 0 0 1 72 720 Tm (x) Tj ET\n" * 100_000)
# 3 MB of empty elements: seconds of html2text work that produce no text at all.
SLOW_HTML = b"<html><body>" + b"<span></span>" * 230_000 + b"</body></html>"
# Pages that keep html2text busy for seconds *inside one parser call* (checks between chunks of
# the document cannot stop them): 4,000 nested lists in 36 KB (an indentation per level on every
# line: 13 M characters out of the first 32 KB), a tag that never ends (HTMLParser rescans it on
# every chunk: minutes for 4 MB), and a huge table of entities.
HOSTILE_HTML = {
    "nested-lists": b"<html><body>" + b"<ul><li>x" * 4000,
    "nested-ordered-in-table": b"<html><body><table><tr><td>" + b"<ol><li>&amp;" * 3000,
    "endless-tag": b"<html><body><a " + b"x=1 " * 1_000_000,
    "entity-table": b"<html><body><table>" + (b"<tr>" + b"<td>&lt;&#x41;&amp;</td>" * 50 + b"</tr>") * 4000,
}


class HostileServer(LoopbackServer):
    def route(self, h: Any, url: Any) -> None:
        path = url.path
        if path == "/bomb":
            h._send(200, gzip_bomb(), "text/plain", {"Content-Encoding": "gzip, gzip"})
        elif path == "/brotli":
            h._send(200, b"\x0b\x02\x80hello\x03", "text/plain", {"Content-Encoding": "br"})
        elif path == "/slow.pdf":
            h._send(200, SLOW_PDF, "application/pdf")
        elif path == "/slow.html":
            h._send(200, SLOW_HTML, "text/html")
        elif path.startswith("/hostile/"):
            h._send(200, HOSTILE_HTML[path.removeprefix("/hostile/")], "text/html")
        elif path == "/drip-headers":
            self._drip(h, headers=True)
        elif path == "/drip-body":
            self._drip(h, headers=False)
        elif path == "/charset":
            h._send(200, b"plain words", f"text/plain; charset={url.query}")
        elif path == "/meta":
            h._send(200, f'<html><head><meta charset="{url.query}"></head><body>hi there</body></html>'.encode(),
                    "text/html")
        elif path == "/binary-as-html":
            h._send(200, bytes(range(1, 32)) * 300, "text/html")
        elif path == "/tilde":
            h._send(200, b"tilde body", "text/plain", {"Content-Disposition": 'attachment; filename="~"'})
        else:
            super().route(h, url)

    @staticmethod
    def _drip(h: Any, *, headers: bool) -> None:
        """A byte now and then, forever: headers that never end, or a body that never does."""
        try:
            h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n")
            if not headers:
                h.wfile.write(b"Content-Length: 100000\r\n\r\n")
            for _ in range(600):
                h.wfile.write(b"X-Drip: a\r\n" if headers else b"x")
                h.wfile.flush()
                time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError):
            return


@pytest.fixture()
def hostile() -> Iterator[HostileServer]:
    srv = HostileServer().start()
    try:
        yield srv
    finally:
        srv.stop()


class _Ticker:
    """Ticks every 10 ms while running: the longest gap shows whether the loop was frozen."""

    def __init__(self) -> None:
        self.longest = 0.0

    async def run(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            self.longest = max(self.longest, now - last)
            last = now


async def _with_ticker(coro: Any) -> tuple[Any, float]:
    ticker = _Ticker()
    task = asyncio.ensure_future(ticker.run())
    try:
        try:
            result: Any = await coro
        except Exception as exc:  # returned for the test to look at
            result = exc
    finally:
        task.cancel()
    return result, ticker.longest


def _peak_mb(run: Any) -> tuple[Any, float]:
    tracemalloc.start()
    try:
        result = run()
        return result, tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


# ------------------------------------------------------------------------------ 1. decompression


def test_stacked_gzip_bomb_stays_near_the_fetch_limit(
    hostile: HostileServer, allow_private: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LYE_FETCH_MAX_BYTES", str(1 << 20))
    gzip_bomb()  # built before measuring
    text, peak = _peak_mb(lambda: asyncio.run(fetch_page(f"{hostile.url}/bomb")))
    assert "[body cut at 1.0 MB" in text
    assert peak < 40, f"peak {peak:.0f} MB for a 1 MB limit"


def test_stacked_gzip_bomb_download_is_refused_at_the_limit(
    hostile: HostileServer, allow_private: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LYE_DOWNLOAD_MAX_BYTES", str(1 << 20))
    gzip_bomb()
    fetch = download_file(f"{hostile.url}/bomb", workspace=Workspace(tmp_path))
    error, peak = _peak_mb(lambda: asyncio.run(_raises(fetch)))
    assert isinstance(error, FetchError) and "larger than the 1.0 MB limit" in str(error)
    assert peak < 40, f"peak {peak:.0f} MB for a 1 MB limit"
    assert list(tmp_path.iterdir()) == []  # no partial file left


async def test_encodings_that_cannot_be_capped_are_refused(hostile: HostileServer, allow_private: None) -> None:
    with pytest.raises(FetchError, match="Content-Encoding br, which is not supported"):
        await fetch_page(f"{hostile.url}/brotli")
    assert "br" not in hostile.seen[-1].headers.get("Accept-Encoding", "")


async def _raises(coro: Any) -> Exception:
    try:
        await coro
    except Exception as exc:
        return exc
    raise AssertionError("expected an error")


# --------------------------------------------------------------------------- 2. conversion budget


async def test_html_conversion_runs_off_the_loop_within_the_fetch_time(
    hostile: HostileServer, allow_private: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LYE_HTTP_TIMEOUT", "1")
    result, gap = await _with_ticker(fetch_page(f"{hostile.url}/slow.html"))
    assert isinstance(result, FetchError) and "took longer than 1 s" in str(result)
    assert gap < 2.5, f"the event loop was frozen for {gap:.1f} s"


@pytest.mark.parametrize("page", sorted(HOSTILE_HTML))
async def test_hostile_html_costs_at_most_the_fetch_time_then_nothing(
    hostile: HostileServer, allow_private: None, monkeypatch: pytest.MonkeyPatch, page: str
) -> None:
    # Budget enforced, not only checked between chunks: when the fetch returns (on time), nothing
    # of this process is still converting (a thread would be, inside html2text, for seconds or
    # minutes more) and the converting child is gone.
    monkeypatch.setenv("LYE_HTTP_TIMEOUT", "2")
    started = time.monotonic()
    result, gap = await _with_ticker(fetch_page(f"{hostile.url}/hostile/{page}"))
    elapsed = time.monotonic() - started
    converting = [
        thread for thread, frame in sys._current_frames().items()
        if any("html2text" in f.f_code.co_filename for f, _line in traceback.walk_stack(frame))
    ]
    assert converting == [], "html2text still runs in this process after the fetch returned"
    assert _workers(b"_html_worker.py") == []
    if isinstance(result, Exception):
        assert isinstance(result, FetchError) and "took longer than 2 s" in str(result), result
    else:
        assert len(result) < 60_000  # LYE_FETCH_MAX_CHARS (20,000) and its notes
    assert elapsed < 2 + 10, f"the fetch took {elapsed:.1f} s with a 2 s budget"
    assert gap < 1.5, f"the event loop was frozen for {gap:.1f} s"


async def test_html_conversion_in_its_child_still_converts(hostile: HostileServer, allow_private: None) -> None:
    page = "<html><body><h1>Title</h1><p>a <a href='/x'>link</a> &amp; text</p></body></html>"
    text = await html_to_markdown_async(page, base_url="http://example.test/", plain=False, max_chars=100)
    assert text == "# Title\n\na [link](http://example.test/x) & text"
    long_page = "<html><body>" + "<p>words and more words</p>" * 10_000
    text = await html_to_markdown_async(long_page, base_url="", plain=True, max_chars=1000)
    assert 1000 <= len(text) < 1200 and text.endswith("[conversion stopped here: the page goes on]")


async def test_pdf_extraction_is_killed_when_the_fetch_time_is_up(
    hostile: HostileServer, allow_private: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LYE_HTTP_TIMEOUT", "2")
    result, gap = await _with_ticker(fetch_page(f"{hostile.url}/slow.pdf"))
    assert isinstance(result, FetchError) and "took longer than 2 s" in str(result)
    assert gap < 2.5, f"the event loop was frozen for {gap:.1f} s"
    assert _workers(b"lye._pdf_worker") == []  # the child was killed, not left running


def _workers(marker: bytes) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        parent = next((line.split()[1] for line in status.splitlines() if line.startswith("PPid:")), "")
        if marker in cmdline and parent == str(os.getpid()) and "zombie" not in status:
            found.append(int(entry))
    return found


async def test_files_read_pdf_has_a_time_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("lye.files.PDF_TIMEOUT", 1.0, raising=False)
    (tmp_path / "slow.pdf").write_bytes(SLOW_PDF)
    read = _tools(tmp_path)["files-read"]
    with pytest.raises(FileToolError, match="took longer than 1 s"):
        await read(path="slow.pdf")


# ------------------------------------------------------------------------------- 3. render bombs


def _tools(root: Path) -> dict[str, Any]:
    return {t["definition"]["function"]["name"]: t["implementation"] for t in make_files_tools(root)}


def test_csv_render_bomb_reads_a_window_in_bounded_memory(tmp_path: Path) -> None:
    # One row 4,000 columns wide and 4,000 empty rows: padded to the width, 72 MB of table.
    (tmp_path / "wide.csv").write_text("a," * 3999 + "a\n" + "\n" * 4000 + "x\n")
    read = _tools(tmp_path)["files-read"]
    text, peak = _peak_mb(lambda: asyncio.run(read(path="wide.csv", max_chars=5000)))
    assert text.startswith("CSV: ") and "4000 columns" in text and "offset=5000" in text
    assert peak < 30, f"peak {peak:.0f} MB to show 5,000 characters"


def test_json_render_bomb_reads_a_window_in_bounded_memory(tmp_path: Path) -> None:
    # 400 levels deep, then 60,000 numbers: each printed on a line indented by 800 spaces.
    (tmp_path / "deep.json").write_text("[" * 400 + ",".join(["1"] * 60_000) + "]" * 400)
    read = _tools(tmp_path)["files-read"]
    text, peak = _peak_mb(lambda: asyncio.run(read(path="deep.json", offset=100_000, max_chars=2000)))
    assert text.lstrip(" \n1,").startswith("") and "showing characters 100000-102000" in text
    assert peak < 30, f"peak {peak:.0f} MB to show 2,000 characters"
    far, _ = _peak_mb(lambda: asyncio.run(read(path="deep.json", offset=10**12)))
    assert "past the first" in far


# ----------------------------------------------------------------------------------- 13. timeouts


async def test_download_waits_for_headers_no_longer_than_the_http_timeout(
    hostile: HostileServer, allow_private: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LYE_HTTP_TIMEOUT", "1")
    download = make_web_tools(workspace=tmp_path)[2]["implementation"]
    # The bound only keeps a regression from hanging the suite; the server drips for 120 s.
    with pytest.raises(FetchError, match="sent no response within 1 s"):
        await asyncio.wait_for(download(url=f"{hostile.url}/drip-headers"), 60)


async def test_download_body_is_bounded_by_the_download_timeout(
    hostile: HostileServer, allow_private: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LYE_DOWNLOAD_TIMEOUT", "2")
    download = make_web_tools(workspace=tmp_path)[2]["implementation"]
    with pytest.raises(FetchError, match="took longer than 2 s"):
        await asyncio.wait_for(download(url=f"{hostile.url}/drip-body"), 60)
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------- 15. typed errors, not raw ones


@pytest.mark.parametrize("charset", ["rot13", "idna", "base64", "zlib", "hex"])
async def test_odd_charsets_fall_back_instead_of_raising(
    hostile: HostileServer, allow_private: None, charset: str
) -> None:
    assert "plain words" in await fetch_page(f"{hostile.url}/charset?{charset}")
    assert "hi there" in await fetch_page(f"{hostile.url}/meta?{charset}")


async def test_binary_served_as_html_is_described_not_shown(hostile: HostileServer, allow_private: None) -> None:
    text = await fetch_page(f"{hostile.url}/binary-as-html")
    assert "binary content (text/html" in text
    assert not any(ch < " " and ch not in "\n\t" for ch in text)


async def test_a_tilde_download_name_is_sanitised(hostile: HostileServer, allow_private: None, tmp_path: Path) -> None:
    download = make_web_tools(workspace=tmp_path)[2]["implementation"]
    assert "to download" in await download(url=f"{hostile.url}/tilde")
    assert (tmp_path / "download").read_bytes() == b"tilde body"


@pytest.fixture()
def deep_root(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    # pytest's own clean-up recurses and cannot remove a 2,400-deep tree; rm walks it iteratively.
    subprocess.run(["rm", "-rf", str(tmp_path / "d")], check=True)


async def test_deep_trees_list_and_search_without_recursion_errors(deep_root: Path) -> None:
    t = _tools(deep_root)
    deep = "/".join(["d"] * 1200)  # what two files-write calls can build
    await t["files-write"](path=f"{deep[:2000]}/x.txt", content="needle")
    await t["files-write"](path=f"{deep[:2000]}/{deep[:2000]}/y.txt", content="needle")
    listing = await t["files-list"](recursive=True, max_entries=5)
    assert "deeper than 64 levels not walked" in listing
    found = await t["files-search"](query="needle")
    assert "No matches" in found and "deeper than 64 levels" in found


async def test_bad_paths_and_contents_are_tool_errors(tmp_path: Path) -> None:
    t = _tools(tmp_path)
    with pytest.raises(FileToolError, match="cannot expand '~nosuchuser_x'"):
        await t["files-read"](path="~nosuchuser_x/x")
    with pytest.raises(FileToolError, match="too long"):
        await t["files-write"](path="n" * 300, content="x")
    with pytest.raises(FileToolError, match="too long"):
        await t["files-read"](path=("n" * 300) + "/x")
    (tmp_path / "nested.json").write_text("[" * 100_000 + "]" * 100_000)
    assert "nested too deeply" in await t["files-read"](path="nested.json", max_chars=200)
    (tmp_path / "field.csv").write_text('a,b\n"' + "x" * 200_000 + '",1\n')
    assert "not readable as CSV" in await t["files-read"](path="field.csv", max_chars=200)
    (tmp_path / "big.json").write_text(json.dumps({"k": list(range(10))}))
    assert '"k": [' in await t["files-read"](path="big.json")
