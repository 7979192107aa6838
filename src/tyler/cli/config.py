"""Choices the CLI makes before talking to a model: which model, where data lives, which tools."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigurationError
from ..providers.base import FunctionDefinition
from ..tools import ToolDict, dict_tool_name

if TYPE_CHECKING:
    from ..providers.base import ReasoningEffort

LOCAL_MODEL = "local/qwen"
OPENAI_DEFAULT_MODEL = "gpt-4o"
ANTHROPIC_DEFAULT_MODEL = "claude-sonnet-4-5"

DEFAULT_PURPOSE = "To be a helpful, concise assistant."


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """The model to use and why it was picked (shown once to the user)."""

    name: str
    reason: str

    @property
    def is_local(self) -> bool:
        return self.name.startswith("local/")


def choose_model(explicit: str | None, env: Mapping[str, str] | None = None) -> ModelChoice:
    """--model, else TYLER_MODEL, else a provider whose API key is set, else the embedded model."""
    env = os.environ if env is None else env
    if explicit:
        return ModelChoice(explicit, "--model")
    if env.get("TYLER_MODEL"):
        return ModelChoice(env["TYLER_MODEL"], "TYLER_MODEL")
    if env.get("OPENAI_API_KEY"):
        return ModelChoice(OPENAI_DEFAULT_MODEL, "OPENAI_API_KEY is set")
    if env.get("ANTHROPIC_API_KEY"):
        return ModelChoice(ANTHROPIC_DEFAULT_MODEL, "ANTHROPIC_API_KEY is set")
    return ModelChoice(LOCAL_MODEL, "no API key set: embedded local model, offline")


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where chat history lives: $TYLER_DATA_DIR, else the platform's user data dir + /tyler."""
    env = os.environ if env is None else env
    override = env.get("TYLER_DATA_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("tyler", appauthor=False))


def chat_db_url(env: Mapping[str, str] | None = None) -> str:
    """SQLAlchemy URL of the chat history database (the directory is created)."""
    directory = data_dir(env)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        # A setup problem the user fixes, not a crash: no traceback.
        raise ConfigurationError(
            f"cannot use {directory} for the chat history ({exc.strerror or exc}); "
            "set TYLER_DATA_DIR to a writable directory"
        ) from exc
    return f"sqlite+aiosqlite:///{directory / 'chat.db'}"


# The default tools never give a model file access and web access together (a prompt-injected page
# could make it read a secret and send it out in a URL), and never make the home directory or / the
# workspace: both need an explicit --tools. Writing tools (files-write, web-download) always do.
HOSTED_FILE_TOOLS = ("files-read", "files-list", "files-search")  # read-only, confined to the cwd
HOSTED_WEB_TOOLS = ("web-search", "web-fetch")  # when the cwd is no place to offer files from
LOCAL_FILE_TOOLS = ("files-list", "files-read")  # for a local model that makes tool calls
# Every read-only tool: never asked about before running (cli.approve); the others need a yes.
DEFAULT_TOOL_NAMES = (*HOSTED_FILE_TOOLS, *HOSTED_WEB_TOOLS)
NO_TOOLS = "none"

# A 0.5B model fills every optional argument it is shown with the schema's examples ("pattern":
# "*.md", "path": "reports/summary.md"); offered just a path, it lists "." as asked.
_LOCAL_DESCRIPTIONS = {
    "files-list": "List the files in the current folder.",
    "files-read": "Read a file in the current folder.",
}


def parse_tool_sets(spec: str | None) -> list[str]:
    """'web, files' -> ['web', 'files'] (empty/None -> []; 'none' -> [])."""
    if not spec:
        return []
    names = [part.strip().lower() for part in spec.split(",") if part.strip()]
    return [] if names == [NO_TOOLS] else names


def is_broad_folder(folder: Path | None = None) -> bool:
    """True for the home directory and /: never a default workspace (they hold the user's secrets)."""
    folder = (folder or Path.cwd()).resolve()
    return folder == Path.home().resolve() or folder == Path(folder.anchor)


def _broad_workspace(folder: Path | None) -> bool:
    if folder is None and os.environ.get("LYE_WORKSPACE", "").strip():
        return False  # chosen explicitly
    return is_broad_folder(folder)


def default_tool_names(choice: ModelChoice, folder: Path | None = None) -> tuple[str, ...]:
    """The tools `choice` gets without --tools, run from `folder` (default: $LYE_WORKSPACE, else the cwd)."""
    broad = _broad_workspace(folder)
    if choice.is_local:
        from ..providers.local_models import bundled

        model = bundled(choice.name)
        return LOCAL_FILE_TOOLS if model is not None and model.calls_tools and not broad else ()
    return HOSTED_WEB_TOOLS if broad else HOSTED_FILE_TOOLS


def default_tools_label(choice: ModelChoice, folder: Path | None = None) -> str:
    """What `--tools` defaults to for `choice`, as shown to the user."""
    names = default_tool_names(choice, folder)
    if not names:
        return "none"
    if names[0].startswith("files-"):
        return "files (read-only)"
    return "web (read-only; no file tools in the home folder or /)"


def _path_only(tool: ToolDict) -> ToolDict:
    """A copy of a lye file tool offered with just its `path` argument and a one-line description."""
    name = dict_tool_name(tool)
    path: dict[str, Any] = {"type": "string"}
    if name == "files-list":
        path["default"] = "."
    parameters = {"type": "object", "properties": {"path": path}, "required": [] if name == "files-list" else ["path"]}
    function: FunctionDefinition = {"name": name, "description": _LOCAL_DESCRIPTIONS[name], "parameters": parameters}
    return {**tool, "definition": {"type": "function", "function": function}}


def load_default_tools(choice: ModelChoice, folder: Path | None = None) -> list[Any]:
    """The default tools of `choice` (see `default_tool_names`)."""
    names = default_tool_names(choice, folder)
    if not names:
        return []
    tools = [t for t in load_tools(["files", "web"]) if dict_tool_name(t) in names]
    return [_path_only(t) for t in tools] if choice.is_local else tools


def load_tools(names: list[str]) -> list[Any]:
    """The lye tool sets named, concatenated (e.g. ['web', 'files'] -> WEB_TOOLS + FILES_TOOLS)."""
    if not names:
        return []
    try:
        import lye
    except ImportError as exc:
        raise ConfigurationError(f"tool sets need the 'lye' package: {exc}") from exc
    sets: dict[str, list[Any]] = getattr(lye, "TOOL_SETS", {})
    tools: list[Any] = []
    for name in names:
        found = sets.get(name)
        if found is None:
            available = ", ".join([*sorted(sets), NO_TOOLS])
            raise ConfigurationError(f"unknown tool set {name!r}; available: {available}")
        tools.extend(found)
    return tools


REASONING_LEVELS: tuple[ReasoningEffort, ...] = ("low", "medium", "high")  # "minimal" is OpenAI-only


def check_reasoning(value: str | None) -> ReasoningEffort | None:
    if value is None:
        return None
    lowered = value.lower()
    if lowered in ("none", "off", ""):
        return None
    for level in REASONING_LEVELS:
        if lowered == level:
            return level
    raise ConfigurationError(f"--reasoning must be one of {', '.join(REASONING_LEVELS)}, got {value!r}")
