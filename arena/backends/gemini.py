"""Google Gemini: ``POST {base_url}/models/{model}:streamGenerateContent?alt=sse``.

Gemini calls the assistant ``model``, takes the system prompt as ``systemInstruction``
and sends no end-of-stream marker: an answer is complete when some frame carried a
``finishReason`` before the body ended. A blocked prompt ends with
``promptFeedback.blockReason`` and no candidate at all; thinking models send their
thoughts as parts marked ``thought`` (when asked with ``includeThoughts``). An error
can arrive inside the 200 stream as a plain JSON body over several lines, not as an
SSE frame; the Google GenAI SDK collects exactly that case, and so does this adapter.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, ClassVar

from arena.backends.base import Backend, ChatMessage, Event, ReasoningDelta, StreamEnd, TextDelta
from arena.backends.wire import (
    ProviderError,
    decode_frame,
    http_errors,
    retryable_status,
    sse_events,
    status_error,
)
from arena.errors import BackendError

ROLES = {"user": "user", "assistant": "model"}
RETRYABLE_ERRORS = frozenset({"RESOURCE_EXHAUSTED", "INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED"})
#: The raw finish reason stored for a prompt blocked before any candidate.
BLOCKED = "PROMPT_BLOCKED"


class GeminiBackend(Backend):
    """Streams Gemini models through the Generative Language API."""

    provider = "gemini"
    finish_reasons: ClassVar[Mapping[str, str]] = {
        "STOP": "stop",
        "MAX_TOKENS": "length",
        **dict.fromkeys(
            (
                "SAFETY",
                "RECITATION",
                "BLOCKLIST",
                "PROHIBITED_CONTENT",
                "SPII",
                "IMAGE_SAFETY",
                "LANGUAGE",
            ),
            "content_filter",
        ),
        "UNEXPECTED_TOOL_CALL": "tool_calls",
    }

    def headers(self) -> dict[str, str]:
        """The API key header, when a key is set."""
        key = self.spec.api_key()
        return {"x-goog-api-key": key} if key else {}

    def payload(self, messages: Sequence[ChatMessage]) -> dict[str, Any]:
        """The request body: contents with Gemini's roles, system instruction, sampling.

        Reasoning "on" asks for the thoughts to be streamed (``includeThoughts``, with
        ``reasoning_budget`` as ``thinkingBudget`` when set); "off" asks for a budget of 0.
        """
        config: dict[str, Any] = {
            "temperature": self.spec.temperature,
            "topP": self.spec.top_p,
            "maxOutputTokens": self.spec.max_tokens,
        }
        if self.spec.reasoning == "on":
            config["thinkingConfig"] = {"includeThoughts": True}
            if self.spec.reasoning_budget:
                config["thinkingConfig"]["thinkingBudget"] = self.spec.reasoning_budget
        elif self.spec.reasoning == "off":
            config["thinkingConfig"] = {"thinkingBudget": 0}
        body: dict[str, Any] = {
            "contents": [
                {"role": ROLES.get(m.role, m.role), "parts": [{"text": m.content}]}
                for m in messages
            ],
            "generationConfig": config,
        }
        if self.spec.system_prompt:
            body["systemInstruction"] = {"parts": [{"text": self.spec.system_prompt}]}
        return body

    async def stream(self, messages: Sequence[ChatMessage], base_url: str) -> AsyncIterator[Event]:
        url = f"{base_url.rstrip('/')}/models/{self.spec.served_name}:streamGenerateContent"
        finish: str | None = None
        blocked: object = None
        usage: dict[str, Any] = {}
        with http_errors():
            async with self.client.stream(
                "POST",
                url,
                params={"alt": "sse"},
                json=self.payload(messages),
                headers=self.headers(),
            ) as response:
                if response.status_code >= 400:
                    raise status_error(response, await response.aread())
                async for sse in sse_events(response.aiter_lines(), raw_json=True):
                    frame = _frame(sse.data)
                    if frame.get("error") is not None:
                        raise _frame_error(frame["error"])
                    usage = frame.get("usageMetadata") or usage
                    block = (frame.get("promptFeedback") or {}).get("blockReason")
                    if block and not frame.get("candidates"):
                        finish, blocked = BLOCKED, block
                    for candidate in frame.get("candidates") or []:
                        for part in (candidate.get("content") or {}).get("parts") or []:
                            text = part.get("text")
                            if text and part.get("thought"):
                                yield ReasoningDelta(text)
                            elif text:
                                yield TextDelta(text)
                        if candidate.get("finishReason"):
                            finish = str(candidate["finishReason"])
        if finish is None:
            raise BackendError(
                "stream ended without a finishReason", retryable=True, kind="truncated"
            )
        yield self._end(finish, blocked if finish == BLOCKED else None, usage)

    def _end(self, finish: str, blocked: object, usage: dict[str, Any]) -> StreamEnd:
        prompt, answer = usage.get("promptTokenCount"), usage.get("candidatesTokenCount")
        if blocked is None:
            return self.end(finish, prompt, answer)
        return StreamEnd("content_filter", prompt, answer, f"{BLOCKED}:{blocked}"[:64])


def _frame(data: str) -> dict[str, Any]:
    """A frame, or an error body sent as a list of one object (as Google's APIs do)."""
    if data.lstrip().startswith("["):
        try:
            items = json.loads(data)
        except ValueError:
            items = None
        if isinstance(items, list) and items and isinstance(items[0], dict):
            return items[0]
    return decode_frame(data)


def _frame_error(error: Any) -> ProviderError:
    error = error if isinstance(error, dict) else {"message": str(error)}
    status, code = error.get("status", ""), error.get("code")
    retryable = status in RETRYABLE_ERRORS or (isinstance(code, int) and retryable_status(code))
    return ProviderError(
        f"model error mid-stream: {status or code or ''}: {error.get('message', '')}",
        retryable=retryable,
        kind="stream_error",
        code=f"{code} {status}".strip() if code is not None else status or None,
        detail=error.get("message"),
    )
