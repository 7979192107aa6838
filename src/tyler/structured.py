"""Structured output: a run whose answer is a validated pydantic model.

    result = await agent.run(thread, response_type=Invoice)
    result.structured_data          # an Invoice

How the model is asked (`OutputSpec.for_provider`): providers with a native mechanism get it (OpenAI
Chat Completions: `response_format` json_schema, strict when the schema allows); the others
(Anthropic, LiteLLM, custom providers) get an output tool, `final_result`, whose arguments are the
object, with `tool_choice` forcing a tool call. Tools still run before the answer when the model
calls them.

Each answer attempt is validated (`OutputSpec.judge`); a failure is fed back to the model with
pydantic's errors and retried up to `RetryConfig.max_retries` times, then the run fails with
`StructuredOutputError` (last raw output, errors, history). Every attempt and every feedback
message stays on the thread: nothing the user saw is lost.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from .exceptions import ConfigurationError, StructuredOutputError
from .messages import Message, ToolCall
from .providers.base import ToolSpec

OUTPUT_TOOL = "final_result"


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """Retries of structured output (Tyler's `RetryConfig`).

    `max_retries`: answer attempts after the first that may fail validation.
    `retry_on_validation_error`: False fails at the first invalid answer.
    `backoff_base_delay`: seconds to wait before retry n (times 2**(n-1)); 0 retries at once.
    """

    max_retries: int = 3
    retry_on_validation_error: bool = True
    backoff_base_delay: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.max_retries, int) or isinstance(self.max_retries, bool) or self.max_retries < 0:
            raise ConfigurationError(f"RetryConfig.max_retries must be an int >= 0, got {self.max_retries!r}")
        if not isinstance(self.backoff_base_delay, int | float) or self.backoff_base_delay < 0:
            raise ConfigurationError("RetryConfig.backoff_base_delay must be a number >= 0")

    def delay(self, retry: int) -> float:
        return float(self.backoff_base_delay) * 2 ** (retry - 1) if self.backoff_base_delay else 0.0


def _strict(schema: Any) -> bool:
    """Whether OpenAI's strict mode accepts the schema: every object closed, every property required."""
    if isinstance(schema, dict):
        if schema.get("type") == "object" or "properties" in schema:
            props = schema.get("properties", {})
            if schema.get("additionalProperties") is not False or set(schema.get("required", [])) != set(props):
                return False
        return all(_strict(v) for v in schema.values())
    if isinstance(schema, list):
        return all(_strict(v) for v in schema)
    return True


def _closed(schema: Any) -> Any:
    """The schema with `additionalProperties: false` on objects that do not say otherwise."""
    if isinstance(schema, dict):
        out = {k: _closed(v) for k, v in schema.items()}
        if (out.get("type") == "object" or "properties" in out) and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


@dataclass(slots=True)
class Verdict:
    """What one answer attempt came to. `messages` go on the thread (tool answers, feedback)."""

    messages: list[Message]
    value: BaseModel | None = None
    errors: list[dict[str, Any]] | None = None
    raw: str | None = None

    @property
    def ok(self) -> bool:
        return self.value is not None


@dataclass(slots=True)
class OutputSpec:
    """The expected output type of one run and how the model is asked for it."""

    model: type[BaseModel]
    retry: RetryConfig = field(default_factory=RetryConfig)
    native: bool = True  # set per provider by `for_provider`
    schema: dict[str, Any] = field(init=False)
    strict: bool = field(init=False)
    history: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not (isinstance(self.model, type) and issubclass(self.model, BaseModel)):
            raise ConfigurationError(f"response_type must be a pydantic model class, got {self.model!r}")
        schema = _closed(self.model.model_json_schema())
        self.strict = _strict(schema)
        self.schema = schema

    @property
    def name(self) -> str:
        return re.sub(r"[^A-Za-z0-9_-]", "_", self.model.__name__)[:64] or "output"

    def for_provider(self, provider: Any) -> OutputSpec:
        """A fresh spec for one run (its own retry history), native where `provider` can do it."""
        return OutputSpec(self.model, self.retry, native=bool(getattr(provider, "native_output", False)))

    # -- the request ---------------------------------------------------------------------------

    def response_format(self) -> dict[str, Any]:
        """OpenAI `response_format`."""
        return {"type": "json_schema", "json_schema": {
            "name": self.name, "schema": copy.deepcopy(self.schema), "strict": self.strict,
        }}

    def tool(self) -> ToolSpec:
        doc = (self.model.__doc__ or "").strip()
        return ToolSpec(
            OUTPUT_TOOL,
            f"Give your final answer as a {self.model.__name__} object. " + (doc + " " if doc else "")
            + "Call this exactly once, when you are done, with the complete answer as its arguments.",
            copy.deepcopy(self.schema),
        )

    def tool_choice(self, other_tools: int) -> dict[str, Any] | str:
        """OpenAI-style choice: the output tool itself, or any tool when others are offered."""
        if other_tools:
            return "required"
        return {"type": "function", "function": {"name": OUTPUT_TOOL}}

    def shape(self, request: Any) -> None:
        """Ask for the output in `request` (a `ModelRequest`): natively, or through the output tool."""
        if self.native:
            request.response_format = self.response_format()
        else:
            request.tool_choice = self.tool_choice(len(request.tools))
            request.tools = [*request.tools, self.tool()]

    # -- the answer ------------------------------------------------------------------------------

    def judge(self, message: Message) -> Verdict | None:
        """Judge an assistant message: None if it is not an answer attempt (other tool calls)."""
        calls = message.tool_calls or []
        output_calls = [c for c in calls if c["function"]["name"] == OUTPUT_TOOL]
        if calls and not output_calls:
            return None  # the model is using tools first
        raw = output_calls[0]["function"]["arguments"] if output_calls else message.text
        value, errors = self._validate(raw)
        replies = [_answer(c, errors, c is (output_calls[0] if output_calls else None)) for c in calls]
        if value is not None:
            return Verdict(replies, value=value, raw=raw)
        self.history.append({"attempt": len(self.history) + 1, "output": raw, "errors": errors})
        feedback = [] if output_calls else [Message(
            role="user", content=_feedback(errors), attributes={"structured_output_retry": len(self.history)},
        )]
        return Verdict(replies + feedback, errors=errors, raw=raw)

    def _validate(self, raw: str) -> tuple[BaseModel | None, list[dict[str, Any]]]:
        try:
            return self.model.model_validate_json(_strip_fence(raw or "")), []
        except ValidationError as exc:
            return None, [_plain(e) for e in exc.errors(include_url=False)]

    def give_up(self) -> StructuredOutputError | None:
        """The error that ends the run if no retry is left after the last failure, else None."""
        failures = len(self.history)
        if self.retry.retry_on_validation_error and failures <= self.retry.max_retries:
            return None
        last = self.history[-1]
        return StructuredOutputError(
            f"the model's output did not validate as {self.model.__name__} after {failures} attempt(s): "
            + _summary(last["errors"]),
            last_output=last["output"], validation_errors=last["errors"], retry_history=list(self.history),
        )


def _plain(error: Any) -> dict[str, Any]:
    # pydantic's error dicts may hold the exception object in "ctx": keep them JSON-able.
    return {"type": error.get("type"), "loc": list(error.get("loc", ())), "msg": error.get("msg"),
            "input": error.get("input") if isinstance(error.get("input"), str | int | float | bool | None) else None}


def _summary(errors: list[dict[str, Any]]) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in errors[:5])


def _feedback(errors: list[dict[str, Any]]) -> str:
    return (
        "Your answer did not match the required JSON schema: " + _summary(errors)
        + ". Answer again with only the corrected JSON object."
    )


def _answer(call: ToolCall, errors: list[dict[str, Any]], is_output: bool) -> Message:
    """The tool message answering a call of an answer turn (every call must be answered)."""
    attrs: dict[str, Any]
    if not is_output:
        content, attrs = "Not run: the final answer was given in the same turn.", {"error": True}
    elif errors:
        content = "Error: the arguments did not match the schema: " + _summary(errors) + ". Call it again, corrected."
        attrs = {"error": True, "error_type": "ValidationError"}
    else:
        content, attrs = "Final answer accepted.", {}
    return Message(role="tool", name=call["function"]["name"], tool_call_id=call["id"], content=content,
                   attributes=attrs)


_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*?)\n\s*```\s*$", re.S)


def _strip_fence(raw: str) -> str:
    """Models without a native JSON mode often wrap the object in a ```json fence."""
    match = _FENCE.match(raw)
    return match.group(1) if match else raw


__all__ = ["OUTPUT_TOOL", "OutputSpec", "RetryConfig", "Verdict"]
