"""The one exception tree of tyler.

    TylerError
    ├── ConfigurationError             bad Agent/tool/model configuration, missing optional extra
    │   ├── ProviderNotFoundError      a model string no provider can serve
    │   └── MissingAPIKeyError         a hosted provider's API key is not set
    ├── ToolError                      a tool definition is invalid (not a tool *call* failure)
    ├── ToolExitError                  a tool raised SystemExit (reported as that call's tool error)
    ├── ThreadNotFoundError (KeyError) a thread id that the store does not have
    ├── StorageError                   the thread store failed (connection, schema, corrupt row)
    │   └── SchemaVersionError         the database has a schema newer than this code
    ├── AttachmentError (ValueError)   an attachment refused: unreadable, too large, type not allowed
    ├── ModelError                     anything that went wrong talking to a model
    │   ├── ModelHTTPError             the provider answered with an HTTP error (status, body)
    │   │   ├── AuthenticationError    401/403
    │   │   └── RateLimitError         429 after retries
    │   ├── ModelConnectionError       could not connect / connection dropped
    │   ├── ContextLengthError         the request does not fit the model's context window
    │   ├── ModelTimeoutError          connect/read timeout
    │   │   └── StallTimeoutError      the stream stopped producing chunks
    │   └── ModelResponseError         malformed stream: bad JSON, unexpected event, error event
    │       └── SSEEventTooLargeError  one server-sent event larger than `max_event_bytes`
    ├── ExecutionError                 an unexpected failure inside a run (the cause is chained)
    │   └── StructuredOutputError      the model's output never validated against response_type
    ├── RequestError                   `tyler serve` refused an HTTP request (status, code, param)
    ├── RunCancelledError              a run was cancelled (used where a value must be returned)
    └── RunLogError                    the run log (tyler.runs: in-process or Redis Streams) refused
        ├── RunNotFoundError (KeyError) a run id that is unknown or past its retention
        ├── RunLimitError              too many concurrent runs on this worker (HTTP 429)
        ├── EventIdError (ValueError)  a Last-Event-ID that is malformed or no longer in the log
        ├── RunOwnershipError          this worker no longer owns the run (it was declared dead)
        └── RunLogUnavailableError     the backend cannot be reached (Redis down)

Tool *call* failures (bad arguments, tool raised, timeout) are not exceptions for the caller:
they become TOOL_ERROR events and error tool messages the model can react to.
"""

from __future__ import annotations

from typing import Any


class TylerError(Exception):
    """Base class of every error raised by tyler."""


class ConfigurationError(TylerError, ValueError):
    """Invalid configuration: an Agent argument, a tool, a missing optional dependency."""


class ProviderNotFoundError(ConfigurationError):
    """No provider can serve the given model string."""


class MissingAPIKeyError(ConfigurationError):
    """A hosted provider's API key is not set (found before any request is sent).

    `env_var` names the environment variable to set; the CLI words its message from it.
    """

    def __init__(self, model: str, provider: str, env_var: str) -> None:
        super().__init__(f"model {model!r} is served by {provider}: set {env_var} (or pass api_key=/api_base=)")
        self.model = model
        self.provider = provider
        self.env_var = env_var


class ToolError(TylerError, ValueError):
    """A tool definition cannot be turned into a tool (bad schema, not callable...)."""


class ToolExitError(TylerError):
    """A tool raised SystemExit (argparse on a bad argument, `sys.exit()`...) or, from a worker
    thread, KeyboardInterrupt. It ends that tool call with a tool error, never the process."""


class ThreadNotFoundError(TylerError, KeyError):
    """A thread id the store does not know. Also a KeyError, so `except KeyError` works."""

    def __init__(self, thread_id: str) -> None:
        super().__init__(thread_id)
        self.thread_id = thread_id

    def __str__(self) -> str:
        return f"thread {self.thread_id!r} not found"


class StorageError(TylerError):
    """The thread store failed; what was stored before is unchanged."""


class SchemaVersionError(StorageError):
    """The database schema is newer than this version of tyler understands."""


class ModelError(TylerError):
    """Talking to a model failed."""

    def __init__(self, message: str, *, provider: str | None = None, model: str | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.model = model


class ModelHTTPError(ModelError):
    """The provider answered with an HTTP error status."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: Any = None,
        provider: str | None = None,
        model: str | None = None,
    ) -> None:
        super().__init__(message, provider=provider, model=model)
        self.status_code = status_code
        self.body = body


class AuthenticationError(ModelHTTPError):
    """401/403 from the provider: missing or wrong API key."""


class RateLimitError(ModelHTTPError):
    """429 from the provider, still after the retries."""


class ModelConnectionError(ModelError):
    """Could not connect to the provider, or the connection dropped mid-stream."""


class ContextLengthError(ModelError):
    """The request does not fit the model's context window.

    Raised by the provider's refusal (OpenAI `context_length_exceeded`, Anthropic "prompt is too
    long", llama.cpp "exceeds the available context size"; then `status_code` and `body` are set)
    or by the agent itself with `context_strategy="error"` or when even the latest message cannot
    be shortened enough. `tokens` and `limit` are the counts when known.
    """

    def __init__(
        self,
        message: str,
        *,
        tokens: int | None = None,
        limit: int | None = None,
        status_code: int | None = None,
        body: Any = None,
        provider: str | None = None,
        model: str | None = None,
    ) -> None:
        super().__init__(message, provider=provider, model=model)
        self.tokens = tokens
        self.limit = limit
        self.status_code = status_code
        self.body = body


class ModelTimeoutError(ModelError):
    """Connecting or reading took longer than allowed."""


class StallTimeoutError(ModelTimeoutError):
    """The stream was open but produced no chunk for `stall_timeout` seconds."""


class ModelResponseError(ModelError):
    """The provider's stream could not be understood (malformed chunk, error event)."""


class SSEEventTooLargeError(ModelResponseError):
    """One server-sent event (or an endless line) grew past the maximum event size."""


class ExecutionError(TylerError):
    """An unexpected failure inside a run; `__cause__` holds the original exception."""


class RunCancelledError(TylerError):
    """A run was cancelled before it finished."""


class RequestError(TylerError):
    """`tyler serve` refused a request: each protocol renders it in its own error shape.

    `status` is the HTTP status (4xx), `code` a stable machine-readable reason, `param` the
    offending field when there is one.
    """

    def __init__(self, message: str, *, status: int = 400, code: str = "invalid_request", param: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.param = param


class AttachmentError(TylerError, ValueError):
    """An attachment was refused: unreadable, larger than allowed, or of a type not allowed."""


class StructuredOutputError(ExecutionError):
    """The model's final output did not validate against `response_type`, retries included.

    `last_output` is the last raw output (text or JSON string), `validation_errors` pydantic's
    errors for it, `retry_history` one entry per failed attempt (`attempt`, `output`, `errors`).
    """

    def __init__(
        self,
        message: str,
        *,
        last_output: str | None = None,
        validation_errors: list[dict[str, Any]] | None = None,
        retry_history: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.last_output = last_output
        self.validation_errors = validation_errors or []
        self.retry_history = retry_history or []


class RunLogError(TylerError):
    """The run log refused or failed (see `tyler.runs`)."""


class RunNotFoundError(RunLogError, KeyError):
    """A run id the log does not know (never started here, or expired after its retention)."""

    def __init__(self, run_id: str) -> None:
        super().__init__(run_id)
        self.run_id = run_id

    def __str__(self) -> str:
        return f"run {self.run_id!r} not found"


class RunLimitError(RunLogError):
    """The worker already drives its maximum number of concurrent runs."""


class EventIdError(RunLogError, ValueError):
    """A Last-Event-ID that is malformed (`expired=False`) or no longer in the log (`expired=True`)."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


class RunOwnershipError(RunLogError):
    """This worker lost the run: it was declared dead and the run was ended by another worker."""


class RunLogUnavailableError(RunLogError):
    """The run log's backend cannot be reached; the cause is chained."""


__all__ = [
    "AttachmentError",
    "AuthenticationError",
    "ConfigurationError",
    "ContextLengthError",
    "EventIdError",
    "ExecutionError",
    "MissingAPIKeyError",
    "ModelConnectionError",
    "ModelError",
    "ModelHTTPError",
    "ModelResponseError",
    "ModelTimeoutError",
    "ProviderNotFoundError",
    "RateLimitError",
    "RequestError",
    "RunCancelledError",
    "RunLimitError",
    "RunLogError",
    "RunLogUnavailableError",
    "RunNotFoundError",
    "RunOwnershipError",
    "SSEEventTooLargeError",
    "SchemaVersionError",
    "StallTimeoutError",
    "StorageError",
    "StructuredOutputError",
    "ThreadNotFoundError",
    "ToolError",
    "ToolExitError",
    "TylerError",
]
