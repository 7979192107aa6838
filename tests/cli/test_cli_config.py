"""Model choice, data directory and argument parsing of the CLI (pure functions)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tyler.cli import _normalize_argv
from tyler.cli.config import chat_db_url, check_reasoning, choose_model, data_dir, load_tools, parse_tool_sets
from tyler.exceptions import ConfigurationError


def test_model_choice_precedence() -> None:
    keys = {"OPENAI_API_KEY": "sk", "ANTHROPIC_API_KEY": "ak"}
    assert choose_model("local/x.gguf", {**keys, "TYLER_MODEL": "gpt-4"}).name == "local/x.gguf"
    assert choose_model(None, {**keys, "TYLER_MODEL": "gpt-4"}).name == "gpt-4"
    assert choose_model(None, keys).name == "gpt-4o"
    claude = choose_model(None, {"ANTHROPIC_API_KEY": "ak"})
    assert claude.name.startswith("claude") and claude.reason == "ANTHROPIC_API_KEY is set"
    offline = choose_model(None, {"OPENAI_API_KEY": ""})
    assert offline.name == "local/smollm2" and offline.is_local
    assert "offline" in offline.reason


def test_data_dir_override_and_db_url(tmp_path: Path) -> None:
    env = {"TYLER_DATA_DIR": str(tmp_path / "d")}
    assert data_dir(env) == tmp_path / "d"
    assert chat_db_url(env) == f"sqlite+aiosqlite:///{tmp_path / 'd' / 'chat.db'}"
    assert (tmp_path / "d").is_dir()
    assert data_dir({}).name == "tyler"  # the platform's user data dir


def test_tool_sets_and_reasoning() -> None:
    assert parse_tool_sets(" web, Files ,,") == ["web", "files"]
    assert parse_tool_sets(None) == []
    assert parse_tool_sets("none") == []
    defaults = {t["definition"]["function"]["name"] for t in load_tools(None)}
    assert defaults == {"web-search", "web-fetch", "files-read", "files-list", "files-search"}
    assert load_tools([]) == []
    names = {t["definition"]["function"]["name"] for t in load_tools(["files"])}
    assert "files-read" in names
    with pytest.raises(ConfigurationError, match="available: files, web, none"):
        load_tools(["mail"])
    assert check_reasoning("HIGH") == "high"
    assert check_reasoning("off") is None
    with pytest.raises(ConfigurationError):
        check_reasoning("extreme")


def test_resume_takes_an_optional_value() -> None:
    assert _normalize_argv(["chat", "--resume"]) == ["chat", "--resume", "latest"]
    assert _normalize_argv(["chat", "--resume", "--model", "x"]) == ["chat", "--resume", "latest", "--model", "x"]
    assert _normalize_argv(["chat", "--resume", "ab12"]) == ["chat", "--resume", "ab12"]


def test_the_local_model_gets_no_tools_unless_asked() -> None:
    from tyler.cli.config import ModelChoice
    from tyler.cli.session import AgentOptions

    assert AgentOptions(model=ModelChoice("local/smollm2", "test")).tool_names() == []
    assert AgentOptions(model=ModelChoice("local/smollm2", "test"), tool_sets=("files",)).tool_names() == ["files"]
    assert AgentOptions(model=ModelChoice("gpt-4o", "test")).tool_names() is None  # the read-only defaults
    local_agent = AgentOptions(model=ModelChoice("local/smollm2", "test")).build()
    assert local_agent.tools == []
