"""Which of the clean votes a recomputation keeps: the rigging defences, in order.

A vote that passed the old reasons (not voided, not failed, blind, not flagged) is
still left out, for the first reason that applies:

1. ``fast``: cast sooner than a person can read the answers (flagged when cast);
2. ``cap_voter``: beyond the voter's daily cap (UTC day, in the order cast);
3. ``cap_address``: beyond the client address's daily cap;
4. ``steering``: its voter votes or abandons depending on which models are present;
5. ``outlier``: its voter's verdicts are improbable under the ratings fitted without
   the votes left out so far (a voter-specific bias for or against one model).

Voters found under 4 and 5 are written to ``voter_flags`` with the evidence. An admin's
decision wins over the statistics: a cleared flag keeps the voter's votes in, a
confirmed one keeps them out even when a later run no longer finds the voter. The
statistics themselves are in :mod:`arena.integrity.rigging`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from arena.config import Settings
from arena.db.models import FlagStatus
from arena.integrity import rigging
from ratings import fit_counts

#: Reasons, in the order they are tested (the first that applies is counted).
REASONS = ("fast", "cap_voter", "cap_address", "steering", "outlier")
FLAG_REASONS = ("steering", "outlier")
DAY = 86_400.0
_DEFAULTS = Settings()  # the one place the defaults are written


@dataclass(frozen=True)
class Rules:
    """The thresholds of the defences (from the settings)."""

    cap_voter_day: int = _DEFAULTS.cap_votes_per_voter_day
    cap_address_day: int = _DEFAULTS.cap_votes_per_address_day
    fdr: float = _DEFAULTS.rigging_fdr  # 0 turns the steering and outlier tests off
    seed: int = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> Rules:
        return cls(
            cap_voter_day=settings.cap_votes_per_voter_day,
            cap_address_day=settings.cap_votes_per_address_day,
            fdr=settings.rigging_fdr,
        )


@dataclass(frozen=True)
class Votes:
    """The clean votes, one entry per vote (model indices, not ids)."""

    voter: np.ndarray  # int64 voter ids
    address: np.ndarray  # int64 address codes, -1 when unknown
    time: np.ndarray  # float64 Unix seconds
    a: np.ndarray  # intp model index of side A
    b: np.ndarray  # intp model index of side B
    outcome: np.ndarray  # int8 ratings.Outcome codes
    fast: np.ndarray  # bool, flagged too fast when cast


@dataclass(frozen=True)
class Battles:
    """Blind battles that ended voted or abandoned (for the steering test)."""

    voter: np.ndarray
    a: np.ndarray
    b: np.ndarray
    voted: np.ndarray


@dataclass(frozen=True)
class Finding:
    """A voter a test flagged, with what shows it."""

    voter_id: int
    reason: str
    p_value: float
    evidence: dict[str, Any]

    def evidence_json(self) -> str:
        return json.dumps(self.evidence, ensure_ascii=False, sort_keys=True)


@dataclass
class Screening:
    """The outcome: which votes are kept, the count per reason, the flagged voters."""

    keep: np.ndarray
    excluded: dict[str, int]
    findings: list[Finding] = field(default_factory=list)


def screen(
    votes: Votes,
    battles: Battles,
    rules: Rules,
    *,
    names: list[str],
    decided: dict[tuple[int, str], FlagStatus] | None = None,
) -> Screening:
    """Apply the defences to ``votes``; ``decided`` holds admins' decisions per (voter, reason)."""
    decided = decided or {}
    n = len(votes.voter)
    reason = np.zeros(n, dtype=np.int8)  # 0 = kept, k = REASONS[k - 1]

    def exclude(mask: np.ndarray, why: str) -> None:
        reason[(reason == 0) & mask] = REASONS.index(why) + 1

    exclude(votes.fast, "fast")
    days = np.floor(votes.time / DAY).astype(np.int64)
    exclude(rigging.daily_cap(votes.voter, days, votes.time, rules.cap_voter_day), "cap_voter")
    exclude(
        rigging.daily_cap(votes.address, days, votes.time, rules.cap_address_day), "cap_address"
    )
    findings: list[Finding] = []
    rng = np.random.default_rng(rules.seed)
    for why in FLAG_REASONS:
        found = _steering(battles, rules, names) if why == "steering" else []
        if why == "outlier":
            kept = reason == 0
            found = _outliers(votes, kept, rules, names, rng)
        cleared = {v for (v, r), st in decided.items() if r == why and st is FlagStatus.CLEARED}
        flagged = {f.voter_id for f in found} - cleared
        flagged |= {v for (v, r), st in decided.items() if r == why and st is FlagStatus.CONFIRMED}
        findings += [f for f in found if f.voter_id in flagged]
        if flagged:
            exclude(np.isin(votes.voter, np.fromiter(flagged, dtype=np.int64)), why)
    excluded = {why: int(np.count_nonzero(reason == k)) for k, why in enumerate(REASONS, 1)}
    return Screening(keep=reason == 0, excluded=excluded, findings=findings)


def _steering(battles: Battles, rules: Rules, names: list[str]) -> list[Finding]:
    if rules.fdr <= 0 or len(battles.voter) == 0:
        return []
    r = rigging.steering_test(battles.voter, battles.a, battles.b, battles.voted, fdr=rules.fdr)
    out = []
    for k, voter in enumerate(r.voter):
        (vp, va), (ap, aa) = r.counts[k].tolist()
        evidence = {
            "model": names[int(r.model[k])],
            "voted_with_model": vp,
            "abandoned_with_model": ap,
            "voted_without_model": va,
            "abandoned_without_model": aa,
        }
        out.append(Finding(int(voter), "steering", float(r.p_value[k]), evidence))
    return out


def _outliers(
    votes: Votes, kept: np.ndarray, rules: Rules, names: list[str], rng: np.random.Generator
) -> list[Finding]:
    if rules.fdr <= 0 or np.count_nonzero(kept) < 2:
        return []
    voter, a, b, outcome = votes.voter[kept], votes.a[kept], votes.b[kept], votes.outcome[kept]

    # The null model is fitted with each voter's weight capped at what a typical voter
    # casts: a few heavy riggers cannot drag the ratings towards their own verdicts and
    # so make the honest majority look improbable.
    _, inverse, per_voter = np.unique(voter, return_inverse=True, return_counts=True)
    typical = max(5.0, float(np.median(per_voter)))
    weight = np.minimum(1.0, typical / per_voter[inverse])

    def fit(keep: np.ndarray) -> tuple[np.ndarray, float]:
        """Elo-scale ratings of every model (unrated ones at the mean) and the tie share."""
        ratings = np.full(len(names), np.nan)
        if np.count_nonzero(keep):
            got = fit_counts(
                a[keep], b[keep], outcome[keep], weight[keep], n_models=len(names),
                anchor=None, on_disconnected="largest",
            )  # fmt: skip
            ratings[got.models] = got.rating
        finite = np.isfinite(ratings)
        ratings[~finite] = ratings[finite].mean() if finite.any() else 0.0
        return ratings, float(np.mean(outcome[keep] >= 2)) if np.count_nonzero(keep) else 0.0

    r = rigging.iterated_outlier_test(voter, a, b, outcome, fit, rng=rng, fdr=rules.fdr)
    out = []
    for k, who in enumerate(r.voter):
        evidence = {
            "model": names[int(r.model[k])],
            "z": round(float(r.z[k]), 2),
            "votes_with_model": int(r.n_votes[k]),
            "observed_wins": round(float(r.observed[k]), 1),
            "expected_wins": round(float(r.expected[k]), 1),
        }
        out.append(Finding(int(who), "outlier", float(r.p_value[k]), evidence))
    return out
