"""Context-window management: what of a thread is sent to the model when all of it does not fit.

The stored thread always keeps every message; only the request is shortened. Three strategies:

- "trim" (default): the system prompt and the most recent messages that fit, leaving room for the
  reply. A tool call and its results travel together (a result without its call, or a call without
  its results, is refused by every provider), the latest user message is always sent, and what is
  sent starts with a user message (Anthropic requires it).
- "summarize": like trim, and the messages left out are replaced by a model-written summary. The
  summary is kept on the thread (`thread.attributes["tyler.context_summary"]`) with the id of the
  last message it covers, so a later turn only summarises what newly fell out of the window.
- "error": raise `ContextLengthError` instead of shortening.

A single message larger than the whole budget (a huge tool result, a paste) is cut in the middle
with a marker saying how much was left out, rather than failing the run.

Token counts are estimates good enough to decide: the provider's own tokenizer when it has one
(the embedded llama.cpp server's /tokenize), else about 3.5 characters per token, a little on the
safe side for English text and code under the BPE tokenizers of hosted models. Counts are cached
per message, so a turn counts only the messages it has not seen.

Attachments are estimated, never sent to a tokenizer (`attachment_tokens`): an image 1,600 tokens
(the most either API bills for one: Anthropic about width x height / 750 after scaling to at most
~1.15 megapixels, OpenAI's high detail at most 1,105), a text file or a PDF the text it is sent as
(file bytes, or the PDF's extracted text, at 3.5 characters per token, plus a header line), any
other file the one-line notice sent in its place.
"""

from __future__ import annotations

import json
import math
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from .exceptions import ConfigurationError, ContextLengthError
from .messages import Message

if TYPE_CHECKING:
    from .events import ContextTrimmedData

ContextStrategy = Literal["trim", "summarize", "error"]
STRATEGIES: tuple[str, ...] = ("trim", "summarize", "error")
SUMMARY_KEY = "tyler.context_summary"
# A user message whose reply failed (set by `tyler chat`): kept on the thread, not sent again
# unless it is the latest message.
UNANSWERED = "unanswered"
# A reply a client asked to be replaced (AI SDK regenerate, an edited user message; see
# tyler.server.runs.replace_tail): kept in the append-only store as history, never sent again.
REPLACED = "replaced"

_CHARS_PER_TOKEN = 3.5
_MESSAGE_OVERHEAD = 6  # role markers and separators a chat template adds around each message
_DEFAULT_REPLY_RESERVE = 4096
_MIN_BUDGET = 16
_RETRY_SHRINK = 0.8  # a refused request is retried with at most this share of what was sent
_CACHE_SIZE = 4096

# Context windows of well-known hosted models, by model-id prefix (the longest prefix wins).
# Figures from the providers' model pages; `Agent(context_window=...)` overrides.
_WINDOWS: dict[str, int] = {
    "gpt-4.1": 1_047_576,
    "gpt-4o": 128_000,
    "gpt-4-turbo": 128_000,
    "gpt-4": 8_192,
    "gpt-3.5-turbo": 16_385,
    "gpt-5": 400_000,
    "o1": 200_000,
    "o3": 200_000,
    "o4-mini": 200_000,
    "chatgpt-4o": 128_000,
    "claude": 200_000,
    "deepseek-chat": 128_000,
    "deepseek-reasoner": 128_000,
    "grok-4": 256_000,
    "grok-3": 131_072,
    "llama-3.1": 131_072,
    "llama-3.3": 131_072,
    "llama3": 8_192,
    "mixtral-8x7b": 32_768,
    "gemma2": 8_192,
    "qwen": 32_768,
}


def known_context_window(model_name: str) -> int | None:
    """The context window of a well-known hosted model (by id prefix), or None."""
    model = model_name.rsplit("/", 1)[-1].lower()
    best: tuple[int, int] | None = None
    for prefix, window in _WINDOWS.items():
        if model.startswith(prefix) and (best is None or len(prefix) > best[0]):
            best = (len(prefix), window)
    return None if best is None else best[1]


def estimate_tokens(text: str) -> int:
    """A fast token estimate of `text` (no tokenizer): about 3.5 characters per token."""
    return math.ceil(len(text) / _CHARS_PER_TOKEN) if text else 0


@runtime_checkable
class TokenizingProvider(Protocol):
    """What a provider may offer beyond streaming, to count exactly (both are optional)."""

    async def context_info(self) -> tuple[int | None, int | None]:
        """(context window, default reply length) as the model server reports them."""
        ...

    async def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Exact token counts of `texts` under the model's tokenizer."""
        ...


def sendable(messages: list[Message]) -> list[Message]:
    """`messages` without those marked REPLACED, and without the user messages marked UNANSWERED
    except the latest message."""
    if not any(m.attributes.get(UNANSWERED) or m.attributes.get(REPLACED) for m in messages):
        return messages
    kept = [m for m in messages[:-1] if not (m.attributes.get(REPLACED)
                                             or (m.role == "user" and m.attributes.get(UNANSWERED)))]
    return kept + [m for m in messages[-1:] if not m.attributes.get(REPLACED)]


def message_text(message: Message) -> str:
    """Everything of `message` that is sent and costs tokens, as one string."""
    parts = [message.text]
    if message.tool_calls:
        parts.append(json.dumps(message.tool_calls, ensure_ascii=False))
    if message.name:
        parts.append(message.name)
    return "\n".join(p for p in parts if p)


_IMAGE_TOKENS = 1_600
_ATTACHMENT_HEADER = 20  # "[Attached file NAME (TYPE)]" before a file's text, or the notice alone
_PDF_BYTES_PER_TOKEN = 10  # a PDF not extracted yet: its file size says roughly how much text


def attachment_tokens(message: Message) -> int:
    """Estimated tokens of `message`'s attachments as sent (figures in the module docstring)."""
    total = 0
    for attachment in message.attachments:
        kind = attachment.kind
        if kind == "image":
            total += _IMAGE_TOKENS
        elif kind == "text":
            # Bytes, not decoded characters: no decoding per plan, and a little on the safe side.
            total += _ATTACHMENT_HEADER + math.ceil(attachment.size / _CHARS_PER_TOKEN)
        elif kind == "pdf":
            text = attachment.extracted_text
            body = estimate_tokens(text) if text is not None else attachment.size // _PDF_BYTES_PER_TOKEN
            total += _ATTACHMENT_HEADER + body
        else:
            total += _ATTACHMENT_HEADER
    return total


def group_units(messages: Sequence[Message]) -> list[list[int]]:
    """Indexes of `messages` in units that are sent or left out together.

    An assistant message with tool calls and the tool results that follow it form one unit;
    every other message is a unit of its own (a stray tool result joins the unit before it).
    """
    units: list[list[int]] = []
    for i, message in enumerate(messages):
        if message.role == "tool" and units:
            units[-1].append(i)
        else:
            units.append([i])
    return units


@dataclass(slots=True)
class ContextPlan:
    """What one request sends: `messages` (possibly shortened) and what was left out."""

    messages: list[Message]
    tokens: int
    budget: int | None
    omitted: int = 0
    summarized: int = 0
    truncated: int = 0
    summary: str | None = None
    window: int | None = None

    @property
    def changed(self) -> bool:
        return bool(self.omitted or self.summarized or self.truncated)

    def report(self, strategy: str) -> ContextTrimmedData:
        """The CONTEXT_TRIMMED event's data (JSON-ready)."""
        return {
            "strategy": strategy,
            "omitted_messages": self.omitted,
            "summarized_messages": self.summarized,
            "truncated_messages": self.truncated,
            "estimated_tokens": self.tokens,
            "budget": self.budget,
            "context_window": self.window,
        }


def cut_text(text: str, keep_tokens: int) -> str:
    """`text` cut in the middle to about `keep_tokens` tokens, with a marker saying so."""
    limit = int(keep_tokens * _CHARS_PER_TOKEN)
    if len(text) <= limit:
        return text
    digits = len(str(len(text)))
    if limit >= 400:
        words = "characters cut here: this message was larger than the model's context window"
        template = f"\n[… {{}} {words} …]\n"
    else:  # a tiny budget: the long marker alone would not fit
        template = "[…{} characters cut here…]"
    keep = max(0, limit - len(template) - digits)
    head = keep * 2 // 3
    tail = keep - head
    marker = template.format(len(text) - head - tail)
    return text[:head] + marker + (text[-tail:] if tail else "")


def _choose_units(units: list[list[int]], messages: Sequence[Message], costs: list[int], budget: int) -> list[int]:
    """Indexes of the units kept: newest first while they fit, the latest user message's always."""
    anchor = max((u for u, unit in enumerate(units) if messages[unit[0]].role == "user"), default=len(units) - 1)
    last = len(units) - 1
    unit_cost = [sum(costs[i] for i in unit) for unit in units]
    kept = {anchor, last}
    room = budget - sum(unit_cost[u] for u in kept)
    for u in range(last - 1, -1, -1):
        if u == anchor:
            continue
        if unit_cost[u] > room:
            if u > anchor:
                continue  # inside the current exchange: skip it, the anchor is still sent
            break  # older history: stop at the first gap so what is sent reads as one stretch
        kept.add(u)
        room -= unit_cost[u]
    ordered = sorted(kept)
    # What is sent starts with a user message (Anthropic refuses anything else first).
    while len(ordered) > 1 and ordered[0] != anchor and messages[units[ordered[0]][0]].role != "user":
        ordered.pop(0)
    return ordered


def plan_trim(messages: Sequence[Message], costs: list[int], budget: int) -> ContextPlan:
    """The most recent messages that fit `budget` tokens (see the module docstring for the rules).

    `costs[i]` is the token count of `messages[i]`. Messages still too large once everything else
    is left out are cut (`cut_text`); if even that cannot fit, ContextLengthError is raised.
    """
    total = sum(costs)
    if total <= budget:
        return ContextPlan(list(messages), total, budget)
    units = group_units(messages)
    chosen = [i for u in _choose_units(units, messages, costs, budget) for i in units[u]]
    sent = [messages[i] for i in chosen]
    sent_costs = [costs[i] for i in chosen]
    truncated = _cut_to_fit(sent, sent_costs, budget)
    tokens = sum(sent_costs)
    if tokens > budget:
        raise ContextLengthError(
            f"the latest messages need about {tokens} tokens and cannot be shortened to the "
            f"{budget} tokens the context window leaves for them", tokens=tokens, limit=budget,
        )
    return ContextPlan(sent, tokens, budget, omitted=len(messages) - len(sent), truncated=truncated)


def _cut_to_fit(sent: list[Message], costs: list[int], budget: int) -> int:
    """Cut the largest text messages (copies; the thread keeps the originals) until `sent` fits."""
    truncated: set[int] = set()
    for _ in range(len(sent)):
        excess = sum(costs) - budget
        if excess <= 0:
            break
        candidates = [i for i in range(len(sent)) if isinstance(sent[i].content, str) and i not in truncated]
        if not candidates:
            break
        i = max(candidates, key=lambda k: costs[k])
        attached = attachment_tokens(sent[i])  # attachments are not cut: only the text is
        keep = max(_MIN_BUDGET, costs[i] - excess - _MESSAGE_OVERHEAD - attached)
        text = cut_text(str(sent[i].content), keep)
        sent[i] = sent[i].model_copy(update={"content": text})
        costs[i] = min(costs[i], estimate_tokens(text) + _MESSAGE_OVERHEAD + attached)
        truncated.add(i)
    return len(truncated)


@dataclass
class TokenCounter:
    """Counts message tokens with the provider's tokenizer when it has one, caching per message."""

    exact: Callable[[Sequence[str]], Awaitable[list[int]]] | None = None
    _cache: OrderedDict[tuple[str, int, int], int] = field(default_factory=OrderedDict)

    async def count_texts(self, texts: Sequence[str]) -> list[int]:
        if self.exact is None or not texts:
            return [estimate_tokens(t) for t in texts]
        return await self.exact(texts)

    async def count_messages(self, messages: Sequence[Message], budget: int | None = None) -> list[int]:
        """Token counts of `messages` (with their overhead).

        With `budget`, only the newest messages that could fit are counted by the tokenizer; older
        ones get the estimate (they are left out either way), so resuming a long thread costs a
        few tokenizer calls, not one per message.
        """
        keys = [(m.id, len(m.text), len(m.tool_calls or ())) for m in messages]
        first = 0
        if budget is not None and self.exact is not None:
            first = _newest_within(messages, keys, self._cache, 2 * budget)
        missing = [i for i in range(first, len(keys)) if keys[i] not in self._cache]
        if missing:
            counted = await self.count_texts([message_text(messages[i]) for i in missing])
            for i, n in zip(missing, counted, strict=True):
                self._cache[keys[i]] = n + _MESSAGE_OVERHEAD
                if len(self._cache) > _CACHE_SIZE:
                    self._cache.popitem(last=False)
        out = [estimate_tokens(message_text(m)) + _MESSAGE_OVERHEAD for m in messages[:first]]
        for key in keys[first:]:
            self._cache.move_to_end(key)
            out.append(self._cache[key])
        # Attachments are estimated apart from the text (cheap, and no tokenizer sees files).
        return [n + attachment_tokens(m) if m.attachments else n for n, m in zip(out, messages, strict=True)]


def _newest_within(
    messages: Sequence[Message], keys: list[tuple[str, int, int]], cache: dict[tuple[str, int, int], int], limit: int
) -> int:
    """Index of the oldest message of the newest stretch whose (cached or estimated) size is <= `limit`."""
    total = 0
    for i in range(len(messages) - 1, -1, -1):
        cached = cache.get(keys[i])
        total += cached if cached is not None else estimate_tokens(message_text(messages[i])) + _MESSAGE_OVERHEAD
        total += attachment_tokens(messages[i])
        if total > limit:
            return i
    return 0


def check_strategy(strategy: Any, window: Any) -> None:
    """Validate `Agent(context_strategy=..., context_window=...)`."""
    if strategy not in STRATEGIES:
        raise ConfigurationError(f"context_strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if window is not None and (not isinstance(window, int) or isinstance(window, bool) or window < 2 * _MIN_BUDGET):
        raise ConfigurationError(f"context_window must be None or an integer >= {2 * _MIN_BUDGET}, got {window!r}")


_SUMMARY_SYSTEM = (
    "You summarise conversations so they can continue without the full transcript. Keep facts, "
    "names, numbers, decisions, open questions and what the user wants; drop pleasantries."
)
_SUMMARY_PROMPT = "Summarise this earlier part of our conversation in a few sentences:\n\n"
_SUMMARY_SHARE = 4  # at most a quarter of the budget goes to the summary...
_SUMMARY_MAX = 1024  # ...and never more than this many tokens


class ContextPolicy:
    """An agent's context settings and token cache; `plan()` decides what one request sends."""

    def __init__(self, model_name: str, strategy: str = "trim", window: int | None = None) -> None:
        check_strategy(strategy, window)
        self.model_name = model_name
        self.strategy = strategy
        self.window = window
        self._counter: TokenCounter | None = None
        self._fixed: dict[str, int] = {}

    async def limits(self, provider: Any, settings: Any) -> tuple[int | None, int]:
        """(context window, tokens kept free for the reply)."""
        window, default_reply = self.window, None
        if isinstance(provider, TokenizingProvider):
            reported, default_reply = await provider.context_info()
            window = window or reported
        window = window or known_context_window(self.model_name)
        reserve = settings.max_tokens or default_reply or _DEFAULT_REPLY_RESERVE
        if window:
            reserve = min(reserve, window // 4)
        return window, reserve

    def _tokens(self, provider: Any) -> TokenCounter:
        if self._counter is None:
            exact = provider.count_tokens if isinstance(provider, TokenizingProvider) else None
            self._counter = TokenCounter(exact)
        return self._counter

    async def _fixed_cost(self, counter: TokenCounter, system: str | None, tools: Sequence[Any]) -> int:
        texts = [system or "", json.dumps([t.to_openai() for t in tools]) if tools else ""]
        missing = [t for t in texts if t not in self._fixed]
        if missing:
            if len(self._fixed) > 64:  # system prompts carry the date: old ones are dead weight
                self._fixed.clear()
            for text, n in zip(missing, await counter.count_texts(missing), strict=True):
                self._fixed[text] = n
        return sum(self._fixed[t] for t in texts)

    async def plan(
        self, provider: Any, thread: Any, system: str | None, tools: Sequence[Any], settings: Any,
        *, budget: int | None = None,
    ) -> ContextPlan:
        """What to send for `thread`. `budget` (tokens for the messages) overrides the computed one."""
        window, reserve = await self.limits(provider, settings)
        plan = await self._plan(
            provider, thread, system, tools, settings, window=window, reserve=reserve, budget=budget
        )
        plan.window = window
        return plan

    async def _plan(
        self, provider: Any, thread: Any, system: str | None, tools: Sequence[Any], settings: Any,
        *, window: int | None, reserve: int, budget: int | None,
    ) -> ContextPlan:
        messages = sendable(thread.messages)
        if window is None and budget is None:
            return ContextPlan(list(messages), 0, None)  # nothing known to fit against
        counter = self._tokens(provider)
        fixed = await self._fixed_cost(counter, system, tools)
        if budget is None:
            assert window is not None
            budget = max(_MIN_BUDGET, window - reserve - fixed)
        costs = await counter.count_messages(messages, budget)
        total = sum(costs)
        if total <= budget:
            return ContextPlan(list(messages), total, budget)
        if self.strategy == "error":
            raise ContextLengthError(
                f"the thread needs about {total + fixed} prompt tokens; the context window of "
                f"{self.model_name} ({window} tokens, {reserve} kept for the reply) leaves {budget + fixed}",
                tokens=total + fixed, limit=window, model=self.model_name,
            )
        if self.strategy == "summarize":
            allowance = min(_SUMMARY_MAX, budget // _SUMMARY_SHARE)
            trimmed = plan_trim(messages, costs, budget - allowance)
            return await self._summarized(
                provider, thread, messages, settings, trimmed=trimmed, allowance=allowance
            )
        return plan_trim(messages, costs, budget)

    async def tighter_budget(
        self, provider: Any, thread: Any, error: ContextLengthError, last: ContextPlan | None
    ) -> int | None:
        """The budget to retry with after the provider refused a request as too long (None: don't)."""
        if self.strategy == "error":
            return None
        sent = last.tokens if last is not None and last.tokens else 0
        if not sent:  # the window was unknown, so nothing was counted: count what was sent
            sent = sum(await self._tokens(provider).count_messages(sendable(thread.messages)))
        return refused_budget(error, sent)

    async def _summarized(
        self, provider: Any, thread: Any, messages: list[Message], settings: Any, *, trimmed: ContextPlan,
        allowance: int,
    ) -> ContextPlan:
        ids = [m.id for m in messages]
        position = {mid: i for i, mid in enumerate(ids)}
        first = position[trimmed.messages[0].id]
        if first == 0:
            return trimmed  # only cuts inside the latest messages: nothing to summarise
        stored = thread.attributes.get(SUMMARY_KEY)
        through = position[stored["through"]] if _valid_summary(stored, position) else -1
        if through >= first - 1:
            text = str(stored["text"])  # still covers what is left out: no model call
            covered = through + 1
        else:
            previous = str(stored["text"]) if through >= 0 else None
            text = await self._summarize(provider, settings, previous, messages[through + 1 : first], allowance)
            covered = first
            thread.attributes[SUMMARY_KEY] = {"text": text, "through": ids[first - 1], "messages": covered}
        note = Message(
            role="system", content=f"Summary of the earlier conversation ({covered} messages):\n{text}",
            attributes={"context_summary": True},
        )
        sent = [m for m in trimmed.messages if position[m.id] >= covered]
        tokens = sum(await self._tokens(provider).count_messages([note, *sent]))
        return ContextPlan(
            [note, *sent], tokens, trimmed.budget, omitted=len(messages) - covered - len(sent),
            summarized=covered, truncated=trimmed.truncated, summary=text,
        )

    async def _summarize(
        self, provider: Any, settings: Any, previous: str | None, messages: Sequence[Message], allowance: int
    ) -> str:
        from dataclasses import replace

        from .providers.base import ModelRequest

        transcript = "\n\n".join(f"{m.role}: {message_text(m)}" for m in messages)
        if previous:
            transcript = f"(summary of what came before)\n{previous}\n\n{transcript}"
        window, _ = await self.limits(provider, settings)
        if window:
            frame = estimate_tokens(_SUMMARY_SYSTEM + _SUMMARY_PROMPT) + 3 * _MESSAGE_OVERHEAD
            transcript = cut_text(transcript, max(_MIN_BUDGET, window - allowance - frame))
        request = ModelRequest(
            model=self.model_name,
            messages=[Message(role="user", content=_SUMMARY_PROMPT + transcript)],
            system=_SUMMARY_SYSTEM,
            settings=replace(settings, max_tokens=allowance, reasoning=None),
        )
        async with aclosing(provider.stream(request)) as chunks:
            parts = [chunk.text async for chunk in chunks if chunk.text]
        return "".join(parts).strip() or "(no summary)"


def _valid_summary(stored: Any, position: dict[str, int]) -> bool:
    return isinstance(stored, dict) and isinstance(stored.get("text"), str) and stored.get("through") in position


_NUMBERS = re.compile(r"\d[\d,]*")


def refused_budget(error: ContextLengthError, sent_tokens: int) -> int | None:
    """A tighter budget after the provider refused a request of about `sent_tokens` (our count).

    When the provider says both its count and its limit, their ratio scales our own count (the two
    tokenizers may disagree); otherwise the retry sends a fixed share less.
    """
    if sent_tokens <= 0:
        return None
    share = _RETRY_SHRINK
    if error.tokens and error.limit and error.tokens > error.limit:
        share = min(_RETRY_SHRINK, error.limit / error.tokens * _RETRY_SHRINK)
    return max(_MIN_BUDGET, int(sent_tokens * share))


# How each provider words a refusal of a too-long request (the status is 400 or 413).
_REFUSALS = (
    "context_length_exceeded",  # OpenAI error code
    "maximum context length",  # OpenAI and compatible servers (vLLM, DeepSeek, Groq...)
    "prompt is too long",  # Anthropic
    "exceeds the available context size",  # llama.cpp
    "exceed_context_size_error",  # llama.cpp error type
    "context window",  # Ollama, others
    "too many tokens",
)


def is_context_refusal(status: int, body: Any) -> bool:
    """Whether an HTTP error answer says the request did not fit the model's context window."""
    if status not in (400, 413, 422):
        return False
    text = json.dumps(body, default=str) if not isinstance(body, str) else body
    lowered = text.lower()
    return any(words in lowered for words in _REFUSALS)


def refusal_numbers(body: Any) -> tuple[int | None, int | None]:
    """(tokens sent, limit) from a refusal, when the provider says them."""
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and isinstance(err.get("n_prompt_tokens"), int) and isinstance(err.get("n_ctx"), int):
            return err["n_prompt_tokens"], err["n_ctx"]  # llama.cpp says both
    text = json.dumps(body, default=str) if not isinstance(body, str) else body
    numbers = [int(n.replace(",", "")) for n in _NUMBERS.findall(text)]
    numbers = [n for n in numbers if n >= 32]
    if len(numbers) >= 2:
        limit, tokens = min(numbers[:2]), max(numbers[:2])
        return tokens, limit
    return None, None


__all__ = [
    "STRATEGIES",
    "SUMMARY_KEY",
    "ContextPlan",
    "ContextPolicy",
    "ContextStrategy",
    "TokenCounter",
    "REPLACED",
    "UNANSWERED",
    "TokenizingProvider",
    "attachment_tokens",
    "check_strategy",
    "cut_text",
    "estimate_tokens",
    "group_units",
    "is_context_refusal",
    "known_context_window",
    "message_text",
    "plan_trim",
    "refusal_numbers",
    "refused_budget",
    "sendable",
]
