"""Pair sampling: weights, rare pairs first, no self-battles, outages left out."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter

import numpy as np
import pytest

from arena.errors import BattleRejected
from arena.sampling import Board, Health, PairCounter, choose_active, choose_pair, pair_key
from tests.test_recompute import add_models


def test_never_a_self_battle_and_both_orders_occur() -> None:
    rng = random.Random(1)
    seen = Counter(choose_pair({"a": 1, "b": 1, "c": 1}, {}, rng) for _ in range(3000))
    assert all(a != b for a, b in seen)
    assert seen[("a", "b")] > 300 and seen[("b", "a")] > 300


def test_weights_shape_the_draw() -> None:
    rng = random.Random(2)
    draws = Counter()
    for _ in range(6000):
        draws.update(choose_pair({"heavy": 4, "x": 1, "y": 1}, {}, rng))
    # pair weights: heavy-x 4, heavy-y 4, x-y 1 -> heavy plays in 8/9 of battles
    assert draws["heavy"] / 6000 == pytest.approx(8 / 9, abs=0.03)


def test_under_sampled_pairs_are_preferred() -> None:
    rng = random.Random(3)
    counts = {pair_key("a", "b"): 99, pair_key("a", "c"): 0, pair_key("b", "c"): 0}
    seen = Counter(
        pair_key(*choose_pair({"a": 1, "b": 1, "c": 1}, counts, rng)) for _ in range(3000)
    )
    assert seen[("a", "b")] < 0.02 * 3000
    assert seen[("a", "c")] > 1300 and seen[("b", "c")] > 1300


def test_excluded_and_zero_weight_models_never_play() -> None:
    rng = random.Random(4)
    weights = {"a": 1, "b": 1, "c": 0, "d": 1}
    seen = {m for _ in range(500) for m in choose_pair(weights, {}, rng, exclude={"d"})}
    assert seen == {"a", "b"}


@pytest.mark.parametrize("weights", [{}, {"a": 1}, {"a": 0, "b": 0}, {"a": 1, "b": 0}])
def test_empty_draw_is_a_clear_error_not_nan(weights) -> None:
    with pytest.raises(BattleRejected) as info:
        choose_pair(weights, {}, random.Random(0))
    assert info.value.code == "no_models"


def test_health_cools_down_after_repeated_failures() -> None:
    now = [0.0]
    health = Health(threshold=3, cooldown=60, clock=lambda: now[0])
    for _ in range(2):
        health.record("m", ok=False)
    assert health.unhealthy() == set()
    health.record("m", ok=False)
    assert health.unhealthy() == {"m"}
    now[0] = 61
    assert health.unhealthy() == set()
    health.record("m", ok=True)
    health.record("m", ok=False)
    assert health.unhealthy() == set()


def test_pair_counter_is_unordered() -> None:
    counter = PairCounter()
    counter.add("b", "a")
    counter.add("a", "b")
    assert counter.snapshot() == {("a", "b"): 2}


def _fail(health: Health, model: str, times: int) -> None:
    for _ in range(times):
        health.record(model, ok=False)


def test_back_off_doubles_while_the_probe_keeps_failing_up_to_the_cap() -> None:
    now = [0.0]
    health = Health(threshold=3, cooldown=10, max_cooldown=40, clock=lambda: now[0])
    _fail(health, "m", 3)
    for backoff in (10, 20, 40, 40):
        assert health.unhealthy() == {"m"}
        assert health.status(["m"])["m"]["retry_in"] == backoff
        now[0] += backoff
        assert health.unhealthy() == set()
        _fail(health, "m", 1)  # the probe fails
    assert health.status(["m"])["m"] == {"healthy": False, "failures": 7, "retry_in": 40}


def test_failures_of_battles_already_running_do_not_double_the_back_off() -> None:
    now = [0.0]
    health = Health(threshold=2, cooldown=10, clock=lambda: now[0])
    _fail(health, "m", 5)
    assert health.status(["m"])["m"]["retry_in"] == 10


def test_half_open_lets_exactly_one_battle_probe_and_success_resets() -> None:
    now = [0.0]
    health = Health(threshold=1, cooldown=10, clock=lambda: now[0])
    rng = random.Random(5)
    weights = {"a": 1, "b": 1, "c": 1}
    health.record("a", ok=False)
    for _ in range(50):
        assert "a" not in health.draw(lambda out: choose_pair(weights, {}, rng, out))
    now[0] = 10
    while "a" not in health.draw(lambda out: choose_pair(weights, {}, rng, out)):
        pass
    assert health.unhealthy() == {"a"}  # the probe is in flight: no second battle
    for _ in range(50):
        assert "a" not in health.draw(lambda out: choose_pair(weights, {}, rng, out))
    health.record("a", ok=True)
    assert health.unhealthy() == set()
    assert health.status(["a"])["a"] == {"healthy": True, "failures": 0, "retry_in": 0.0}


def test_a_draw_outside_the_lock_never_gives_a_half_open_model_two_probes() -> None:
    """``choose`` runs without the lock: a draw whose model went out meanwhile (here
    another draw, made while the first one chose, took the probe) is drawn again."""
    now = [0.0]
    health = Health(threshold=1, cooldown=10, clock=lambda: now[0])
    health.record("a", ok=False)
    now[0] = 10  # "a" is half-open: one battle may probe it
    calls: list[set[str]] = []

    def choose(out: set[str]) -> tuple[str, str]:
        calls.append(set(out))
        if len(calls) == 1:
            assert health.draw(lambda _: ("a", "c")) == ("a", "c")  # the other draw
            return ("a", "b")  # chosen from the state before it
        return ("b", "c") if "a" in out else ("a", "b")

    assert health.draw(choose) == ("b", "c")
    assert calls == [set(), {"a"}]
    assert health.unhealthy() == {"a"}  # one probe in flight, the other draw's


def test_a_model_failing_while_a_pair_is_chosen_is_not_drawn() -> None:
    health = Health(threshold=1, cooldown=10)

    def choose(out: set[str]) -> tuple[str, str]:
        if "b" not in out:
            health.record("b", ok=False)  # "b" fails while this draw chooses
            return ("a", "b")
        return ("a", "c")

    assert health.draw(choose) == ("a", "c")


def test_a_probe_that_never_reports_frees_its_place() -> None:
    now = [0.0]
    health = Health(threshold=1, cooldown=10, probe_timeout=100, clock=lambda: now[0])
    health.record("a", ok=False)
    now[0] = 10
    health.draw(lambda out: ("a", "b"))
    assert health.unhealthy() == {"a"}
    now[0] = 111
    assert health.unhealthy() == set()


def test_one_failing_model_of_three_leaves_the_other_two_playing() -> None:
    health = Health(threshold=3)
    _fail(health, "c", 3)
    rng = random.Random(6)
    weights = {"a": 1, "b": 1, "c": 1}
    seen = {pair_key(*health.draw(lambda out: choose_pair(weights, {}, rng, out)))
            for _ in range(200)}  # fmt: skip
    assert seen == {("a", "b")}


def test_two_model_arena_with_one_failing_refuses_with_no_models() -> None:
    health = Health(threshold=3)
    _fail(health, "b", 3)
    with pytest.raises(BattleRejected) as info:
        health.draw(lambda out: choose_pair({"a": 1, "b": 1}, {}, random.Random(0), out))
    assert info.value.code == "no_models"


# -- active sampling ---------------------------------------------------------------------


def deciding_board() -> Board:
    """Four models: Top far ahead, Bottom far behind, Upper and Lower 30 points apart with
    intervals that overlap a little (r = 0.6): only their order is still to decide."""
    models = ("Top", "Upper", "Lower", "Bottom")
    rating = np.array([1400.0, 1030.0, 1000.0, 600.0])
    half = np.array([20.0, 25.0, 25.0, 20.0])
    fitted = 200.0 * (np.ones((4, 4)) - np.eye(4))
    return Board(1, models, rating, half, fitted)


def fitted_counts(board: Board) -> dict[tuple[str, str], int]:
    m = board.models
    return {pair_key(m[i], m[j]): int(board.fitted[i, j]) for i in range(4) for j in range(i)}


def test_active_sampling_prefers_the_pair_that_decides_ranks() -> None:
    board = deciding_board()
    rng = random.Random(5)
    weights = dict.fromkeys(board.models, 1.0)
    counts = fitted_counts(board)
    seen = Counter()
    for _ in range(300):  # each draw counted, as the arena's pair counter does
        pick = choose_active(weights, counts, rng, board=board, epsilon=0.0)
        seen[pair_key(*pick)] += 1
        counts[pair_key(*pick)] += 1
    assert all({"Upper", "Lower"} & set(pair) for pair in seen)
    assert ("Bottom", "Top") not in seen
    # With the weighted rule the same board's models are drawn evenly.
    weighted = Counter(
        pair_key(*choose_pair(weights, fitted_counts(board), rng)) for _ in range(600)
    )
    assert weighted[("Bottom", "Top")] > 60


def test_active_sampling_respects_exclusions_zero_weights_and_never_self_pairs() -> None:
    board = deciding_board()
    rng = random.Random(6)
    weights = {"Top": 1.0, "Upper": 0.0, "Lower": 1.0, "Bottom": 1.0, "New": 1.0}
    counts = fitted_counts(board)
    for epsilon in (0.0, 0.3, 1.0):
        for _ in range(300):
            a, b = choose_active(weights, counts, rng, exclude={"Bottom"}, board=board,
                                 epsilon=epsilon)  # fmt: skip
            assert a != b and not {a, b} & {"Upper", "Bottom"}
    with pytest.raises(BattleRejected):
        choose_active({"Top": 1.0, "Upper": 1.0}, counts, rng, exclude={"Top"}, board=board)


def test_every_pair_stays_reachable_with_epsilon() -> None:
    board = deciding_board()
    rng = random.Random(7)
    weights = dict.fromkeys((*board.models, "New"), 1.0)
    counts = fitted_counts(board)
    seen = Counter()
    for _ in range(4000):
        pair = pair_key(*choose_active(weights, counts, rng, board=board, epsilon=0.3))
        seen[pair] += 1
        counts[pair] = counts.get(pair, 0) + 1
    names = sorted(weights)
    assert all(seen[(a, b)] > 0 for i, a in enumerate(names) for b in names[i + 1 :])
    # The model without a rating yet plays only in the weighted draws, which favour its
    # pairs (never played); the rest of the time the deciding pair's models play.
    assert sum(n for pair, n in seen.items() if "New" in pair) > 0.15 * 4000
    assert sum(n for pair, n in seen.items() if {"Upper", "Lower"} & set(pair)) > 0.7 * 4000


def test_without_a_run_active_sampling_is_the_weighted_rule() -> None:
    weights = {"a": 1.0, "b": 2.0, "c": 1.0}
    counts = {("a", "b"): 5}
    first, second = random.Random(8), random.Random(8)
    assert [choose_active(weights, counts, first, board=None) for _ in range(200)] == [
        choose_pair(weights, counts, second) for _ in range(200)
    ]


async def test_an_active_arena_plays_the_pairs_its_latest_run_has_not_settled(engine, llm) -> None:
    from arena.backends import build_backends, make_client
    from arena.backends.base import Timeouts
    from arena.battles import Arena
    from arena.db import session_factory, stats
    from arena.separation import neighbours
    from tests.test_battles import settings_for
    from tests.test_separation import NAMES, add_run

    settings = settings_for(llm, str(engine.url))
    specs = tuple(dataclasses.replace(settings.models[0], name=n) for n in NAMES)
    add_models(engine, NAMES)
    add_run(engine, 3)
    with session_factory(engine)() as s:
        run = stats.latest_run(s)
        open_pairs = [p for p in neighbours(s, run, stats.board(s, run.id)) if p.votes != 0]
    assert open_pairs  # some order on this board is not settled yet
    undecided = {m for p in open_pairs for m in (p.upper, p.lower)}
    client = make_client(Timeouts(connect=2, first_token=2))
    try:
        draws = {}
        for sampling in ("weighted", "active"):
            arena = Arena(
                dataclasses.replace(settings, models=specs, sampling=sampling),
                session_factory(engine), build_backends(specs, client), rng=random.Random(9),
            )  # fmt: skip
            assert (arena.board is not None) == (sampling == "active")
            if arena.board is not None:
                assert arena.board.run_id == run.id
            draws[sampling] = Counter(pair_key(*arena.draw_pair(set(NAMES))) for _ in range(400))
    finally:
        await client.aclose()
    top, n = draws["active"].most_common(1)[0]
    assert n > 0.6 * 400 and set(top) <= undecided
    assert draws["weighted"].most_common(1)[0][1] < 0.4 * 400


def reach_board() -> Board:
    """Two pairs of neighbours with the same intervals (25 points each side) and battles:
    Near1 and Near2 40 points apart (r = 0.8, close to separating), Far1 and Far2 27.5
    apart (r = 0.55, more than three times the votes so far to go), 400 points between the
    two pairs (settled)."""
    models = ("Near1", "Near2", "Far1", "Far2")
    rating = np.array([1440.0, 1400.0, 1000.0, 972.5])
    half = np.full(4, 25.0)
    fitted = 200.0 * (np.ones((4, 4)) - np.eye(4))
    return Board(1, models, rating, half, fitted)


def test_active_sampling_plays_the_pair_within_reach_before_one_too_close_to_tell() -> None:
    board = reach_board()
    rng = random.Random(10)
    weights = dict.fromkeys(board.models, 1.0)
    counts = fitted_counts(board)
    seen = Counter()
    for _ in range(200):
        pair = pair_key(*choose_active(weights, counts, rng, board=board, epsilon=0.0))
        assert pair[0] != pair[1]
        seen[pair] += 1
        counts[pair] += 1
    near = sum(n for pair, n in seen.items() if {"Near1", "Near2"} & set(pair))
    far_only = seen[("Far1", "Far2")]
    assert near > 0.8 * 200 and far_only < 0.1 * 200


def test_the_default_keeps_a_weighted_share_of_draws() -> None:
    # Far from the board's deciding pair, Top against Bottom (both settled, 770 points
    # apart) is worth nothing to the active rule: it is played only in the weighted
    # draws, about 1/6 of which pick it on a fresh count (6 pairs, equal weights).
    board = deciding_board()
    rng = random.Random(11)
    weights = dict.fromkeys(board.models, 1.0)
    counts = dict.fromkeys(fitted_counts(board), 200)
    draws = 6000
    top_bottom = sum(
        pair_key(*choose_active(weights, counts, rng, board=board)) == ("Bottom", "Top")
        for _ in range(draws)
    )
    assert 0.08 * draws / 6 < top_bottom < 0.25 * draws / 6
