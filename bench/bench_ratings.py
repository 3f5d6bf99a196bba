"""Benchmark the ratings fitter against the public arena method.

Run from the repository root::

    python bench/bench_ratings.py            # full run (about a minute on 2 cores)
    python bench/bench_ratings.py --quick    # smaller baseline bootstrap, no 10M case

It prints a markdown table (recorded in docs/benchmarks.md, "## Ratings").

The baseline is the public Chatbot Arena method, written here from its
description: build unique ``(model_a, model_b, outcome)`` rows with counts
(``np.unique`` over rows instead of a pandas groupby), fit Bradley-Terry by
scipy L-BFGS-B on those rows weighted by counts, and bootstrap by drawing
multinomial counts for the rows and refitting each round with L-BFGS-B.

Votes are simulated from known ratings (ties of both kinds included), held in
memory as int32/int8 arrays. Times are medians of repeated runs (wall clock,
``time.perf_counter``). Peak memory of the 10M-vote case is measured in a
child process: ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (peak resident
set of the whole process, data generation included) and ``tracemalloc`` peak
of the fit alone (numpy reports its buffers to tracemalloc).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ratings import ELO_SCALE, aggregate, rate  # noqa: E402
from ratings.outcomes import SCORE_A  # noqa: E402

SEED_TABLE = ROOT / "tests" / "golden" / "seed_table.json"
#: Tolerance handed to the baseline's L-BFGS-B: tight enough to agree to 0.01 points.
BASELINE_GTOL = 1e-9
#: Share of close games that end in a tie, in the simulation.
TIE_SHARE = 0.3
CHUNK = 1_000_000


def simulate(
    rng: np.random.Generator, ratings: np.ndarray, votes: int, pair_weights: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random battles as (a int32, b int32, outcome int8), generated in chunks."""
    n = ratings.size
    a = np.empty(votes, dtype=np.int32)
    b = np.empty(votes, dtype=np.int32)
    o = np.empty(votes, dtype=np.int8)
    for start in range(0, votes, CHUNK):
        size = min(CHUNK, votes - start)
        if pair_weights is None:
            first = rng.integers(0, n, size)
            second = (first + rng.integers(1, n, size)) % n
        else:
            cell = rng.choice(n * n, size=size, p=pair_weights.ravel())
            first, second = cell // n, cell % n
        p = expit((ratings[first] - ratings[second]) / ELO_SCALE)
        tie = TIE_SHARE * np.minimum(p, 1.0 - p)
        u = rng.random(size)
        outcome = np.where(u < p - tie, 0, np.where(u < p + tie, 2, 1))
        outcome[(outcome == 2) & (rng.random(size) < 0.3)] = 3
        a[start : start + size] = first
        b[start : start + size] = second
        o[start : start + size] = outcome
    return a, b, o


def baseline_rows(a: np.ndarray, b: np.ndarray, o: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique (a, b, outcome) rows and their counts."""
    return np.unique(np.stack([a, b, o], axis=1), axis=0, return_counts=True)


def baseline_fit(
    rows: np.ndarray, counts: np.ndarray, n: int, x0: np.ndarray | None = None
) -> np.ndarray:
    """L-BFGS-B on unique rows weighted by counts; Elo ratings with mean 0."""
    weight = counts / counts.sum()
    y = SCORE_A[rows[:, 2]]
    first, second = rows[:, 0], rows[:, 1]

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        d = theta[first] - theta[second]
        value = -np.sum(weight * (y * log_expit(d) + (1.0 - y) * log_expit(-d)))
        r = weight * (expit(d) - y)
        return value, np.bincount(first, r, n) - np.bincount(second, r, n)

    start = np.zeros(n) if x0 is None else x0 / ELO_SCALE
    options = {"gtol": BASELINE_GTOL, "ftol": 1e-15, "maxiter": 10_000}
    theta = minimize(objective, start, jac=True, method="L-BFGS-B", options=options).x
    return ELO_SCALE * (theta - theta.mean())


def baseline_bootstrap(
    rows: np.ndarray, counts: np.ndarray, n: int, rounds: int, rng: np.random.Generator
) -> np.ndarray:
    """Multinomial bootstrap of the row counts, one L-BFGS-B fit per round."""
    draws = rng.multinomial(counts.sum(), counts / counts.sum(), size=rounds)
    start = baseline_fit(rows, counts, n)
    return np.array([baseline_fit(rows, draw, n, start) for draw in draws])


def timed(function: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Median wall time of ``repeats`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        begin = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - begin)
    return statistics.median(times), result


def ours(
    a: np.ndarray, b: np.ndarray, o: np.ndarray, n: int, ci: str, rounds: int = 100
) -> np.ndarray:
    """Aggregate raw vote arrays, fit, intervals; ratings with mean 0."""
    fit = rate(
        aggregate(a, b, o, n),
        anchor=None,
        ci=ci,  # type: ignore[arg-type]
        rounds=rounds,
        rng=np.random.default_rng(1),
    )
    return fit.rating - fit.rating.mean()


def seed_case(rows: list[list[str]]) -> None:
    table = json.loads(SEED_TABLE.read_text(encoding="utf-8"))["models"]
    ratings = np.array([m["rating"] for m in table])
    battles = np.array([m["battles"] for m in table], dtype=float)
    weights = np.outer(battles, battles)
    np.fill_diagonal(weights, 0.0)
    a, b, o = simulate(np.random.default_rng(0), ratings, 2049, weights / weights.sum())
    seconds, _ = timed(lambda: ours(a, b, o, 13, "sandwich"), 200)
    rows.append(
        ["13 models, 2,049 votes: fit + sandwich", _ms(seconds), "", "≤ 5 ms", _ok(seconds <= 5e-3)]
    )


def medium_case(rows: list[list[str]], quick: bool) -> None:
    n, votes = 100, 1_000_000
    rng = np.random.default_rng(0)
    truth = rng.normal(1000.0, 150.0, n)
    a, b, o = simulate(rng, truth, votes, None)
    sandwich, _ = timed(lambda: ours(a, b, o, n, "sandwich"), 20)
    boot, _ = timed(lambda: ours(a, b, o, n, "bootstrap"), 5)
    build, (unique, counts) = timed(lambda: baseline_rows(a, b, o), 3)
    fit_time, reference = timed(lambda: baseline_fit(unique, counts, n), 3)
    rounds = 10 if quick else 100
    begin = time.perf_counter()
    baseline_bootstrap(unique, counts, n, rounds, np.random.default_rng(1))
    boot_base = (time.perf_counter() - begin) * 100 / rounds
    baseline_total = build + fit_time + boot_base
    mine = ours(a, b, o, n, "sandwich")
    plain = rate(aggregate(a, b, o, n), anchor=None, prior=0).rating
    gap = float(np.abs(mine - reference).max())
    gap_plain = float(np.abs(plain - plain.mean() - reference).max())
    scaled = " (10 rounds × 10)" if quick else ""
    rows += [
        [
            "100 models, 1M votes: fit + sandwich",
            _ms(sandwich),
            "",
            "≤ 100 ms",
            _ok(sandwich <= 0.1),
        ],
        [
            "100 models, 1M votes: fit + 100-round bootstrap",
            _ms(boot),
            f"{_ms(baseline_total)}{scaled}",
            "≤ 1 s, ≥ 10× faster",
            _ok(boot <= 1.0 and baseline_total >= 10 * boot),
        ],
        ["  baseline: unique rows (np.unique over rows)", "", _ms(build), "", ""],
        ["  baseline: one L-BFGS-B fit", "", _ms(fit_time), "", ""],
        ["  speed-up, bootstrap", f"{baseline_total / boot:.0f}×", "", "≥ 10×", ""],
        [
            "  largest rating difference from baseline (default prior / prior 0)",
            f"{gap:.4f} / {gap_plain:.4f}",
            "",
            "≤ 0.01",
            _ok(gap <= 0.01),
        ],
    ]


def _large_child() -> None:
    """Run in a child process: 200 models, 10M votes; print JSON with time and memory."""
    import resource
    import tracemalloc

    n, votes = 200, 10_000_000
    rng = np.random.default_rng(0)
    a, b, o = simulate(rng, rng.normal(1000.0, 150.0, n), votes, None)
    times = []
    for _ in range(3):
        begin = time.perf_counter()
        ours(a, b, o, n, "sandwich")
        times.append(time.perf_counter() - begin)
    tracemalloc.start()
    ours(a, b, o, n, "sandwich")
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": statistics.median(times), "rss": peak_kib, "fit": traced}))


def large_case(rows: list[list[str]]) -> None:
    child = subprocess.run(
        [sys.executable, __file__, "--large-child"], capture_output=True, text=True, check=True
    )
    result = json.loads(child.stdout.strip().splitlines()[-1])
    seconds, rss_gb = result["seconds"], result["rss"] / 2**20
    rows += [
        ["200 models, 10M votes: fit + sandwich", _ms(seconds), "", "≤ 1 s", _ok(seconds <= 1.0)],
        [
            "  peak RSS of the process (ru_maxrss, data included)",
            f"{rss_gb:.2f} GiB",
            "",
            "≤ 1.5 GB",
            _ok(result["rss"] * 1024 <= 1.5e9),
        ],
        ["  peak traced allocation of the fit (tracemalloc)", f"{result['fit'] / 2**20:.0f} MiB"],
    ]


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 1.0 else f"{seconds:.2f} s"


def _ok(passed: bool) -> str:
    return "yes" if passed else "**no**"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller run, no 10M case")
    parser.add_argument("--large-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.large_child:
        _large_child()
        return
    rows: list[list[str]] = []
    seed_case(rows)
    medium_case(rows, args.quick)
    if not args.quick:
        large_case(rows)
    header = ["case", "ours", "baseline", "target", "met"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row + [""] * (len(header) - len(row))) + " |")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
    print(f"\n{os.cpu_count()} CPUs, load average {load}, OPENBLAS_NUM_THREADS={threads}")


if __name__ == "__main__":
    main()
