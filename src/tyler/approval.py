"""Tool approval (human in the loop).

A tool can require approval: `@tool(requires_approval=True)`, or a predicate on the arguments
(`requires_approval=lambda args: args["amount"] > 100`). When the model calls it, the run emits
APPROVAL_REQUESTED (`tool_call_id`, `tool_name`, `arguments`) and that call waits, the others of
the turn going on, until

    await agent.approve(call_id)            # or: await agent.deny(call_id, "too expensive")

or, with `Agent(approval_handler=fn)`, until `await fn(request)` answers (True/False, or
`(False, reason)`): the way for `go()`, raw mode, and the CLI's inline y/n. A denied call gives the
model a tool result saying so (TOOL_ERROR, `error_type` "ApprovalDenied"); APPROVAL_RESOLVED
reports the decision either way.

The assistant message keeps the ids waiting in `attributes["awaiting_approval"]`, saved before the
event is yielded. A run stopped while a call waits leaves that call unanswered on the stored
thread; running the agent on the thread again (another process, after a restart) asks for the
approval again and, once decided, runs the call and continues the run.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .exceptions import ConfigurationError

AWAITING = "awaiting_approval"  # assistant message attribute: ids of calls waiting for approval

Decision = bool | tuple[bool, str | None]
ApprovalHandler = Callable[["ApprovalRequest"], Awaitable[Decision] | Decision]
Predicate = Callable[[dict[str, Any]], bool]


class ApprovalDenied(Exception):
    """A tool call the user did not approve (becomes the call's error result)."""

    def __init__(self, reason: str | None) -> None:
        super().__init__(f"the user denied this tool call{': ' + reason if reason else ''}")
        self.reason = reason


@dataclass(slots=True)
class ApprovalRequest:
    """A tool call waiting for a decision."""

    tool_call_id: str
    tool_name: str
    arguments: dict[str, Any]
    thread_id: str | None = None
    _decision: asyncio.Future[tuple[bool, str | None]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future(), repr=False
    )


def needs_approval(rule: bool | Predicate | None, arguments: dict[str, Any]) -> bool:
    """Whether a call with `arguments` must be approved under the tool's `requires_approval`."""
    if rule is None or rule is False:
        return False
    if rule is True:
        return True
    return bool(rule(arguments))  # a failing predicate fails the call (reported as a tool error)


def _normalize(decision: Any) -> tuple[bool, str | None]:
    if isinstance(decision, tuple) and len(decision) == 2:
        return bool(decision[0]), (str(decision[1]) if decision[1] is not None else None)
    if isinstance(decision, bool):
        return decision, None
    raise ConfigurationError(f"an approval handler returns True/False or (bool, reason), got {decision!r}")


class Approvals:
    """The approvals one agent is waiting for, by tool call id."""

    def __init__(self, handler: ApprovalHandler | None = None) -> None:
        if handler is not None and not callable(handler):
            raise ConfigurationError("approval_handler must be callable")
        self.handler = handler
        self._waiting: dict[str, ApprovalRequest] = {}

    def pending(self) -> list[ApprovalRequest]:
        return list(self._waiting.values())

    def waiting(self, call_id: str) -> bool:
        return call_id in self._waiting

    def resolve(self, call_id: str, approved: bool, reason: str | None = None) -> None:
        request = self._waiting.get(call_id)
        if request is None:
            raise ConfigurationError(f"no tool call {call_id!r} is waiting for approval")
        if not request._decision.done():
            request._decision.set_result((approved, reason))

    def open(self, request: ApprovalRequest) -> None:
        """Register `request` now, so approve() works as soon as APPROVAL_REQUESTED is seen."""
        self._waiting[request.tool_call_id] = request

    def discard(self, call_id: str) -> None:
        self._waiting.pop(call_id, None)

    async def wait(self, request: ApprovalRequest) -> tuple[bool, str | None]:
        """Wait for the decision on an opened `request` (from the handler, or approve()/deny())."""
        try:
            if self.handler is not None:
                answer = self.handler(request)
                if inspect.isawaitable(answer):
                    answer = await answer
                return _normalize(answer)
            return await request._decision
        finally:
            self.discard(request.tool_call_id)


__all__ = ["AWAITING", "ApprovalDenied", "ApprovalHandler", "ApprovalRequest", "Approvals", "needs_approval"]
