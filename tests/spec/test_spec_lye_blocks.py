"""The blocks that use lye's WEB_TOOLS and FILES_TOOLS, with web-search answered by a loopback SearXNG.

Search goes to a stdlib HTTP server on 127.0.0.1 (LYE_SEARCH_BACKEND=searxng), files go to a
temporary workspace, the model is the fake server: nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from spec_support import exec_fragment, namespace, run_program

from tyler.testing import FakeModelServer, FakeToolCall, Turn


def _require_lye() -> None:
    try:
        from lye import FILES_TOOLS, WEB_TOOLS  # noqa: F401
    except ImportError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"lye is not importable: {exc}")
        pytest.skip(f"lye has not landed yet: {exc}")


class _Search(BaseHTTPRequestHandler):
    queries: list[str]

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query).get("q", [""])[0]
        self.server.queries.append(query)  # type: ignore[attr-defined]
        body = json.dumps({"results": [
            {"title": f"{query} - overview", "url": "https://example.org/a",
             "content": f"A long overview of {query}, with details on methods, results and open problems."},
            {"title": f"{query} - news", "url": "https://example.org/b", "content": "Recent news."},
        ]}).encode()
        self.send_response(200 if url.path == "/search" else 404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def search() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Search)
    server.queries = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _search_env(search: ThreadingHTTPServer) -> dict[str, str]:
    return {"LYE_SEARCH_BACKEND": "searxng", "SEARXNG_URL": f"http://127.0.0.1:{search.server_address[1]}"}


def _research_turns(topic: str, answer: str) -> list[Turn]:
    return [
        Turn(tool_calls=[FakeToolCall("web-search", {"query": topic})]),
        Turn(tool_calls=[FakeToolCall("files-write", {"path": "report.md", "content": f"# {topic}\n\n{answer}\n"})]),
        Turn(text=answer),
    ]


async def test_see_tool_usage_in_real_time(blocks, fake: FakeModelServer, search, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    _require_lye()
    for name, value in {**_search_env(search), "LYE_WORKSPACE": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    answer = "Quantum error correction is improving fast."
    fake.enqueue(*_research_turns("quantum computing", answer))
    ns = namespace()
    await exec_fragment(blocks["See tool usage in real-time#1"], ns)
    assert {t.name for t in ns["agent"].tools} >= {"web-search", "files-write", "files-read"}
    await ns["research_with_streaming"]("quantum computing")
    out = capsys.readouterr().out

    assert fake.requests[0].messages[-1]["content"] == "Research quantum computing and create a summary"
    assert search.queries == ["quantum computing"]
    search_result = fake.requests[1].messages[-1]["content"]
    assert "A long overview of quantum computing" in search_result and len(search_result) > 100
    write_result = fake.requests[2].messages[-1]["content"]
    assert len(write_result) <= 100
    assert out == (
        "\n\n🔧 Using web-search...\n"
        f"   Result: {search_result[:100]}...\n"
        "\n🤖 "
        "\n\n🔧 Using files-write...\n"
        f"   Result: {write_result}\n"
        "\n🤖 "
        f"{answer}"
    )
    assert (tmp_path / "report.md").read_text() == f"# quantum computing\n\n{answer}\n"


TOPICS = [
    "Latest breakthroughs in quantum computing",
    "Climate change solutions for 2024",
    "AI safety research progress",
]


def test_live_research_assistant(blocks, fake: FakeModelServer, search, tmp_path: Path) -> None:
    _require_lye()
    answers = [f"Report {n}: findings on {topic.lower()}." for n, topic in enumerate(TOPICS, 1)]
    for topic, answer in zip(TOPICS, answers, strict=True):
        fake.enqueue(*_research_turns(topic, answer))
    out = run_program(
        blocks["Real-World Example: Live Research Assistant#1"].code, fake, tmp_path, **_search_env(search)
    ).stdout

    assert search.queries == TOPICS
    assert len(fake.requests) == 9 and fake.pending == 0
    assert "Save the report to a file" in fake.requests[0].messages[-1]["content"]
    sections = out.split("\n" + "=" * 70 + "\n")
    assert len(sections) == 4 and sections[-1] == "\n"
    for section, topic, answer in zip(sections[:3], TOPICS, answers, strict=True):
        assert f"🔍 Researching: {topic}\n" in section
        assert "\n\n[🔧 web-search] Searching for information...\n\n" in section
        assert "\n\n[🔧 files-write] Saving report...\n\n" in section
        assert section.index("web-search") < section.index("files-write") < section.index(answer)
        assert "✅ Research Complete!" in section
        tools = re.search(r"📊 Tools used: (.*)\n", section)
        assert tools and sorted(tools.group(1).split(", ")) == ["files-write", "web-search"]
        assert f"📝 Total length: {len(answer)} characters\n" in section
        assert re.search(r"⏰ Started: \d\d:\d\d:\d\d\n", section)
        assert re.search(r"⏰ Finished: \d\d:\d\d:\d\d\n", section)
    # Each topic's report overwrote report.md in the program's working directory (lye's default workspace).
    assert (tmp_path / "report.md").read_text() == f"# {TOPICS[-1]}\n\n{answers[-1]}\n"
