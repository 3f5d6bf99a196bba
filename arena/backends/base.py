"""The one abstraction every model adapter implements, and the policy around it.

An adapter turns a chat history into a stream of :class:`TextDelta` events ended by
one :class:`StreamEnd`. It speaks one wire protocol and nothing else: timeouts,
retries and fail-over between replicas live in :func:`generate`, written once.
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
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
#: The finish reasons the arena stores, whatever each provider calls them.
FINISH_REASONS = frozenset({"stop", "length", "content_filter", "error"})


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
class StreamEnd:
    """The end of an answer: why it stopped and what it cost, when the server says."""

    finish_reason: str | None = None  # one of FINISH_REASONS, or None if the server gave none
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    #: As the provider spelled it, for the log (not part of equality).
    raw_finish_reason: str | None = field(default=None, compare=False)


Event = TextDelta | StreamEnd


@dataclass(frozen=True)
class Timeouts:
    """Time limits of one generation (seconds) and retries before the first token."""

    connect: float = 10.0
    first_token: float = 60.0
    total: float = 300.0
    retries: int = 2
    backoff: float = 0.5


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


class UpstreamStatusError(BackendError):
    """A non-2xx answer: its status, and how long the server asked us to wait, if it did."""

    def __init__(self, message: str, *, status: int, retry_after: float | None = None) -> None:
        super().__init__(message, retryable=status in RETRYABLE_STATUS, kind=f"http_{status}")
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


def status_error(response: httpx.Response, body: bytes) -> BackendError:
    """The error for a non-2xx answer, with the server's message when it gave one."""
    text = body.decode("utf-8", "replace")[:300].strip()
    return UpstreamStatusError(
        f"HTTP {response.status_code}: {text or response.reason_phrase}",
        status=response.status_code,
        retry_after=retry_after(response.headers),
    )


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

    The first-token limit applies until text is shown; after that only the total
    limit (and the client's read timeout between chunks) applies. A failure after
    text was shown is never retried: the volunteer has already read part of it.
    A retry waits as long as the server's ``Retry-After`` asks, up to the first-token
    limit. A model with ``max_concurrency`` busy for longer than the connect timeout
    fails at once with kind ``saturated``. Every failed call is logged.
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
        shown = False
        first_deadline = loop.time() + timeouts.first_token
        events = backend.stream(messages, url)
        try:
            while True:
                deadline = total_deadline if shown else min(first_deadline, total_deadline)
                try:
                    async with asyncio.timeout_at(deadline):
                        event = await anext(events)
                except StopAsyncIteration:
                    return
                except TimeoutError as exc:
                    if deadline == total_deadline:
                        raise BackendError(
                            f"no complete answer within {timeouts.total:g} s",
                            retryable=False,
                            kind="timeout",
                        ) from exc
                    raise BackendError(
                        f"no first token within {timeouts.first_token:g} s",
                        retryable=True,
                        kind="first_token_timeout",
                    ) from exc
                if isinstance(event, TextDelta) and event.text:
                    shown = True
                if isinstance(event, StreamEnd) and event.finish_reason != "stop":
                    logger.info(
                        "model answer ended: model=%s finish=%s raw=%s",
                        backend.spec.name,
                        event.finish_reason,
                        event.raw_finish_reason,
                    )
                yield event
                if isinstance(event, StreamEnd):
                    return
        except BackendError as exc:
            log_failure(backend.spec.name, url, exc, attempt + 1)
            if shown or not exc.retryable or attempt == timeouts.retries:
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
