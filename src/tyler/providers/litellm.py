"""Fallback for model strings no native adapter serves: LiteLLM, imported lazily.

LiteLLM is heavy (seconds and ~200 MB at import, and it fetches a price list from the network
unless told not to), so it is never imported until such a model is actually used.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator
from typing import Any

from ..exceptions import ModelError, ProviderNotFoundError, TylerError
from .base import ModelChunk, ModelRequest
from .openai import parse_chunk


def missing_litellm(model: str) -> ProviderNotFoundError:
    """The error for a model only LiteLLM could serve, when LiteLLM is not installed."""
    return ProviderNotFoundError(
        f"no native provider serves model {model!r}; install the LiteLLM fallback with "
        "`pip install 'tyler-stream[litellm]'`, or use an OpenAI-compatible name with api_base="
    )


def _import_litellm(model: str) -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import litellm
    except ImportError:
        raise missing_litellm(model) from None
    return litellm


class LiteLLMProvider:
    """Streams through `litellm.acompletion(stream=True)`."""

    name = "litellm"

    def __init__(
        self, model: str, *, api_base: str | None = None, api_key: str | None = None, headers: Any = None
    ) -> None:
        self.model = model
        self.api_base = api_base
        self.api_key = api_key
        self.headers = headers

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        litellm = _import_litellm(self.model)
        s = request.settings
        messages = [m.to_chat_dict() for m in request.messages]
        if request.system:
            messages.insert(0, {"role": "system", "content": request.system})
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages, "stream": True,
                                  "stream_options": {"include_usage": True}}
        if request.tools:
            kwargs["tools"] = [t.to_openai() for t in request.tools]
        for key, value in (("api_base", self.api_base), ("api_key", self.api_key),
                           ("temperature", s.temperature), ("max_tokens", s.max_tokens),
                           ("extra_headers", self.headers or s.extra_headers)):
            if value is not None:
                kwargs[key] = value
        if isinstance(s.reasoning, str):
            kwargs["reasoning_effort"] = s.reasoning
        elif isinstance(s.reasoning, dict):
            kwargs.update(s.reasoning)
        try:
            response = await litellm.acompletion(**kwargs)
            async for chunk in response:
                yield parse_chunk(chunk.model_dump(exclude_none=False))
        except TylerError:
            raise
        except Exception as exc:  # LiteLLM's own exception tree, mapped onto ours
            raise ModelError(f"litellm: {exc}", provider="litellm", model=self.model) from exc
