"""Which two models meet next, and what the app processes sharing a database tell each other.

:class:`Drawing` is the part of :class:`arena.battles.Arena` that draws a blind pair
(:mod:`arena.sampling`) from the models an admin left enabled, and keeps in step with the
other processes: models left out after failures, battles per pair, the active sampler's
board, read in the background every SHARED_TTL seconds.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from arena.battle_turns import in_background
from arena.db import repo
from arena.sampling import SharedOut, choose_active, choose_pair
from arena.separation import refresh_board

ENABLED_TTL = 2.0  # seconds an admin's enable/disable may take to reach new battles
#: Seconds between reads of what the app processes sharing the database learned (models
#: left out after failures, battles per pair); the newest SHARED_LAG seconds of battles
#: are counted from this process's own draws (their rows may still be on their way).
SHARED_TTL = 5.0
SHARED_LAG = 5.0
#: One thread draws every pair, in turn: the active sampler's pick takes ~20 ms of numpy
#: on 100 models (bench/bench_beyond.py --only timing), which on the event loop would
#: stall every stream; one thread also keeps draws in order, each seeing the pairs
#: already drawn.
_DRAWS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="arena-draw")


def utc_from_unix(unix: float) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


class Drawing:
    """Drawing pairs and sharing state; mixed into :class:`arena.battles.Arena`."""

    def draw_pair(self, enabled: set[str]) -> tuple[str, str]:
        """Two models for a blind battle (enabled, healthy, weighted, rare pairs first)."""
        weights = {
            n: s.sample_weight for n, s in self.specs.items() if n in enabled and n in self.backends
        }
        pairs = self.pairs.snapshot()
        if self.settings.sampling == "active":
            board = self.board
            return self.health.draw(
                lambda out: choose_active(weights, pairs, self.rng, out, board=board)
            )
        return self.health.draw(lambda out: choose_pair(weights, pairs, self.rng, out))

    async def draw_and_count(self, enabled: set[str]) -> tuple[str, str]:
        """:meth:`draw_pair`, counted at once for the next draw, off the event loop."""

        def draw() -> tuple[str, str]:
            pick = self.draw_pair(enabled)
            self.pairs.add(*pick)
            return pick

        return await asyncio.get_running_loop().run_in_executor(_DRAWS, draw)

    def _share(self, change: SharedOut | None) -> None:
        """Tell the other app processes of the database that a model went out or came back."""
        if change is None:
            return
        in_background(self._db(lambda s: repo.share_health(s, change)))

    def _refresh_shared(self) -> None:
        """Every few seconds, in the background: what the other processes learned."""
        now = time.monotonic()
        if now - self._shared_at < SHARED_TTL or (self._sharing and not self._sharing.done()):
            return
        self._shared_at = now

        def read(s: Session) -> None:
            upto = time.time() - SHARED_LAG
            window = repo.anony_pair_counts(
                s, since=utc_from_unix(self.pairs.upto), until=utc_from_unix(upto)
            )
            self.pairs.advance(window, upto)
            self.health.merge(repo.models_out(s))
            if self.settings.sampling == "active":
                self.board = refresh_board(s, self.board)

        self._sharing = in_background(self._db(read))

    async def _enabled(self) -> set[str]:
        """Models an admin has not disabled; read at most every few seconds."""
        self._refresh_shared()
        now = time.monotonic()
        if now - self._enabled_at > ENABLED_TTL:
            self._enabled_cache = await self._db(repo.enabled_models)
            self._enabled_at = now
        return self._enabled_cache
