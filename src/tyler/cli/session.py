"""Building the agent and streaming one reply with Ctrl-C handling."""

from __future__ import annotations

import asyncio
import signal
from contextlib import aclosing
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from .config import DEFAULT_PURPOSE, ModelChoice, load_tools
from .console import keys_not_echoed

if TYPE_CHECKING:
    from ..messages import Thread
    from ..providers.base import ReasoningEffort
    from .render import Renderer


@dataclass(slots=True)
class AgentOptions:
    """What the user asked for on the command line."""

    model: ModelChoice
    purpose: str | None = None
    tool_sets: tuple[str, ...] | None = None  # None: the default for the model
    reasoning: ReasoningEffort | None = None

    def build(self) -> Any:
        from .. import Agent

        if self.model.is_local:
            # A wrong local name or a missing model file is a usage error: report it now (exit
            # code 2, /model keeps the current model), not at the first reply.
            from ..providers.local import resolve_model_path

            resolve_model_path(self.model.name)
        from .approve import ask, guard

        agent = Agent(
            name="tyler",
            model_name=self.model.name,
            purpose=self.purpose or DEFAULT_PURPOSE,
            tools=guard(load_tools(self.tool_names())),
            reasoning=self.reasoning,
            approval_handler=ask,
        )
        # Routing finds a missing API key without sending anything: report it now (exit 2, before
        # the user types a message), not as the first reply's failure.
        agent._provider()
        return agent

    def tool_names(self) -> list[str] | None:
        """The tool sets to load; None for the read-only defaults.

        The embedded model gets no tools unless asked: at 135M parameters it does not make tool
        calls, and every tool schema costs prompt tokens and time to the first token.
        """
        if self.tool_sets is not None:
            return list(self.tool_sets)
        return [] if self.model.is_local else None


class TurnOutcome(Enum):
    """How a streamed reply ended."""

    OK = "ok"
    ERROR = "error"
    INTERRUPTED = "interrupted"


async def stream_reply(agent: Any, thread: Thread, renderer: Renderer) -> TurnOutcome:
    """Stream one reply of `agent` to `thread` into `renderer`; return how it ended.

    The stream runs in its own task. Ctrl-C (SIGINT) cancels that task, which makes the agent close
    the upstream HTTP response; the caller's loop keeps going. Where signal handlers cannot be
    installed (not the main thread), Ctrl-C falls back to KeyboardInterrupt.
    """

    async def consume() -> None:
        # aclosing: if rendering fails (e.g. a closed pipe), the agent's stream is closed at once,
        # which closes the upstream HTTP response instead of leaving it to garbage collection.
        async with aclosing(agent.stream(thread, mode="events")) as events:
            async for event in events:
                renderer.handle(event)

    loop = asyncio.get_running_loop()
    consumer = asyncio.create_task(consume())
    stopped = False

    def on_sigint() -> None:
        nonlocal stopped
        stopped = True
        consumer.cancel()

    handler_installed = _install_sigint(loop, on_sigint)
    try:
        with keys_not_echoed():
            await consumer
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if not stopped or (current is not None and current.cancelling()):
            raise
        renderer.interrupted()
        return TurnOutcome.INTERRUPTED
    finally:
        if handler_installed:
            loop.remove_signal_handler(signal.SIGINT)
    renderer.close()
    return TurnOutcome.ERROR if renderer.stats.error is not None else TurnOutcome.OK


def _install_sigint(loop: asyncio.AbstractEventLoop, callback: Any) -> bool:
    try:
        loop.add_signal_handler(signal.SIGINT, callback)
    except (NotImplementedError, RuntimeError, ValueError):
        return False
    return True
