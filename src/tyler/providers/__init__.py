"""Model string → provider routing (LiteLLM-style names).

Kept import-light: the adapters (and their HTTP library) are imported when a provider is first built.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from ..exceptions import ConfigurationError, MissingAPIKeyError
from .base import ModelChunk, ModelRequest, ModelSettings, Provider, ToolCallDelta, ToolSpec, Usage


@dataclass(frozen=True, slots=True)
class _Compat:
    """An OpenAI-compatible service: default base URL and the env vars that configure it."""

    base_url: str | None
    key_envs: tuple[str, ...]
    base_envs: tuple[str, ...]


_OPENAI = _Compat("https://api.openai.com/v1", ("OPENAI_API_KEY",), ("OPENAI_BASE_URL", "OPENAI_API_BASE"))
_COMPAT: dict[str, _Compat] = {
    "openai": _OPENAI,
    "deepseek": _Compat("https://api.deepseek.com/v1", ("DEEPSEEK_API_KEY",), ("DEEPSEEK_API_BASE",)),
    "groq": _Compat("https://api.groq.com/openai/v1", ("GROQ_API_KEY",), ("GROQ_API_BASE",)),
    "xai": _Compat("https://api.x.ai/v1", ("XAI_API_KEY",), ("XAI_API_BASE",)),
    "openrouter": _Compat("https://openrouter.ai/api/v1", ("OPENROUTER_API_KEY",), ("OPENROUTER_API_BASE",)),
    "together_ai": _Compat(
        "https://api.together.xyz/v1", ("TOGETHERAI_API_KEY", "TOGETHER_API_KEY"), ("TOGETHERAI_API_BASE",)
    ),
    "ollama": _Compat("http://localhost:11434/v1", ("OLLAMA_API_KEY",), ("OLLAMA_API_BASE",)),
    "ollama_chat": _Compat("http://localhost:11434/v1", ("OLLAMA_API_KEY",), ("OLLAMA_API_BASE",)),
    "lm_studio": _Compat("http://localhost:1234/v1", ("LM_STUDIO_API_KEY",), ("LM_STUDIO_API_BASE",)),
    "hosted_vllm": _Compat(None, ("HOSTED_VLLM_API_KEY",), ("HOSTED_VLLM_API_BASE",)),
}
_ANTHROPIC_BASE = "https://api.anthropic.com"
# Hosted services that need an API key (local servers such as Ollama do not), by display name.
_KEYED = {
    "openai": "OpenAI", "deepseek": "DeepSeek", "groq": "Groq", "xai": "xAI", "openrouter": "OpenRouter",
    "together_ai": "Together AI",
}
_OPENAI_BARE = ("gpt-", "o1", "o3", "o4", "chatgpt-", "text-", "davinci", "babbage", "ft:gpt")


def _env(names: tuple[str, ...]) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def _with_v1(base: str) -> str:
    """Ollama/LM Studio users often give the server root; the OpenAI API lives under /v1."""
    base = base.rstrip("/")
    return base if base.endswith("/v1") or "/v1/" in base or "/openai" in base else base + "/v1"


def split_model(model_name: str) -> tuple[str, str]:
    """("provider", "model id") for a model string; bare names are inferred."""
    if not isinstance(model_name, str) or not model_name.strip():
        raise ConfigurationError("model_name must be a non-empty string")
    prefix, sep, rest = model_name.partition("/")
    if sep and rest:
        return prefix, rest
    if model_name.startswith("claude"):
        return "anthropic", model_name
    if model_name.startswith(_OPENAI_BARE):
        return "openai", model_name
    return "", model_name


_NATIVE = frozenset({*_COMPAT, "anthropic", "local"})


def _served_natively(kind: str, api_base: str | None) -> bool:
    """Whether a native adapter serves this provider kind (else LiteLLM does)."""
    # An unknown bare name with an explicit endpoint: OpenAI-compatible is the lingua franca.
    return kind in _NATIVE or (not kind and bool(api_base))


def check_model(model_name: str, api_base: str | None = None) -> None:
    """Fail at Agent() time for a model string nothing can serve.

    Names no native adapter serves go to LiteLLM; when it is not installed that is a configuration
    error the user should see when building the Agent, not as the first run's failure.
    `find_spec` only looks at the import path: LiteLLM is not imported.
    """
    import importlib.util

    kind, _ = split_model(model_name)
    if _served_natively(kind, api_base):
        return
    try:
        found = importlib.util.find_spec("litellm") is not None
    except (ImportError, ValueError):  # a broken or blocked install counts as missing
        found = False
    if not found:
        from .litellm import missing_litellm

        raise missing_litellm(model_name)


def _openai(
    kind: str, model: str, api_base: str | None, api_key: str | None, *, headers: Any, client: Any
) -> Provider:
    from .openai import OpenAIProvider

    compat = _COMPAT[kind]
    base = api_base or _env(compat.base_envs) or compat.base_url
    if base is None:
        raise ConfigurationError(f"{kind}/ models need api_base= or {compat.base_envs[0]}")
    if kind in ("ollama", "ollama_chat", "lm_studio", "hosted_vllm"):
        base = _with_v1(base)
    key = api_key or _env(compat.key_envs)
    official = base.rstrip("/") == _OPENAI.base_url
    if not key and kind in _KEYED and compat.base_url and base.rstrip("/") == compat.base_url:
        # The hosted service itself refuses a request without a key: say so before sending it.
        raise MissingAPIKeyError(model, _KEYED[kind], compat.key_envs[0])
    return OpenAIProvider(
        base_url=base, model=model, api_key=key, name=kind, official=official, headers=headers, client=client
    )


def _anthropic(model: str, api_base: str | None, api_key: str | None, headers: Any, client: Any) -> Provider:
    from .anthropic import AnthropicProvider

    base = api_base or _env(("ANTHROPIC_BASE_URL", "ANTHROPIC_API_BASE")) or _ANTHROPIC_BASE
    key = api_key or _env(("ANTHROPIC_API_KEY",))
    if base.rstrip("/") == _ANTHROPIC_BASE and not key:
        raise MissingAPIKeyError(model, "Anthropic", "ANTHROPIC_API_KEY")
    return AnthropicProvider(base_url=base, model=model, api_key=key, headers=headers, client=client)


class _LocalModel:
    """`local/<name>`: the embedded llama.cpp server (started on first use), spoken to as OpenAI."""

    name = "local"
    # Small local models (measured: Qwen2.5-Coder 0.5B/1.5B) call the same tool again after its
    # result; the run loop refuses such repeats for providers that say so (Agent docstring).
    refuses_repeated_tool_calls = True

    def __init__(self, model: str, headers: dict[str, str] | None, client: Any = None) -> None:
        self.model = model
        self.headers = headers
        self.client = client

    async def context_info(self) -> tuple[int | None, int | None]:
        """(context window, default reply cap) as the running llama.cpp server reports them."""
        from .local import local_server_info

        _, n_ctx, n_predict = await local_server_info(self.model)
        return n_ctx, n_predict

    async def count_tokens(self, texts: list[str] | tuple[str, ...]) -> list[int]:
        """Exact counts from the server's tokenizer."""
        from .local import count_local_tokens

        return await count_local_tokens(self.model, texts)

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        from ._local_template import plain_tool_turns
        from .local import ensure_local_server
        from .openai import OpenAIProvider

        base_url, model_id = await ensure_local_server(self.model)
        if not request.tools:
            request = dataclasses.replace(request, messages=plain_tool_turns(request.messages))
        inner = OpenAIProvider(
            base_url=base_url, model=model_id, name="local", headers=self.headers, client=self.client
        )
        async with aclosing(inner.stream(request)) as chunks:
            async for chunk in chunks:
                yield chunk


def configure_http(
    *, max_connections: int | None = None, max_keepalive_connections: int = 100, keepalive_expiry: float = 30.0
) -> None:
    """Set the limits of the shared HTTP connection pool (pools created afterwards use them).

    The default pool has no cap on connections and keeps idle ones for `keepalive_expiry` seconds.
    `max_keepalive_connections` is kept for compatibility: the default (aiohttp) pool keeps every
    idle connection up to `max_connections`.
    """
    from . import transport

    transport.configure_http(
        max_connections=max_connections,
        max_keepalive_connections=max_keepalive_connections,
        keepalive_expiry=keepalive_expiry,
    )


async def aclose_http() -> None:
    """Close the running event loop's shared HTTP pool now (it is closed when the loop shuts down anyway)."""
    from . import transport

    await transport.aclose_http()


def resolve_provider(
    model_name: str,
    *,
    api_base: str | None = None,
    api_key: str | None = None,
    headers: dict[str, str] | None = None,
    client: Any = None,
) -> Provider:
    """The provider that serves `model_name` (see the README's model table).

    `client`: an `aiohttp.ClientSession` or `httpx.AsyncClient` the native providers send with
    (default: the shared pool of the running event loop). LiteLLM keeps its own HTTP stack.
    """
    kind, model = split_model(model_name)
    if not _served_natively(kind, api_base):
        from .litellm import LiteLLMProvider

        return LiteLLMProvider(model_name, api_base=api_base, api_key=api_key, headers=headers)
    if kind in _COMPAT:
        return _openai(kind, model, api_base, api_key, headers=headers, client=client)
    if kind == "anthropic":
        return _anthropic(model, api_base, api_key, headers, client)
    if kind == "local":
        return _LocalModel(model, headers, client)
    from .openai import OpenAIProvider

    assert api_base  # a bare unknown name is native only with an endpoint
    return OpenAIProvider(
        base_url=api_base, model=model, api_key=api_key, name="openai-compatible", headers=headers, client=client
    )


__all__ = [
    "ModelChunk",
    "ModelRequest",
    "ModelSettings",
    "Provider",
    "ToolCallDelta",
    "ToolSpec",
    "Usage",
    "aclose_http",
    "check_model",
    "configure_http",
    "resolve_provider",
    "split_model",
]
