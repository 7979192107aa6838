"""Model string → provider, base URL, key (no network), plus a few routes exercised over HTTP."""

from __future__ import annotations

import pytest

from tyler import Agent, Message, Thread
from tyler.exceptions import ConfigurationError
from tyler.providers import resolve_provider, split_model
from tyler.providers.anthropic import AnthropicProvider
from tyler.providers.litellm import LiteLLMProvider
from tyler.providers.openai import OpenAIProvider
from tyler.testing import FakeModelServer, Turn


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4", ("openai", "gpt-4")),
        ("gpt-4o", ("openai", "gpt-4o")),
        ("o1-preview", ("openai", "o1-preview")),
        ("o3-mini", ("openai", "o3-mini")),
        ("openai/my-model", ("openai", "my-model")),
        ("anthropic/claude-3-7-sonnet-20250219", ("anthropic", "claude-3-7-sonnet-20250219")),
        ("claude-3-5-sonnet-20241022", ("anthropic", "claude-3-5-sonnet-20241022")),
        ("deepseek/deepseek-chat", ("deepseek", "deepseek-chat")),
        ("groq/llama-3.1-70b", ("groq", "llama-3.1-70b")),
        ("ollama/llama3:8b", ("ollama", "llama3:8b")),
        ("openrouter/meta-llama/llama-3-70b", ("openrouter", "meta-llama/llama-3-70b")),
        ("mystery-model", ("", "mystery-model")),
    ],
)
def test_split_model(model: str, expected: tuple[str, str]) -> None:
    assert split_model(model) == expected


@pytest.mark.parametrize("bad", ["", "  ", None, 42])
def test_split_model_rejects_non_names(bad: object) -> None:
    with pytest.raises(ConfigurationError):
        split_model(bad)  # type: ignore[arg-type]


OPENAI_COMPAT = [
    # model string, env key var, expected url, expected model sent, provider name
    ("gpt-4o", "OPENAI_API_KEY", "https://api.openai.com/v1/chat/completions", "gpt-4o", "openai"),
    ("o1-preview", "OPENAI_API_KEY", "https://api.openai.com/v1/chat/completions", "o1-preview", "openai"),
    ("openai/x", "OPENAI_API_KEY", "https://api.openai.com/v1/chat/completions", "x", "openai"),
    (
        "deepseek/deepseek-reasoner",
        "DEEPSEEK_API_KEY",
        "https://api.deepseek.com/v1/chat/completions",
        "deepseek-reasoner",
        "deepseek",
    ),
    ("groq/llama-3.3-70b", "GROQ_API_KEY", "https://api.groq.com/openai/v1/chat/completions", "llama-3.3-70b", "groq"),
    ("xai/grok-3", "XAI_API_KEY", "https://api.x.ai/v1/chat/completions", "grok-3", "xai"),
    (
        "openrouter/anthropic/claude-3.5-sonnet",
        "OPENROUTER_API_KEY",
        "https://openrouter.ai/api/v1/chat/completions",
        "anthropic/claude-3.5-sonnet",
        "openrouter",
    ),
    (
        "together_ai/meta-llama/Llama-3-70b",
        "TOGETHERAI_API_KEY",
        "https://api.together.xyz/v1/chat/completions",
        "meta-llama/Llama-3-70b",
        "together_ai",
    ),
]


@pytest.mark.parametrize(("model", "key_env", "url", "sent_model", "name"), OPENAI_COMPAT)
def test_openai_compatible_routes(
    clean_env: pytest.MonkeyPatch, model: str, key_env: str, url: str, sent_model: str, name: str
) -> None:
    clean_env.setenv(key_env, "sk-test")
    provider = resolve_provider(model)
    assert isinstance(provider, OpenAIProvider)
    assert provider.url == url
    assert provider.model == sent_model
    assert provider.name == name
    assert provider.headers["Authorization"] == "Bearer sk-test"


def test_official_openai_without_key_is_a_configuration_error(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        resolve_provider("gpt-4o")


def test_together_key_alias(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TOGETHER_API_KEY", "tk")
    provider = resolve_provider("together_ai/m")
    assert isinstance(provider, OpenAIProvider)
    assert provider.headers["Authorization"] == "Bearer tk"


@pytest.mark.parametrize(
    ("model", "url"),
    [
        ("ollama/llama3", "http://localhost:11434/v1/chat/completions"),
        ("ollama_chat/llama3", "http://localhost:11434/v1/chat/completions"),
        ("lm_studio/qwen2.5", "http://localhost:1234/v1/chat/completions"),
    ],
)
def test_local_servers_need_no_key(clean_env: pytest.MonkeyPatch, model: str, url: str) -> None:
    provider = resolve_provider(model)
    assert isinstance(provider, OpenAIProvider)
    assert provider.url == url
    assert "Authorization" not in provider.headers


def test_ollama_api_base_gets_v1(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OLLAMA_API_BASE", "http://10.0.0.5:11434")
    assert resolve_provider("ollama/llama3").url == "http://10.0.0.5:11434/v1/chat/completions"  # type: ignore[attr-defined]
    assert resolve_provider("ollama/llama3", api_base="http://h:1/v1/").url == "http://h:1/v1/chat/completions"  # type: ignore[attr-defined]


def test_hosted_vllm_needs_api_base(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="api_base"):
        resolve_provider("hosted_vllm/my-model")
    provider = resolve_provider("hosted_vllm/my-model", api_base="http://127.0.0.1:8000")
    assert isinstance(provider, OpenAIProvider)
    assert provider.url == "http://127.0.0.1:8000/v1/chat/completions"
    assert provider.model == "my-model"
    clean_env.setenv("HOSTED_VLLM_API_BASE", "http://127.0.0.1:8001/v1")
    assert resolve_provider("hosted_vllm/m").url == "http://127.0.0.1:8001/v1/chat/completions"  # type: ignore[attr-defined]


def test_openai_base_url_wins_over_openai_api_base(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OPENAI_API_BASE", "http://127.0.0.1:1/v1")
    assert resolve_provider("gpt-4o").url == "http://127.0.0.1:1/v1/chat/completions"  # type: ignore[attr-defined]
    clean_env.setenv("OPENAI_BASE_URL", "http://127.0.0.1:2/v1")
    assert resolve_provider("gpt-4o").url == "http://127.0.0.1:2/v1/chat/completions"  # type: ignore[attr-defined]


def test_api_base_and_api_key_arguments_win(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OPENAI_BASE_URL", "http://127.0.0.1:2/v1")
    clean_env.setenv("OPENAI_API_KEY", "from-env")
    provider = resolve_provider("gpt-4o", api_base="http://127.0.0.1:3/v1", api_key="from-arg")
    assert isinstance(provider, OpenAIProvider)
    assert provider.url == "http://127.0.0.1:3/v1/chat/completions"
    assert provider.headers["Authorization"] == "Bearer from-arg"


def test_a_custom_base_url_needs_no_key(clean_env: pytest.MonkeyPatch) -> None:
    provider = resolve_provider("gpt-4o", api_base="http://127.0.0.1:3/v1")
    assert isinstance(provider, OpenAIProvider)
    assert "Authorization" not in provider.headers


@pytest.mark.parametrize("model", ["anthropic/claude-3-7-sonnet-20250219", "claude-3-7-sonnet-20250219"])
def test_anthropic_routes(clean_env: pytest.MonkeyPatch, model: str) -> None:
    with pytest.raises(ConfigurationError, match="ANTHROPIC_API_KEY"):
        resolve_provider(model)
    clean_env.setenv("ANTHROPIC_API_KEY", "ak")
    provider = resolve_provider(model)
    assert isinstance(provider, AnthropicProvider)
    assert provider.url == "https://api.anthropic.com/v1/messages"
    assert provider.model == "claude-3-7-sonnet-20250219"
    assert provider.headers["x-api-key"] == "ak"
    assert provider.headers["anthropic-version"]


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("http://127.0.0.1:5", "http://127.0.0.1:5/v1/messages"),
        ("http://127.0.0.1:5/", "http://127.0.0.1:5/v1/messages"),
        ("http://127.0.0.1:5/v1", "http://127.0.0.1:5/v1/messages"),
    ],
)
def test_anthropic_base_url(clean_env: pytest.MonkeyPatch, base: str, url: str) -> None:
    clean_env.setenv("ANTHROPIC_BASE_URL", base)
    assert resolve_provider("claude-3-5-haiku").url == url  # type: ignore[attr-defined]
    assert resolve_provider("claude-3-5-haiku", api_base=base).url == url  # type: ignore[attr-defined]


def test_unknown_names(clean_env: pytest.MonkeyPatch) -> None:
    fallback = resolve_provider("mistral/mistral-large")
    assert isinstance(fallback, LiteLLMProvider)
    assert fallback.model == "mistral/mistral-large"
    compat = resolve_provider("my-finetune", api_base="http://127.0.0.1:7/v1")
    assert isinstance(compat, OpenAIProvider)
    assert compat.url == "http://127.0.0.1:7/v1/chat/completions"
    assert compat.model == "my-finetune"


def test_agent_uses_its_api_base(clean_env: pytest.MonkeyPatch) -> None:
    agent = Agent(model_name="groq/llama3", api_base="http://127.0.0.1:9/openai/v1", api_key="g")
    provider = agent._provider()
    assert isinstance(provider, OpenAIProvider)
    assert provider.url == "http://127.0.0.1:9/openai/v1/chat/completions"


# -- over HTTP ---------------------------------------------------------------------------------------


def user_thread() -> Thread:
    thread = Thread()
    thread.add_message(Message(role="user", content="hi"))
    return thread


@pytest.mark.parametrize(
    ("model", "sent", "root"),
    [
        ("openai/gpt-4o-mini", "gpt-4o-mini", False),
        ("deepseek/deepseek-chat", "deepseek-chat", False),
        ("ollama/llama3:8b", "llama3:8b", True),  # Ollama users give the server root; /v1 is added
        ("lm_studio/qwen", "qwen", True),
        ("openrouter/meta-llama/llama-3-70b", "meta-llama/llama-3-70b", False),
        ("hosted_vllm/Qwen/Qwen2.5-7B", "Qwen/Qwen2.5-7B", True),
    ],
)
async def test_prefixed_models_reach_an_openai_compatible_server(
    fake_server: FakeModelServer, clean_env: pytest.MonkeyPatch, model: str, sent: str, root: bool
) -> None:
    fake_server.enqueue(Turn(text="hello"))
    base = fake_server.url if root else fake_server.openai_base_url
    result = await Agent(model_name=model, api_base=base, api_key="k").go(user_thread())
    assert result.content == "hello"
    request = fake_server.requests[0]
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == sent
    assert request.headers["authorization"] == "Bearer k"


async def test_openai_api_base_env_is_used(fake_server: FakeModelServer, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OPENAI_API_BASE", fake_server.openai_base_url)
    clean_env.setenv("OPENAI_API_KEY", "legacy")
    fake_server.enqueue(Turn(text="legacy env works"))
    result = await Agent(model_name="gpt-4o").go(user_thread())
    assert result.content == "legacy env works"
    assert fake_server.requests[0].headers["authorization"] == "Bearer legacy"


async def test_anthropic_request_headers(env: FakeModelServer) -> None:
    env.enqueue(Turn(text="hello"))
    await Agent(model_name="claude-3-5-haiku-latest").go(user_thread())
    request = env.requests[0]
    assert request.path == "/v1/messages"
    assert request.api == "anthropic"
    assert request.headers["x-api-key"] == "fake-key"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.body["model"] == "claude-3-5-haiku-latest"
