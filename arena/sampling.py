"""Which two models meet next.

A pair is drawn with probability proportional to ``w_a * w_b / (1 + n_ab)``: the
models' configured weights, damped by how often the pair has already met, so rare
pairs catch up. Models that failed repeatedly are left out for a cool-down. An empty
draw is an explicit error, never the NaN of normalising zero weights.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping

from arena.errors import BattleRejected


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


class Health:
    """Leaves a model out after ``threshold`` failures in a row, for ``cooldown`` seconds."""

    def __init__(self, threshold: int = 3, cooldown: float = 60.0, clock=time.monotonic) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.clock = clock
        self._lock = threading.Lock()
        self._failures: Counter[str] = Counter()
        self._down_until: dict[str, float] = {}

    def record(self, model: str, ok: bool) -> None:
        with self._lock:
            if ok:
                self._failures.pop(model, None)
                self._down_until.pop(model, None)
                return
            self._failures[model] += 1
            if self._failures[model] >= self.threshold:
                self._down_until[model] = self.clock() + self.cooldown

    def unhealthy(self) -> set[str]:
        now = self.clock()
        with self._lock:
            return {m for m, until in self._down_until.items() if until > now}
