"""Every python block of the spec is accounted for: a changed spec fails here, not silently."""

from __future__ import annotations

from spec_support import parse_blocks, python_blocks

# marker -> the test module that runs it
COVERED = {
    "Event Streaming (Recommended)#1": "test_spec_programs",
    "Raw Streaming (Advanced)#1": "test_spec_programs",
    "Raw Streaming (Advanced)#2": "test_spec_web",
    "Understanding Execution Events#1": "test_spec_fragments",
    "Event Streaming with Thinking#1": "test_spec_thinking",
    "Thinking in Message Object#1": "test_spec_thinking",
    "Raw Streaming with Thinking#1": "test_spec_thinking",
    "UI Pattern: Separated Display#1": "test_spec_thinking",
    "Backward Compatibility#1": "test_spec_thinking",
    "See tool usage in real-time#1": "test_spec_lye_blocks",
    "Terminal chat interface#1": "test_spec_programs",
    "Web application streaming#1": "test_spec_web",
    "Progress indicators#1": "test_spec_fragments",
    "Buffered streaming#1": "test_spec_fragments",
    "Cancellable streaming#1": "test_spec_fragments",
    "Rich terminal UI#1": "test_spec_fragments",
    "Token counting#1": "test_spec_fragments",
    "1. Chunk Size Optimization#1": "test_spec_fragments",
    "2. Async Processing#1": "test_spec_fragments",
    "3. Error Handling in Streams#1": "test_spec_fragments",
    "Real-World Example: Live Research Assistant#1": "test_spec_lye_blocks",
}
PROGRAMS = {
    "Event Streaming (Recommended)#1",
    "Raw Streaming (Advanced)#1",
    "Terminal chat interface#1",
    "Real-World Example: Live Research Assistant#1",
}


def test_every_python_block_has_a_test(spec_text: str) -> None:
    blocks = python_blocks(spec_text)
    assert len(blocks) == 21, f"the spec now has {len(blocks)} python blocks: update COVERED and the tests"
    assert set(blocks) == set(COVERED), (
        f"untested blocks: {sorted(set(blocks) - set(COVERED))}; vanished blocks: {sorted(set(COVERED) - set(blocks))}"
    )


def test_programs_are_the_blocks_that_run_themselves(spec_text: str) -> None:
    blocks = python_blocks(spec_text)
    assert {m for m, b in blocks.items() if b.is_program} == PROGRAMS


def test_the_thinking_output_sample_is_there(spec_text: str) -> None:
    texts = [b for b in parse_blocks(spec_text) if b.language == ""]
    assert [b.marker for b in texts] == ["Event Streaming with Thinking[text]#1"]
    assert "[reasoning]" in texts[0].code and "💬 Response:" in texts[0].code


def test_parser_sees_fences_and_headings() -> None:
    text = "# A\n```python\nx = 1\n```\n## B\n```python\ny\n```\n```\nout\n```\n```python\nz\n```\n"
    blocks = parse_blocks(text)
    assert [(b.marker, b.code) for b in blocks] == [
        ("A#1", "x = 1\n"), ("B#1", "y\n"), ("B[text]#1", "out\n"), ("B#2", "z\n"),
    ]


def test_spec_path_override(monkeypatch, tmp_path) -> None:
    from spec_support import REPO, SPEC_ENV, spec_path

    monkeypatch.delenv(SPEC_ENV, raising=False)
    assert spec_path() == REPO.parent / "shared" / "spec" / "streaming.md"
    monkeypatch.setenv(SPEC_ENV, str(tmp_path / "s.md"))
    assert spec_path() == tmp_path / "s.md"


def test_unclosed_fence_is_an_error() -> None:
    import pytest

    with pytest.raises(ValueError, match="unclosed code fence at line 2"):
        parse_blocks("# A\n```python\nx = 1\n")
