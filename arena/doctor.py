"""``python -m arena doctor``: is every enabled model usable, before volunteers find out?

The configuration is checked when it is loaded (:func:`arena.config.load_settings`);
what it cannot know is whether the environment holds each model's API key
(:func:`arena.config.missing_keys`) and whether each backend answers. This
module turns both into one line per model, and with ``probe`` asks each model for a
one-token answer through the same code path battles use, and reports the protocol
features the answer showed: usage counts, the finish reason (normalised and as the
provider spelled it) and reasoning deltas.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass

from arena.backends import (
    AnswerFailed,
    Backend,
    ChatMessage,
    ReasoningDelta,
    StreamEnd,
    Timeouts,
    build_backends,
    generate,
    make_client,
)
from arena.config import ModelSpec, Settings, missing_keys
from arena.errors import BackendError

PROBE_PROMPT = "こんにちは"
#: Seconds a probe may take in all (connect, first token, the one token).
PROBE_TIMEOUT = 20.0


@dataclass(frozen=True)
class ModelCheck:
    """One model's verdict: ``ok`` and what was seen, or the problem and its fix."""

    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok     ' if self.ok else 'problem'} {self.name}: {self.detail}"


def _where(spec: ModelSpec) -> str:
    return f"{spec.provider}, {', '.join(spec.base_urls) or 'offline'}"


def check(
    settings: Settings, *, probe: bool = False, env: Mapping[str, str] | None = None
) -> list[ModelCheck]:
    """One verdict per configured model (disabled ones are listed as such, never probed)."""
    missing = missing_keys(settings, env)
    results: dict[str, ModelCheck] = {}
    to_probe = []
    for spec in settings.models:
        if not spec.enabled:
            results[spec.name] = ModelCheck(spec.name, True, "disabled in arena.toml (skipped)")
        elif spec.name in missing:
            fix = f"set the environment variable {missing[spec.name]} (its API key)"
            results[spec.name] = ModelCheck(spec.name, False, fix)
        elif probe:
            to_probe.append(spec)
        else:
            results[spec.name] = ModelCheck(spec.name, True, _where(spec))
    if to_probe:
        results |= {c.name: c for c in asyncio.run(_probe_all(settings, to_probe))}
    return [results[m.name] for m in settings.models]


async def _probe_all(settings: Settings, specs: list[ModelSpec]) -> list[ModelCheck]:
    timeouts = Timeouts(
        connect=min(settings.connect_timeout, PROBE_TIMEOUT),
        first_token=min(settings.first_token_timeout, PROBE_TIMEOUT),
        total=PROBE_TIMEOUT,
        retries=0,
    )
    one_token = tuple(dataclasses.replace(s, max_tokens=1) for s in specs)
    async with make_client(timeouts) as client:
        backends = build_backends(one_token, client)
        return list(await asyncio.gather(*(_probe(s, backends[s.name], timeouts) for s in specs)))


async def _probe(spec: ModelSpec, backend: Backend, timeouts: Timeouts) -> ModelCheck:
    """Ask for one token; report the latency and the features seen, or the failure."""
    start = time.monotonic()
    end: StreamEnd | None = None
    reasoned = False
    try:
        async for event in generate(backend, [ChatMessage("user", PROBE_PROMPT)], timeouts):
            reasoned = reasoned or (isinstance(event, ReasoningDelta) and bool(event.text))
            if isinstance(event, StreamEnd):
                end = event
    except AnswerFailed as exc:
        # One token may all go to thinking: the model answers, the probe just cannot see text.
        if exc.kind not in ("reasoning_only", "empty"):
            return _failed(spec, exc)
        end, reasoned = exc.end, reasoned or exc.kind == "reasoning_only"
    except BackendError as exc:
        return _failed(spec, exc)
    ms = round((time.monotonic() - start) * 1000)
    return ModelCheck(
        spec.name, True, f"{_where(spec)}: answered in {ms} ms; {features(end, reasoned)}"
    )


def _failed(spec: ModelSpec, exc: BackendError) -> ModelCheck:
    reason = " ".join(str(exc).split())[:200]
    return ModelCheck(spec.name, False, f"{_where(spec)}: no answer ({exc.kind}): {reason}")


def features(end: StreamEnd | None, reasoned: bool) -> str:
    """The protocol features one answer showed, e.g. ``usage 12+1, finish length (length),
    reasoning no``; what the server left out is said to be missing."""
    if end is None:
        return "usage missing, finish missing, reasoning " + ("yes" if reasoned else "no")
    if end.prompt_tokens is None and end.completion_tokens is None:
        usage = "usage missing"
    else:
        usage = f"usage {end.prompt_tokens if end.prompt_tokens is not None else '?'}+" + (
            f"{end.completion_tokens if end.completion_tokens is not None else '?'}"
        )
    finish = (
        f"finish {end.finish_reason} ({end.raw_finish_reason})"
        if end.finish_reason
        else "finish missing"
    )
    return f"{usage}, {finish}, reasoning {'yes' if reasoned else 'no'}"
