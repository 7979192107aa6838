"""`RunContext`: everything one run reads from its agent, frozen when the run starts.

The run loop (`_run`) takes only this, never the `Agent`: the agent's tools can change while a run
is going (`Agent.close()` drops MCP tools, `connect_mcp()` adds some) and a run must keep offering
and calling the tool set it started with. It also keeps the loop free of an import of `agent`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .approval import Approvals
    from .context import ContextPolicy
    from .providers.base import ModelSettings, Provider, ToolSpec
    from .structured import OutputSpec
    from .tools import Tool


@dataclass(frozen=True, slots=True)
class RunContext:
    """What a run needs from its agent. `tools` is a read-only mapping (name → `Tool`).

    `owner` is handed to tools as `ToolContext.agent`; the loop itself never reads it. The thread
    store is not here: the loop loads the thread from it before the context is built (a bad thread
    fails before any MCP server starts), so it is passed to `_run.execute` beside the factory.
    """

    model_name: str
    provider: Provider
    tools: Mapping[str, Tool]
    tool_specs: tuple[ToolSpec, ...]
    settings: ModelSettings
    system_prompt: str
    max_tool_iterations: int
    tool_timeout: float | None
    owner: Any = None
    output: OutputSpec | None = None  # response_type of this run, shaped for its provider (its own retry history)
    approvals: Approvals | None = None  # where calls needing approval wait (the agent's registry)
    context: ContextPolicy | None = None  # what to send when the thread does not fit (None: all)
    refuse_repeated_tool_calls: bool = False  # see Agent(refuse_repeated_tool_calls=...)

    def timeout_for(self, tool: Tool) -> float | None:
        """A tool's own timeout wins over the agent's default."""
        return tool.timeout if tool.timeout is not None else self.tool_timeout


__all__ = ["RunContext"]
