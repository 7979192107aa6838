"""web-search backends, chosen by configuration read at call time.

    LYE_SEARCH_BACKEND   duckduckgo | searxng | brave | tavily | auto (default: auto)
    BRAVE_API_KEY        key for the Brave Search API        (base URL: LYE_BRAVE_SEARCH_URL)
    TAVILY_API_KEY       key for the Tavily API              (base URL: LYE_TAVILY_URL)
    SEARXNG_URL          a SearXNG instance (JSON format enabled), no key
    LYE_DUCKDUCKGO_URL   DuckDuckGo's HTML endpoint (default https://html.duckduckgo.com/html/), no key
    LYE_SEARCH_TIMEOUT   seconds per backend request (default 15)

`auto` tries, in order, every backend that is configured (Brave and Tavily when their key is
set, SearXNG when its URL is set) and then DuckDuckGo, and answers with the first that works.
When none works, SearchError says what each one answered.

Backend URLs come from configuration, never from the model, so they are not SSRF-guarded.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlparse

from ._common import env_float
from .errors import SearchError

if TYPE_CHECKING:
    import httpx

DUCKDUCKGO_URL = "https://html.duckduckgo.com/html/"
BRAVE_URL = "https://api.search.brave.com/res/v1/web/search"
TAVILY_URL = "https://api.tavily.com/search"
BACKENDS = ("duckduckgo", "searxng", "brave", "tavily")


@dataclass(frozen=True)
class SearchResult:
    """One hit: what every backend is reduced to."""

    title: str
    url: str
    snippet: str = ""


class _DuckDuckGoParser(HTMLParser):
    """Collects results from DuckDuckGo's HTML page: `a.result__a` links and `.result__snippet`s."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.results: list[dict[str, str]] = []
        self._field: str | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._field is not None:
            self._depth += 1
            return
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if tag == "a" and "result__a" in classes:
            self.results.append({"title": "", "url": attributes.get("href") or "", "snippet": ""})
            self._field, self._depth = "title", 0
        elif "result__snippet" in classes and self.results:
            self._field, self._depth = "snippet", 0

    def handle_endtag(self, tag: str) -> None:
        if self._field is None:
            return
        if self._depth == 0:
            self._field = None
        else:
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._field is not None:
            self.results[-1][self._field] += data


def _unwrap_duckduckgo(href: str) -> str:
    """DuckDuckGo links go through /l/?uddg=<target>; return the target."""
    parsed = urlparse(href if not href.startswith("//") else "https:" + href)
    if parsed.path.startswith("/l/"):
        target = parse_qs(parsed.query).get("uddg")
        if target:
            return target[0]
    return href if not href.startswith("//") else "https:" + href


async def _duckduckgo(client: httpx.AsyncClient, query: str, count: int) -> list[SearchResult]:
    url = os.environ.get("LYE_DUCKDUCKGO_URL", "").strip() or DUCKDUCKGO_URL
    response = await client.post(url, data={"q": query, "kl": "wt-wt"})
    response.raise_for_status()
    if response.status_code == 202:
        # DuckDuckGo's rate limit / bot check: a 202 page without results, not "no results".
        raise SearchError("DuckDuckGo answered 202 (rate limited or a bot check); try again later")
    parser = _DuckDuckGoParser()
    parser.feed(response.text)
    parser.close()
    results = []
    for item in parser.results:
        link = _unwrap_duckduckgo(item["url"])
        if link.startswith(("http://", "https://")) and "duckduckgo.com/y.js" not in link:  # skip ads
            results.append(SearchResult(" ".join(item["title"].split()), link, " ".join(item["snippet"].split())))
    return results[:count]


async def _searxng(client: httpx.AsyncClient, query: str, count: int) -> list[SearchResult]:
    base = os.environ.get("SEARXNG_URL", "").strip()
    if not base:
        raise SearchError("SEARXNG_URL is not set")
    response = await client.get(base.rstrip("/") + "/search", params={"q": query, "format": "json"})
    response.raise_for_status()
    items = response.json().get("results") or []
    return [SearchResult(i.get("title", ""), i.get("url", ""), i.get("content", "")) for i in items[:count]]


async def _brave(client: httpx.AsyncClient, query: str, count: int) -> list[SearchResult]:
    key = os.environ.get("BRAVE_API_KEY", "").strip()
    if not key:
        raise SearchError("BRAVE_API_KEY is not set")
    url = os.environ.get("LYE_BRAVE_SEARCH_URL", "").strip() or BRAVE_URL
    response = await client.get(
        url,
        params={"q": query, "count": count},
        headers={"X-Subscription-Token": key, "Accept": "application/json"},
    )
    response.raise_for_status()
    items = (response.json().get("web") or {}).get("results") or []
    return [SearchResult(i.get("title", ""), i.get("url", ""), i.get("description", "")) for i in items[:count]]


async def _tavily(client: httpx.AsyncClient, query: str, count: int) -> list[SearchResult]:
    key = os.environ.get("TAVILY_API_KEY", "").strip()
    if not key:
        raise SearchError("TAVILY_API_KEY is not set")
    url = os.environ.get("LYE_TAVILY_URL", "").strip() or TAVILY_URL
    response = await client.post(
        url,
        json={"query": query, "max_results": count},
        headers={"Authorization": f"Bearer {key}"},
    )
    response.raise_for_status()
    items = response.json().get("results") or []
    return [SearchResult(i.get("title", ""), i.get("url", ""), i.get("content", "")) for i in items[:count]]


_IMPLS: dict[str, Callable[[httpx.AsyncClient, str, int], Awaitable[list[SearchResult]]]] = {
    "duckduckgo": _duckduckgo,
    "searxng": _searxng,
    "brave": _brave,
    "tavily": _tavily,
}


def backend_order(backend: str | None = None) -> list[str]:
    """The backends to try, from the argument or $LYE_SEARCH_BACKEND (read now)."""
    choice = (backend or os.environ.get("LYE_SEARCH_BACKEND", "") or "auto").strip().lower()
    if choice == "auto":
        order = [
            name
            for name, env in (("brave", "BRAVE_API_KEY"), ("tavily", "TAVILY_API_KEY"), ("searxng", "SEARXNG_URL"))
            if os.environ.get(env, "").strip()
        ]
        return [*order, "duckduckgo"]
    if choice not in _IMPLS:
        raise SearchError(f"unknown search backend {choice!r}; choose one of: auto, {', '.join(BACKENDS)}")
    return [choice]


def format_results(query: str, backend: str, results: list[SearchResult]) -> str:
    """Results as the numbered list the model reads."""
    if not results:
        return f"No results for {query!r} (via {backend})."
    lines = [f"Search results for {query!r} (via {backend}):", ""]
    for number, hit in enumerate(results, start=1):
        lines.append(f"{number}. {hit.title or hit.url}\n   {hit.url}")
        if hit.snippet:
            lines.append(f"   {hit.snippet}")
    return "\n".join(lines)


async def search(query: str, max_results: int = 5, *, backend: str | None = None) -> tuple[str, list[SearchResult]]:
    """Run the search on the first backend that answers: (backend name, results)."""
    import httpx  # imported here, not with lye: `import lye` stays cheap

    if not query.strip():
        raise SearchError("the search query is empty")
    failures: list[str] = []
    timeout = env_float("LYE_SEARCH_TIMEOUT", 15.0)
    headers = {"User-Agent": "Mozilla/5.0 (compatible; lye-web-tools/0.1)"}
    async with httpx.AsyncClient(timeout=timeout, headers=headers, follow_redirects=True) as client:
        for name in backend_order(backend):
            try:
                return name, await _IMPLS[name](client, query, max_results)
            except httpx.HTTPStatusError as exc:
                failures.append(f"{name}: HTTP {exc.response.status_code}")
            except (httpx.HTTPError, ValueError, SearchError) as exc:
                failures.append(f"{name}: {exc.__class__.__name__}: {exc}")
    raise SearchError("web search failed, no backend answered (" + "; ".join(failures) + ")")


async def search_web(query: str, max_results: int = 5, *, backend: str | None = None) -> str:
    """Search the web and return the results formatted for a model."""
    name, results = await search(query, max_results, backend=backend)
    return format_results(query, name, results)


__all__ = ["BACKENDS", "SearchResult", "backend_order", "format_results", "search", "search_web"]
