"""Google Gemini: ``POST {base_url}/models/{model}:streamGenerateContent?alt=sse``.

Gemini calls the assistant ``model``, takes the system prompt as ``systemInstruction``
and sends no end-of-stream marker: an answer is complete when some frame carried a
``finishReason`` before the body ended. Safety stops are normal ends, with their reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, ClassVar

from arena.backends.base import (
    RETRYABLE_STATUS,
    Backend,
    ChatMessage,
    Event,
    TextDelta,
    decode_frame,
    http_errors,
    status_error,
)
from arena.errors import BackendError

ROLES = {"user": "user", "assistant": "model"}
RETRYABLE_ERRORS = frozenset({"RESOURCE_EXHAUSTED", "INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED"})


class GeminiBackend(Backend):
    """Streams Gemini models through the Generative Language API."""

    provider = "gemini"
    finish_reasons: ClassVar[Mapping[str, str]] = {
        "STOP": "stop",
        "MAX_TOKENS": "length",
        **dict.fromkeys(
            ("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"),
            "content_filter",
        ),
    }

    def headers(self) -> dict[str, str]:
        """The API key header, when a key is set."""
        key = self.spec.api_key()
        return {"x-goog-api-key": key} if key else {}

    def payload(self, messages: Sequence[ChatMessage]) -> dict[str, Any]:
        """The request body: contents with Gemini's roles, system instruction, sampling."""
        body: dict[str, Any] = {
            "contents": [
                {"role": ROLES.get(m.role, m.role), "parts": [{"text": m.content}]}
                for m in messages
            ],
            "generationConfig": {
                "temperature": self.spec.temperature,
                "topP": self.spec.top_p,
                "maxOutputTokens": self.spec.max_tokens,
            },
        }
        if self.spec.system_prompt:
            body["systemInstruction"] = {"parts": [{"text": self.spec.system_prompt}]}
        return body

    async def stream(self, messages: Sequence[ChatMessage], base_url: str) -> AsyncIterator[Event]:
        url = f"{base_url.rstrip('/')}/models/{self.spec.served_name}:streamGenerateContent"
        finish: str | None = None
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
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    frame = decode_frame(line[5:].strip())
                    if "error" in frame:
                        raise _frame_error(frame["error"])
                    usage = frame.get("usageMetadata") or usage
                    blocked = (frame.get("promptFeedback") or {}).get("blockReason")
                    if blocked:
                        finish = str(blocked)
                    for candidate in frame.get("candidates") or []:
                        for part in (candidate.get("content") or {}).get("parts") or []:
                            if part.get("text") and not part.get("thought"):
                                yield TextDelta(part["text"])
                        if candidate.get("finishReason"):
                            finish = str(candidate["finishReason"])
        if finish is None:
            raise BackendError(
                "stream ended without a finishReason", retryable=True, kind="truncated"
            )
        yield self.end(finish, usage.get("promptTokenCount"), usage.get("candidatesTokenCount"))


def _frame_error(error: Any) -> BackendError:
    error = error if isinstance(error, dict) else {"message": str(error)}
    status = error.get("status", "")
    retryable = status in RETRYABLE_ERRORS or error.get("code") in RETRYABLE_STATUS
    return BackendError(
        f"model error mid-stream: {status or error.get('code', '')}: {error.get('message', '')}",
        retryable=retryable,
        kind="stream_error",
    )
