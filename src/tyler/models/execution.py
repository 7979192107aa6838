"""`from tyler.models.execution import ExecutionEvent, EventType` as in Tyler's guide."""

from ..events import AgentResult, EventType, ExecutionEvent

__all__ = ["AgentResult", "EventType", "ExecutionEvent"]
