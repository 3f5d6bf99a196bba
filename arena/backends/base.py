"""The one abstraction every model adapter implements: :class:`Backend` and its events.

An adapter turns a chat history into a stream of :class:`TextDelta` (the answer) and
:class:`ReasoningDelta` (a reasoning model's thinking, never shown before the vote)
events ended by one :class:`StreamEnd`. It speaks one wire protocol and nothing else:
server-sent events are parsed once (:func:`arena.backends.wire.sse_events`), and
timeouts, retries, fail-over between replicas and what counts as a failed answer live in
:func:`arena.backends.policy.generate`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import httpx

from arena.config import ModelSpec
from arena.errors import BackendError

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
