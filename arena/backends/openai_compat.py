"""OpenAI-compatible chat completions: vLLM's server, OpenAI itself and PLaMo's API.

vLLM reports errors that happen mid-generation inside a 200 response, as a frame
``data: {"error": {"message", "type", "param", "code"}}`` before ``[DONE]``: every
frame is checked for one (a frame whose ``error`` is null is an ordinary frame, as the
OpenAI SDK reads it). Only codes of 500 and up are worth a retry: a 400 in the stream
is the request's fault and would fail again. A reasoning model served with a reasoning
parser streams its thinking as ``delta.reasoning`` (``reasoning_content`` before vLLM
0.10 and on other servers).
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

#: Where servers put a delta's reasoning: vLLM >= 0.10, then older vLLM, DeepSeek, others.


class OpenAICompatBackend(Backend):
    """Streams ``POST {base_url}/chat/completions`` with server-sent events."""

    provider = "openai"
    finish_reasons: ClassVar[Mapping[str, str]] = {
        "stop": "stop",
        "length": "length",
        "content_filter": "content_filter",
        "tool_calls": "tool_calls",
        "function_call": "tool_calls",
        "abort": "aborted",  # vLLM: the engine dropped the request (shutdown, preemption)
        "repetition": "aborted",  # vLLM: generation stopped as a degenerate repetition
        "error": "error",
    }

    def payload(self, messages: Sequence[ChatMessage]) -> dict[str, Any]:
        """The request body: history, sampling parameters, streaming with usage, reasoning."""
        body: dict[str, Any] = {
            "model": self.spec.served_name,
            "messages": self.with_system(messages),
            "temperature": self.spec.temperature,
            "top_p": self.spec.top_p,
            "max_tokens": self.spec.max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        choice = self.spec.reasoning
        if choice == "default":
            return body
        if self.spec.provider == "openai":
            # OpenAI's reasoning models cannot stop reasoning; "off" asks for the least.
            body["reasoning_effort"] = "medium" if choice == "on" else "low"
        else:  # vLLM chat templates (Qwen3, DeepSeek, Granite...) read enable_thinking
            kwargs: dict[str, Any] = {"enable_thinking": choice == "on"}
            if choice == "on" and self.spec.reasoning_budget:
                kwargs["thinking_budget"] = self.spec.reasoning_budget
            body["chat_template_kwargs"] = kwargs
        return body

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
                async for sse in sse_events(lines):
                    if sse.data == "[DONE]":
                        end = self.end(
                            finish, usage.get("prompt_tokens"), usage.get("completion_tokens")
                        )
                        break
                    frame = decode_frame(sse.data)
                    if frame.get("error") is not None or frame.get("object") == "error":
                        raise frame_error(frame.get("error") or frame)
                    usage = frame.get("usage") or usage  # continuous stats: the last one
                    for choice in frame.get("choices") or []:
                        delta = choice.get("delta") or {}
                        # vLLM's field (0.10 on), then its earlier name
                        thought = delta.get("reasoning") or delta.get("reasoning_content")
                        if isinstance(thought, str):
                            yield ReasoningDelta(thought)
                        text = delta.get("content")
                        if text:
                            yield TextDelta(text)
                        finish = choice.get("finish_reason") or finish
                if end is not None:
                    await read_to_end(lines)
        if end is None:
            raise BackendError("stream ended without [DONE]", retryable=True, kind="truncated")
        yield end


def frame_error(error: Any) -> ProviderError:
    """A vLLM error frame: retryable only when its code says the server failed (>= 500)."""
    error = error if isinstance(error, dict) else {"message": str(error)}
    code = error.get("code")
    try:
        server_side = int(code) >= 500
    except (TypeError, ValueError):
        server_side = code is None  # no code: a crash mid-stream, as vLLM's own would be
    message = error.get("message", "")
    kind = error.get("type") or code
    return ProviderError(
        f"model error mid-stream: {kind}: {message}",
        retryable=server_side,
        kind="stream_error",
        code=code if code is not None else error.get("type"),
        detail=message,
    )
