"""Shared fixtures: one fake model server for the whole session, reset before each test.

`fake_server` is the running `tyler.testing.FakeModelServer` (empty queue, no responder, no
recorded requests at the start of every test). `env` additionally points every model name at it
through the environment (OPENAI_BASE_URL, ANTHROPIC_BASE_URL, keys), with provider variables a
developer may have set removed first, so tests never reach the internet.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tyler.testing import FakeModelServer

# Variables that would route a model name somewhere else than the fake server.
_PROVIDER_ENV = (
    "OPENAI_BASE_URL",
    "OPENAI_API_BASE",
    "OPENAI_API_KEY",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_API_BASE",
    "ANTHROPIC_API_KEY",
    "DEEPSEEK_API_KEY",
    "DEEPSEEK_API_BASE",
    "GROQ_API_KEY",
    "GROQ_API_BASE",
    "XAI_API_KEY",
    "XAI_API_BASE",
    "OPENROUTER_API_KEY",
    "OPENROUTER_API_BASE",
    "TOGETHERAI_API_KEY",
    "TOGETHER_API_KEY",
    "TOGETHERAI_API_BASE",
    "OLLAMA_API_KEY",
    "OLLAMA_API_BASE",
    "LM_STUDIO_API_KEY",
    "LM_STUDIO_API_BASE",
    "HOSTED_VLLM_API_KEY",
    "HOSTED_VLLM_API_BASE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


@pytest.fixture(scope="session")
def _fake_server_session() -> Iterator[FakeModelServer]:
    with FakeModelServer() as server:
        yield server


@pytest.fixture
def fake_server(_fake_server_session: FakeModelServer) -> Iterator[FakeModelServer]:
    """The session's fake model server, reset (queue, responder, default turn, requests)."""
    _fake_server_session.reset()
    yield _fake_server_session
    _fake_server_session.reset()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Remove provider/proxy variables so routing depends only on what the test sets."""
    for name in _PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return monkeypatch


@pytest.fixture
def env(fake_server: FakeModelServer, clean_env: pytest.MonkeyPatch) -> FakeModelServer:
    """Point every model name at `fake_server` through the environment; returns the server."""
    for name, value in fake_server.env().items():
        clean_env.setenv(name, value)
    return fake_server
