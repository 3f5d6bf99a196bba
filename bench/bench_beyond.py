"""Benchmarks of issue 15 ("ratings a reader can act on").

Run from the repository root::

    python bench/bench_beyond.py --only sampling            # about 4 minutes on 2 cores
    python bench/bench_beyond.py --only sampling --quick    # a few seeds, seconds

It prints markdown tables (recorded in docs/benchmarks.md, "Beyond (issue 15)").

Sampling
--------
Votes are simulated from the seed's 13 ratings (``tests/golden/seed_table.json``)
taken as the true strengths: P(A beats B) by Bradley-Terry, and a tie (of either
kind) with probability ``2 * TIE_SHARE * min(p, 1 - p)``, taken evenly from both
sides' chances so each side's expected score stays ``p`` (the half-win coding is
then the right model); about 15% of the votes are ties, as in the seed. Three ways
of choosing the next pair are compared:

* ``uniform``: every pair equally likely;
* ``weighted``: the arena's rule, :func:`arena.sampling.choose_pair` (all weights 1);
* ``active``: :func:`arena.sampling.choose_active` with its default epsilon.

Every ``--refit`` votes the ratings are refitted as the arena does
(:func:`ratings.rate`, sandwich intervals, the anchor at 1000); the active sampler
sees the latest fit (as the app sees the latest run) and the pair counts after it.
Measured per seed: the votes until every pair of true neighbours whose true gap is
at least ``TARGET_GAP`` points has separate intervals (the higher model's lower
bound above the lower model's upper bound), checked at each refit; the mean
half-width after 2,000 votes; and the coverage of the true ratings, after 2,000
votes and when the pairs separated. Coverage is counted two ways: against the truth
relative to the field mean (what the intervals are for, see :mod:`ratings.intervals`)
and against the truth anchored like the app (Tanuki-8B-dpo-v1.0 = 1000; its own
interval always covers, the others are wider in truth than the interval says).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arena.sampling import ACTIVE_EPSILON, Board, choose_active, choose_pair, pair_key  # noqa: E402
from ratings import ELO_SCALE, PairCounts, rate  # noqa: E402
from ratings.bt import expit  # noqa: E402

SEED_TABLE = ROOT / "tests" / "golden" / "seed_table.json"
#: Each side gives up this share of min(p, 1 - p) to a tie (about 15% ties overall).
TIE_SHARE = 0.17
#: Neighbours at least this far apart in truth must separate.
TARGET_GAP = 25.0
#: Votes after which the half-widths and coverage are reported.
AT_VOTES = 2000
POLICIES = ("uniform", "weighted", "active")


@dataclass
class Outcome:
    """One simulated arena: what the sampling comparison reports."""

    policy: str
    seed: int
    votes_needed: int | None  # None: not separated within the budget
    half_at: float  # mean half-width after AT_VOTES votes
    cover_at: tuple[int, int]  # (covered, models) after AT_VOTES, truth relative to the mean
    cover_anchor_at: tuple[int, int]  # the same, truth anchored at the anchor
    cover_stop: tuple[int, int]  # when the pairs separated, truth relative to the mean
    ties: float  # share of votes that were ties
    seconds: float


def seed_ratings() -> tuple[list[str], np.ndarray, int]:
    """The seed's model names, ratings and the anchor's index."""
    table = json.loads(SEED_TABLE.read_text(encoding="utf-8"))
    names = [m["model"] for m in table["models"]]
    rating = np.array([m["rating"] for m in table["models"]], float)
    return names, rating, names.index(table["anchor"])


def targets(truth: np.ndarray) -> list[tuple[int, int]]:
    """True neighbours (higher, lower) at least TARGET_GAP apart."""
    order = np.argsort(-truth)
    return [(int(hi), int(lo)) for hi, lo in pairwise(order) if truth[hi] - truth[lo] >= TARGET_GAP]


def simulate(policy: str, seed: int, budget: int, refit: int) -> Outcome:
    """One arena from the first vote until the target pairs separate (or ``budget``)."""
    started = time.perf_counter()
    names, truth, anchor = seed_ratings()
    n = len(names)
    pairs_to_split = targets(truth)
    rng = np.random.default_rng(seed)
    draw_rng = random.Random(seed)
    weights = dict.fromkeys(names, 1.0)
    index = {m: i for i, m in enumerate(names)}
    wins, ties = np.zeros((n, n)), np.zeros((n, n))
    counts: dict[tuple[str, str], int] = {}
    board: Board | None = None
    needed, half_at = None, float("nan")
    cover_at = cover_anchor_at = cover_stop = (0, 0)
    tied = 0
    votes = 0
    while votes < budget:
        if policy == "uniform":
            i, j = rng.choice(n, size=2, replace=False)
            a, b = names[i], names[j]
        elif policy == "weighted":
            a, b = choose_pair(weights, counts, draw_rng)
        else:
            a, b = choose_active(weights, counts, draw_rng, board=board, epsilon=ACTIVE_EPSILON)
        i, j = index[a], index[b]
        p = float(expit(np.array((truth[i] - truth[j]) / ELO_SCALE)))
        tie = TIE_SHARE * min(p, 1.0 - p)
        u = rng.random()
        if u < p - tie:
            wins[i, j] += 1
        elif u < p + tie:
            ties[i, j] += 1
            ties[j, i] += 1
            tied += 1
        else:
            wins[j, i] += 1
        key = pair_key(a, b)
        counts[key] = counts.get(key, 0) + 1
        votes += 1
        if votes % refit:
            continue
        fit = rate(PairCounts(wins, ties, np.zeros((n, n))), anchor=anchor)
        if fit.models.size < n:
            continue  # a model without votes yet: no board
        half = (fit.ci_upper - fit.ci_lower) / 2
        games = wins + wins.T + ties
        board = Board(0, tuple(names), fit.rating, half, games.copy())
        field = truth - truth.mean() + fit.rating.mean()
        covered = int(np.sum((fit.ci_lower <= field) & (field <= fit.ci_upper)))
        if votes == AT_VOTES:
            half_at = float(half.mean())
            cover_at = (covered, n)
            anchored = int(np.sum((fit.ci_lower <= truth) & (truth <= fit.ci_upper)))
            cover_anchor_at = (anchored, n)
        if needed is None and all(fit.ci_lower[hi] > fit.ci_upper[lo] for hi, lo in pairs_to_split):
            needed = votes
            cover_stop = (covered, n)
        if needed is not None and votes >= AT_VOTES:
            break
    return Outcome(
        policy, seed, needed, half_at, cover_at, cover_anchor_at, cover_stop,
        tied / max(votes, 1), time.perf_counter() - started,
    )  # fmt: skip


def _run(job: tuple[str, int, int, int]) -> Outcome:
    return simulate(*job)


def sampling(seeds: int, budget: int, refit: int, workers: int) -> list[Outcome]:
    """Every policy on the same seeds."""
    jobs = [(policy, seed, budget, refit) for seed in range(seeds) for policy in POLICIES]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_run, jobs))


def _share(pairs: list[tuple[int, int]]) -> float:
    total = sum(n for _, n in pairs)
    return sum(c for c, _ in pairs) / total if total else float("nan")


def report(outcomes: list[Outcome], budget: int) -> str:
    """The markdown table of the sampling comparison."""
    lines = [
        "| sampling | separated within budget | votes needed: median | mean | "
        f"vs uniform (median) | mean half-width at {AT_VOTES:,} | coverage at {AT_VOTES:,} "
        "| coverage at separation | anchored coverage at 2,000 | ties |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    medians = {}
    for policy in POLICIES:
        rows = [o for o in outcomes if o.policy == policy]
        # An arena that never separated within the budget counts as the budget (a floor).
        needed = [o.votes_needed if o.votes_needed is not None else budget for o in rows]
        medians[policy] = statistics.median(needed)
    for policy in POLICIES:
        rows = [o for o in outcomes if o.policy == policy]
        needed = [o.votes_needed if o.votes_needed is not None else budget for o in rows]
        done = sum(o.votes_needed is not None for o in rows)
        saving = 1 - medians[policy] / medians["uniform"]
        lines.append(
            f"| {policy} | {done}/{len(rows)} | {medians[policy]:,.0f} | "
            f"{statistics.fmean(needed):,.0f} | {-saving:+.0%} | "
            f"{statistics.fmean(o.half_at for o in rows):.1f} | "
            f"{_share([o.cover_at for o in rows]):.1%} | "
            f"{_share([o.cover_stop for o in rows]):.1%} | "
            f"{_share([o.cover_anchor_at for o in rows]):.1%} | "
            f"{statistics.fmean(o.ties for o in rows):.1%} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["sampling"], default=None, help="run one section")
    parser.add_argument("--quick", action="store_true", help="a few seeds (for tests)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per policy")
    parser.add_argument("--budget", type=int, default=60_000, help="votes at most per arena")
    parser.add_argument("--refit", type=int, default=100, help="votes between refits")
    parser.add_argument("--workers", type=int, default=2, help="processes")
    args = parser.parse_args(argv)
    seeds = args.seeds or (3 if args.quick else 40)
    budget = min(args.budget, 20_000) if args.quick else args.budget
    if args.only in (None, "sampling"):
        started = time.perf_counter()
        outcomes = sampling(seeds, budget, args.refit, args.workers)
        names, truth, _ = seed_ratings()
        split = ", ".join(f"{names[h]} > {names[lo]}" for h, lo in targets(truth))
        print(f"## Sampling: {seeds} seeds per policy, refit every {args.refit} votes, "
              f"budget {budget:,} votes, epsilon {ACTIVE_EPSILON}")  # fmt: skip
        print(f"\npairs that must separate (true gap >= {TARGET_GAP:.0f}): {split}\n")
        print(report(outcomes, budget))
        print(f"\n{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
