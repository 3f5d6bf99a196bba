"""The arena's votes as the fitter wants them: counts per (model_a, model_b, outcome).

A rating run (:mod:`arena.recompute`) reads the votes through here. Without rigging
rules one SQL ``GROUP BY`` does it, so a million votes arrive as at most
``4 * models**2`` rows; with rules the clean votes are read once as arrays and screened
by :mod:`arena.integrity.screen`. Which votes count is :mod:`arena.db.counted`'s rule,
and each vote left out is counted under its reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import (
    BigInteger,
    Float,
    LargeBinary,
    Select,
    String,
    case,
    cast,
    delete,
    func,
    literal,
    select,
)
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from arena.db.counted import EXCLUSIONS, excluded_for, reason_code
from arena.db.models import (
    Battle,
    BattleMode,
    BattleStatus,
    FlagStatus,
    Model,
    Vote,
    VoterFlag,
    Winner,
)
from arena.integrity.screen import (
    FLAG_REASONS,
    Battles,
    Finding,
    Rules,
    Screening,
    Votes,
    screen,
)
from ratings import WINNER_CODES


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
