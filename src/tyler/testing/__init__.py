"""A fake OpenAI/Anthropic model server for tests, examples and benchmarks.

    from tyler.testing import FakeModelServer, Turn, FakeToolCall

    with FakeModelServer() as server:
        server.enqueue(Turn(text="Hello there!"))
        os.environ.update(server.env())   # every model name now talks to the fake server
        ...
        assert server.requests[0].body["model"] == "gpt-4"

Only stdlib, httpx and h11 are needed.
"""

from .remote import RemoteFakeServer
from .server import DEFAULT_REPLY, FakeModelServer
from .turns import FakeToolCall, RecordedRequest, Turn

__all__ = ["DEFAULT_REPLY", "FakeModelServer", "FakeToolCall", "RecordedRequest", "RemoteFakeServer", "Turn"]
