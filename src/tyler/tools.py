"""Tools: Python callables (or Tyler-style dicts) the model can call.

A plain function becomes a tool with a JSON schema derived from its type hints (through a pydantic
model, which also validates and coerces the arguments) and a description from its docstring.
Tyler-style dicts `{"definition": {...openai function...}, "implementation": fn}` are accepted as
they are; their arguments are checked against the given JSON schema.

A tool may take a parameter annotated `ToolContext`: it is injected, never shown to the model, and
lets the tool report progress (TOOL_PROGRESS events) while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import json
import re
import signal
import threading
import types
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Required, TypedDict, Union, get_args, get_origin, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from .exceptions import ConfigurationError, ToolError, ToolExitError
from .providers.base import FunctionTool, ToolSpec

if TYPE_CHECKING:
    from .messages import Thread

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Google-style docstring sections that are not part of the description.
_OTHER_SECTIONS = re.compile(
    r"(returns?|yields?|raises?|examples?|notes?|warnings?|see also|attributes|references|todo)\s*:", re.I
)

ProgressSink = Callable[[float, "float | None", "str | None"], Awaitable[None]]
EventSink = Callable[[Any], Awaitable[None]]


@dataclass(slots=True)
class ToolContext:
    """Handed to a tool that asks for it (a parameter annotated `ToolContext`)."""

    tool_name: str
    tool_call_id: str
    thread: Thread | None = None
    agent: Any = None
    _progress: ProgressSink | None = None
    _events: EventSink | None = None

    async def report_progress(
        self, progress: float, total: float | None = None, message: str | None = None
    ) -> None:
        """Emit a TOOL_PROGRESS event for this call (awaits if the consumer is slow: bounded)."""
        if self._progress is not None:
            await self._progress(progress, total, message)

    async def emit(self, event: Any) -> None:
        """Put an `ExecutionEvent` into the run's event stream now (a delegated agent's events).

        Bounded like progress; dropped when the run does not stream events (go(), raw mode).
        """
        if self._events is not None:
            await self._events(event)


class ToolDict(TypedDict, total=False):
    """A Tyler-style tool dict: what lye's sets, MCP and delegation hand to `Agent(tools=[...])`.

    `definition` is the tool in OpenAI function-tool shape; the rest mirror `Tool`'s fields.
    `mcp_server` names the MCP server a tool came from (set by `tyler.mcp` only).
    """

    definition: Required[FunctionTool]
    implementation: Required[Callable[..., Any]]
    timeout: float
    context_param: str
    requires_approval: bool | Callable[[dict[str, Any]], bool]
    mcp_server: str


class ToolArgumentsError(Exception):
    """The model's arguments for a tool call are unusable (bad JSON, failed validation)."""


@dataclass(slots=True)
class Tool:
    """A callable the model can call, with the schema the model sees."""

    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[..., Any]
    timeout: float | None = None
    context_param: str | None = None
    _model: type[BaseModel] | None = field(default=None, repr=False)
    _validator: Any = field(default=None, repr=False)
    # Declared by a client of `tyler serve`: the run ends when the model calls it, and the client
    # runs it and continues the thread with the result (see `tyler.server`).
    client: bool = False
    # True, or a predicate on the validated arguments: the call waits for approval (tyler.approval).
    requires_approval: bool | Callable[[dict[str, Any]], bool] = False

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.description, self.parameters)

    @property
    def definition(self) -> FunctionTool:
        """The tool in OpenAI function-tool shape."""
        return self.spec.to_openai()

    def parse_arguments(self, raw: str | dict[str, Any] | None) -> dict[str, Any]:
        """Decode and validate the model's arguments; raise ToolArgumentsError with a clear reason."""
        if raw is None or raw == "":
            args: Any = {}
        elif isinstance(raw, dict):
            args = raw
        else:
            try:
                args = json.loads(raw)
            except ValueError as exc:
                raise ToolArgumentsError(f"arguments are not valid JSON: {exc}") from None
        if not isinstance(args, dict):
            raise ToolArgumentsError(f"arguments must be a JSON object, got {type(args).__name__}")
        if self._model is not None:
            try:
                validated = self._model.model_validate(args)
            except ValidationError as exc:
                raise ToolArgumentsError(_validation_message(exc)) from None
            return {name: getattr(validated, name) for name in self._model.model_fields}
        _check_json_schema(self, args)
        return args

    async def call(self, arguments: dict[str, Any], ctx: ToolContext | None = None) -> Any:
        """Run the tool with validated arguments (sync functions run in a worker thread)."""
        kwargs = dict(arguments)
        if self.context_param is not None:
            kwargs[self.context_param] = ctx
        if inspect.iscoroutinefunction(self.function):
            coro = _guarded(self.name, self.function(**kwargs))
        else:
            coro = _call_sync(self.name, self.function, kwargs)
        if self.timeout is None:
            return await coro
        async with asyncio.timeout(self.timeout):
            return await coro


def _exit_error(name: str, exc: BaseException) -> ToolExitError:
    error = ToolExitError(f"tool {name!r} raised {type(exc).__name__}({', '.join(map(repr, exc.args))})")
    error.__cause__ = exc
    return error


async def _guarded(name: str, coro: Awaitable[Any]) -> Any:
    """Await an async tool; a SystemExit it raises becomes a ToolExitError.

    Left alone, SystemExit (argparse on a bad argument does it) would go through the task and
    stop the event loop: the whole process, with no terminal event. KeyboardInterrupt is turned
    too unless SIGINT still raises it (then it may be the user's Ctrl-C, which must stop the run).
    """
    try:
        return await coro
    except SystemExit as exc:
        raise _exit_error(name, exc) from exc
    except KeyboardInterrupt as exc:
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            raise
        raise _exit_error(name, exc) from exc


async def _call_sync(name: str, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    result = await run_in_own_thread(_exits_as_errors(name, fn), kwargs)
    if inspect.isawaitable(result):
        result = await _guarded(name, result)
    return result


def _exits_as_errors(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(**kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except (SystemExit, KeyboardInterrupt) as exc:  # in a worker thread: never the user's Ctrl-C
            raise _exit_error(name, exc) from exc

    return call


async def run_in_own_thread(fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """Run `fn(**kwargs)` in a new daemon thread and await its result.

    Not the loop's default executor: a sync tool that outlives its timeout keeps its thread (a
    thread cannot be stopped), and a handful of those would starve every later `to_thread`
    call and DNS lookup sharing that small pool. One thread per call never waits for another,
    and as a daemon it does not keep the process alive at exit.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(value: Any, error: BaseException | None) -> None:
        if not future.done():
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(value)

    def work() -> None:
        value, error = None, None
        try:
            value = context.run(fn, **kwargs)
        except BaseException as exc:  # handed to the awaiting task, like an executor would
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody is waiting
            loop.call_soon_threadsafe(settle, value, error)

    threading.Thread(target=work, name=f"tyler-tool-{getattr(fn, '__name__', 'call')}", daemon=True).start()
    return await future


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ())) or "(arguments)"
        parts.append(f"{loc}: {err.get('msg')}")
    return "invalid arguments: " + "; ".join(parts)


def _check_json_schema(tool: Tool, args: dict[str, Any]) -> None:
    if tool._validator is None:
        try:
            import jsonschema
        except ImportError:  # optional: fall back to the checks every schema needs
            tool._validator = False
        else:
            cls = jsonschema.validators.validator_for(tool.parameters)
            tool._validator = cls(tool.parameters)
    if tool._validator is False:
        missing = [k for k in tool.parameters.get("required", []) if k not in args]
        if missing:
            raise ToolArgumentsError(f"invalid arguments: missing required {', '.join(missing)}")
        return
    errors = sorted(tool._validator.iter_errors(args), key=lambda e: list(e.path))
    if errors:
        msgs = [f"{'.'.join(map(str, e.path)) or '(arguments)'}: {e.message}" for e in errors[:5]]
        raise ToolArgumentsError("invalid arguments: " + "; ".join(msgs))


def _parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Description and per-parameter descriptions from a Google/Sphinx-style docstring."""
    if not doc:
        return "", {}
    doc = inspect.cleandoc(doc)
    params: dict[str, str] = {}
    lines = doc.splitlines()
    desc_lines: list[str] = []
    in_args = in_other = False
    current: str | None = None
    for line in lines:
        stripped = line.strip()
        sphinx = re.match(r":param\s+(?:\w+\s+)?(\w+):\s*(.*)", stripped)
        if sphinx:
            params[sphinx.group(1)] = sphinx.group(2)
            continue
        if stripped.lower() in ("args:", "arguments:", "parameters:"):
            in_args, in_other = True, False
            continue
        if not line.startswith((" ", "\t")) and _OTHER_SECTIONS.fullmatch(stripped):
            in_args, in_other = False, True  # Returns:/Raises:... are not the description
            continue
        if in_other:
            continue
        if in_args:
            if stripped.endswith(":") and not line.startswith((" ", "\t")):
                in_args = False  # next section (Returns:, Raises:...)
                continue
            m = re.match(r"(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)", stripped)
            if m and line.startswith((" ", "\t")) and len(line) - len(line.lstrip()) <= 8:
                current = m.group(1)
                params[current] = m.group(2)
            elif current and stripped:
                params[current] += " " + stripped
            continue
        if not stripped.startswith(":"):
            desc_lines.append(line)
    return "\n".join(desc_lines).strip(), params


def _strip_titles(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _strip_titles(v) for k, v in schema.items() if k != "title" or isinstance(v, dict)}
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    return schema


def tool_from_callable(
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    requires_approval: bool | Callable[[dict[str, Any]], bool] = False,
) -> Tool:
    """Build a Tool from a function's signature, type hints and docstring."""
    if not callable(fn):
        raise ToolError(f"tool must be callable, got {type(fn).__name__}")
    tool_name = name or getattr(fn, "__name__", None) or type(fn).__name__
    try:
        hints = get_type_hints(fn, include_extras=True)  # keep Annotated[..., Field(...)] constraints
    except Exception as exc:
        raise ToolError(f"tool {tool_name!r}: cannot resolve type hints: {exc}") from exc
    doc_desc, param_docs = _parse_docstring(inspect.getdoc(fn))
    fields: dict[str, Any] = {}
    context_param = None
    for pname, param in inspect.signature(fn).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = hints.get(pname, Any)
        if annotation is ToolContext or (  # also `ToolContext | None`
            get_origin(annotation) in (Union, types.UnionType) and ToolContext in get_args(annotation)
        ):
            context_param = pname
            continue
        default = ... if param.default is param.empty else param.default
        # A docstring's description when it has one; else one given with Annotated[..., Field(...)] stays.
        doc = param_docs.get(pname)
        fields[pname] = (annotation, Field(default, description=doc) if doc is not None else Field(default))
    model = create_model(
        f"{tool_name}_args", __config__=ConfigDict(extra="forbid"), **fields
    )
    schema = _strip_titles(model.model_json_schema())
    schema.setdefault("properties", {})
    return _make_tool(
        tool_name,
        description if description is not None else (doc_desc or tool_name),
        schema,
        fn,
        timeout=timeout,
        context_param=context_param,
        model=model,
        requires_approval=requires_approval,
    )


def dict_tool_name(spec: Mapping[str, Any]) -> str:
    """The name of a Tyler-style tool dict: its definition's `function.name` (or the definition's own
    `name` when the function object is given bare, as `tool_from_dict` accepts)."""
    definition = spec["definition"]
    return str(definition.get("function", definition)["name"])


def tool_from_dict(spec: ToolDict | Mapping[str, Any]) -> Tool:
    """Build a Tool from a Tyler-style dict `{"definition": {...}, "implementation": fn}`."""
    definition = spec.get("definition")
    impl = spec.get("implementation")
    if not isinstance(definition, dict) or impl is None:
        raise ToolError("a dict tool needs 'definition' (OpenAI function tool) and 'implementation'")
    function = definition.get("function", definition)
    if not isinstance(function, dict) or not function.get("name"):
        raise ToolError("a dict tool's definition needs function.name")
    if not callable(impl):
        raise ToolError(f"tool {function['name']!r}: implementation is not callable")
    params = function.get("parameters") or {"type": "object", "properties": {}}
    return _make_tool(
        function["name"],
        function.get("description") or "",
        params,
        impl,
        timeout=spec.get("timeout"),
        context_param=spec.get("context_param"),
        requires_approval=spec.get("requires_approval", False),
    )


def _make_tool(
    name: str,
    description: str,
    parameters: dict[str, Any],
    fn: Callable[..., Any],
    *,
    timeout: float | None,
    context_param: str | None,
    model: type[BaseModel] | None = None,
    requires_approval: bool | Callable[[dict[str, Any]], bool] = False,
) -> Tool:
    if not _NAME_RE.match(name):
        raise ToolError(f"tool name {name!r} must match {_NAME_RE.pattern} (what model APIs accept)")
    if timeout is not None and timeout <= 0:
        raise ToolError(f"tool {name!r}: timeout must be positive")
    if not (isinstance(requires_approval, bool) or callable(requires_approval)):
        raise ToolError(f"tool {name!r}: requires_approval must be a bool or a predicate on the arguments")
    return Tool(name, description, parameters, fn, timeout, context_param, model, requires_approval=requires_approval)


def tool(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    requires_approval: bool | Callable[[dict[str, Any]], bool] = False,
) -> Any:
    """Decorator: `@tool` or `@tool(name=..., timeout=..., requires_approval=...)` makes a Tool."""

    def wrap(f: Callable[..., Any]) -> Tool:
        return tool_from_callable(
            f, name=name, description=description, timeout=timeout, requires_approval=requires_approval
        )

    return wrap(fn) if fn is not None else wrap


def as_tool(obj: Any) -> Tool:
    """Accept a Tool, a Tyler-style dict or a callable."""
    if isinstance(obj, Tool):
        return obj
    if isinstance(obj, dict):
        return tool_from_dict(obj)
    if callable(obj):
        return tool_from_callable(obj)
    raise ToolError(f"cannot make a tool from {type(obj).__name__}: pass a callable, a Tool or a dict")


def build_toolset(tools: Iterable[Any]) -> dict[str, Tool]:
    """Normalize a list of tools into a name → Tool map; duplicate names are an error."""
    out: dict[str, Tool] = {}
    for obj in tools:
        t = as_tool(obj)
        if t.name in out:
            raise ConfigurationError(f"two tools are named {t.name!r}")
        out[t.name] = t
    return out


def tool_output_text(result: Any) -> str:
    """A tool's return value as the text sent back to the model."""
    if isinstance(result, str):
        return result
    if result is None:
        return ""
    if isinstance(result, tuple) and result and isinstance(result[0], str | dict | list):
        result = result[0]  # Tyler tools may return (content, files)
        if isinstance(result, str):
            return result
    if isinstance(result, BaseModel):
        return result.model_dump_json()
    try:
        return json.dumps(result, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(result)


__all__ = [
    "Tool",
    "ToolArgumentsError",
    "ToolContext",
    "ToolDict",
    "as_tool",
    "build_toolset",
    "dict_tool_name",
    "tool_output_text",
    "tool",
    "tool_from_callable",
    "tool_from_dict",
]
