"""Fallback for model strings no native adapter serves: LiteLLM, imported lazily.

LiteLLM is heavy (seconds and ~200 MB at import, and it fetches a price list from the network
unless told not to), so it is never imported until such a model is actually used.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator
from typing import Any

from ..context import is_context_refusal, refusal_numbers
from ..exceptions import ContextLengthError, ModelError, ProviderNotFoundError, TylerError
from .base import ModelChunk, ModelRequest, check_complete
from .openai import RESPONSE_COMPLETE, chat_body, parse_chunk


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
    """Streams through `litellm.acompletion(stream=True)`.

    The request is the one `OpenAIProvider` sends (`chat_body`), given to LiteLLM as keyword
    arguments (keys it does not know, from `extra_body` or a reasoning dict, are passed on to the
    provider as LiteLLM documents); the chunks are parsed and the end checked the same way.
    """

    name = "litellm"

    def __init__(
        self, model: str, *, api_base: str | None = None, api_key: str | None = None, headers: Any = None
    ) -> None:
        self.model = model
        self.api_base = api_base
        self.api_key = api_key
        self.headers = headers

    def build_kwargs(self, request: ModelRequest) -> dict[str, Any]:
        """`litellm.acompletion` keyword arguments for `request`."""
        kwargs = chat_body(request, self.model)
        if self.api_base is not None:
            kwargs["api_base"] = self.api_base
        if self.api_key is not None:
            kwargs["api_key"] = self.api_key
        headers = {**(self.headers or {}), **(request.settings.extra_headers or {})}  # per-request ones win
        if headers:
            kwargs["extra_headers"] = headers
        return kwargs

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelChunk, None]:
        litellm = _import_litellm(self.model)
        kwargs = self.build_kwargs(request)
        finished = False
        response: Any = None
        try:
            response = await litellm.acompletion(**kwargs)
            async for raw in response:
                chunk = parse_chunk(raw.model_dump(exclude_none=False))
                finished = finished or bool(chunk.finish_reason)
                yield chunk
        except TylerError:
            raise
        except Exception as exc:  # LiteLLM's own exception tree, mapped onto ours
            if type(exc).__name__ == "ContextWindowExceededError" or is_context_refusal(400, str(exc)):
                tokens, limit = refusal_numbers(str(exc))
                raise ContextLengthError(
                    f"litellm: {exc}", tokens=tokens, limit=limit, provider="litellm", model=self.model
                ) from exc
            raise ModelError(f"litellm: {exc}", provider="litellm", model=self.model) from exc
        finally:
            # Closing us (the consumer stopped) must close LiteLLM's stream and its HTTP response.
            close = getattr(response, "aclose", None)
            if close is not None:
                await close()
        check_complete(finished, provider=self.name, model=self.model, ending=RESPONSE_COMPLETE)
