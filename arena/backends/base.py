"""The one abstraction every model adapter implements, and the policy around it.

An adapter turns a chat history into a stream of :class:`TextDelta` events ended by
one :class:`StreamEnd`. It speaks one wire protocol and nothing else: timeouts,
retries and fail-over between replicas live in :func:`generate`, written once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from arena.config import ModelSpec
from arena.errors import BackendError

DRAIN_SECONDS = 1.0
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


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

    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


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

    def __init__(self, spec: ModelSpec, client: httpx.AsyncClient) -> None:
        self.spec = spec
        self.client = client
        self._next_url = itertools.count()

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


def status_error(response: httpx.Response, body: bytes) -> BackendError:
    """The error for a non-2xx answer, with the server's message when it gave one."""
    text = body.decode("utf-8", "replace")[:300].strip()
    return BackendError(
        f"HTTP {response.status_code}: {text or response.reason_phrase}",
        retryable=response.status_code in RETRYABLE_STATUS,
        kind=f"http_{response.status_code}",
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
    """
    loop = asyncio.get_running_loop()
    total_deadline = loop.time() + timeouts.total
    urls = backend.replicas()
    for attempt in range(timeouts.retries + 1):
        shown = False
        first_deadline = loop.time() + timeouts.first_token
        events = backend.stream(messages, next(urls))
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
                yield event
                if isinstance(event, StreamEnd):
                    return
        except BackendError as exc:
            if shown or not exc.retryable or attempt == timeouts.retries:
                raise
            await asyncio.sleep(min(timeouts.backoff * 2**attempt, 5.0))
        finally:
            await events.aclose()
