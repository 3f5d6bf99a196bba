"""Which two models meet next.

A pair is drawn with probability proportional to ``w_a * w_b / (1 + n_ab)``: the
models' configured weights, damped by how often the pair has already met, so rare
pairs catch up. Models that failed repeatedly are left out for a back-off that doubles
while they keep failing, then let back in for one probe battle. One model's outage
never closes the arena while two others are healthy. An empty draw is an explicit
error, never the NaN of normalising zero weights.

With the setting ``sampling = "active"`` (:func:`choose_active`) most draws instead
play the pair whose next vote shrinks most the interval overlaps that decide ranks,
valued from the latest rating run (:class:`Board`, which the arena reloads through
:func:`arena.separation.refresh_board` when a new run appears) and
the pair counts so far by :func:`ratings.separation.pair_values`; a share ``epsilon``
of draws still follows the weighted rule, so every pair keeps being seen. Without a
run the weighted rule decides alone.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from arena.errors import BattleRejected
from ratings.separation import pair_values

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


#: Share of draws that follow the weighted rule under active sampling.
ACTIVE_EPSILON = 0.15
#: Neighbours whose gap is under this share of their summed half-widths wait
#: (:func:`ratings.separation.neighbour_weight`): they would need over twice the votes so
#: far at today's sampling. Simulated on the seed's ratings (docs/benchmarks.md, "Beyond
#: (issue 15): sampling"), 0.7 with epsilon 0.15 needed a third fewer votes than uniform
#: pairs; 0.5 with 0.3 drew votes to neighbours 13 to 16 points apart, which never
#: separate in time.
ACTIVE_THRESHOLD = 0.7


@dataclass(frozen=True)
class Board:
    """What active sampling needs of a rating run: each rated model's rating and
    interval half-width, and the battles per pair the run was fitted on."""

    run_id: int
    models: tuple[str, ...]
    rating: np.ndarray
    half: np.ndarray
    fitted: np.ndarray  # (k, k) battles per pair in the run's fit
    level: float = 0.95

    def games(self, pair_counts: Mapping[tuple[str, str], int]) -> np.ndarray:
        """Battles per pair among the board's models from ``pair_counts`` (unordered keys)."""
        index = {m: i for i, m in enumerate(self.models)}
        games = np.zeros((len(self.models), len(self.models)))
        for (a, b), n in pair_counts.items():
            i, j = index.get(a), index.get(b)
            if i is not None and j is not None and i != j:
                games[i, j] += n
                games[j, i] += n
        return games


def choose_active(
    weights: Mapping[str, float],
    pair_counts: Mapping[tuple[str, str], int],
    rng: random.Random,
    exclude: Iterable[str] = (),
    *,
    board: Board | None,
    epsilon: float = ACTIVE_EPSILON,
) -> tuple[str, str]:
    """Draw two different models, most often the pair of greatest value for the board.

    With probability ``epsilon``, without a board, or when no two of the board's models
    may play, this is :func:`choose_pair`. Otherwise it plays the pair maximising
    ``pair_values * w_a * w_b`` (ties broken at random) among the board's models that
    may play (weight above 0, not in ``exclude``); models the board does not rate yet
    play only in the weighted draws, whose damping by pair counts brings them in fast.
    ``pair_counts`` (battles so far, newer than the run too) move the values on between
    runs: a pair just played is worth less. The order (which is A) is random.
    """
    excluded = set(exclude)
    if board is None or rng.random() < epsilon:
        return choose_pair(weights, pair_counts, rng, excluded)
    w = np.array([weights.get(m, 0.0) for m in board.models], dtype=np.float64)
    w[[m in excluded for m in board.models]] = 0.0
    if np.count_nonzero(w > 0) < 2:
        return choose_pair(weights, pair_counts, rng, excluded)
    values = pair_values(
        board.rating, board.half, board.games(pair_counts), level=board.level,
        fitted=board.fitted, threshold=ACTIVE_THRESHOLD,
    ) * np.outer(w, w)  # fmt: skip
    best = float(values.max())
    if not best > 0:
        return choose_pair(weights, pair_counts, rng, excluded)
    top = np.argwhere(np.triu(values >= best * (1 - 1e-12), 1))
    i, j = top[rng.randrange(len(top))]
    a, b = board.models[i], board.models[j]
    return (a, b) if rng.random() < 0.5 else (b, a)


class PairCounter:
    """How often each pair has met: the database's count, plus this process's newest.

    Several app processes share one database, so the counts are refreshed from it
    (:meth:`advance`, with the battles stored in a window of time); the pairs this process
    drew since the end of the last window are added on top until a window covers them.
    """

    def __init__(
        self,
        counts: Mapping[tuple[str, str], int] | None = None,
        upto: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._lock = threading.Lock()
        self.clock = clock
        self.counts: Counter[tuple[str, str]] = Counter(counts or {})
        #: The Unix time up to which ``counts`` holds every stored battle.
        self.upto = clock() if upto is None else upto
        self._recent: list[tuple[float, tuple[str, str]]] = []

    def add(self, a: str, b: str) -> None:
        with self._lock:
            self._recent.append((self.clock(), pair_key(a, b)))

    def advance(self, window: Mapping[tuple[str, str], int], upto: float) -> None:
        """Add the battles stored from :attr:`upto` to ``upto`` (by any process)."""
        with self._lock:
            self.counts.update(window)
            self.upto = upto
            self._recent = [(t, k) for t, k in self._recent if t >= upto]

    def snapshot(self) -> dict[tuple[str, str], int]:
        with self._lock:
            out = Counter(self.counts)
            out.update(k for _, k in self._recent)
            return dict(out)


@dataclass(frozen=True)
class SharedOut:
    """A model left out of new battles until Unix time ``until`` (back-off 0: back in)."""

    model: str
    failures: int
    backoff: float
    until: float


@dataclass
class _State:
    failures: int = 0  # failures in a row
    backoff: float = 0.0  # the current back-off (0: never tripped since the last success)
    until: float = 0.0  # the back-off ends
    probe_at: float | None = None  # when the one probe battle after a back-off was drawn
    shared: bool = False  # the current back-off was seen in the database


#: Draws of a pair outside the lock before one is drawn holding it (Health.draw).
_DRAW_ATTEMPTS = 3


class Health:
    """Leaves a model out after ``threshold`` failures in a row, with exponential back-off.

    The first back-off lasts ``cooldown`` seconds; when it ends the model is let back in
    for one battle (half-open). Success forgets everything; a failure after the back-off
    doubles it, up to ``max_cooldown``. Failures of battles that were already running when
    the model was left out do not double it. A probe that never reports (the volunteer
    left) frees its place after ``probe_timeout`` seconds.

    Several app processes share what they learn through the database (see
    :class:`SharedOut`): :meth:`record` says when a model went out or came back, and
    :meth:`merge` takes in the models other processes left out.
    """

    def __init__(
        self,
        threshold: int = 3,
        cooldown: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        max_cooldown: float = 600.0,
        probe_timeout: float = 300.0,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.threshold = threshold
        self.wall = wall
        self.cooldown = cooldown
        self.max_cooldown = max_cooldown
        self.probe_timeout = probe_timeout
        self.clock = clock
        self._lock = threading.Lock()
        self._states: dict[str, _State] = {}

    def record(self, model: str, ok: bool) -> SharedOut | None:
        """Count one finished call of ``model``.

        Returns what other processes should learn: the model's new back-off when it went
        out (or its back-off doubled), a back-off of 0 when it came back; else None.
        """
        with self._lock:
            if ok:
                st = self._states.pop(model, None)
                if st is not None and st.backoff:
                    return SharedOut(model, 0, 0.0, 0.0)
                return None
            now = self.clock()
            st = self._states.setdefault(model, _State())
            st.failures += 1
            if st.backoff and now < st.until:
                return None  # a battle that started before the model was left out
            if st.backoff:
                st.backoff = min(st.backoff * 2, self.max_cooldown)
            elif st.failures >= self.threshold:
                st.backoff = self.cooldown
            else:
                return None
            st.until = now + st.backoff
            st.probe_at = None
            st.shared = False
            return SharedOut(model, st.failures, st.backoff, self.wall() + st.backoff)

    def merge(self, shared: Iterable[SharedOut]) -> None:
        """Take in the models the processes sharing the database left out. A back-off
        once seen there and now gone was ended by a success elsewhere: it ends here too."""
        now, wall = self.clock(), self.wall()
        rows = {r.model: r for r in shared}
        with self._lock:
            for model, st in list(self._states.items()):
                if st.backoff and st.shared and model not in rows:
                    del self._states[model]
            for row in rows.values():
                st = self._states.setdefault(row.model, _State())
                until = now + (row.until - wall)
                if row.backoff > st.backoff or until > st.until:
                    st.failures = max(st.failures, row.failures)
                    st.backoff = max(st.backoff, row.backoff)
                    st.until = max(st.until, until)
                    if until > now:
                        st.probe_at = None
                st.shared = True

    def _out(self, st: _State, now: float) -> bool:
        if not st.backoff:
            return False
        if now < st.until:
            return True
        return st.probe_at is not None and now - st.probe_at < self.probe_timeout

    def unhealthy(self) -> set[str]:
        """Models left out of new battles right now."""
        with self._lock:
            return self._out_now()

    def draw(self, choose: Callable[[set[str]], Pick]) -> Pick:
        """``choose(unhealthy)`` a pair, and take the probe of any half-open model in it.

        Only one battle probes a model after its back-off. ``choose`` runs without the
        lock (the active sampler's numpy takes ~20 ms on 100 models, and the event loop
        records results under this lock); the pick is then checked under the lock, and
        drawn again if a model in it went out meanwhile (or another draw took its probe).
        """
        for _ in range(_DRAW_ATTEMPTS):
            with self._lock:
                out = self._out_now()
            pick = choose(out)
            with self._lock:
                if not out.issuperset(self._out_now() & set(pick)):
                    continue  # a model in it went out meanwhile, or a draw took its probe
                return self._claim(pick)
        with self._lock:  # health keeps changing under the draws: draw holding the lock
            return self._claim(choose(self._out_now()))

    def _out_now(self) -> set[str]:
        now = self.clock()
        return {m for m, st in self._states.items() if self._out(st, now)}

    def _claim(self, pick: Pick) -> Pick:
        """Take the probe of each model of ``pick`` that is half-open (lock held)."""
        now = self.clock()
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
