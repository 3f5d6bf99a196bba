"""OpenAI-compatible chat completions: vLLM's server, OpenAI itself and PLaMo's API.

vLLM reports errors that happen mid-generation inside a 200 response, as a frame
``data: {"error": {...}}`` before ``[DONE]``: every frame is checked for one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, ClassVar

from arena.backends.base import (
    Backend,
    ChatMessage,
    Event,
    StreamEnd,
    TextDelta,
    decode_frame,
    http_errors,
    read_to_end,
    status_error,
)
from arena.errors import BackendError


class OpenAICompatBackend(Backend):
    """Streams ``POST {base_url}/chat/completions`` with server-sent events."""

    provider = "openai"
    finish_reasons: ClassVar[Mapping[str, str]] = {
        "stop": "stop",
        "length": "length",
        "content_filter": "content_filter",
        "tool_calls": "stop",
        "function_call": "stop",
        "abort": "error",
        "error": "error",
    }

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
        end: StreamEnd | None = None
        with http_errors():
            async with self.client.stream(
                "POST", url, json=self.payload(messages), headers=self.auth_headers()
            ) as response:
                if response.status_code >= 400:
                    raise status_error(response, await response.aread())
                lines = response.aiter_lines()
                async for line in lines:
                    if not line.startswith("data:"):
                        continue  # blank separators, ": keep-alive" comments, other fields
                    data = line[5:].strip()
                    if data == "[DONE]":
                        end = self.end(
                            finish, usage.get("prompt_tokens"), usage.get("completion_tokens")
                        )
                        break
                    frame = decode_frame(data)
                    if "error" in frame:
                        raise _frame_error(frame["error"])
                    usage = frame.get("usage") or usage
                    for choice in frame.get("choices") or []:
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            yield TextDelta(text)
                        finish = choice.get("finish_reason") or finish
                if end is not None:
                    await read_to_end(lines)
        if end is None:
            raise BackendError("stream ended without [DONE]", retryable=True, kind="truncated")
        yield end


def _frame_error(error: Any) -> BackendError:
    message = error.get("message", error) if isinstance(error, dict) else error
    return BackendError(f"model error mid-stream: {message}", retryable=True, kind="stream_error")
