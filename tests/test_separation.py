"""Votes until neighbours separate (ratings.separation) and the stored run's view of it
(arena.separation): known cases, the projection checked against the Fisher intervals it
projects to, and the board the active sampler reloads when a new run appears."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sqlalchemy.engine import Engine

from arena.db import session_factory, stats
from arena.db.models import Winner
from arena.recompute import recompute
from arena.separation import load_board, neighbours, refresh_board
from ratings.bt import ELO_SCALE, hessian
from ratings.separation import (
    field_variances,
    fisher_information,
    neighbour_weight,
    pair_values,
    projected_variances,
    votes_until_separated,
)
from tests.test_recompute import add_battles, add_models

Z95 = 1.959963984540054
#: Votes are interpolated between the points of a geometric grid: about 7% apart.
GRID_TOL = 0.08


def fisher_half(rating: np.ndarray, games: np.ndarray) -> np.ndarray:
    return Z95 * ELO_SCALE * np.sqrt(field_variances(fisher_information(rating / ELO_SCALE, games)))


def complete(n: int, per_pair: float) -> np.ndarray:
    return per_pair * (np.ones((n, n)) - np.eye(n))


def test_fisher_information_is_the_hessian_of_the_fit() -> None:
    rng = np.random.default_rng(0)
    theta = rng.normal(size=5)
    score = rng.integers(0, 20, size=(5, 5)).astype(float)
    np.fill_diagonal(score, 0)
    assert np.allclose(fisher_information(theta, score + score.T), hessian(theta, score))


def test_projected_variances_are_each_steps_own_pseudo_inverse() -> None:
    rng = np.random.default_rng(1)
    theta = rng.normal(size=8)
    games = rng.integers(0, 30, size=(8, 8)).astype(float)
    games = games + games.T
    np.fill_diagonal(games, 0)
    share = rng.random((8, 8))
    share = share + share.T
    np.fill_diagonal(share, 0)
    now, vote = fisher_information(theta, games), fisher_information(theta, share)
    steps = np.array([0.0, 1.0, 10.0, 1000.0, 1e6])
    each = field_variances(now + steps[:, None, None] * vote)
    assert np.allclose(projected_variances(now, vote, steps), each, rtol=1e-9)
    never = np.zeros((8, 8))  # no votes yet: nothing pinned today, pinned after one vote
    first = projected_variances(fisher_information(theta, never), vote, steps)
    assert np.isinf(first[0]).all() and np.isfinite(first[1:]).all()


def test_far_apart_and_already_separated_needs_no_votes() -> None:
    rating = np.array([1200.0, 800.0])
    found = votes_until_separated(rating, np.array([20.0, 20.0]), complete(2, 1000))
    assert found.upper.tolist() == [0] and found.lower.tolist() == [1]
    assert found.gap.tolist() == [400.0] and found.votes.tolist() == [0.0]


def test_identical_ratings_never_separate() -> None:
    rating = np.array([1000.0, 1000.0, 900.0])
    found = votes_until_separated(rating, np.full(3, 30.0), complete(3, 100))
    assert math.isinf(found.votes[0]) and found.gap[0] == 0.0
    assert math.isfinite(found.votes[1])


def test_a_model_the_sampling_never_plays_never_separates() -> None:
    rating = np.array([1100.0, 1050.0, 1000.0])
    games = complete(3, 50)
    share = np.zeros((3, 3))
    share[1, 2] = share[2, 1] = 1.0  # model 0 never plays again
    half = fisher_half(rating, games)
    found = votes_until_separated(rating, half, games, share=share)
    assert math.isinf(found.votes[0]) and math.isfinite(found.votes[1])


def test_the_projection_lands_where_the_fisher_intervals_separate() -> None:
    rating = np.array([1150.0, 1120.0, 1060.0, 1000.0])
    games = complete(4, 40)
    half = fisher_half(rating, games)  # calibration 1: the projection is Fisher's own
    found = votes_until_separated(rating, half, games)
    share = games / np.triu(games, 1).sum()
    for u, lo, gap, votes in zip(found.upper, found.lower, found.gap, found.votes, strict=True):
        assert votes > 0
        after = fisher_half(rating, games + votes * share)
        assert after[u] + after[lo] == pytest.approx(gap, rel=GRID_TOL)
        before = fisher_half(rating, games + votes * (1 - GRID_TOL) * share)
        assert before[u] + before[lo] > gap


def test_the_board_calibration_scales_the_votes() -> None:
    # Intervals twice as narrow as Fisher's (many ties, say): separation comes far sooner.
    rating = np.array([1020.0, 1000.0])
    games = complete(2, 100)
    fisher = fisher_half(rating, games)
    plain = votes_until_separated(rating, fisher, games).votes[0]
    narrow = votes_until_separated(rating, fisher / 2, games).votes[0]
    assert 0 < narrow < plain / 3


@pytest.mark.parametrize("extra", [0.0, 0.5, 1.0, 2.0, 4.0])
def test_more_votes_with_a_pairs_models_in_them_separate_it_sooner(extra: float) -> None:
    # Each interval is relative to the field mean: what shrinks it is votes with the
    # model in them, against anyone. (More votes of the pair against each other alone
    # need not help: its two intervals stay as wide relative to the field.)
    rating = np.array([1100.0, 1090.0, 1000.0, 990.0, 900.0, 850.0])
    games = complete(6, 30)
    half = fisher_half(rating, games)

    def votes(w: float) -> float:
        share = complete(6, 1.0)
        share[:2, :] += w
        share[:, :2] += w
        np.fill_diagonal(share, 0.0)
        return votes_until_separated(rating, half, games, share=share).votes[0]

    assert votes(extra + 0.5) < votes(extra)


def test_votes_already_cast_count_toward_separation() -> None:
    rating = np.array([1100.0, 1070.0, 1000.0])
    games = complete(3, 100)
    share = games / np.triu(games, 1).sum()
    start = votes_until_separated(rating, fisher_half(rating, games), games).votes[0]
    later = games + 1000 * share
    after = votes_until_separated(rating, fisher_half(rating, later), later).votes[0]
    assert after == pytest.approx(start - 1000, rel=GRID_TOL)


def test_neighbour_weight_favours_pairs_within_reach() -> None:
    r = np.array([0.1, 0.3, 0.6, 0.8, 1.0, 1.5, 3.0])
    w = neighbour_weight(r)
    assert w[0] < 1e-3 * w[2] and w[1] < w[2]  # pairs far out of reach wait
    assert w[2] > w[3] > w[4]  # within reach, the furthest from separating first
    assert w[5] < w[4] and w[6] < 1e-3 * w[4]  # separated pairs fade out


def test_pair_values_are_symmetric_and_zero_when_disconnected() -> None:
    rating = np.array([1100.0, 1070.0, 1000.0])
    games = complete(3, 50)
    values = pair_values(rating, fisher_half(rating, games), games)
    assert np.allclose(values, values.T) and np.all(np.diag(values) == 0)
    assert np.all(values >= 0) and values.max() > 0
    apart = np.zeros((3, 3))
    apart[0, 1] = apart[1, 0] = 10
    assert not pair_values(rating, np.full(3, 40.0), apart).any()


# -- the stored run --------------------------------------------------------------------

NAMES = ["Tanuki-8B-dpo-v1.0", "Strong", "Middle", "Weak"]


def add_run(engine: Engine, scale: int) -> None:
    """Votes in a fixed pattern (Strong > Middle > Tanuki > Weak), then a rating run."""
    pattern = {
        (1, 2, Winner.MODEL_A): 6, (2, 1, Winner.MODEL_A): 4, (1, 2, Winner.TIE): 2,
        (2, 0, Winner.MODEL_A): 7, (0, 2, Winner.MODEL_A): 3, (0, 3, Winner.MODEL_A): 9,
        (3, 0, Winner.MODEL_A): 1, (1, 3, Winner.MODEL_A): 10, (1, 0, Winner.MODEL_A): 9,
        (0, 1, Winner.MODEL_A): 1, (2, 3, Winner.MODEL_A): 8, (3, 2, Winner.MODEL_A): 2,
    }  # fmt: skip
    for (a, b, winner), n in pattern.items():
        add_battles(engine, NAMES[a], NAMES[b], winner, n * scale)
    recompute(engine, anchor=NAMES[0], min_votes=1)


def test_neighbours_of_a_stored_run_and_the_board_reloaded_on_a_new_run(engine) -> None:
    add_models(engine, NAMES)
    add_run(engine, 1)
    sessions = session_factory(engine)
    with sessions() as s:
        run = stats.latest_run(s)
        rows = stats.board(s, run.id)
        pairs = neighbours(s, run, rows)
        board = load_board(s)
    assert [(p.upper, p.lower) for p in pairs] == [
        (rows[k].model, rows[k + 1].model) for k in range(len(rows) - 1)
    ]
    assert [p.upper for p in pairs] == ["Strong", "Middle", "Tanuki-8B-dpo-v1.0"]
    for k, p in enumerate(pairs):
        assert p.gap == pytest.approx(rows[k].rating - rows[k + 1].rating, abs=0.05)
        if rows[k].ci_lower > rows[k + 1].ci_upper:
            assert p.votes == 0
        else:
            assert p.votes is None or p.votes > 0
    assert pairs[0].votes > 0  # Strong over Middle, 7 of 12, is far from settled
    before = pairs[0].votes
    assert board is not None and board.run_id == run.id
    assert set(board.models) == set(NAMES) and board.fitted.sum() == 2 * 62
    with sessions() as s:
        assert refresh_board(s, board) is board
    add_run(engine, 30)
    with sessions() as s:
        newer = refresh_board(s, board)
        pairs = neighbours(s, stats.latest_run(s), stats.board(s, newer.run_id))
    assert newer.run_id != board.run_id and newer.fitted.sum() == 2 * 62 * 31
    assert pairs[0].votes < before  # thirty times the votes: Strong and Middle are nearer
