"""web-search backends, each pointed at a loopback server through its base-URL variable."""

from __future__ import annotations

import pytest
from lye_loopback import LoopbackServer

from lye import WEB_TOOLS, SearchError
from lye.search import backend_order, search, search_web


def _search_tool():
    return next(t["implementation"] for t in WEB_TOOLS if t["definition"]["function"]["name"] == "web-search")


async def test_duckduckgo_html_is_parsed(server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LYE_DUCKDUCKGO_URL", f"{server.url}/ddg/html/")
    name, results = await search("quantum computing", 5)
    assert name == "duckduckgo"
    assert [r.url for r in results] == ["https://example.org/quantum", "https://example.net/qubits"]  # ad dropped
    assert results[0].title == "Quantum computing news"
    assert results[0].snippet == "Latest breakthroughs in quantum computing & more."
    posted = server.seen[-1]
    assert posted.method == "POST" and b"q=quantum+computing" in posted.body


async def test_tool_formats_results(server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LYE_DUCKDUCKGO_URL", f"{server.url}/ddg/html/")
    text = await _search_tool()(query="quantum", max_results=1)
    assert text.startswith("Search results for 'quantum' (via duckduckgo):")
    assert "1. Quantum computing news\n   https://example.org/quantum" in text
    assert "example.net" not in text  # max_results respected


async def test_brave_backend_with_key(server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LYE_SEARCH_BACKEND", "brave")
    monkeypatch.setenv("LYE_BRAVE_SEARCH_URL", f"{server.url}/brave")
    with pytest.raises(SearchError, match="BRAVE_API_KEY is not set"):
        await search_web("qubits")
    monkeypatch.setenv("BRAVE_API_KEY", "wrong")
    with pytest.raises(SearchError, match="brave: HTTP 401"):
        await search_web("qubits")
    monkeypatch.setenv("BRAVE_API_KEY", "brave-key")
    assert "Brave: qubits" in await search_web("qubits")


async def test_tavily_and_searxng(server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAVILY_API_KEY", "tavily-key")
    monkeypatch.setenv("LYE_TAVILY_URL", f"{server.url}/tavily")
    assert "Tavily: fusion" in await search_web("fusion", backend="tavily")
    monkeypatch.setenv("SEARXNG_URL", f"{server.url}/searx")
    assert "Searx: fusion" in await search_web("fusion", backend="searxng")


async def test_auto_falls_back_to_the_next_backend(server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRAVE_API_KEY", "brave-key")
    monkeypatch.setenv("LYE_BRAVE_SEARCH_URL", "http://127.0.0.1:1/brave")  # nothing listens there
    monkeypatch.setenv("LYE_DUCKDUCKGO_URL", f"{server.url}/ddg/html/")
    assert backend_order() == ["brave", "duckduckgo"]
    assert "(via duckduckgo)" in await search_web("quantum")


async def test_clear_error_when_no_backend_is_reachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEARXNG_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("LYE_DUCKDUCKGO_URL", "http://127.0.0.1:1/html/")
    with pytest.raises(SearchError, match=r"no backend answered \(searxng: ConnectError.*duckduckgo: ConnectError"):
        await _search_tool()(query="anything")


async def test_duckduckgo_rate_limit_is_an_error_not_no_results(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LYE_DUCKDUCKGO_URL", f"{server.url}/ddg-limited/html/")
    with pytest.raises(SearchError, match=r"duckduckgo: SearchError: DuckDuckGo answered 202 \(rate limited"):
        await search_web("quantum")


async def test_unknown_backend_and_empty_query(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LYE_SEARCH_BACKEND", "altavista")
    with pytest.raises(SearchError, match="unknown search backend 'altavista'"):
        await search_web("x")
    with pytest.raises(SearchError, match="empty"):
        await search_web("   ")
