"""Intervals: the sandwich pieces, recovery of known ratings, coverage, rank (UB).

Simulated votes follow the seed study: its 13 ratings, pairs drawn in
proportion to the product of the two models' battle counts, and ties whose
expected score keeps the Bradley-Terry mean exact (a tie takes equal
probability from each side's win), so the fitted model is right in the mean
but not in the variance, which is what the sandwich is for.

Coverage is measured on the anchored scale with the truth anchored the same
way: intervals are for a rating relative to the field mean, so the true
ratings are given the same field mean as the estimates before comparing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.special import expit

from ratings import ELO_SCALE, Outcome, PairCounts, RatingFit, aggregate, rank_ub, rate
from ratings.bt import fit, hessian, regularised_score
from ratings.intervals import (
    bootstrap_scores,
    sandwich_covariance,
    score_outer_products,
)
from ratings.outcomes import SCORE_A

GOLDEN = Path(__file__).parent / "golden"
SEED = json.loads((GOLDEN / "seed_table.json").read_text(encoding="utf-8"))
NAMES = [m["model"] for m in SEED["models"]]
TRUTH = np.array([m["rating"] for m in SEED["models"]])
BATTLES = np.array([m["battles"] for m in SEED["models"]], dtype=float)
ANCHOR = NAMES.index(SEED["anchor"])
SEED_VOTES = 2049

#: Share of a close game's probability that ends in a tie.
TIE_SHARE = 0.3
#: Share of ties recorded as "tie (bothbad)".
BOTHBAD_SHARE = 0.3
#: Coverage must land in this band for 95% intervals.
COVERAGE_BAND = (0.92, 0.98)
#: Simulated data sets for the coverage test.
COVERAGE_DATASETS = 200
#: Bootstrap rounds in the coverage test: enough that percentile ends are not noisy.
COVERAGE_ROUNDS = 500
#: Recovery: each true rating must be inside its interval in at least this share of seeds.
RECOVERY_SHARE = 0.7
RECOVERY_SEEDS = 20
#: Matrix identities, relative.
ALGEBRA_TOL = 1e-9


def _cell_probabilities() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = TRUTH.size
    pair = np.outer(BATTLES, BATTLES)
    np.fill_diagonal(pair, 0.0)
    pair /= pair.sum()
    p = expit((TRUTH[:, None] - TRUTH[None, :]) / ELO_SCALE)
    tie = 2 * TIE_SHARE * np.minimum(p, 1 - p)
    outcome = np.stack(
        [p - tie / 2, 1 - p - tie / 2, (1 - BOTHBAD_SHARE) * tie, BOTHBAD_SHARE * tie], axis=-1
    )
    cells = (outcome * pair[..., None]).ravel()
    a, b, o = (
        x.ravel() for x in np.meshgrid(np.arange(n), np.arange(n), np.arange(4), indexing="ij")
    )
    used = cells > 0
    return a[used], b[used], o[used], cells[used] / cells[used].sum()


CELLS = _cell_probabilities()


def simulate_counts(rng: np.random.Generator, votes: int = SEED_VOTES) -> PairCounts:
    """Aggregated counts of ``votes`` simulated battles."""
    a, b, o, probability = CELLS
    return aggregate(a, b, o, TRUTH.size, rng.multinomial(votes, probability))


def simulate_votes(
    rng: np.random.Generator, votes: int = SEED_VOTES
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One row per simulated battle: (a, b, outcome)."""
    a, b, o, probability = CELLS
    pick = rng.choice(probability.size, size=votes, p=probability)
    return a[pick], b[pick], o[pick]


def _covered(result: RatingFit, truth: np.ndarray = TRUTH) -> np.ndarray:
    assert result.in_core.all()
    anchored_truth = truth - truth.mean() + result.rating.mean()
    return (result.ci_lower <= anchored_truth) & (anchored_truth <= result.ci_upper)


def test_outer_products_equal_the_per_battle_sum() -> None:
    rng = np.random.default_rng(3)
    a, b, o = simulate_votes(rng, 400)
    counts = aggregate(a, b, o, TRUTH.size)
    theta = fit(regularised_score(counts.score, 0.0))
    expected = np.zeros((TRUTH.size, TRUTH.size))
    for i, j, k in zip(a, b, o, strict=True):
        x = np.zeros(TRUTH.size)
        x[i], x[j] = 1.0, -1.0
        residual = SCORE_A[k] - expit(theta[i] - theta[j])
        expected += residual**2 * np.outer(x, x)
    got = score_outer_products(theta, counts)
    np.testing.assert_allclose(got, expected, rtol=ALGEBRA_TOL, atol=ALGEBRA_TOL)


def test_sandwich_is_pseudo_inverse_sandwich() -> None:
    counts = simulate_counts(np.random.default_rng(4))
    theta = fit(counts.score)
    h_plus = np.linalg.pinv(hessian(theta, counts.score))
    expected = h_plus @ score_outer_products(theta, counts) @ h_plus
    got = sandwich_covariance(theta, counts, prior=0.0)
    np.testing.assert_allclose(got, expected, atol=ALGEBRA_TOL * np.abs(expected).max())
    np.testing.assert_allclose(got.sum(axis=1), 0.0, atol=1e-12)


def test_sandwich_equals_model_variance_for_exact_bradley_terry_counts() -> None:
    # Counts equal to their expectation under Bradley-Terry without ties: the
    # fit returns the truth and G = H, so the sandwich is the inverse Hessian.
    n = TRUTH.size
    pair = np.outer(BATTLES, BATTLES)
    np.fill_diagonal(pair, 0.0)
    p = expit((TRUTH[:, None] - TRUTH[None, :]) / ELO_SCALE)
    i, j = np.triu_indices(n, 1)
    a, b = np.concatenate([i, i]), np.concatenate([j, j])
    o = np.repeat([Outcome.A_WINS, Outcome.B_WINS], i.size)
    games = pair[i, j] / pair.sum() * 100_000
    counts = aggregate(a, b, o, n, np.concatenate([games * p[i, j], games * (1 - p[i, j])]))
    theta = fit(counts.score)
    np.testing.assert_allclose(ELO_SCALE * theta, TRUTH - TRUTH.mean(), atol=1e-6)
    model = np.linalg.pinv(hessian(theta, counts.score))
    robust = sandwich_covariance(theta, counts, prior=0.0)
    np.testing.assert_allclose(robust, model, atol=ALGEBRA_TOL * np.abs(model).max())


def test_bootstrap_draws_keep_the_total_and_the_seed() -> None:
    counts = simulate_counts(np.random.default_rng(5))
    first = bootstrap_scores(counts, np.random.default_rng(9), 50)
    again = bootstrap_scores(counts, np.random.default_rng(9), 50)
    other = bootstrap_scores(counts, np.random.default_rng(10), 50)
    total = counts.games.sum() / 2
    np.testing.assert_allclose(first.sum(axis=(1, 2)), total)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_rank_ub() -> None:
    lower = np.array([10.0, 8.0, 0.0, -5.0, -np.inf])
    upper = np.array([20.0, 12.0, 9.0, 1.0, 0.5])
    # Model 2 (upper 9) has models 0 (lower 10) above it; model 3 has 0 and 1.
    np.testing.assert_array_equal(rank_ub(lower, upper), [1, 1, 2, 3, 3])
    np.testing.assert_array_equal(rank_ub(np.array([0.0]), np.array([np.inf])), [1])


@pytest.mark.parametrize("ci", ["sandwich", "bootstrap"])
def test_recovers_the_seed_ratings(ci: str) -> None:
    inside = np.zeros(TRUTH.size)
    errors = []
    for seed in range(RECOVERY_SEEDS):
        rng = np.random.default_rng(seed)
        a, b, o = simulate_votes(rng)
        result = rate(aggregate(a, b, o, TRUTH.size), anchor=ANCHOR, ci=ci, rounds=300, rng=rng)
        assert result.rating[ANCHOR] == 1000.0
        inside += _covered(result)
        errors.append(result.rating - result.rating.mean() - (TRUTH - TRUTH.mean()))
    assert (inside / RECOVERY_SEEDS >= RECOVERY_SHARE).all(), inside
    # No systematic error: the mean error over seeds is small against the spread.
    mean_error = np.mean(errors, axis=0)
    spread = np.std(errors, axis=0) / np.sqrt(RECOVERY_SEEDS)
    assert (np.abs(mean_error) < 4 * spread + 1.0).all()


def test_coverage_of_sandwich_and_bootstrap() -> None:
    rng = np.random.default_rng(2026)
    hits = {"sandwich": [], "bootstrap": []}
    for _ in range(COVERAGE_DATASETS):
        counts = simulate_counts(rng)
        for ci in hits:
            result = rate(counts, anchor=ANCHOR, ci=ci, rounds=COVERAGE_ROUNDS, rng=rng)
            hits[ci].append(_covered(result))
    for ci, covered in hits.items():
        coverage = float(np.mean(covered))
        assert COVERAGE_BAND[0] <= coverage <= COVERAGE_BAND[1], (ci, coverage)


def test_level_changes_the_width() -> None:
    counts = simulate_counts(np.random.default_rng(6))
    wide = rate(counts, anchor=ANCHOR, level=0.99)
    narrow = rate(counts, anchor=ANCHOR, level=0.5)
    assert ((wide.ci_upper - wide.ci_lower) > (narrow.ci_upper - narrow.ci_lower)).all()
    np.testing.assert_allclose(wide.rating, narrow.rating)


def test_anchor_interval_is_its_uncertainty_against_the_field() -> None:
    counts = simulate_counts(np.random.default_rng(7))
    result = rate(counts, anchor=ANCHOR)
    assert result.rating[ANCHOR] == 1000.0
    width = result.ci_upper[ANCHOR] - result.ci_lower[ANCHOR]
    assert width > 10.0
    # Intervals do not depend on which model is the anchor, apart from the shift.
    other = rate(counts, anchor=0)
    shift = other.rating - result.rating
    np.testing.assert_allclose(shift, shift[0])
    np.testing.assert_allclose(other.ci_lower - result.ci_lower, shift)
