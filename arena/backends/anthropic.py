"""Anthropic Messages API: ``POST {base_url}/messages`` streamed as server-sent events.

Anthropic takes the system prompt as a top-level field rather than a message, and
reports failures that happen mid-answer as an ``error`` event inside a 200 response.
An answer is complete only when ``message_stop`` arrives.
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

API_VERSION = "2023-06-01"
RETRYABLE_ERRORS = frozenset({"overloaded_error", "api_error", "rate_limit_error"})


class AnthropicBackend(Backend):
    """Streams Claude models through the Messages API."""

    provider = "anthropic"
    finish_reasons: ClassVar[Mapping[str, str]] = {
        "end_turn": "stop",
        "stop_sequence": "stop",
        "tool_use": "stop",
        "pause_turn": "stop",
        "max_tokens": "length",
        "model_context_window_exceeded": "length",
        "refusal": "content_filter",
    }

    def headers(self) -> dict[str, str]:
        """Authentication and API version headers."""
        headers = {"anthropic-version": API_VERSION, "content-type": "application/json"}
        key = self.spec.api_key()
        if key:
            headers["x-api-key"] = key
        return headers

    def payload(self, messages: Sequence[ChatMessage]) -> dict[str, Any]:
        """The request body.

        Only ``temperature`` is sent: newer Claude models refuse ``temperature`` and
        ``top_p`` together, so ``top_p`` from the spec is not used for this provider.
        """
        body: dict[str, Any] = {
            "model": self.spec.served_name,
            "max_tokens": self.spec.max_tokens,
            "temperature": self.spec.temperature,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": True,
        }
        if self.spec.system_prompt:
            body["system"] = self.spec.system_prompt
        return body

    async def stream(self, messages: Sequence[ChatMessage], base_url: str) -> AsyncIterator[Event]:
        url = base_url.rstrip("/") + "/messages"
        stop_reason: str | None = None
        input_tokens: int | None = None
        output_tokens: int | None = None
        end: StreamEnd | None = None
        with http_errors():
            async with self.client.stream(
                "POST", url, json=self.payload(messages), headers=self.headers()
            ) as response:
                if response.status_code >= 400:
                    raise status_error(response, await response.aread())
                lines = response.aiter_lines()
                async for line in lines:
                    if not line.startswith("data:"):
                        continue  # "event:" lines repeat the type that the data carries
                    frame = decode_frame(line[5:].strip())
                    kind = frame.get("type")
                    if kind == "content_block_delta":
                        delta = frame.get("delta") or {}
                        if delta.get("type") == "text_delta" and delta.get("text"):
                            yield TextDelta(delta["text"])
                    elif kind == "message_start":
                        usage = (frame.get("message") or {}).get("usage") or {}
                        input_tokens = usage.get("input_tokens", input_tokens)
                    elif kind == "message_delta":
                        stop_reason = (frame.get("delta") or {}).get("stop_reason") or stop_reason
                        output_tokens = (frame.get("usage") or {}).get(
                            "output_tokens", output_tokens
                        )
                    elif kind == "message_stop":
                        end = self.end(stop_reason, input_tokens, output_tokens)
                        break
                    elif kind == "error":
                        raise _event_error(frame.get("error"))
                if end is not None:
                    await read_to_end(lines)
        if end is None:
            raise BackendError(
                "stream ended without message_stop", retryable=True, kind="truncated"
            )
        yield end


def _event_error(error: Any) -> BackendError:
    error = error if isinstance(error, dict) else {"message": str(error)}
    kind = error.get("type", "error")
    return BackendError(
        f"model error mid-stream: {kind}: {error.get('message', '')}",
        retryable=kind in RETRYABLE_ERRORS,
        kind="stream_error",
    )
