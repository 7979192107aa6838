"""lye: ready-made tool sets for tyler agents.

    from lye import WEB_TOOLS, FILES_TOOLS
    agent = Agent(name="researcher", model_name="gpt-4o", tools=[*WEB_TOOLS, *FILES_TOOLS])

Each tool is an ordinary Tyler tool dict ({"definition": ..., "implementation": ...}), so the sets
mix freely with your own tools. Tool names: web-search, web-fetch, web-download, files-read,
files-write, files-list, files-search. Safe by default: file tools are confined to one workspace
folder ($LYE_WORKSPACE, default the current directory) and web tools refuse private, loopback,
link-local and cloud-metadata addresses unless LYE_ALLOW_PRIVATE_NETWORK=1. For per-agent
settings build the sets with `lye.web.make_web_tools(...)` and `lye.files.make_files_tools(...)`.

Heavy dependencies (html2text, pypdf) are imported only when a tool needs them.
"""

from __future__ import annotations

from tyler.tools import ToolDict, dict_tool_name

from .errors import (
    AccessDeniedError,
    BlockedAddressError,
    FetchError,
    FileToolError,
    LyeError,
    SearchError,
    WorkspaceEscapeError,
)
from .files import FILES_TOOLS, make_files_tools
from .web import WEB_TOOLS, make_web_tools

TOOLS: list[ToolDict] = [*WEB_TOOLS, *FILES_TOOLS]
"""Every lye tool with default (environment) settings."""

TOOL_SETS: dict[str, list[ToolDict]] = {"web": WEB_TOOLS, "files": FILES_TOOLS}


def tool_names(tools: list[ToolDict]) -> list[str]:
    """The names of Tyler tool dicts, e.g. `tool_names(WEB_TOOLS)`."""
    return [dict_tool_name(tool) for tool in tools]


__all__ = [
    "FILES_TOOLS",
    "TOOLS",
    "TOOL_SETS",
    "WEB_TOOLS",
    "AccessDeniedError",
    "BlockedAddressError",
    "FetchError",
    "FileToolError",
    "LyeError",
    "SearchError",
    "WorkspaceEscapeError",
    "make_files_tools",
    "make_web_tools",
    "tool_names",
]
