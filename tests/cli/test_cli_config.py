"""Model choice, data directory and argument parsing of the CLI (pure functions)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tyler.cli import _normalize_argv
from tyler.cli.config import (
    ModelChoice,
    chat_db_url,
    check_reasoning,
    choose_model,
    data_dir,
    default_tool_names,
    default_tools_label,
    load_default_tools,
    load_tools,
    parse_tool_sets,
)
from tyler.exceptions import ConfigurationError


def test_model_choice_precedence() -> None:
    keys = {"OPENAI_API_KEY": "sk", "ANTHROPIC_API_KEY": "ak"}
    assert choose_model("local/x.gguf", {**keys, "TYLER_MODEL": "gpt-4"}).name == "local/x.gguf"
    assert choose_model(None, {**keys, "TYLER_MODEL": "gpt-4"}).name == "gpt-4"
    assert choose_model(None, keys).name == "gpt-4o"
    claude = choose_model(None, {"ANTHROPIC_API_KEY": "ak"})
    assert claude.name.startswith("claude") and claude.reason == "ANTHROPIC_API_KEY is set"
    offline = choose_model(None, {"OPENAI_API_KEY": ""})
    assert offline.name == "local/qwen" and offline.is_local
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


def _names(tools: list) -> set[str]:
    return {t["definition"]["function"]["name"] for t in tools}


def test_default_tools_never_give_files_and_web_together(tmp_path: Path) -> None:
    # Issue 15 item 6: a prompt-injected page must not be able to make the model read a secret
    # and send it out in a URL, so no default has both; home and / are never the workspace.
    hosted, qwen, smol = ModelChoice("gpt-4o", "t"), ModelChoice("local/qwen", "t"), ModelChoice("local/smollm2", "t")
    project = tmp_path / "project"
    project.mkdir()
    for folder in (project, Path.home(), Path("/")):
        for choice in (hosted, qwen, smol):
            names = set(default_tool_names(choice, folder))
            assert not ({"web-search", "web-fetch", "web-download"} & names and {n for n in names if "files" in n})
            assert "files-write" not in names and "web-download" not in names
    assert default_tool_names(hosted, project) == ("files-read", "files-list", "files-search")
    assert default_tool_names(hosted, Path.home()) == ("web-search", "web-fetch")
    assert default_tool_names(hosted, Path("/")) == ("web-search", "web-fetch")
    assert default_tool_names(qwen, project) == ("files-list", "files-read")
    assert default_tool_names(qwen, Path.home()) == ()
    assert default_tool_names(smol, project) == ()  # it makes no tool calls
    assert default_tools_label(qwen, project) == "files (read-only)"
    assert default_tools_label(hosted, Path.home()).startswith("web (read-only")
    assert default_tools_label(smol, project) == "none"


def test_the_local_model_is_offered_the_path_argument_only(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    tools = load_default_tools(ModelChoice("local/qwen", "t"))
    assert _names(tools) == {"files-list", "files-read"}
    for tool in tools:
        assert list(tool["definition"]["function"]["parameters"]["properties"]) == ["path"]
    hosted = load_default_tools(ModelChoice("gpt-4o", "t"))
    assert "pattern" in next(t for t in hosted if t["definition"]["function"]["name"] == "files-list")[
        "definition"]["function"]["parameters"]["properties"]  # hosted models get the full schemas


async def test_the_local_file_tools_work_confined_to_the_cwd(tmp_path: Path, monkeypatch) -> None:
    from tyler.cli.session import AgentOptions

    (tmp_path / "README.md").write_text("# hi\n")
    monkeypatch.chdir(tmp_path)
    agent = AgentOptions(model=ModelChoice("local/smollm2", "t"), tool_sets=None).build()
    assert agent.tools == []
    # Built through the same path as the CLI, then called as the run loop calls them.
    tools = {t.name: t for t in _tools_of(load_default_tools(ModelChoice("local/qwen", "t")))}
    listing = await tools["files-list"].call(tools["files-list"].parse_arguments("{}"))
    assert "README.md" in listing
    assert "# hi" in await tools["files-read"].call(tools["files-read"].parse_arguments('{"path": "README.md"}'))
    with pytest.raises(Exception, match="outside the workspace"):
        await tools["files-read"].call(tools["files-read"].parse_arguments('{"path": "/etc/passwd"}'))


def _tools_of(dicts: list) -> list:
    from tyler.tools import build_toolset

    return list(build_toolset(dicts).values())


def test_explicit_tool_sets_win(monkeypatch) -> None:
    from tyler.cli.session import AgentOptions

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")  # built only, never sent

    agent = AgentOptions(model=ModelChoice("local/smollm2", "test"), tool_sets=("files",)).build()
    assert "files-write" in {t.name for t in agent.tools}
    assert AgentOptions(model=ModelChoice("gpt-4o", "test"), tool_sets=()).build().tools == []
