"""Bradley-Terry fit: golden cases, derivatives, and agreement with a plain scipy fit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import check_grad, minimize
from scipy.special import expit, log_expit

from ratings import ELO_SCALE, Outcome, aggregate, leaderboard
from ratings.bt import fit, fit_batch, gradient, hessian, loss, regularised_score
from ratings.outcomes import SCORE_A
from ratings.rate import fit_counts

GOLDEN = Path(__file__).parent / "golden"

#: The Wikipedia strengths are printed to 3 decimals.
WIKIPEDIA_TOL = 6e-4
#: Closed-form answers, in rating points.
CLOSED_FORM_TOL = 1e-6
#: check_grad error relative to the gradient norm.
GRAD_REL_TOL = 1e-6
#: Finite-difference Hessian, relative to its largest entry.
HESS_REL_TOL = 1e-6
#: Agreement with scipy L-BFGS-B on unique rows, in rating points.
LBFGS_TOL = 0.01
#: Effect of the default prior on the Wikipedia strengths (tiny data: only 22 games).
PRIOR_EFFECT_TOL = 0.05


def _load(name: str) -> dict:
    return json.loads((GOLDEN / name).read_text(encoding="utf-8"))


def _wikipedia_counts() -> tuple[list[str], tuple[list[int], list[int], list[int], list[int]]]:
    data = _load("ratings_wikipedia.json")
    names = sorted(data["strengths"])
    a, b, o, c = [], [], [], []
    for first, second, first_wins, second_wins in data["results"]:
        i, j = names.index(first), names.index(second)
        a += [i, i]
        b += [j, j]
        o += [Outcome.A_WINS, Outcome.B_WINS]
        c += [first_wins, second_wins]
    return names, (a, b, o, c)


def _strengths(theta: np.ndarray) -> np.ndarray:
    """Strengths normalised to geometric mean 1 (scale-free, as on Wikipedia)."""
    return np.exp(theta - theta.mean())


def test_wikipedia_worked_example() -> None:
    data = _load("ratings_wikipedia.json")
    names, (a, b, o, c) = _wikipedia_counts()
    result = fit_counts(a, b, o, c, n_models=4, anchor=0, prior=0)
    strengths = _strengths(result.rating / ELO_SCALE)
    expected = np.array([data["strengths"][name] for name in names])
    np.testing.assert_allclose(strengths, expected, atol=WIKIPEDIA_TOL)


def test_default_prior_barely_moves_the_wikipedia_example() -> None:
    _, (a, b, o, c) = _wikipedia_counts()
    plain = fit_counts(a, b, o, c, n_models=4, anchor=0, prior=0)
    default = fit_counts(a, b, o, c, n_models=4, anchor=0)
    shift = np.abs(_strengths(plain.rating / ELO_SCALE) - _strengths(default.rating / ELO_SCALE))
    assert shift.max() < PRIOR_EFFECT_TOL


@pytest.mark.parametrize(
    "case", _load("ratings_closed_form.json")["cases"], ids=lambda c: c["name"]
)
def test_closed_form_cases(case: dict) -> None:
    model_a, model_b, winner = [], [], []
    for first, second, outcome, times in case["battles"]:
        model_a += [first] * times
        model_b += [second] * times
        winner += [outcome] * times
    board = leaderboard(model_a, model_b, winner, anchor=case["anchor"], prior=0)
    got = {row.model: row.rating for row in board.rows}
    assert got == pytest.approx(case["expected"], abs=CLOSED_FORM_TOL)


def _random_problem(seed: int, n: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    score = rng.integers(0, 6, size=(n, n)).astype(float) + 0.5 * rng.integers(0, 3, size=(n, n))
    np.fill_diagonal(score, 0.0)
    return rng.normal(size=n), score


@pytest.mark.parametrize("seed", range(3))
def test_gradient_matches_finite_differences(seed: int) -> None:
    theta, score = _random_problem(seed)
    error = check_grad(loss, gradient, theta, score)
    assert error < GRAD_REL_TOL * max(1.0, np.linalg.norm(gradient(theta, score)))


@pytest.mark.parametrize("seed", range(3))
def test_hessian_matches_finite_differences_of_gradient(seed: int) -> None:
    theta, score = _random_problem(seed)
    step = 1e-6
    columns = [
        (gradient(theta + step * e, score) - gradient(theta - step * e, score)) / (2 * step)
        for e in np.eye(theta.size)
    ]
    numeric = np.array(columns).T
    exact = hessian(theta, score)
    assert np.abs(numeric - exact).max() < HESS_REL_TOL * np.abs(exact).max()
    np.testing.assert_allclose(exact.sum(axis=1), 0.0, atol=1e-12)


def _simulated_votes(
    seed: int, votes: int = 3000
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    table = _load("seed_table.json")["models"]
    names = [m["model"] for m in table]
    truth = np.array([m["rating"] for m in table])
    rng = np.random.default_rng(seed)
    n = len(names)
    a = rng.integers(0, n, votes)
    b = (a + rng.integers(1, n, votes)) % n
    p = expit((truth[a] - truth[b]) / ELO_SCALE)
    u = rng.random(votes)
    o = np.where(u < 0.8 * p, Outcome.A_WINS, Outcome.B_WINS)
    o = np.where((u >= 0.8 * p) & (u < 0.8 * p + 0.1), Outcome.TIE, o)
    o = np.where((u >= 0.8 * p + 0.1) & (u < 0.8 * p + 0.2), Outcome.BOTHBAD, o)
    return names, a, b, o


def _lbfgs_on_unique_rows(a: np.ndarray, b: np.ndarray, o: np.ndarray, n: int) -> np.ndarray:
    """The public arena's way: L-BFGS-B on unique (a, b, outcome) rows weighted by counts."""
    rows, counts = np.unique(np.stack([a, b, o], axis=1), axis=0, return_counts=True)
    weight = counts / counts.sum()
    y = SCORE_A[rows[:, 2]]

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        d = theta[rows[:, 0]] - theta[rows[:, 1]]
        value = -np.sum(weight * (y * log_expit(d) + (1 - y) * log_expit(-d)))
        r = weight * (expit(d) - y)
        grad = np.bincount(rows[:, 0], r, n) - np.bincount(rows[:, 1], r, n)
        return value, grad

    options = {"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000}
    return minimize(objective, np.zeros(n), jac=True, method="L-BFGS-B", options=options).x


@pytest.mark.parametrize("seed", range(3))
def test_equals_plain_scipy_lbfgs_on_unique_rows(seed: int) -> None:
    names, a, b, o = _simulated_votes(seed)
    anchor = names.index("Tanuki-8B-dpo-v1.0")
    ours = fit_counts(a, b, o, n_models=len(names), anchor=anchor, prior=0).rating
    theta = _lbfgs_on_unique_rows(a, b, o, len(names))
    reference = ELO_SCALE * (theta - theta[anchor]) + 1000.0
    np.testing.assert_allclose(ours, reference, atol=LBFGS_TOL, rtol=0)


def test_aggregate_matches_a_plain_loop() -> None:
    rng = np.random.default_rng(5)
    n, m = 6, 500
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    o = rng.integers(0, 4, m)
    c = rng.integers(1, 4, m)
    counts = aggregate(a, b, o, n, c)
    wins, ties, bothbad = np.zeros((n, n)), np.zeros((n, n)), np.zeros((n, n))
    for i, j, k, w in zip(a, b, o, c, strict=True):
        if k == Outcome.A_WINS:
            wins[i, j] += w
        elif k == Outcome.B_WINS:
            wins[j, i] += w
        elif k == Outcome.TIE:
            ties[i, j] += w
            ties[j, i] += w
        else:
            bothbad[i, j] += w
            bothbad[j, i] += w
    np.testing.assert_array_equal(counts.wins, wins)
    np.testing.assert_array_equal(counts.ties, ties)
    np.testing.assert_array_equal(counts.bothbad, bothbad)


def test_batched_fit_equals_single_fits() -> None:
    rng = np.random.default_rng(11)
    scores = rng.integers(1, 30, size=(5, 6, 6)).astype(float)
    scores[:, np.arange(6), np.arange(6)] = 0.0
    batch = fit_batch(scores)
    for k in range(5):
        np.testing.assert_allclose(batch[k], fit(scores[k]), atol=1e-9)
        np.testing.assert_allclose(gradient(batch[k], scores[k]), 0.0, atol=1e-8)


def test_warm_started_batch_equals_single_fits() -> None:
    # With a warm start rounds take chord steps through a shared Hessian; a round
    # far from the others (model 0 never wins there) must still reach its own optimum.
    rng = np.random.default_rng(12)
    base = rng.integers(20, 60, size=(6, 6)).astype(float)
    scores = rng.poisson(base, size=(8, 6, 6)).astype(float)
    scores[-1, 0, :] = 0.0
    scores = regularised_score(scores * (1 - np.eye(6)), 0.1)
    start = fit(regularised_score(base * (1 - np.eye(6)), 0.1))
    batch = fit_batch(scores, start)
    for k in range(scores.shape[0]):
        np.testing.assert_allclose(batch[k], fit(scores[k]), atol=1e-8)


def test_fit_converges_far_from_the_start() -> None:
    # A model that never won, kept finite by the prior: Newton must still land.
    score = np.array([[0, 50, 40], [30, 0, 60], [0, 0, 0]], dtype=float)
    theta = fit(regularised_score(score, 0.1))
    assert np.isfinite(theta).all()
    np.testing.assert_allclose(gradient(theta, regularised_score(score, 0.1)), 0.0, atol=1e-8)
    assert theta[2] < theta[:2].min() - 5.0
