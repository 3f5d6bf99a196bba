"""Anthropic Messages API: ``POST {base_url}/messages`` streamed as server-sent events.

Anthropic takes the system prompt as a top-level field rather than a message, and
reports failures that happen mid-answer as an ``error`` event inside a 200 response
(retryable for ``overloaded_error``, ``api_error``, ``rate_limit_error`` and
``timeout_error``, as the SDK's status mapping would be; the rest are the request's
fault). An answer is complete only when ``message_stop`` arrives. Extended thinking
arrives as ``thinking_delta`` in ``thinking`` blocks; ``message_delta`` carries the
stop reason and the cumulative usage, input and cache tokens included.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, ClassVar

from arena.backends.base import Backend, ChatMessage, Event, ReasoningDelta, StreamEnd, TextDelta
from arena.backends.wire import (
    ProviderError,
    decode_frame,
    http_errors,
    read_to_end,
    sse_events,
    status_error,
)
from arena.errors import BackendError

API_VERSION = "2023-06-01"
RETRYABLE_ERRORS = frozenset({"overloaded_error", "api_error", "rate_limit_error", "timeout_error"})
#: Tokens the prompt used: uncached input plus cache writes and reads.
INPUT_USAGE = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


class AnthropicBackend(Backend):
    """Streams Claude models through the Messages API."""

    provider = "anthropic"
    finish_reasons: ClassVar[Mapping[str, str]] = {
        "end_turn": "stop",
        "stop_sequence": "stop",
        "tool_use": "tool_calls",
        "pause_turn": "aborted",  # a long turn paused by the API: the answer is unfinished
        "max_tokens": "length",
        "model_context_window_exceeded": "length",
        "refusal": "refusal",
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
        With reasoning "on", extended thinking is asked for (budget: ``reasoning_budget``,
        else half of ``max_tokens``, at least Anthropic's 1,024) and no temperature is
        sent: thinking accepts only the default.
        """
        body: dict[str, Any] = {
            "model": self.spec.served_name,
            "max_tokens": self.spec.max_tokens,
            "temperature": self.spec.temperature,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": True,
        }
        if self.spec.reasoning == "on":
            body["thinking"] = {"type": "enabled", "budget_tokens": self.spec.thinking_budget}
            del body["temperature"]
        elif self.spec.reasoning == "off":
            body["thinking"] = {"type": "disabled"}
        if self.spec.system_prompt:
            body["system"] = self.spec.system_prompt
        return body

    async def stream(self, messages: Sequence[ChatMessage], base_url: str) -> AsyncIterator[Event]:
        url = base_url.rstrip("/") + "/messages"
        stop_reason: str | None = None
        usage: dict[str, Any] = {}
        end: StreamEnd | None = None
        with http_errors():
            async with self.client.stream(
                "POST", url, json=self.payload(messages), headers=self.headers()
            ) as response:
                if response.status_code >= 400:
                    raise status_error(response, await response.aread())
                lines = response.aiter_lines()
                async for sse in sse_events(lines):
                    frame = decode_frame(sse.data)  # its "type" repeats the event's name
                    kind = frame.get("type")
                    if kind == "content_block_delta":
                        delta = frame.get("delta") or {}
                        if delta.get("type") == "text_delta" and delta.get("text"):
                            yield TextDelta(delta["text"])
                        elif delta.get("type") == "thinking_delta" and delta.get("thinking"):
                            yield ReasoningDelta(delta["thinking"])
                    elif kind == "message_start":
                        usage |= _known((frame.get("message") or {}).get("usage"))
                    elif kind == "message_delta":
                        stop_reason = (frame.get("delta") or {}).get("stop_reason") or stop_reason
                        usage |= _known(frame.get("usage"))  # cumulative: replaces the start's
                    elif kind == "message_stop":
                        inputs = [usage[k] for k in INPUT_USAGE if k in usage]
                        prompt_tokens = sum(inputs) if inputs else None
                        end = self.end(stop_reason, prompt_tokens, usage.get("output_tokens"))
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


def _known(usage: Any) -> dict[str, int]:
    """The usage counts a frame states (null ones left out, so they replace nothing)."""
    if not isinstance(usage, dict):
        return {}
    return {k: v for k, v in usage.items() if isinstance(v, int) and not isinstance(v, bool)}


def _event_error(error: Any) -> ProviderError:
    error = error if isinstance(error, dict) else {"message": str(error)}
    kind = error.get("type", "error")
    return ProviderError(
        f"model error mid-stream: {kind}: {error.get('message', '')}",
        retryable=kind in RETRYABLE_ERRORS,
        kind="stream_error",
        code=kind,
        detail=error.get("message"),
    )
