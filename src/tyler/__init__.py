"""tyler: streaming AI agents.

`import tyler` stays cheap: it imports pydantic and the core value types only. httpx is imported
when the first model request is made, SQLAlchemy when `ThreadStore` is first touched, LiteLLM only
for model strings no native provider serves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .agent import Agent
from .attachments import Attachment
from .events import AgentResult, EventType, ExecutionEvent
from .exceptions import TylerError
from .file_store import FileStore
from .messages import Message, Thread
from .structured import RetryConfig
from .tools import Tool, ToolContext, tool

if TYPE_CHECKING:
    from .storage import ThreadStore

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "AgentResult",
    "Attachment",
    "EventType",
    "ExecutionEvent",
    "FileStore",
    "Message",
    "RetryConfig",
    "Thread",
    "ThreadStore",
    "Tool",
    "ToolContext",
    "TylerError",
    "tool",
]


def __getattr__(name: str) -> Any:
    if name == "ThreadStore":
        from .storage import ThreadStore

        return ThreadStore
    raise AttributeError(f"module 'tyler' has no attribute {name!r}")
