"""Building the agent and streaming one reply with Ctrl-C handling."""

from __future__ import annotations

import asyncio
import signal
from contextlib import aclosing
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from .config import DEFAULT_PURPOSE, ModelChoice, load_default_tools, load_tools
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
            from ..providers.local_models import bundled, is_ready

            model = bundled(self.model.name)
            if model is not None and not is_ready(model):
                from .console import err_console

                err_console().print(f"[dim]assembling {self.model.name} from its packages (first use)...[/dim]")
            resolve_model_path(self.model.name)
        from .approve import ask, guard

        agent = Agent(
            name="tyler",
            model_name=self.model.name,
            purpose=self.purpose or DEFAULT_PURPOSE,
            tools=guard(self._tools()),
            reasoning=self.reasoning,
            approval_handler=ask,
        )
        # Routing finds a missing API key without sending anything: report it now (exit 2, before
        # the user types a message), not as the first reply's failure.
        agent._provider()
        return agent

    def _tools(self) -> list[Any]:
        if self.tool_sets is None:
            return load_default_tools(self.model)
        return load_tools(list(self.tool_sets))


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
