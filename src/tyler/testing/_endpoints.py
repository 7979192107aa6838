"""The client-facing addresses of a fake server, shared by the in-process and the remote handle."""

from __future__ import annotations


class FakeEndpoints:
    """Mixin: needs `url` and `api_key` (None: any key is accepted, "fake-key" is handed out)."""

    api_key: str | None = None

    @property
    def url(self) -> str:
        raise NotImplementedError

    @property
    def openai_base_url(self) -> str:
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    def env(self) -> dict[str, str]:
        """Environment variables pointing OpenAI and Anthropic clients at this server."""
        key = self.api_key or "fake-key"
        return {
            "OPENAI_BASE_URL": self.openai_base_url,
            "OPENAI_API_KEY": key,
            "ANTHROPIC_BASE_URL": self.anthropic_base_url,
            "ANTHROPIC_API_KEY": key,
        }
