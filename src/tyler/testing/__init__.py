"""A fake OpenAI/Anthropic model server for tests, examples and benchmarks.

It listens on 127.0.0.1 and speaks the real wire formats over real HTTP: Chat Completions
(`POST /v1/chat/completions`, SSE or JSON) and Messages (`POST /v1/messages`, SSE or JSON)::

    from tyler.testing import FakeModelServer, FakeToolCall, Turn

    with FakeModelServer() as server:              # or: async with FakeModelServer() as server
        os.environ.update(server.env())             # OPENAI_/ANTHROPIC_ BASE_URL and API_KEY
        server.enqueue(
            Turn(thinking="I need the weather.", tool_calls=[FakeToolCall("get_weather", {"city": "Paris"})]),
            Turn(text="It is sunny in Paris.", delay=0.01),
        )
        ...                                          # run the code under test
        assert server.requests[0].body["model"] == "gpt-4"
        assert server.wait_for_disconnect(timeout=2) # did the client close its stream early?

Scripted replies are answered in FIFO order; then `set_responder(fn)` (fn(request) -> Turn), then
`set_default_turn(turn)`, then a deterministic default reply quoting the last user message.
A `Turn` can also fail on purpose: `status` (HTTP error, `retry_after`), `abort_after`,
`malformed_at`, `stall_after` (+ `keepalive_interval`, `stall_seconds`), `error_event`.

Standalone: `python -m tyler.testing --port 0 [--chunks N --chunk-delay S]` prints its URL and
serves until killed; script it with `RemoteFakeServer(url)` or the control endpoints
`POST /_fake/enqueue` (a JSON list of turn dicts, or {"turns": [...], "repeat": n}),
`POST /_fake/default` (a turn dict or null), `GET /_fake/requests`, `POST /_fake/reset`,
`GET /_fake/health`.

In-process, with no socket: `ScriptedModel(*turns)` and `FunctionModel(fn)` are providers for
`Agent(provider=...)` (see `tyler.testing.models`), for tests of the loop, tools and storage.

Only stdlib, httpx and h11 (an httpx dependency) are needed; `import tyler` does not import this.
"""

from .models import FunctionModel, ScriptedModel
from .remote import RemoteFakeServer
from .server import DEFAULT_REPLY, FakeModelServer
from .turns import FakeToolCall, RecordedRequest, Turn

__all__ = [
    "DEFAULT_REPLY",
    "FakeModelServer",
    "FakeToolCall",
    "FunctionModel",
    "RecordedRequest",
    "RemoteFakeServer",
    "ScriptedModel",
    "Turn",
]
