"""RawChunk: an OpenAI chat.completion.chunk that is a dict and reads like LiteLLM's objects."""

from __future__ import annotations

import copy
import json
import pickle

import pytest

from tyler.chunks import RawChunk

CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1700000000,
    "model": "gpt-4o",
    "choices": [
        {
            "index": 0,
            "delta": {
                "content": "Hi",
                "tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "f", "arguments": "{}"}}],
            },
            "finish_reason": None,
        }
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
}


def make() -> RawChunk:
    return RawChunk(copy.deepcopy(CHUNK))


def test_attribute_and_dict_access_agree() -> None:
    chunk = make()
    assert chunk.id == chunk["id"] == "chatcmpl-1"
    assert chunk.choices[0].delta.content == chunk["choices"][0]["delta"]["content"] == "Hi"
    assert chunk.choices[0].delta.tool_calls[0].function.name == "f"
    assert chunk.usage.total_tokens == 3
    assert chunk.choices[0].index == 0
    assert chunk.choices[0].finish_reason is None


def test_missing_fields_read_as_none() -> None:
    delta = make().choices[0].delta
    assert delta.reasoning_content is None
    assert getattr(delta, "thinking", "absent") is None
    assert hasattr(delta, "role")
    assert delta.get("role") is None


def test_private_names_are_not_fields() -> None:
    with pytest.raises(AttributeError):
        make()._secret  # noqa: B018


def test_is_a_plain_dict_for_serialization() -> None:
    chunk = make()
    assert isinstance(chunk, dict)
    assert json.loads(json.dumps(chunk)) == CHUNK
    assert json.loads(chunk.model_dump_json()) == CHUNK
    assert chunk.model_dump() == CHUNK
    assert chunk.to_dict() == CHUNK
    assert type(chunk.model_dump()["choices"][0]) is dict
    assert pickle.loads(pickle.dumps(chunk)) == chunk
    assert chunk == CHUNK
