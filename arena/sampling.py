"""Which two models meet next.

A pair is drawn with probability proportional to ``w_a * w_b / (1 + n_ab)``: the
models' configured weights, damped by how often the pair has already met, so rare
pairs catch up. Models that failed repeatedly are left out for a back-off that doubles
while they keep failing, then let back in for one probe battle. One model's outage
never closes the arena while two others are healthy. An empty draw is an explicit
error, never the NaN of normalising zero weights.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from arena.errors import BattleRejected

Pick = TypeVar("Pick", bound=tuple[str, ...])


def pair_key(a: str, b: str) -> tuple[str, str]:
    """The unordered key of a pair."""
    return (a, b) if a <= b else (b, a)


def choose_pair(
    weights: Mapping[str, float],
    pair_counts: Mapping[tuple[str, str], int],
    rng: random.Random,
    exclude: Iterable[str] = (),
) -> tuple[str, str]:
    """Draw two different models; the order (which is A) is random.

    ``weights`` maps each enabled model to its sampling weight; models with weight 0
    or in ``exclude`` never play. Raises :class:`BattleRejected` if fewer than two remain.
    """
    excluded = set(exclude)
    names = sorted(n for n, w in weights.items() if w > 0 and n not in excluded)
    if len(names) < 2:
        raise BattleRejected(
            "not enough models are available for a battle right now", code="no_models"
        )
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    scores = [weights[a] * weights[b] / (1 + pair_counts.get((a, b), 0)) for a, b in pairs]
    a, b = rng.choices(pairs, weights=scores, k=1)[0]
    return (a, b) if rng.random() < 0.5 else (b, a)


class PairCounter:
    """How often each pair has met, kept in memory (seeded from the database)."""

    def __init__(self, counts: Mapping[tuple[str, str], int] | None = None) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[tuple[str, str]] = Counter(counts or {})

    def add(self, a: str, b: str) -> None:
        with self._lock:
            self.counts[pair_key(a, b)] += 1

    def snapshot(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self.counts)


@dataclass
class _State:
    failures: int = 0  # failures in a row
    backoff: float = 0.0  # the current back-off (0: never tripped since the last success)
    until: float = 0.0  # the back-off ends
    probe_at: float | None = None  # when the one probe battle after a back-off was drawn


class Health:
    """Leaves a model out after ``threshold`` failures in a row, with exponential back-off.

    The first back-off lasts ``cooldown`` seconds; when it ends the model is let back in
    for one battle (half-open). Success forgets everything; a failure after the back-off
    doubles it, up to ``max_cooldown``. Failures of battles that were already running when
    the model was left out do not double it. A probe that never reports (the volunteer
    left) frees its place after ``probe_timeout`` seconds.
    """

    def __init__(
        self,
        threshold: int = 3,
        cooldown: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        max_cooldown: float = 600.0,
        probe_timeout: float = 300.0,
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.max_cooldown = max_cooldown
        self.probe_timeout = probe_timeout
        self.clock = clock
        self._lock = threading.Lock()
        self._states: dict[str, _State] = {}

    def record(self, model: str, ok: bool) -> None:
        """Count one finished call of ``model``."""
        with self._lock:
            if ok:
                self._states.pop(model, None)
                return
            now = self.clock()
            st = self._states.setdefault(model, _State())
            st.failures += 1
            if st.backoff and now < st.until:
                return  # a battle that started before the model was left out
            if st.backoff:
                st.backoff = min(st.backoff * 2, self.max_cooldown)
            elif st.failures >= self.threshold:
                st.backoff = self.cooldown
            else:
                return
            st.until = now + st.backoff
            st.probe_at = None

    def _out(self, st: _State, now: float) -> bool:
        if not st.backoff:
            return False
        if now < st.until:
            return True
        return st.probe_at is not None and now - st.probe_at < self.probe_timeout

    def unhealthy(self) -> set[str]:
        """Models left out of new battles right now."""
        now = self.clock()
        with self._lock:
            return {m for m, st in self._states.items() if self._out(st, now)}

    def draw(self, choose: Callable[[set[str]], Pick]) -> Pick:
        """``choose(unhealthy)`` a pair, and take the probe of any half-open model in it.

        Atomic, so only one battle probes a model after its back-off.
        """
        now = self.clock()
        with self._lock:
            pick = choose({m for m, st in self._states.items() if self._out(st, now)})
            for model in pick:
                st = self._states.get(model)
                if st is not None and st.backoff:
                    st.probe_at = now
            return pick

    def status(self, models: Iterable[str]) -> dict[str, dict[str, object]]:
        """Each model's health: healthy now, failures in a row (once out), seconds to retry."""
        now = self.clock()
        out: dict[str, dict[str, object]] = {}
        with self._lock:
            for model in models:
                st = self._states.get(model, _State())
                out_now = self._out(st, now)
                # The count moves with each failed answer, which could tie a failed side
                # of a live blind battle to a model: shown only once the model sits out.
                out[model] = {
                    "healthy": not out_now,
                    "failures": st.failures if out_now else 0,
                    "retry_in": round(max(st.until - now, 0.0), 1) if st.backoff else 0.0,
                }
        return out
