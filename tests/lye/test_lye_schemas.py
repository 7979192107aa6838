"""The schemas lye's tools show the model: derived from the tools' signatures and docstrings
(`tyler.tools.tool_from_callable`), and equal to what they were when written by hand."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lye import files, web
from lye.files import make_files_tools
from lye.web import make_web_tools
from tyler.tools import ToolDict, dict_tool_name

_PATH = {"type": "string", "description": "Path relative to the workspace root (e.g. 'reports/summary.md')."}
_URL = {"type": "string", "description": "An http or https URL."}


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


# What the model saw when the schemas were written by hand (LYE_MAX_READ_CHARS unset).
HAND_WRITTEN: dict[str, dict[str, Any]] = {
    "web-search": {
        "description": "Search the web. Returns the top results as title, URL and snippet.",
        "parameters": _object({
            "query": {"type": "string", "minLength": 1, "description": "What to search for."},
            "max_results": {"type": "integer", "minimum": 1, "maximum": 20, "default": 5},
        }, ["query"]),
    },
    "web-fetch": {
        "description": "Fetch a web page and return its readable content (HTML converted to Markdown, PDF to "
                       "text). Long pages are truncated with a note.",
        "parameters": _object({
            "url": _URL,
            "output_format": {"type": "string", "enum": ["markdown", "text", "raw"], "default": "markdown"},
        }, ["url"]),
    },
    "web-download": {
        "description": "Download a URL to a file in the workspace (default name: the URL's file name).",
        "parameters": _object({
            "url": _URL,
            "path": {"type": "string", "description": "Where to save it, relative to the workspace."},
            "overwrite": {"type": "boolean", "default": False},
        }, ["url"]),
    },
    "files-read": {
        "description": "Read a file from the workspace: text, JSON (pretty-printed), CSV (as a table) or PDF "
                       "(extracted text). Long files are returned in windows; use offset to read on.",
        "parameters": _object({
            "path": _PATH,
            "offset": {"type": "integer", "minimum": 0, "default": 0,
                       "description": "Character offset to start reading at."},
            "max_chars": {"type": "integer", "minimum": 1, "maximum": 200000,
                          "description": "Maximum characters to return (default 20000)."},
        }, ["path"]),
    },
    "files-write": {
        "description": "Write text to a file in the workspace, creating parent folders. mode: 'overwrite' "
                       "(default), 'append', or 'create' (fail if the file exists).",
        "parameters": _object({
            "path": _PATH,
            "content": {"type": "string", "description": "The text to write (UTF-8)."},
            "mode": {"type": "string", "enum": ["overwrite", "append", "create"], "default": "overwrite"},
        }, ["path", "content"]),
    },
    "files-list": {
        "description": "List files and folders in the workspace (folders end with '/').",
        "parameters": _object({
            "path": {**_PATH, "default": "."},
            "recursive": {"type": "boolean", "default": False},
            "pattern": {"type": "string", "description": "Glob on names, e.g. '*.md'."},
            "max_entries": {"type": "integer", "minimum": 1, "maximum": 5000, "default": 200},
        }, []),
    },
    "files-search": {
        "description": "Search the workspace for files whose name matches the query (substring or glob), "
                       "and/or whose text contains it (returns path:line: text).",
        "parameters": _object({
            "query": {"type": "string", "minLength": 1},
            "path": {**_PATH, "default": "."},
            "search_in": {"type": "string", "enum": ["name", "content", "both"], "default": "both"},
            "glob": {"type": "string", "description": "Only consider files whose name matches."},
            "case_sensitive": {"type": "boolean", "default": False},
            "max_results": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50},
        }, ["query"]),
    },
}


def _tools(tmp_path: Path) -> list[ToolDict]:
    return [*make_web_tools(workspace=tmp_path), *make_files_tools(tmp_path)]


def test_the_schemas_are_the_hand_written_ones(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LYE_MAX_READ_CHARS", raising=False)
    shown = {
        dict_tool_name(t): {k: t["definition"]["function"][k] for k in ("description", "parameters")}
        for t in _tools(tmp_path)
    }
    assert shown == HAND_WRITTEN


def test_documented_defaults_are_the_ones_applied(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every default a schema states is the implementation's own default, and the one the
    public function behind it applies (files-read's max_chars: LYE_MAX_READ_CHARS, read at call time)."""
    monkeypatch.setenv("LYE_MAX_READ_CHARS", "4321")
    behind: dict[str, Callable[..., Any]] = {
        "web-search": web.search_web, "web-fetch": web.fetch_page, "web-download": web.download_file,
        "files-read": files.read_file, "files-write": files.write_file, "files-list": files.list_files,
        "files-search": files.search_files,
    }
    for tool in _tools(tmp_path):
        name = dict_tool_name(tool)
        properties = tool["definition"]["function"]["parameters"]["properties"]
        own = inspect.signature(tool["implementation"]).parameters
        public = inspect.signature(behind[name]).parameters
        for arg, schema in properties.items():
            if "default" in schema:
                assert own[arg].default == schema["default"], (name, arg)
                if arg in public:
                    assert public[arg].default == schema["default"], (name, arg)
    read = next(t for t in _tools(tmp_path) if dict_tool_name(t) == "files-read")
    max_chars = read["definition"]["function"]["parameters"]["properties"]["max_chars"]
    assert max_chars["description"] == f"Maximum characters to return (default {files._max_chars(None)})."
    assert files._max_chars(None) == 4321


def test_the_module_documents_the_read_default_it_has() -> None:
    assert files.__doc__ is not None
    assert f"LYE_MAX_READ_CHARS       characters files-read returns per call (default {files.DEFAULT_MAX_CHARS})" in (
        files.__doc__
    )
