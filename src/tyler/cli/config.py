"""Choices the CLI makes before talking to a model: which model, where data lives, which tools."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigurationError
from ..tools import dict_tool_name

if TYPE_CHECKING:
    from ..providers.base import ReasoningEffort

LOCAL_MODEL = "local/smollm2"
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


# Offered by default to hosted models: looking things up, never writing (web-download and
# files-write save files in the workspace, so they need an explicit --tools web / files).
DEFAULT_TOOL_NAMES = ("web-search", "web-fetch", "files-read", "files-list", "files-search")
NO_TOOLS = "none"


def parse_tool_sets(spec: str | None) -> list[str]:
    """'web, files' -> ['web', 'files'] (empty/None -> []; 'none' -> [])."""
    if not spec:
        return []
    names = [part.strip().lower() for part in spec.split(",") if part.strip()]
    return [] if names == [NO_TOOLS] else names


def default_tools_label(choice: ModelChoice) -> str:
    """What `--tools` defaults to for `choice`, as shown to the user."""
    return "none" if choice.is_local else "web, files (read-only)"


def load_tools(names: list[str] | None) -> list[Any]:
    """The lye tool sets named, concatenated (e.g. ['web', 'files'] -> WEB_TOOLS + FILES_TOOLS).

    `None` means the default: the read-only lye tools (DEFAULT_TOOL_NAMES).
    """
    if names is not None and not names:
        return []
    try:
        import lye
    except ImportError as exc:
        raise ConfigurationError(f"tool sets need the 'lye' package: {exc}") from exc
    sets: dict[str, list[Any]] = getattr(lye, "TOOL_SETS", {})
    if names is None:
        every = [tool for tools in sets.values() for tool in tools]
        return [t for t in every if dict_tool_name(t) in DEFAULT_TOOL_NAMES]
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
