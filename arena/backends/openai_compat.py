"""OpenAI-compatible chat completions: vLLM's server, OpenAI itself and PLaMo's API.

vLLM reports errors that happen mid-generation inside a 200 response, as a frame
``data: {"error": {...}}`` before ``[DONE]``: every frame is checked for one.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from arena.backends.base import (
    Backend,
    ChatMessage,
    Event,
    StreamEnd,
    TextDelta,
    http_errors,
    status_error,
)
from arena.errors import BackendError


class OpenAICompatBackend(Backend):
    """Streams ``POST {base_url}/chat/completions`` with server-sent events."""

    provider = "openai"

    def payload(self, messages: Sequence[ChatMessage]) -> dict[str, Any]:
        """The request body: history, sampling parameters, streaming with usage."""
        return {
            "model": self.spec.served_name,
            "messages": self.with_system(messages),
            "temperature": self.spec.temperature,
            "top_p": self.spec.top_p,
            "max_tokens": self.spec.max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }

    async def stream(self, messages: Sequence[ChatMessage], base_url: str) -> AsyncIterator[Event]:
        url = base_url.rstrip("/") + "/chat/completions"
        finish: str | None = None
        usage: dict[str, Any] = {}
        with http_errors():
            async with self.client.stream(
                "POST", url, json=self.payload(messages), headers=self.auth_headers()
            ) as response:
                if response.status_code >= 400:
                    raise status_error(response, await response.aread())
                async for line in response.aiter_lines():
                    if not line or line.startswith(":") or not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        yield StreamEnd(
                            finish, usage.get("prompt_tokens"), usage.get("completion_tokens")
                        )
                        return
                    frame = _decode(data)
                    if "error" in frame:
                        raise _frame_error(frame["error"])
                    usage = frame.get("usage") or usage
                    for choice in frame.get("choices") or []:
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            yield TextDelta(text)
                        finish = choice.get("finish_reason") or finish
        raise BackendError("stream ended without [DONE]", retryable=True, kind="truncated")


def _decode(data: str) -> dict[str, Any]:
    try:
        frame = json.loads(data)
    except json.JSONDecodeError as exc:
        raise BackendError(
            f"malformed stream frame: {data[:100]!r}", retryable=True, kind="protocol"
        ) from exc
    if not isinstance(frame, dict):
        raise BackendError(
            f"malformed stream frame: {data[:100]!r}", retryable=True, kind="protocol"
        )
    return frame


def _frame_error(error: Any) -> BackendError:
    message = error.get("message", error) if isinstance(error, dict) else error
    return BackendError(f"model error mid-stream: {message}", retryable=True, kind="stream_error")
