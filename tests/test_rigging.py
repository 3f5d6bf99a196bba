"""The rigging statistics: daily cap, steering test, outlier test, Benjamini-Hochberg.

Each exclusion has a case that must trigger it and one that must not. Votes are simulated
from the Bradley-Terry model with ties; nothing touches a database.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.special import expit
from scipy.stats import false_discovery_control, fisher_exact, kstest

from arena.integrity.rigging import (
    benjamini_hochberg,
    daily_cap,
    iterated_outlier_test,
    outlier_test,
    steering_test,
)
from ratings import ELO_SCALE, Outcome, fit_counts
from ratings.outcomes import SCORE_A

#: Thirteen models with the seed table's ratings; model 7 sits just above model 5.
RATINGS = np.array(
    [1178, 1173, 1128, 1099, 1086, 1067, 1002, 1070, 1000, 948, 945, 906, 893], dtype=float
)
TARGET, RIVAL = 5, 7
TIE_RATE = 0.2
#: Honest voters flagged at most in a seeded population.
MAX_HONEST_FLAGS = 1
#: Share of honest p-values below 0.05 (0.05 expected; the test is slightly conservative).
HONEST_SHARE_RANGE = (0.02, 0.09)
#: Kolmogorov-Smirnov p-value below which honest p-values would not look uniform.
KS_LEVEL = 1e-3
#: Standard errors allowed between a Monte Carlo p-value and the exact one.
MC_SIGMAS = 4.0


def _pairs(rng: np.random.Generator, n: int, n_models: int = RATINGS.size) -> tuple:
    a = rng.integers(0, n_models, n)
    return a, (a + rng.integers(1, n_models, n)) % n_models


def _honest_outcomes(
    rng: np.random.Generator, a: np.ndarray, b: np.ndarray, tie_rate: float = TIE_RATE
) -> np.ndarray:
    p = expit((RATINGS[a] - RATINGS[b]) / ELO_SCALE)
    win = (1 - tie_rate) * np.clip((p - tie_rate / 2) / (1 - tie_rate), 0, 1)
    u = rng.random(a.size)
    tie = np.where(rng.random(a.size) < 0.5, Outcome.TIE, Outcome.BOTHBAD)
    return np.where(u < win, Outcome.A_WINS, np.where(u < win + tie_rate, tie, Outcome.B_WINS))


def _honest_votes(rng: np.random.Generator, per_voter: np.ndarray) -> tuple:
    voter = np.repeat(np.arange(per_voter.size), per_voter)
    a, b = _pairs(rng, voter.size)
    return voter, a, b, _honest_outcomes(rng, a, b)


def _with_model(rng: np.random.Generator, model: int, n: int) -> tuple:
    """``n`` battles of ``model`` against random others, on a random side."""
    other = (model + rng.integers(1, RATINGS.size, n)) % RATINGS.size
    on_a = rng.random(n) < 0.5
    return np.where(on_a, model, other), np.where(on_a, other, model)


def _join(*parts: tuple) -> tuple:
    return tuple(np.concatenate(column) for column in zip(*parts, strict=True))


def _fit(a: np.ndarray, b: np.ndarray, outcome: np.ndarray) -> tuple[np.ndarray, float]:
    rated = fit_counts(a, b, outcome, n_models=RATINGS.size, anchor=0)
    ratings = np.full(RATINGS.size, np.nan)
    ratings[rated.models] = rated.rating
    ties = np.isin(outcome, (Outcome.TIE, Outcome.BOTHBAD)).mean()
    return ratings, float(ties)


# --- Benjamini-Hochberg -------------------------------------------------------------------


def test_benjamini_hochberg_hand_checked_example() -> None:
    # m = 5, q = 0.05: thresholds 0.01, 0.02, 0.03, 0.04, 0.05 against the sorted
    # p-values 0.001, 0.025, 0.03, 0.04, 0.5. The largest k with p_(k) <= k q / m is
    # 4, so 0.025 is rejected although it misses its own threshold (step-up).
    p = np.array([0.04, 0.001, 0.5, 0.03, 0.025])
    assert benjamini_hochberg(p, 0.05).tolist() == [True, True, False, True, True]
    # At q = 0.02 only 0.001 stays below k q / m (0.004, 0.008, 0.012, ...).
    assert benjamini_hochberg(p, 0.02).tolist() == [False, True, False, False, False]
    assert benjamini_hochberg(np.zeros(0), 0.05).size == 0


def test_benjamini_hochberg_agrees_with_scipy() -> None:
    p = np.random.default_rng(3).beta(0.3, 1.0, 400)
    for q in (0.01, 0.05, 0.2):
        assert np.array_equal(benjamini_hochberg(p, q), false_discovery_control(p) <= q)


def test_benjamini_hochberg_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="p-values"):
        benjamini_hochberg(np.array([0.1, 1.5]), 0.05)
    with pytest.raises(ValueError, match="fdr"):
        benjamini_hochberg(np.array([0.1]), 0.0)


# --- daily cap ----------------------------------------------------------------------------


def test_daily_cap_leaves_out_the_votes_beyond_the_cap_in_order() -> None:
    rng = np.random.default_rng(0)
    keys = np.r_[np.full(120, 7), np.arange(30)]
    days = np.full(150, 19_000)
    order = rng.permutation(150).astype(float)
    capped = daily_cap(keys, days, order, 100)
    heavy = np.flatnonzero(keys == 7)
    last_20 = heavy[np.argsort(order[heavy])[100:]]
    assert np.array_equal(np.flatnonzero(capped), np.sort(last_20))


def test_daily_cap_counts_each_day_apart() -> None:
    keys = np.full(120, 7)
    days = np.repeat([19_000, 19_001], 60)
    assert not daily_cap(keys, days, np.arange(120.0), 100).any()


def test_daily_cap_never_caps_unknown_keys_and_can_be_disabled() -> None:
    keys, days, order = np.full(500, -1), np.zeros(500, dtype=int), np.arange(500.0)
    assert not daily_cap(keys, days, order, 100).any()
    assert not daily_cap(np.full(500, 3), days, order, 0).any()


def test_daily_cap_keeps_input_order_on_equal_times() -> None:
    capped = daily_cap(np.full(5, 1), np.zeros(5, dtype=int), np.zeros(5), 3)
    assert capped.tolist() == [False, False, False, True, True]


def test_daily_cap_agrees_with_a_plain_loop() -> None:
    rng = np.random.default_rng(1)
    keys, days = rng.integers(-1, 6, 3_000), rng.integers(0, 4, 3_000)
    order = rng.integers(0, 500, 3_000).astype(float)  # with equal times
    seen: dict[tuple[int, int], int] = {}
    expected = np.zeros(keys.size, dtype=bool)
    for i in np.lexsort((np.arange(keys.size), order)):
        if keys[i] >= 0:
            seen[keys[i], days[i]] = seen.get((keys[i], days[i]), 0) + 1
            expected[i] = seen[keys[i], days[i]] > 40
    assert expected.any()
    assert np.array_equal(daily_cap(keys, days, order, 40), expected)


# --- steering -----------------------------------------------------------------------------


def _honest_battles(rng: np.random.Generator, n_voters: int) -> tuple:
    per_voter = rng.integers(10, 61, n_voters)
    abandon = rng.uniform(0.0, 0.5, n_voters)
    voter = np.repeat(np.arange(n_voters), per_voter)
    a, b = _pairs(rng, voter.size)
    voted = rng.random(voter.size) >= np.repeat(abandon, per_voter)
    return voter, a, b, voted


def test_steering_voter_is_flagged_and_honest_ones_are_not() -> None:
    rng = np.random.default_rng(11)
    honest = _honest_battles(rng, 300)
    a, b = _pairs(rng, 40)
    steerer = (np.full(40, 1000), a, b, (a == TARGET) | (b == TARGET))
    a, b = _pairs(rng, 40)
    random_abandoner = (np.full(40, 1001), a, b, rng.random(40) >= 0.3)
    result = steering_test(*_join(honest, steerer, random_abandoner))

    assert result.voter.tolist() == [1000]
    assert result.model.tolist() == [TARGET]
    present = int(steerer[3].sum())
    assert result.counts[0].tolist() == [[present, 0], [0, 40 - present]]
    assert 1001 in result.tested_voter
    # The evidence is a one-sided Fisher exact test, Bonferroni over the models tested.
    _, fisher_p = fisher_exact(result.counts[0], alternative="greater")
    appearances = np.bincount(np.r_[steerer[1], steerer[2]], minlength=RATINGS.size)
    tested = np.count_nonzero(appearances >= 3)
    assert result.p_value[0] == pytest.approx(min(1.0, tested * fisher_p), rel=1e-9)


def test_steering_honest_population_flags_at_most_one() -> None:
    rng = np.random.default_rng(12)
    result = steering_test(*_honest_battles(rng, 500))
    assert result.tested_voter.size > 400
    assert result.voter.size <= MAX_HONEST_FLAGS


def test_steering_needs_enough_battles_and_an_abandoned_one() -> None:
    a, b = _pairs(np.random.default_rng(13), 60)
    voter = np.repeat([1, 2], [9, 51])
    voted = (a == TARGET) | (b == TARGET)
    voted[9:] = True  # voter 2 never abandoned
    result = steering_test(voter, a, b, voted)
    assert result.tested_voter.size == 0
    assert result.voter.size == 0


# --- outlier ------------------------------------------------------------------------------


def _honest_population(rng: np.random.Generator) -> tuple:
    return _honest_votes(rng, rng.integers(3, 25, 150))


def test_outlier_honest_voters_flag_at_most_one() -> None:
    rng = np.random.default_rng(21)
    votes = _honest_population(rng)
    assert 1_800 <= votes[0].size <= 2_200
    result = outlier_test(*votes, *_fit(*votes[1:]), rng=rng)
    assert result.tested_voter.size > 50
    assert result.voter.size <= MAX_HONEST_FLAGS


@pytest.mark.parametrize(("model", "favour"), [(TARGET, True), (RIVAL, False)])
def test_outlier_rigger_is_flagged_with_the_model(model: int, favour: bool) -> None:
    rng = np.random.default_rng(22)
    honest = _honest_population(rng)
    a, b = _with_model(rng, model, 22)
    model_wins = favour == (a == model)
    rigger = (np.full(22, 999), a, b, np.where(model_wins, Outcome.A_WINS, Outcome.B_WINS))
    votes = _join(honest, rigger)
    result = outlier_test(*votes, *_fit(*votes[1:]), rng=rng)

    assert 999 in result.voter
    assert result.voter.size <= 1 + MAX_HONEST_FLAGS
    i = result.voter.tolist().index(999)
    assert result.model[i] == model
    assert result.n_votes[i] == 22
    assert (result.z[i] > 0) == favour
    assert result.observed[i] == (22.0 if favour else 0.0)
    assert 5 < result.expected[i] < 17


def test_outlier_honest_p_values_look_uniform() -> None:
    rng = np.random.default_rng(23)
    votes = _honest_votes(rng, np.full(600, 30))
    result = outlier_test(*votes, RATINGS, TIE_RATE, rng=rng, screen=1.0)
    assert result.tested_voter.size > 500
    assert kstest(result.tested_p, "uniform").pvalue > KS_LEVEL
    share = np.mean(result.tested_p < 0.05)
    assert HONEST_SHARE_RANGE[0] <= share <= HONEST_SHARE_RANGE[1]

    screened = outlier_test(*votes, RATINGS, TIE_RATE, rng=rng)
    assert (screened.tested_draws == 0).mean() > 0.9
    share = np.mean(screened.tested_p < 0.05)
    assert HONEST_SHARE_RANGE[0] <= share <= HONEST_SHARE_RANGE[1]


def _exact_p(a: np.ndarray, b: np.ndarray, outcome: np.ndarray, min_votes: int) -> float:
    """P(T >= T_obs) by enumerating every outcome (ties as one half-point outcome)."""
    p = expit((RATINGS[a] - RATINGS[b]) / ELO_SCALE)
    win = (1 - TIE_RATE) * np.clip((p - TIE_RATE / 2) / (1 - TIE_RATE), 0, 1)
    mu = win + TIE_RATE / 2
    var = win + TIE_RATE / 4 - mu**2
    models = [m for m in range(RATINGS.size) if ((a == m) | (b == m)).sum() >= min_votes]
    sign = np.array([(a == m).astype(float) - (b == m) for m in models])
    sd = np.sqrt(np.abs(sign) @ var)

    def stat(y: np.ndarray) -> float:
        return float(np.max((sign @ (y - mu) / sd) ** 2))

    observed = stat(SCORE_A[outcome])
    chance = np.stack([win, np.full(a.size, TIE_RATE), 1 - win - TIE_RATE], 1)
    total = 0.0
    for pick in itertools.product(range(3), repeat=a.size):
        y = np.array([1.0, 0.5, 0.0])[list(pick)]
        if stat(y) >= observed * (1 - 1e-9):
            total += float(np.prod(chance[np.arange(a.size), pick]))
    return total


def test_outlier_p_value_is_exact_for_one_model() -> None:
    a = np.array([3, 3, 9, 3, 11, 3, 3])
    b = np.array([0, 1, 3, 2, 3, 6, 8])
    outcome = np.array([0, 0, 1, 2, 1, 3, 1])
    rng = np.random.default_rng(0)
    result = outlier_test(np.zeros(7, dtype=int), a, b, outcome, RATINGS, TIE_RATE, rng=rng)
    assert result.tested_draws.tolist() == [0]
    assert result.tested_p[0] == pytest.approx(_exact_p(a, b, outcome, 5), rel=1e-9)


@pytest.mark.parametrize(
    "outcome",
    [[1, 1, 1, 1, 0, 0, 2, 0, 1], [1, 1, 1, 1, 0, 0, 1, 0, 1]],
    ids=["p-0.06", "p-0.008"],
)
def test_outlier_monte_carlo_matches_enumeration(outcome: list[int]) -> None:
    # Models 0 and 1 have at least 5 votes each, so the p-value is simulated.
    rng = np.random.default_rng(24)
    a = np.array([0, 0, 1, 0, 1, 2, 0, 1, 3])
    b = np.array([1, 2, 2, 1, 0, 1, 4, 5, 1])
    outcome = np.array(outcome)
    exact = _exact_p(a, b, outcome, 5)
    hits = 400
    voter = np.zeros(9, dtype=int)
    result = outlier_test(
        voter, a, b, outcome, RATINGS, TIE_RATE, rng=rng, screen=1.0, exceedances=hits
    )
    assert result.tested_draws[0] > 0
    assert abs(result.tested_p[0] - exact) < MC_SIGMAS * exact / np.sqrt(hits)


def test_iterated_outlier_test_refits_without_the_flagged() -> None:
    rng = np.random.default_rng(25)
    honest = _honest_population(rng)
    a, b = _with_model(rng, TARGET, 25)
    rigger = (np.full(25, 999), a, b, np.where(a == TARGET, Outcome.A_WINS, Outcome.B_WINS))
    votes = _join(honest, rigger)
    kept: list[int] = []

    def fit(keep: np.ndarray) -> tuple[np.ndarray, float]:
        kept.append(int(keep.sum()))
        return _fit(votes[1][keep], votes[2][keep], votes[3][keep])

    result = iterated_outlier_test(*votes, fit, rng=rng)
    assert 999 in result.voter
    assert result.rounds == len(kept) >= 2
    assert kept[0] == votes[0].size
    assert kept[1] <= votes[0].size - 25


def test_outlier_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="tie_rate"):
        outlier_test([0], [0], [1], [0], RATINGS, 1.0, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="outcome"):
        outlier_test([0], [0], [1], [7], RATINGS, 0.1, rng=np.random.default_rng(0))
