"""What every HTTP adapter shares on the wire: server-sent events and upstream errors.

:func:`sse_events` parses an event stream once for every provider; :func:`status_error`
turns a non-2xx answer into an :class:`UpstreamStatusError` that says whether a retry
may help (and after how long); :func:`decode_frame`, :func:`read_to_end` and
:func:`http_errors` are the small steps each adapter would otherwise write again. Apart
from :mod:`arena.backends.base` (the abstraction) and :mod:`arena.backends.policy` (what
is done about a failure) because this is protocol parsing only.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from arena.errors import BackendError

DRAIN_SECONDS = 1.0
#: Statuses worth another try (as the Anthropic and OpenAI SDKs retry): every 5xx as well,
#: Anthropic's 529 "overloaded" included (see :func:`retryable_status`).
RETRYABLE_STATUS = frozenset({408, 409, 429})


def retryable_status(status: int) -> bool:
    """True for the statuses the provider SDKs retry: 408, 409, 429 and every 5xx (529 too)."""
    return status in RETRYABLE_STATUS or status >= 500


class ProviderError(BackendError):
    """A failure the provider itself reported, with its own code and message kept.

    ``code`` is the provider's name or number for it (``overloaded_error``,
    ``UNAVAILABLE``, ``500``), ``detail`` its message: both are stored with the side's
    row for the operators, and never shown to the volunteer.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        kind: str,
        code: object = None,
        detail: object = None,
    ) -> None:
        super().__init__(message, retryable=retryable, kind=kind)
        self.code_upstream = None if code is None else str(code)[:64]
        self.detail = None if detail is None else str(detail)[:2000]


class UpstreamStatusError(ProviderError):
    """A non-2xx answer: its status, and how long the server asked us to wait, if it did.

    Retryable as the SDKs decide: by status, unless the server says otherwise with
    ``x-should-retry: true|false`` (Anthropic and OpenAI send it).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        retry_after: float | None = None,
        should_retry: bool | None = None,
        code: object = None,
        detail: object = None,
    ) -> None:
        retryable = retryable_status(status) if should_retry is None else should_retry
        super().__init__(
            message, retryable=retryable, kind=f"http_{status}", code=code, detail=detail
        )
        self.status = status
        self.retry_after = retry_after


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        with contextlib.suppress(ValueError):
            return max(float(raw_ms) / 1000, 0.0)
    raw = headers.get("retry-after")
    if raw is None:
        return None
    with contextlib.suppress(ValueError):
        return max(float(raw), 0.0)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def error_fields(body: object) -> tuple[object, object]:
    """The provider's code and message from an error body, whatever its dialect.

    vLLM and OpenAI: ``{"error": {"message", "type", "param", "code"}}`` (vLLM's key
    check: ``{"error": "Unauthorized"}``); Anthropic: ``{"type": "error", "error":
    {"type", "message"}}``; Gemini: ``{"error": {"code", "message", "status"}}``, at times
    inside a list. The name (type or status) is preferred to a number as the code.
    """
    if isinstance(body, list) and body:
        body = body[0]
    if not isinstance(body, dict):
        return None, None
    error = body.get("error", body if body.get("object") == "error" else None)
    if isinstance(error, str):
        return None, error
    if not isinstance(error, dict):
        return None, None
    code = next((error[k] for k in ("type", "status", "code") if error.get(k) is not None), None)
    return code, error.get("message")


def should_retry(headers: Mapping[str, str]) -> bool | None:
    """The server's own verdict from ``x-should-retry``, when it gave one."""
    value = headers.get("x-should-retry", "").strip().lower()
    return {"true": True, "false": False}.get(value)


def status_error(response: httpx.Response, body: bytes) -> BackendError:
    """The error for a non-2xx answer, with the server's code and message when it gave one."""
    text = body.decode("utf-8", "replace")
    try:
        code, detail = error_fields(json.loads(text))
    except json.JSONDecodeError:
        code, detail = None, None
    shown = " ".join(text[:300].split())
    return UpstreamStatusError(
        f"HTTP {response.status_code}: {shown or response.reason_phrase}",
        status=response.status_code,
        retry_after=retry_after(response.headers),
        should_retry=should_retry(response.headers),
        code=code if code is not None else response.status_code,
        detail=detail if detail is not None else (text.strip()[:2000] or None),
    )


@dataclass(frozen=True)
class SSEEvent:
    """One server-sent event: its type (``message`` unless named) and its data."""

    event: str
    data: str


async def sse_events(
    lines: AsyncIterator[str], *, raw_json: bool = False
) -> AsyncIterator[SSEEvent]:
    """The events of a ``text/event-stream`` body, parsed as the HTML standard says.

    ``data:`` lines of one event are joined with newlines, one space after the colon is
    dropped, comments (``: ping``) and unknown fields are skipped, and an event is
    dispatched at its blank line (an unfinished one at the body's end is discarded).
    With ``raw_json``, JSON outside any field (Gemini sends an error body this way inside
    a 200 stream, over several lines) is collected until it parses, then dispatched as an
    event of type ``raw``; what never parses is dispatched as it is at the end.
    """
    event, data = "", []
    raw: list[str] = []
    async for line in lines:
        if raw_json and not data and (raw or line.lstrip().startswith(("{", "["))):
            raw.append(line)
            text = "\n".join(raw)
            with contextlib.suppress(json.JSONDecodeError):
                json.loads(text)
                raw = []
                yield SSEEvent("raw", text)
            continue
        if not line:
            if data:
                yield SSEEvent(event or "message", "\n".join(data))
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
    if raw:
        yield SSEEvent("raw", "\n".join(raw))


def decode_frame(data: str) -> dict[str, Any]:
    """One JSON object from a stream frame; anything else is a protocol error."""
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


async def read_to_end(lines: AsyncIterator[str]) -> None:
    """Read the body's end after the last event, so the connection is kept for reuse.

    A response closed before its end cannot go back to the pool: the next answer would
    pay for a new TCP and TLS handshake. Bounded, in case a server holds the body open.
    """
    with contextlib.suppress(TimeoutError, httpx.HTTPError):
        async with asyncio.timeout(DRAIN_SECONDS):
            async for _ in lines:
                pass


@contextlib.contextmanager
def http_errors() -> Iterator[None]:
    """Translate httpx's transport errors into :class:`BackendError`."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise BackendError(
            f"timed out: {type(exc).__name__}", retryable=True, kind="timeout"
        ) from exc
    except (httpx.TransportError, httpx.StreamError) as exc:
        raise BackendError(
            f"connection failed: {type(exc).__name__}: {exc}", retryable=True, kind="connection"
        ) from exc
