"""Model backends: one adapter per wire protocol, and the registry that maps providers to them."""

from __future__ import annotations

import httpx

from arena.backends.anthropic import AnthropicBackend
from arena.backends.base import (
    Backend,
    ChatMessage,
    Event,
    ReasoningDelta,
    StreamEnd,
    TextDelta,
    Timeouts,
)
from arena.backends.demo import DemoBackend
from arena.backends.gemini import GeminiBackend
from arena.backends.openai_compat import OpenAICompatBackend
from arena.backends.policy import AnswerFailed, generate
from arena.backends.pool import ShardedTransport
from arena.backends.wire import ProviderError
from arena.config import PROVIDERS, ModelSpec, Settings

BACKENDS: dict[str, type[Backend]] = {
    "openai": OpenAICompatBackend,
    "vllm": OpenAICompatBackend,
    "plamo": OpenAICompatBackend,
    "anthropic": AnthropicBackend,
    "gemini": GeminiBackend,
    "demo": DemoBackend,
}
if set(BACKENDS) != set(PROVIDERS):  # the config's vocabulary and the registry must agree
    raise ImportError(f"arena.backends: registry {sorted(BACKENDS)} != PROVIDERS {PROVIDERS}")


def build_backends(models: tuple[ModelSpec, ...], client: httpx.AsyncClient) -> dict[str, Backend]:
    """One backend per configured model, keyed by model name."""
    return {m.name: BACKENDS[m.provider](m, client) for m in models}


def pool_size(settings: Settings) -> int:
    """Upstream connections one process may hold: two sides per streaming battle."""
    return max(1, settings.stream_concurrency) * 2


def make_client(timeouts: Timeouts, max_connections: int = 512) -> httpx.AsyncClient:
    """The shared HTTP client: connect timeout, read timeout as the gap between chunks.

    The limits go on the transport (httpx ignores the client's ``limits`` once a
    transport is given): ``max_connections`` in small pools (:mod:`arena.backends.pool`).
    """
    return httpx.AsyncClient(
        timeout=httpx.Timeout(
            connect=timeouts.connect, read=timeouts.first_token, write=30.0, pool=timeouts.connect
        ),
        transport=ShardedTransport(max_connections, retries=1),
    )


def client_for(settings: Settings) -> httpx.AsyncClient:
    """The shared HTTP client with the timeouts and pool size of ``settings``."""
    timeouts = Timeouts(
        connect=settings.connect_timeout,
        first_token=settings.first_token_timeout,
        reasoning=settings.reasoning_timeout,
    )
    return make_client(timeouts, pool_size(settings))


__all__ = [
    "BACKENDS",
    "AnswerFailed",
    "Backend",
    "ChatMessage",
    "Event",
    "ProviderError",
    "ReasoningDelta",
    "StreamEnd",
    "TextDelta",
    "Timeouts",
    "build_backends",
    "client_for",
    "generate",
    "make_client",
    "pool_size",
]
