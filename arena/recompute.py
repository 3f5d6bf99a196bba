"""Recomputation of the ratings from the arena's votes, stored as a rating run.

The nightly job (``python -m ratings recompute``, a systemd timer, cron, or the in-app
schedule of :mod:`arena.schedule`) asks the database for one ``GROUP BY`` over the
votes -- ``(model_a, model_b, winner) -> votes used, votes excluded per reason`` -- so a
million votes arrive as at most ``4 * models**2`` rows, fits them with :mod:`ratings`, and stores a
:class:`~arena.db.models.RatingRun` with one :class:`~arena.db.models.ModelRating` per
rated model and those rows themselves (:class:`~arena.db.models.RunPairCount`, which the
leaderboard's pair tables read) in one transaction. Every run is kept, for the history chart.

A vote counts unless (first matching reason wins, so the counts add up to all votes):
it was voided; its battle failed; its battle was not anonymous (named mode, unless
``include_named``); its battle was flagged (identity leak or moderation); and then the
rigging defences of :mod:`arena.integrity.screen` (too fast, daily caps per voter and
per address, steering voters, outlier voters), which need the clean votes one by one.

Two runs never write at once: a run holds the ``recompute`` row of ``job_locks`` (an
INSERT; a unique violation means another run holds it). A row older than
``stale_after`` is taken over, and the run's note says so.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import numpy as np
from sqlalchemy import (
    BigInteger,
    Engine,
    Float,
    LargeBinary,
    Select,
    String,
    case,
    cast,
    delete,
    func,
    insert,
    inspect,
    literal,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased, selectinload, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from arena.config import Settings, load_settings
from arena.db.counted import EXCLUSIONS, excluded_for, reason_code
from arena.db.engine import make_engine, session_factory
from arena.db.models import (
    Battle,
    BattleMode,
    BattleStatus,
    FlagStatus,
    JobLock,
    Model,
    ModelRating,
    RatingRun,
    RunPairCount,
    Vote,
    VoterFlag,
    Winner,
    utcnow,
)
from arena.errors import ArenaError, ConfigError
from arena.integrity.screen import (
    FLAG_REASONS,
    REASONS,
    Battles,
    Finding,
    Rules,
    Screening,
    Votes,
    screen,
)
from ratings import (
    DEFAULT_LEVEL,
    DEFAULT_PRIOR,
    WINNER_CODES,
    Leaderboard,
    RatingsError,
    enough_votes,
)
from ratings import leaderboard_from_counts as fit_leaderboard

logger = logging.getLogger(__name__)

LOCK_NAME = "recompute"
#: A lock row older than this is assumed to belong to a run that died, and is taken over.
STALE_AFTER = timedelta(hours=1)
#: The note line that records a run's vote threshold (read back by the leaderboard).
MIN_VOTES_NOTE = "min votes per rated model: {n}"

EXIT_OK, EXIT_DATABASE, EXIT_INPUT, EXIT_BUSY = 0, 1, 2, 3

SessionFactory = sessionmaker[Session]


class RecomputeError(ArenaError):
    """A recomputation was not carried out; the message says why."""


class LockBusy(RecomputeError):
    """Another recomputation holds the lock."""

    def __init__(self, holder: str, acquired_at: datetime) -> None:
        super().__init__(
            f"another recomputation is running (lock {LOCK_NAME!r} held by {holder} "
            f"since {acquired_at:%Y-%m-%d %H:%M:%S} UTC); not starting a second one",
            code="recompute_busy",
        )
        self.holder = holder
        self.acquired_at = acquired_at


class LockLost(RecomputeError):
    """The lock was taken over (thought stale) before this run could store its results."""


class NoVotes(RecomputeError):
    """No vote can be used, so no run is stored and the leaderboard keeps the last one."""


class RecentRun(RecomputeError):
    """A run was stored moments ago (e.g. by another app replica); this turn is skipped."""


# -- aggregation --------------------------------------------------------------------


@dataclass(frozen=True)
class VoteCounts:
    """The usable votes aggregated by (model_a, model_b, outcome), plus what was left out.

    ``a_idx``/``b_idx`` index ``names``; ``outcome`` holds :mod:`ratings` outcome codes.
    """

    names: list[str]
    a_idx: np.ndarray
    b_idx: np.ndarray
    outcome: np.ndarray
    count: np.ndarray
    excluded: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def used(self) -> int:
        """Number of votes that pass the exclusions (those of every model)."""
        return int(self.count.sum())

    def among(self, models: Sequence[str]) -> VoteCounts:
        """Only the rows whose two models are both in ``models`` (re-indexed)."""
        wanted = set(models)
        names = [name for name in self.names if name in wanted]
        index = np.full(len(self.names), -1, dtype=np.intp)
        index[[self.names.index(name) for name in names]] = np.arange(len(names))
        a, b = index[self.a_idx], index[self.b_idx]
        both = (a >= 0) & (b >= 0)
        return VoteCounts(
            names, a[both], b[both], self.outcome[both], self.count[both], self.excluded
        )


def count_votes(
    session: Session, *, include_named: bool = False, rules: Rules | None = None
) -> VoteCounts:
    """Aggregate every vote, leaving out the excluded ones, with the count per reason.

    Without ``rules``: one SQL ``GROUP BY`` (never one Python object per vote), grouped
    by model ids (narrow keys hash fast) with the names joined to the ~1,000 groups.
    With ``rules``, the clean votes are then read one by one as arrays and screened by
    the rigging defences (:func:`arena.integrity.screen.screen`).
    """
    if rules is None:
        return _grouped(session, include_named)
    return _screened(session, include_named, rules)


def _grouped(session: Session, include_named: bool) -> VoteCounts:
    reasons = excluded_for(include_named)
    groups = (
        select(
            Battle.model_a_id,
            Battle.model_b_id,
            Vote.winner,
            *(func.count().filter(cond).label(name) for name, cond in reasons.items()),
        )
        .select_from(Vote)
        .join(Battle, Vote.battle_id == Battle.id)
        .group_by(Battle.model_a_id, Battle.model_b_id, Vote.winner)
        .subquery()
    )
    ma, mb = aliased(Model), aliased(Model)
    rows = session.execute(
        select(ma.name, mb.name, groups.c.winner, *(groups.c[name] for name in reasons))
        .select_from(groups)
        .join(ma, groups.c.model_a_id == ma.id)
        .outerjoin(mb, groups.c.model_b_id == mb.id)
    ).all()
    excluded = {why: sum(row[3 + k] for row in rows) for k, why in enumerate(EXCLUSIONS, 1)}
    used = [(a, b, w, n) for a, b, w, n, *_ in rows if n]
    names = sorted({a for a, *_ in used} | {b for _, b, *_ in used})
    index = {name: k for k, name in enumerate(names)}
    return VoteCounts(
        names=names,
        a_idx=np.array([index[a] for a, *_ in used], dtype=np.intp),
        b_idx=np.array([index[b] for _, b, *_ in used], dtype=np.intp),
        outcome=np.array([WINNER_CODES[str(w)] for *_, w, _ in used], dtype=np.int8),
        count=np.array([n for *_, n in used], dtype=np.int64),
        excluded=excluded,
    )


_WINNERS = {WINNER_CODES[w.value]: w for w in Winner}


def _epoch(session: Session, column: InstrumentedAttribute) -> ColumnElement[float]:
    """``column`` (a UTC timestamp) as Unix seconds, computed by the database."""
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(column) - 2440587.5) * 86400.0
    return func.date_part("epoch", column)  # double precision (EXTRACT gives numeric)


def _columns(session: Session, query: Select, dtypes: tuple[type, ...]) -> list[np.ndarray]:
    """The columns of ``query`` as arrays, fetched the fastest way the database has.

    PostgreSQL packs each column into one ``bytea`` of big-endian 8-byte values
    (``string_agg(int8send(...))``; the aggregates of one query see the rows in the same
    order), so a million votes arrive as a few buffers that numpy reads in place, with
    no Python object per value. SQLite's rows come from the driver's cursor.
    """
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        sub = query.subquery()
        packed = []
        for c, d in zip(sub.c, dtypes, strict=True):
            floating = np.dtype(d).kind == "f"
            value = (
                func.float8send(cast(c, Float)) if floating else func.int8send(cast(c, BigInteger))
            )
            packed.append(func.string_agg(value, literal(b"", LargeBinary)))
        row = conn.execute(select(*packed)).one()
        return [
            np.frombuffer(blob or b"", dtype=">f8" if np.dtype(d).kind == "f" else ">i8").astype(d)
            for blob, d in zip(row, dtypes, strict=True)
        ]
    rows = conn.execute(select(query.subquery())).all()
    width = len(dtypes)
    cols = [list(col) for col in zip(*rows, strict=True)] if rows else [[]] * width
    return [np.asarray(col, dtype=dtype) for col, dtype in zip(cols, dtypes, strict=True)]


def _address_codes(session: Session, address: ColumnElement[str]) -> ColumnElement:
    """An integer per client address (-1 when unknown): a 64-bit hash on PostgreSQL; on
    SQLite the hash strings themselves, numbered after fetching."""
    if session.get_bind().dialect.name == "postgresql":
        positive = func.hashtextextended(address, 0).op("&")(0x7FFF_FFFF_FFFF_FFFF)
        return func.coalesce(positive, -1)  # (negative codes mean "unknown" to the caps)
    return address


def screened_votes(
    session: Session, include_named: bool, rules: Rules
) -> tuple[Votes, Screening, list[str], dict[str, int]]:
    """Every vote in one pass (as arrays): the old reasons counted, the clean votes
    screened by the defences. Returns the clean votes, the screening, the model names
    and the count per old reason."""
    # The address a vote was cast from (votes from before revision 0004 have none, and
    # are not capped per address): no join with voters, a million rows cheaper.
    address = _address_codes(session, Vote.ip_hash)
    winner = cast(Vote.__table__.c.winner, String)
    query = (
        select(
            reason_code(include_named),
            Vote.voter_id,
            address,
            _epoch(session, Vote.created_at),
            Battle.model_a_id,
            func.coalesce(Battle.model_b_id, -1),  # (a NULL would be skipped by string_agg)
            case({w.value: int(WINNER_CODES[w.value]) for w in Winner}, value=winner),
            case((Vote.flag_fast.is_(True), 1), else_=0),
        )
        .select_from(Vote)
        .join(Battle, Vote.battle_id == Battle.id)
    )
    postgres = session.get_bind().dialect.name == "postgresql"
    reason, voter, addr, moment, model_a, model_b, outcome, fast = _columns(
        session, query,
        (np.int8, np.int64, np.int64 if postgres else object, np.float64, np.int64, np.int64,
         np.int8, bool),
    )  # fmt: skip
    base = {why: int(n) for why, n in zip(
        EXCLUSIONS, np.bincount(reason, minlength=5)[1:], strict=True)}  # fmt: skip
    clean = reason == 0
    voter, addr, moment = voter[clean], addr[clean], moment[clean]
    model_a, model_b, outcome, fast = model_a[clean], model_b[clean], outcome[clean], fast[clean]
    if not postgres:  # number the address hashes here (-1: unknown)
        known = np.array([a is not None for a in addr], dtype=bool)
        codes = np.full(len(addr), -1, dtype=np.int64)
        if known.any():
            codes[known] = np.unique(addr[known].astype(str), return_inverse=True)[1]
        addr = codes
    model_names = dict(session.execute(select(Model.id, Model.name)).all())
    present = np.union1d(model_a, model_b)
    ids = sorted((int(i) for i in present), key=lambda i: model_names[i])
    names = [model_names[i] for i in ids]
    lookup = np.zeros(max(ids, default=0) + 1, dtype=np.intp)
    lookup[ids] = np.arange(len(ids))
    votes = Votes(
        voter=voter, address=addr, time=moment, a=lookup[model_a], b=lookup[model_b],
        outcome=outcome, fast=fast,
    )  # fmt: skip
    decided = {
        (v, r): st
        for v, r, st in session.execute(
            select(VoterFlag.voter_id, VoterFlag.reason, VoterFlag.status).where(
                VoterFlag.status != FlagStatus.FLAGGED
            )
        )
    }
    battles = _blind_battles(session, dict(zip(ids, range(len(ids)), strict=True)))
    result = screen(votes, battles, rules, names=names, decided=decided)
    return votes, result, names, base


def _screened(session: Session, include_named: bool, rules: Rules) -> VoteCounts:
    """The screened votes aggregated by (model_a, model_b, outcome), like :func:`_grouped`."""
    votes, result, names, excluded = screened_votes(session, include_named, rules)
    keep = result.keep
    n = len(names)
    flat = (votes.a[keep] * n + votes.b[keep]) * 4 + votes.outcome[keep]
    uniq, count = np.unique(flat, return_counts=True)
    return VoteCounts(
        names=names,
        a_idx=(uniq // 4 // n).astype(np.intp),
        b_idx=(uniq // 4 % n).astype(np.intp),
        outcome=(uniq % 4).astype(np.int8),
        count=count.astype(np.int64),
        excluded={**excluded, **result.excluded},
        findings=result.findings,
    )


def _blind_battles(session: Session, index: dict[int, int]) -> Battles:
    """Blind battles that ended voted or abandoned, of voters who abandoned at least one.

    (The steering test needs both endings: a voter who never abandons is not tested.)
    """
    ended = (BattleStatus.VOTED, BattleStatus.ABANDONED)
    abandoners = select(Battle.voter_id).where(
        Battle.mode == BattleMode.ANONY, Battle.status == BattleStatus.ABANDONED
    )
    query = select(
        Battle.voter_id,
        Battle.model_a_id,
        Battle.model_b_id,
        case((Battle.status == BattleStatus.VOTED, 1), else_=0),
    ).where(
        Battle.mode == BattleMode.ANONY,
        Battle.model_b_id.is_not(None),
        Battle.status.in_(ended),
        Battle.voter_id.in_(abandoners),
    )
    voter, model_a, model_b, voted = _columns(session, query, (np.int64,) * 3 + (bool,))
    lookup = np.full(max(index, default=0) + 1, -1, dtype=np.intp)
    lookup[list(index)] = list(index.values())
    a = lookup[np.minimum(model_a, len(lookup) - 1)]
    b = lookup[np.minimum(model_b, len(lookup) - 1)]
    known = (a >= 0) & (b >= 0) & (model_a < len(lookup)) & (model_b < len(lookup))
    return Battles(voter=voter[known], a=a[known], b=b[known], voted=voted[known])


def store_findings(session: Session, run_id: int, findings: list[Finding]) -> None:
    """Replace the undecided flags with this run's findings (admins' decisions stay)."""
    session.execute(
        delete(VoterFlag).where(
            VoterFlag.status == FlagStatus.FLAGGED, VoterFlag.reason.in_(FLAG_REASONS)
        )
    )
    decided = {(v, r) for v, r in session.execute(select(VoterFlag.voter_id, VoterFlag.reason))}
    for f in findings:
        if (f.voter_id, f.reason) not in decided:
            session.add(
                VoterFlag(
                    voter_id=f.voter_id,
                    reason=f.reason,
                    evidence=f.evidence_json(),
                    p_value=f.p_value,
                    status=FlagStatus.FLAGGED,
                    run_id=run_id,
                )
            )


def pair_rows(run_id: int, counts: VoteCounts) -> list[dict[str, object]]:
    """``counts`` as :class:`RunPairCount` rows of run ``run_id`` (one per nonzero group)."""
    return [
        {
            "run_id": run_id,
            "model_a": counts.names[a],
            "model_b": counts.names[b],
            "winner": _WINNERS[int(o)],
            "count": int(n),
        }
        for a, b, o, n in zip(counts.a_idx, counts.b_idx, counts.outcome, counts.count, strict=True)
        if n > 0
    ]


# -- the lock -----------------------------------------------------------------------


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything the arena stores is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class HeldLock:
    """The lock row this process holds; ``took_over`` describes a stale row it replaced."""

    name: str
    holder: str
    took_over: str = ""


@contextmanager
def job_lock(
    factory: SessionFactory, name: str = LOCK_NAME, *, stale_after: timedelta = STALE_AFTER
) -> Iterator[HeldLock]:
    """Hold the ``job_locks`` row ``name`` for the duration of the block.

    Raises :class:`LockBusy` if a live run holds it. The row is deleted on exit only if
    it is still ours (a run that was taken over must not release its successor's lock).
    """
    lock = HeldLock(name, f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}")
    _acquire(factory, lock, stale_after)
    try:
        yield lock
    finally:
        with factory() as session, session.begin():
            session.execute(
                delete(JobLock).where(JobLock.name == name, JobLock.holder == lock.holder)
            )


def _acquire(factory: SessionFactory, lock: HeldLock, stale_after: timedelta) -> None:
    for _attempt in range(3):
        try:
            with factory() as session, session.begin():
                session.add(JobLock(name=lock.name, holder=lock.holder, acquired_at=utcnow()))
            return
        except IntegrityError:
            if _take_over_stale(factory, lock, stale_after):
                return
    raise RecomputeError(f"could not take the {lock.name!r} lock: it keeps changing hands")


def _take_over_stale(factory: SessionFactory, lock: HeldLock, stale_after: timedelta) -> bool:
    """Take the lock if its row is stale (True); False if the row vanished (retry)."""
    with factory() as session, session.begin():
        row = session.get(JobLock, lock.name)
        if row is None:
            return False
        holder, since = row.holder, _aware(row.acquired_at)
        if utcnow() - since < stale_after:
            raise LockBusy(holder, since)
        # Compare-and-set on the old holder: of two runs taking over, one wins.
        taken = session.execute(
            update(JobLock)
            .where(JobLock.name == lock.name, JobLock.holder == holder)
            .values(holder=lock.holder, acquired_at=utcnow())
        ).rowcount
        if taken != 1:
            raise LockBusy(holder, since)
    lock.took_over = (
        f"took over a stale lock held by {holder} since {since:%Y-%m-%d %H:%M:%S} UTC "
        f"(older than {stale_after}); that run probably died"
    )
    logger.warning("recompute: %s", lock.took_over)
    return True


def _confirm_lock(session: Session, lock: HeldLock) -> None:
    # First statement of the write transaction: takes the row (PostgreSQL) or the
    # database (SQLite) for writing and proves nobody took the lock over meanwhile.
    still = session.execute(
        update(JobLock)
        .where(JobLock.name == lock.name, JobLock.holder == lock.holder)
        .values(holder=lock.holder)
    ).rowcount
    if still != 1:
        raise LockLost(
            f"the {lock.name!r} lock was taken over while this run was fitting "
            "(it ran longer than the stale limit); its results were not stored"
        )


# -- recompute ----------------------------------------------------------------------


def _factory(target: Engine | SessionFactory) -> SessionFactory:
    if isinstance(target, Engine):
        return session_factory(target)
    # Runs are returned after their session closes, so they must not expire on commit.
    return sessionmaker(class_=target.class_, **{**target.kw, "expire_on_commit": False})


def _newest(session: Session) -> RatingRun | None:
    order = (RatingRun.created_at.desc(), RatingRun.id.desc())
    return session.scalars(select(RatingRun).order_by(*order).limit(1)).first()


def _new_run(
    board: Leaderboard | None,
    counts: VoteCounts,
    votes_used: int,
    method: str,
    anchor: str,
    level: float,
    rounds: int,
    seed: int,
    note: str,
) -> RatingRun:
    bootstrap = method == "bootstrap"
    run = RatingRun(
        method=method,
        anchor=anchor,
        level=level,
        rounds=rounds if bootstrap else None,
        seed=seed if bootstrap else None,
        votes_used=votes_used,
        excluded_failed=counts.excluded["failed"],
        excluded_flagged=counts.excluded["flagged"],
        excluded_named=counts.excluded["named"],
        excluded_voided=counts.excluded["voided"],
        **{f"excluded_{why}": counts.excluded.get(why, 0) for why in REASONS},
        note=note,
    )
    run.ratings = [
        ModelRating(
            model=row.model,
            rank=row.rank,
            rating=row.rating,
            ci_lower=row.ci_lower,
            ci_upper=row.ci_upper,
            battles=row.battles,
            wins=row.wins,
            ties=row.ties_plain,
            ties_bothbad=row.ties_bothbad,
            losses=row.losses,
            win_rate=row.win_rate,
        )
        for row in (board.rows if board is not None else ())
    ]
    return run


def recompute(
    target: Engine | SessionFactory,
    *,
    anchor: str,
    method: str = "sandwich",
    rounds: int = 100,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
    include_named: bool = False,
    prior: float = DEFAULT_PRIOR,
    stale_after: timedelta = STALE_AFTER,
    min_interval: timedelta | None = None,
    rules: Rules | None = Rules(),  # noqa: B008 (frozen: one shared default is fine)
    min_votes: int = 0,
    precheck: Callable[[Session], None] | None = None,
    note: Sequence[str] = (),
) -> RatingRun:
    """Aggregate, fit and store one rating run; return it with its ratings loaded.

    ``rules`` are the rigging defences (None: only the old reasons, one GROUP BY).
    A model with fewer than ``min_votes`` votes among the other rated models is not
    rated (see :func:`ratings.enough_votes`); its votes are kept in the run's pair
    counts, so the leaderboard lists it with its battles. ``votes_used`` counts the
    votes of the fit only: between two rated models. ``precheck`` runs under the lock
    before anything is read (a :class:`RecomputeError` from it skips the run; the
    scheduler checks there whether its slot was already run); ``note`` lines open the
    run's note.

    ``rounds`` and ``seed`` matter for the bootstrap only (and are stored only then).
    Raises :class:`LockBusy`, :class:`NoVotes` (nothing stored), :class:`RecentRun`
    (only with ``min_interval``), :class:`LockLost`, or :class:`ratings.RatingsError`.
    """
    factory = _factory(target)
    with job_lock(factory, stale_after=stale_after) as lock:
        with factory() as session:
            if precheck is not None:
                precheck(session)
            if min_interval is not None:
                last = _newest(session)
                if last is not None and utcnow() - _aware(last.created_at) < min_interval:
                    raise RecentRun(
                        f"rating run #{last.id} was stored less than {min_interval} ago"
                    )
            as_of = utcnow()  # the run's time: the votes it saw were cast before this
            counts = count_votes(session, include_named=include_named, rules=rules)
        excluded = ", ".join(f"{n} {why}" for why, n in counts.excluded.items())
        if counts.used == 0:
            raise NoVotes(
                f"no usable votes (excluded: {excluded}); no rating run stored, "
                "the leaderboard keeps the previous run"
            )
        keep = enough_votes(counts.a_idx, counts.b_idx, counts.count, len(counts.names), min_votes)
        fitted = counts.among([name for name, k in zip(counts.names, keep, strict=True) if k])
        board = None
        if fitted.names:
            board = fit_leaderboard(
                fitted.names,
                fitted.a_idx,
                fitted.b_idx,
                fitted.outcome,
                fitted.count,
                anchor=anchor,
                ci=method,  # type: ignore[arg-type]  # checked by ratings
                level=level,
                rounds=rounds,
                rng=np.random.default_rng(seed),
                prior=prior,
                on_disconnected="largest",
            )
        rated = [row.model for row in board.rows] if board is not None else []
        votes_used = counts.among(rated).used
        few = [name for name, k in zip(counts.names, keep, strict=True) if not k]
        notes = [*note, *(board.notes if board is not None else ())]
        notes.append(MIN_VOTES_NOTE.format(n=min_votes))
        if few:
            notes.append(f"not enough votes yet (fewer than {min_votes}): {', '.join(few)}")
        notes.append(f"prior: {prior:g} virtual ties per model")
        if include_named:
            notes.append("named-mode battles included")
        if lock.took_over:
            notes.append(lock.took_over)
        run = _new_run(
            board, counts, votes_used, method, anchor, level, rounds, seed, "\n".join(notes)
        )
        run.created_at = as_of
        with factory() as session, session.begin():
            _confirm_lock(session, lock)
            session.add(run)
            session.flush()  # gives the run its id, which its pair rows refer to
            session.execute(insert(RunPairCount), pair_rows(run.id, counts))
            if rules is not None:
                store_findings(session, run.id, counts.findings)
        logger.info(
            "recompute: rating run #%d stored: %d votes used (excluded: %s), %d models",
            run.id,
            run.votes_used,
            excluded,
            len(run.ratings),
        )
        return run


# -- reading runs -------------------------------------------------------------------


def latest_run(session: Session) -> RatingRun | None:
    """The newest rating run with its ratings loaded (best rating first), or None."""
    order = (RatingRun.created_at.desc(), RatingRun.id.desc())
    run = session.scalars(
        select(RatingRun).options(selectinload(RatingRun.ratings)).order_by(*order).limit(1)
    ).first()
    if run is not None:
        run.ratings.sort(key=lambda r: (-r.rating, r.model))
    return run


class HistoryPoint(NamedTuple):
    """One past run for the history chart: when it ran and each model's rating."""

    created_at: datetime
    ratings: dict[str, float]


def run_history(session: Session, limit: int = 30) -> list[HistoryPoint]:
    """The last ``limit`` runs, oldest first, as (run time in UTC, {model: rating})."""
    runs = session.execute(
        select(RatingRun.id, RatingRun.created_at)
        .order_by(RatingRun.created_at.desc(), RatingRun.id.desc())
        .limit(limit)
    ).all()
    points = {run_id: HistoryPoint(_aware(at), {}) for run_id, at in reversed(runs)}
    if points:
        rows = session.execute(
            select(ModelRating.run_id, ModelRating.model, ModelRating.rating).where(
                ModelRating.run_id.in_(list(points))
            )
        )
        for run_id, model, rating in rows:
            points[run_id].ratings[model] = rating
    return list(points.values())


# -- command line -------------------------------------------------------------------


def _parser(settings: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ratings recompute",
        description="Recompute the arena's ratings from its database and store a rating run. "
        "Defaults come from arena.toml / ARENA_* / DATABASE_URL.",
    )
    add = parser.add_argument
    add("--config", metavar="FILE", help="arena.toml (default: $ARENA_CONFIG or ./arena.toml)")
    add(
        "--database-url",
        metavar="URL",
        default=settings.database_url,
        help="SQLAlchemy URL (default: DATABASE_URL, else arena.toml, else sqlite:///arena.db)",
    )
    add("--anchor", default=settings.rating_anchor, help="model pinned at 1000 (%(default)s)")
    add(
        "--ci",
        choices=("sandwich", "bootstrap"),
        default=settings.rating_ci,
        help="interval method (%(default)s)",
    )
    add("--rounds", type=int, default=settings.rating_rounds, help="bootstrap rounds (%(default)s)")
    add("--seed", type=int, default=0, help="bootstrap seed (%(default)s)")
    add("--level", type=float, default=DEFAULT_LEVEL, help="interval coverage (%(default)s)")
    add("--include-named", action="store_true", help="also count named-mode battles")
    add(
        "--min-votes",
        type=int,
        default=settings.rating_min_votes,
        help="votes a model needs to be rated (%(default)s)",
    )
    return parser


def _report(run: RatingRun) -> str:
    lines = [
        f"rating run #{run.id}: {run.votes_used} votes used; excluded "
        f"{run.excluded_voided} voided, {run.excluded_failed} failed, "
        f"{run.excluded_named} not anonymous, {run.excluded_flagged} flagged, "
        f"{run.excluded_fast} too fast, {run.excluded_cap_voter} over a voter's daily cap, "
        f"{run.excluded_cap_address} over an address's daily cap, "
        f"{run.excluded_steering} from steering voters, {run.excluded_outlier} from outliers",
    ]
    for r in sorted(run.ratings, key=lambda r: (-r.rating, r.model)):
        lines.append(
            f"{r.rank:>4}  {r.model:<40} {r.rating:8.1f}  [{r.ci_lower:8.1f}, "
            f"{r.ci_upper:8.1f}]  {r.battles:>7} battles  win rate {r.win_rate:.3f}"
        )
    lines += [f"note: {line}" for line in run.note.splitlines()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ratings recompute``: exit 0 (stored, or no votes), 1 the database cannot
    be reached or failed, 2 bad arguments, configuration or input, 3 busy. Every error is
    one line on stderr."""
    import functools

    from sqlalchemy.exc import ArgumentError

    from arena.cli import OneLineParser, database_failure, missing_sqlite_file, one_line_error

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    config = OneLineParser(prog="python -m ratings recompute", add_help=False)  # for defaults
    config.add_argument("--config")
    try:
        settings = load_settings(config.parse_known_args(argv)[0].config)
    except ConfigError as exc:
        print(f"error: configuration: {exc}", file=sys.stderr)
        return EXIT_INPUT
    parser = _parser(settings)
    parser.error = functools.partial(one_line_error, parser)  # type: ignore[method-assign]
    args = parser.parse_args(argv)
    url = args.database_url
    if missing := missing_sqlite_file(url):  # never create an empty database to read
        print(f"error: {missing}", file=sys.stderr)
        return EXIT_DATABASE
    try:
        engine = make_engine(url)
    except (ArgumentError, ImportError, OSError) as exc:  # not a URL, no driver, no folder
        print(f"error: {database_failure(url, exc)}", file=sys.stderr)
        return EXIT_DATABASE if isinstance(exc, OSError) else EXIT_INPUT
    try:
        if not inspect(engine).has_table(JobLock.__tablename__):
            print(
                "error: the database has no arena tables yet; start the app once "
                "(it migrates the schema), then recompute",
                file=sys.stderr,
            )
            return EXIT_INPUT
        run = recompute(
            engine,
            anchor=args.anchor,
            method=args.ci,
            rounds=args.rounds,
            seed=args.seed,
            level=args.level,
            include_named=args.include_named,
            rules=Rules.from_settings(settings),
            min_votes=args.min_votes,
        )
    except LockBusy as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BUSY
    except NoVotes as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_OK
    except (RatingsError, RecomputeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except SQLAlchemyError as exc:
        print(f"error: {database_failure(url, exc)}", file=sys.stderr)
        return EXIT_DATABASE
    finally:
        engine.dispose()
    print(_report(run))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
