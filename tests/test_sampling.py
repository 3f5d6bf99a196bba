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
