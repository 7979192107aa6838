"""The spec's lye examples, run as written against the fake model server.

"See tool usage in real-time" (a fragment, run in-process) and "Real-World Example: Live Research
Assistant" (a program, run as a subprocess). The scripted model calls web-search (answered by a
loopback DuckDuckGo stand-in), web-fetch (a loopback page) and files-write; the report files must
land in the workspace ($LYE_WORKSPACE = a temporary directory).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from lye_loopback import LoopbackServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "spec"))
from spec_support import Block, exec_fragment, namespace, python_blocks, run_program, spec_path  # noqa: E402

from tyler.testing import FakeModelServer, FakeToolCall, Turn  # noqa: E402

REALTIME = "See tool usage in real-time#1"
RESEARCH = "Real-World Example: Live Research Assistant#1"


@pytest.fixture(scope="module")
def spec_blocks() -> dict[str, Block]:
    path = spec_path()
    if not path.is_file():
        pytest.skip(f"the streaming spec is missing: looked for {path}")
    return python_blocks(path.read_text(encoding="utf-8"))


def _lye_env(server: LoopbackServer, workspace: Path) -> dict[str, str]:
    return {
        "LYE_WORKSPACE": str(workspace),
        "LYE_SEARCH_BACKEND": "duckduckgo",
        "LYE_DUCKDUCKGO_URL": f"{server.url}/ddg/html/",
        # Only the loopback test server is let through the SSRF guard, not all private addresses.
        "LYE_ALLOWED_HOSTS": f"127.0.0.1:{server.port}",
    }


def _research_turns(server: LoopbackServer, topic: str, filename: str) -> list[Turn]:
    return [
        Turn(tool_calls=[FakeToolCall("web-search", {"query": topic, "max_results": 3})]),
        Turn(text="Reading a source. ", tool_calls=[FakeToolCall("web-fetch", {"url": f"{server.url}/page"})]),
        Turn(tool_calls=[FakeToolCall("files-write", {"path": filename, "content": f"# {topic}\n\nReport body.\n"})]),
        Turn(text=f"Report on {topic} saved to {filename}."),
    ]


async def test_see_tool_usage_in_real_time(
    spec_blocks,
    env: FakeModelServer,
    server: LoopbackServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in _lye_env(server, tmp_path).items():
        monkeypatch.setenv(name, value)
    env.enqueue(*_research_turns(server, "quantum computing", "reports/quantum.md"))
    ns = await exec_fragment(spec_blocks[REALTIME], namespace())
    await ns["research_with_streaming"]("quantum computing")
    out = capsys.readouterr().out

    assert (tmp_path / "reports" / "quantum.md").read_text() == "# quantum computing\n\nReport body.\n"
    for tool in ("web-search", "web-fetch", "files-write"):
        assert f"🔧 Using {tool}..." in out
    # Long results are abbreviated to 100 characters by the example, short ones shown whole.
    assert "   Result: Search results for 'quantum computing' (via duckduckgo):\n\n1. Quantum computing news" in out
    assert "   Result: Wrote 34 bytes to reports/quantum.md\n" in out
    assert out.rstrip().endswith("Report on quantum computing saved to reports/quantum.md.")

    # What the model got back from each tool, in the follow-up requests.
    search_msg, fetch_msg, write_msg = (r.messages[-1] for r in env.requests[1:4])
    assert "https://example.org/quantum" in search_msg["content"]
    assert "# Quantum computing breakthroughs" in fetch_msg["content"]
    assert write_msg["content"] == "Wrote 34 bytes to reports/quantum.md"
    offered = {t["function"]["name"] for t in env.requests[0].body["tools"]}
    assert offered == {
        "web-search",
        "web-fetch",
        "web-download",
        "files-read",
        "files-write",
        "files-list",
        "files-search",
    }


def test_live_research_assistant_program(
    spec_blocks, env: FakeModelServer, server: LoopbackServer, tmp_path: Path
) -> None:
    topics = [
        "Latest breakthroughs in quantum computing",
        "Climate change solutions for 2024",
        "AI safety research progress",
    ]
    files = ["quantum.md", "climate.md", "ai-safety.md"]
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    for topic, filename in zip(topics, files, strict=True):
        env.enqueue(*_research_turns(server, topic, filename))
    proc = run_program(spec_blocks[RESEARCH].code, env, tmp_path, **_lye_env(server, workspace))
    out = proc.stdout

    for topic, filename in zip(topics, files, strict=True):
        assert f"🔍 Researching: {topic}" in out
        assert (workspace / filename).read_text() == f"# {topic}\n\nReport body.\n"
    assert out.count("[🔧 web-search] Searching for information...") == 3
    assert out.count("[🔧 files-write] Saving report...") == 3
    assert out.count("[🔧 web-fetch]") == 3
    assert out.count("✅ Research Complete!") == 3
    assert "📊 Tools used: " in out and "web-search" in out.split("📊 Tools used: ")[1].splitlines()[0]
    assert len(env.requests) == 12
    assert sorted(p.name for p in workspace.iterdir()) == sorted(files)
    assert not (tmp_path / "quantum.md").exists()  # nothing written outside the workspace
