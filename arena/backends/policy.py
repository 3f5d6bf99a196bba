"""The policy around every model call: timeouts, retries, fail-over and failed answers.

:func:`generate` runs a :class:`~arena.backends.base.Backend`'s stream under the
:class:`~arena.backends.base.Timeouts`, retries a failure only before the first token
(never once words were shown), moves on to the next replica, logs one line per failed
call, and decides with :func:`answer_failure` when a finished stream is still a failed
answer (:class:`AnswerFailed`: empty, only reasoning, cut off). Apart from the adapters so
that every provider gets the same rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator, Sequence

import httpx

from arena.backends.base import (
    Backend,
    ChatMessage,
    Event,
    ReasoningDelta,
    StreamEnd,
    TextDelta,
    Timeouts,
)
from arena.backends.wire import ProviderError
from arena.errors import BackendError

#: One line per failed model call (model, replica, kind, status, attempt): never the text.
logger = logging.getLogger("arena.backends")


class AnswerFailed(ProviderError):
    """A stream that ended properly but gave nothing to vote on: cut by the server,
    blocked, refused, only reasoning or tool calls, or blank. ``end`` is its last event."""

    def __init__(self, message: str, *, kind: str, retryable: bool, end: StreamEnd) -> None:
        super().__init__(
            message, retryable=retryable, kind=kind, code=end.raw_finish_reason, detail=message
        )
        self.end = end


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
