"""Model backends: one adapter per wire protocol, and the registry that maps providers to them."""

from __future__ import annotations

import httpx

from arena.backends.anthropic import AnthropicBackend
from arena.backends.base import (
    Backend,
    ChatMessage,
    Event,
    StreamEnd,
    TextDelta,
    Timeouts,
    generate,
)
from arena.backends.demo import DemoBackend
from arena.backends.gemini import GeminiBackend
from arena.backends.openai_compat import OpenAICompatBackend
from arena.config import ModelSpec

BACKENDS: dict[str, type[Backend]] = {
    "openai": OpenAICompatBackend,
    "vllm": OpenAICompatBackend,
    "plamo": OpenAICompatBackend,
    "anthropic": AnthropicBackend,
    "gemini": GeminiBackend,
    "demo": DemoBackend,
}


def build_backends(models: tuple[ModelSpec, ...], client: httpx.AsyncClient) -> dict[str, Backend]:
    """One backend per configured model, keyed by model name."""
    return {m.name: BACKENDS[m.provider](m, client) for m in models}


def make_client(timeouts: Timeouts, max_connections: int = 512) -> httpx.AsyncClient:
    """The shared HTTP client: connect timeout, read timeout as the gap between chunks."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(
            connect=timeouts.connect, read=timeouts.first_token, write=30.0, pool=timeouts.connect
        ),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=64),
        transport=httpx.AsyncHTTPTransport(retries=1),
    )


__all__ = [
    "BACKENDS",
    "Backend",
    "ChatMessage",
    "Event",
    "StreamEnd",
    "TextDelta",
    "Timeouts",
    "build_backends",
    "generate",
    "make_client",
]
