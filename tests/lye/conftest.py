from __future__ import annotations

from collections.abc import Iterator

import pytest
from lye_loopback import LoopbackServer

_ENV = [
    "LYE_ALLOW_PRIVATE_NETWORK",
    "LYE_ALLOWED_HOSTS",
    "LYE_WORKSPACE",
    "LYE_SEARCH_BACKEND",
    "BRAVE_API_KEY",
    "TAVILY_API_KEY",
    "SEARXNG_URL",
    "LYE_DUCKDUCKGO_URL",
    "LYE_BRAVE_SEARCH_URL",
    "LYE_TAVILY_URL",
    "LYE_FETCH_MAX_BYTES",
    "LYE_FETCH_MAX_CHARS",
    "LYE_DOWNLOAD_MAX_BYTES",
    "LYE_HTTP_TIMEOUT",
    "LYE_MAX_READ_CHARS",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start from a known environment; settings are read at call time, so this suffices."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture()
def server() -> Iterator[LoopbackServer]:
    srv = LoopbackServer().start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture()
def allow_private(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LYE_ALLOW_PRIVATE_NETWORK", "1")
