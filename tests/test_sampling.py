"""Pair sampling: weights, rare pairs first, no self-battles, outages left out."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from arena.errors import BattleRejected
from arena.sampling import Health, PairCounter, choose_pair, pair_key


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
