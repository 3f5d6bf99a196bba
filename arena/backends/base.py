"""The one abstraction every model adapter implements, and the policy around it.

An adapter turns a chat history into a stream of :class:`TextDelta` (the answer) and
:class:`ReasoningDelta` (a reasoning model's thinking, never shown before the vote)
events ended by one :class:`StreamEnd`. It speaks one wire protocol and nothing else:
server-sent events are parsed once (:func:`sse_events`), and timeouts, retries,
fail-over between replicas and what counts as a failed answer live in :func:`generate`.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import itertools
import json
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from arena.config import ModelSpec
from arena.errors import BackendError

#: One line per failed model call (model, replica, kind, status, attempt): never the text.
logger = logging.getLogger("arena.backends")

DRAIN_SECONDS = 1.0
#: Statuses worth another try (as the Anthropic and OpenAI SDKs retry): every 5xx as well,
#: Anthropic's 529 "overloaded" included (see :func:`retryable_status`).
RETRYABLE_STATUS = frozenset({408, 409, 429})
#: The finish reasons the arena stores, whatever each provider calls them (the provider's
#: own spelling is stored beside it). ``aborted`` and ``error`` fail the side.
FINISH_REASONS = frozenset(
    {"stop", "length", "content_filter", "refusal", "tool_calls", "aborted", "error"}
)


@dataclass(frozen=True)
class ChatMessage:
    """One message of a conversation, as sent to a model."""

    role: str  # "user" or "assistant" ("system" is added by the adapter from the spec)
    content: str


@dataclass(frozen=True)
class TextDelta:
    """A piece of the answer, to be shown as it arrives."""

    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """A piece of a reasoning model's thinking: stored apart, never shown before the vote."""

    text: str


@dataclass(frozen=True)
class StreamEnd:
    """The end of an answer: why it stopped and what it cost, when the server says."""

    finish_reason: str | None = None  # one of FINISH_REASONS, or None if the server gave none
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    #: As the provider spelled it, for the log (not part of equality).
    raw_finish_reason: str | None = field(default=None, compare=False)


Event = TextDelta | ReasoningDelta | StreamEnd


@dataclass(frozen=True)
class Timeouts:
    """Time limits of one generation (seconds) and retries before the first token.

    ``first_token`` runs until the first delta of any kind (answer or reasoning);
    ``reasoning`` then runs from the first reasoning delta until the answer's first text.
    """

    connect: float = 10.0
    first_token: float = 60.0
    total: float = 300.0
    retries: int = 2
    backoff: float = 0.5
    reasoning: float = 240.0


class Backend(ABC):
    """An adapter for one wire protocol. Subclasses implement :meth:`stream` only."""

    provider: ClassVar[str]
    #: The provider's finish reasons mapped to FINISH_REASONS; any other reason is "error".
    finish_reasons: ClassVar[Mapping[str, str]] = {}

    def __init__(self, spec: ModelSpec, client: httpx.AsyncClient) -> None:
        self.spec = spec
        self.client = client
        self._next_url = itertools.count()
        # A per-model cap on answers in flight, below the shared connection pool.
        cap = spec.max_concurrency
        self.slots = asyncio.Semaphore(cap) if cap > 0 else None

    def end(
        self, raw: str | None, prompt_tokens: int | None, completion_tokens: int | None
    ) -> StreamEnd:
        """The end event, with the provider's finish reason normalised (raw one kept)."""
        reason = None if raw is None else self.finish_reasons.get(raw, "error")
        return StreamEnd(reason, prompt_tokens, completion_tokens, raw)

    @contextlib.asynccontextmanager
    async def slot(self, wait: float) -> AsyncIterator[None]:
        """Hold one of the model's slots, waiting at most ``wait`` seconds for one."""
        if self.slots is None:
            yield
            return
        try:
            async with asyncio.timeout(wait):
                await self.slots.acquire()
        except TimeoutError as exc:
            raise BackendError(
                f"{self.spec.max_concurrency} answers already in flight for over {wait:g} s",
                retryable=False,
                kind="saturated",
            ) from exc
        try:
            yield
        finally:
            self.slots.release()

    @abstractmethod
    def stream(self, messages: Sequence[ChatMessage], base_url: str) -> AsyncIterator[Event]:
        """Send ``messages`` to ``base_url`` and yield the answer as it streams.

        Raises :class:`BackendError` for every failure, retryable or not.
        """

    def replicas(self) -> Iterator[str]:
        """The replicas one generation tries: a round-robin start, then each next one."""
        urls = self.spec.base_urls or ("",)
        start = next(self._next_url)
        return (urls[(start + i) % len(urls)] for i in itertools.count())

    def with_system(self, messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
        """The history as role/content dicts, led by the model's system prompt if any."""
        out = (
            [{"role": "system", "content": self.spec.system_prompt}]
            if self.spec.system_prompt
            else []
        )
        out += [{"role": m.role, "content": m.content} for m in messages]
        return out

    def auth_headers(self) -> dict[str, str]:
        """Bearer authentication with the key from the environment, when one is set."""
        key = self.spec.api_key()
        return {"Authorization": f"Bearer {key}"} if key else {}


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


class AnswerFailed(ProviderError):
    """A stream that ended properly but gave nothing to vote on: cut by the server,
    blocked, refused, only reasoning or tool calls, or blank. ``end`` is its last event."""

    def __init__(self, message: str, *, kind: str, retryable: bool, end: StreamEnd) -> None:
        super().__init__(
            message, retryable=retryable, kind=kind, code=end.raw_finish_reason, detail=message
        )
        self.end = end


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


def replica_name(base_url: str) -> str:
    """``host:port`` of a replica, for the log (no path, no credentials)."""
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL:
        return "-"
    if not url.host:
        return "-"
    port = url.port or {"https": 443, "http": 80}.get(url.scheme)
    return f"{url.host}:{port}" if port else url.host


def log_failure(model: str, base_url: str, exc: BackendError, attempt: int) -> None:
    """One structured line for a failed model call: what failed where, never the text."""
    logger.warning(
        "model call failed: model=%s replica=%s kind=%s status=%s attempt=%d retryable=%s",
        model,
        replica_name(base_url),
        exc.kind,
        getattr(exc, "status", "-"),
        attempt,
        exc.retryable,
    )


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


async def generate(
    backend: Backend, messages: Sequence[ChatMessage], timeouts: Timeouts
) -> AsyncIterator[Event]:
    """Run one generation with time limits, retrying only before the first token.

    The first-token limit applies until the first delta of any kind, reasoning
    included; from the first reasoning delta the answer's text must start within the
    reasoning limit; after that only the total limit (and the client's read timeout
    between chunks) applies. Nothing is retried once a delta arrived: the volunteer may
    have read part of it, or a reasoning model has already spent its thinking time.
    A retry waits as long as the server's ``Retry-After`` asks, up to the first-token
    limit. A model with ``max_concurrency`` busy for longer than the connect timeout
    fails at once with kind ``saturated``. An answer that ends with nothing to vote on
    raises :class:`AnswerFailed` (see :func:`answer_failure`). Every failure is logged.
    """
    spec = backend.spec
    urls = backend.replicas()
    url = next(urls)
    if spec.api_key_env and not spec.api_key():
        exc = BackendError(
            f"API key not set: environment variable {spec.api_key_env} is empty",
            retryable=False,
            kind="no_api_key",
        )
        log_failure(spec.name, url, exc, 1)
        raise exc
    try:
        async with (
            backend.slot(timeouts.connect),
            contextlib.aclosing(_attempts(backend, messages, timeouts, url, urls)) as events,
        ):
            async for event in events:
                yield event
    except BackendError as exc:
        if exc.kind == "saturated":
            log_failure(spec.name, url, exc, 1)
        raise


#: Why an answer with no visible text failed, by its normalised finish reason.
BLANK_KINDS = {"content_filter": "content_filter", "refusal": "refusal", "tool_calls": "tool_calls"}


def answer_failure(end: StreamEnd, visible: bool, reasoned: bool) -> AnswerFailed | None:
    """Why a properly ended answer still fails its side, or None when it is one to vote on.

    ``aborted`` (the server cut it) and ``error`` fail whatever was shown. With no
    visible text: blocked or refused (``content_filter``, ``refusal``), tool calls only,
    reasoning only (the token limit spent thinking) or simply blank.
    """
    raw = f" ({end.raw_finish_reason})" if end.raw_finish_reason else ""
    if end.finish_reason == "aborted":
        return AnswerFailed(
            f"the server ended the answer early{raw}", kind="aborted", retryable=True, end=end
        )
    if end.finish_reason == "error":
        return AnswerFailed(
            f"the answer ended with an error{raw}", kind="finish_error", retryable=False, end=end
        )
    if visible:
        return None
    kind = BLANK_KINDS.get(end.finish_reason or "")
    if kind is None:
        kind = "reasoning_only" if reasoned else "empty"
    reasons = {
        "content_filter": "blocked by the provider's content filter",
        "refusal": "the model refused",
        "tool_calls": "only tool calls",
        "reasoning_only": "only reasoning",
        "empty": "nothing",
    }
    return AnswerFailed(
        f"no answer text: {reasons[kind]}{raw}", kind=kind, retryable=False, end=end
    )


async def _attempts(
    backend: Backend,
    messages: Sequence[ChatMessage],
    timeouts: Timeouts,
    url: str,
    urls: Iterator[str],
) -> AsyncIterator[Event]:
    loop = asyncio.get_running_loop()
    total_deadline = loop.time() + timeouts.total
    for attempt in range(timeouts.retries + 1):
        if attempt:
            url = next(urls)
        alive = shown = reasoned = False  # any delta arrived / text shown / reasoning seen
        visible = False  # a text delta that is not only whitespace arrived
        first_deadline = loop.time() + timeouts.first_token
        events = backend.stream(messages, url)
        try:
            while True:
                if shown and total_deadline - loop.time() > timeouts.first_token:
                    # Text flows and the total limit is further away than the client's read
                    # timeout (the longest gap between chunks, the first-token limit), which
                    # therefore ends a stall first: no timer per token (a fifth of the cost
                    # of reading one).
                    try:
                        event = await anext(events)
                    except StopAsyncIteration:
                        return
                else:
                    deadline = min(first_deadline, total_deadline)
                    try:
                        async with asyncio.timeout_at(deadline):
                            event = await anext(events)
                    except StopAsyncIteration:
                        return
                    except TimeoutError as exc:
                        raise _timeout(timeouts, deadline == total_deadline, alive) from exc
                if isinstance(event, ReasoningDelta) and event.text:
                    if not alive:
                        first_deadline = loop.time() + timeouts.reasoning
                    alive = reasoned = True
                elif isinstance(event, TextDelta) and event.text:
                    alive = shown = True
                    visible = visible or not event.text.isspace()
                elif isinstance(event, StreamEnd):
                    if event.finish_reason != "stop":
                        logger.info(
                            "model answer ended: model=%s finish=%s raw=%s",
                            backend.spec.name,
                            event.finish_reason,
                            event.raw_finish_reason,
                        )
                    failure = answer_failure(event, visible, reasoned)
                    if failure is not None:
                        raise failure
                yield event
                if isinstance(event, StreamEnd):
                    return
        except BackendError as exc:
            log_failure(backend.spec.name, url, exc, attempt + 1)
            if alive or not exc.retryable or attempt == timeouts.retries:
                raise
            delay = min(timeouts.backoff * 2**attempt, 5.0)
            asked = getattr(exc, "retry_after", None)
            if asked is not None:
                delay = min(max(delay, asked), timeouts.first_token)
            if loop.time() + delay >= total_deadline:
                raise
            await asyncio.sleep(delay)
        finally:
            await events.aclose()


def _timeout(timeouts: Timeouts, total: bool, reasoning: bool) -> BackendError:
    if total:
        return BackendError(
            f"no complete answer within {timeouts.total:g} s", retryable=False, kind="timeout"
        )
    if reasoning:
        return BackendError(
            f"no answer text within {timeouts.reasoning:g} s of reasoning",
            retryable=False,
            kind="reasoning_timeout",
        )
    return BackendError(
        f"no first token within {timeouts.first_token:g} s",
        retryable=True,
        kind="first_token_timeout",
    )
