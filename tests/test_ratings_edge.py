"""Edge cases of the fit and the leaderboard table: each has a defined answer."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ratings import (
    JSON_KEYS,
    DisconnectedGraphError,
    InvalidInputError,
    Leaderboard,
    NoMLEError,
    Outcome,
    aggregate,
    leaderboard,
    leaderboard_from_counts,
    rate,
)

#: Closed-form comparisons, in rating points.
EXACT_TOL = 1e-6
#: The default prior's pull on ratings with a few hundred battles each, in rating points.
PRIOR_PULL_TOL = 0.5


def _battles(*rows: tuple[str, str, str, int]) -> tuple[list[str], list[str], list[str]]:
    model_a, model_b, winner = [], [], []
    for first, second, outcome, times in rows:
        model_a += [first] * times
        model_b += [second] * times
        winner += [outcome] * times
    return model_a, model_b, winner


# A, B and C play each other and everyone both wins and loses among them.
CORE = (
    ("A", "B", "model_a", 6),
    ("A", "B", "model_b", 4),
    ("B", "C", "model_a", 5),
    ("B", "C", "model_b", 5),
    ("C", "A", "model_a", 3),
    ("C", "A", "model_b", 7),
)


def _assert_no_nan(board: Leaderboard) -> None:
    for row in board.rows:
        values = [row.rating, row.ci_lower, row.ci_upper, row.win_rate]
        assert not any(math.isnan(v) for v in values), row


@pytest.mark.parametrize("ci", ["sandwich", "bootstrap"])
def test_model_that_never_won_gets_a_finite_rating_and_no_lower_bound(ci: str) -> None:
    rows = (*CORE, ("Z", "A", "model_b", 8), ("B", "Z", "model_a", 8))
    board = leaderboard(*_battles(*rows), anchor="A", ci=ci, rng=np.random.default_rng(0))
    _assert_no_nan(board)
    z = next(row for row in board.rows if row.model == "Z")
    assert board.rows[-1] is z
    assert math.isfinite(z.rating) and z.rating < 1000.0 - 300.0
    assert z.ci_lower == -math.inf and math.isfinite(z.ci_upper)
    assert "never beat" in z.note and not z.in_core
    assert z.to_dict()["ci_lower"] is None
    others = [row for row in board.rows if row.model != "Z"]
    assert all(math.isfinite(row.ci_lower) and math.isfinite(row.ci_upper) for row in others)
    assert "3 models that won and lost" in " ".join(board.notes)
    # The upper end is the exact bound from 16 straight losses: at that rating,
    # losing them all has probability (1 - level) / 2.
    rating = {row.model: row.rating for row in board.rows}
    p_loss = [1 / (1 + 10 ** ((z.ci_upper - rating[m]) / 400)) for m in ["A"] * 8 + ["B"] * 8]
    assert np.prod(p_loss) == pytest.approx(0.025, rel=1e-6)
    assert z.rating < z.ci_upper < min(rating["A"], rating["B"])


def test_model_that_never_lost_has_no_upper_bound_and_ranks_first() -> None:
    rows = (*CORE, ("Z", "A", "model_a", 5), ("C", "Z", "tie", 0), ("C", "Z", "model_b", 5))
    board = leaderboard(*_battles(*rows), anchor="A")
    top = board.rows[0]
    assert top.model == "Z" and top.rank == 1
    assert top.ci_upper == math.inf and math.isfinite(top.ci_lower)
    assert "never lost" in top.note
    rating = {row.model: row.rating for row in board.rows}
    p_win = [1 / (1 + 10 ** ((rating[m] - top.ci_lower) / 400)) for m in ["A"] * 5 + ["C"] * 5]
    assert np.prod(p_win) == pytest.approx(0.025, rel=1e-6)


def test_model_not_placed_by_the_data_has_both_ends_open() -> None:
    # Y only ever lost to Z, and Z never lost: neither is tied to the core from both sides.
    rows = (*CORE, ("Z", "A", "model_a", 5), ("Z", "Y", "model_a", 3))
    board = leaderboard(*_battles(*rows), anchor="A")
    y = next(row for row in board.rows if row.model == "Y")
    assert (y.ci_lower, y.ci_upper) == (-math.inf, math.inf)
    assert "not placed" in y.note and math.isfinite(y.rating)


def test_a_tie_is_enough_to_bound_a_rating() -> None:
    rows = (*CORE, ("Z", "A", "model_b", 8), ("Z", "B", "tie (bothbad)", 1))
    board = leaderboard(*_battles(*rows), anchor="A")
    z = next(row for row in board.rows if row.model == "Z")
    assert math.isfinite(z.ci_lower) and z.in_core and z.note == ""


def test_without_prior_a_perfect_record_is_refused() -> None:
    rows = (*CORE, ("Z", "A", "model_b", 8))
    with pytest.raises(NoMLEError, match="prior"):
        leaderboard(*_battles(*rows), anchor="A", prior=0)


def test_default_prior_pull_is_small() -> None:
    rng = np.random.default_rng(0)
    n, m = 8, 2000
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    o = np.where(rng.random(m) < 0.4 + 0.05 * (a - b), Outcome.A_WINS, Outcome.B_WINS)
    counts = aggregate(a, b, o, n)
    plain = rate(counts, anchor=0, prior=0)
    default = rate(counts, anchor=0)
    assert np.abs(plain.rating - default.rating).max() < PRIOR_PULL_TOL


def test_disconnected_graph_is_refused_with_the_pieces_named() -> None:
    rows = (*CORE, ("X", "Y", "model_a", 3), ("X", "Y", "model_b", 2))
    with pytest.raises(DisconnectedGraphError, match=r"2 separate pieces") as caught:
        leaderboard(*_battles(*rows), anchor="A")
    assert "[A, B, C]" in str(caught.value) and "[X, Y]" in str(caught.value)
    assert [len(piece) for piece in caught.value.components] == [3, 2]


def test_disconnected_graph_can_keep_the_anchors_piece() -> None:
    rows = (*CORE, ("X", "Y", "model_a", 3), ("X", "Y", "model_b", 2))
    board = leaderboard(*_battles(*rows), anchor="X", on_disconnected="largest")
    assert {row.model for row in board.rows} == {"X", "Y"}
    assert board.anchor == "X"
    assert any("left out" in note and "A, B, C" in note for note in board.notes)
    board = leaderboard(*_battles(*rows), anchor=None, on_disconnected="largest")
    assert {row.model for row in board.rows} == {"A", "B", "C"}


def test_anchor_without_votes_falls_back_to_the_field_mean() -> None:
    model_a, model_b, winner = _battles(*CORE)
    names = ["A", "B", "C", "Anchor"]
    index = {name: k for k, name in enumerate(names)}
    codes = {"model_a": 0, "model_b": 1}
    board = leaderboard_from_counts(
        names,
        [index[x] for x in model_a],
        [index[x] for x in model_b],
        [codes[w] for w in winner],
        anchor="Anchor",
    )
    assert board.anchor is None
    assert np.mean([row.rating for row in board.rows]) == pytest.approx(1000.0, abs=EXACT_TOL)
    notes = " ".join(board.notes)
    assert "anchor 'Anchor' has no votes" in notes and "not rated (no battles): Anchor" in notes
    # An anchor name that is not in the data at all is treated the same way.
    board = leaderboard(model_a, model_b, winner, anchor="Missing")
    assert "anchor 'Missing' has no votes" in " ".join(board.notes)


def test_anchor_with_an_unbounded_rating_falls_back_too() -> None:
    rows = (*CORE, ("Z", "A", "model_a", 5))
    board = leaderboard(*_battles(*rows), anchor="Z")
    assert board.anchor is None
    assert "anchor 'Z' never lost" in " ".join(board.notes)


def test_one_model_and_no_votes_give_an_empty_table() -> None:
    board = leaderboard_from_counts(["Solo"], [], [], [], anchor="Solo")
    assert board.rows == ()
    assert "not rated (no battles): Solo" in board.notes
    empty = leaderboard([], [], [], anchor="A")
    assert empty.rows == () and "no battles: nothing to rate" in empty.notes
    assert empty.to_dicts() == []


def test_unknown_winner_is_an_error_naming_the_battle() -> None:
    with pytest.raises(InvalidInputError, match=r"battle 1: unknown winner 'model_c'"):
        leaderboard(["A", "A"], ["B", "B"], ["model_a", "model_c"], anchor="A")


@pytest.mark.parametrize(
    ("a", "b", "o", "message"),
    [
        ([0], [0], [0], "same model"),
        ([0], [5], [0], r"b_idx\[0\] = 5 is outside"),
        ([0], [1], [7], r"outcome\[0\] = 7 is outside"),
        ([0, 1], [1], [0], "differ in length"),
    ],
)
def test_bad_index_rows_are_errors(a: list, b: list, o: list, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        leaderboard_from_counts(["A", "B"], a, b, o, anchor="A")


def test_bad_options_are_errors() -> None:
    args = _battles(*CORE)
    with pytest.raises(InvalidInputError, match="level"):
        leaderboard(*args, anchor="A", level=1.0)
    with pytest.raises(InvalidInputError, match="rng"):
        leaderboard(*args, anchor="A", ci="bootstrap")
    with pytest.raises(InvalidInputError, match="ci must be"):
        leaderboard(*args, anchor="A", ci="jackknife")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="prior"):
        leaderboard(*args, anchor="A", prior=-1)
    with pytest.raises(InvalidInputError, match="count"):
        leaderboard_from_counts(["A", "B"], [0], [1], [0], [-2], anchor="A")


def test_table_counts_ties_apart_and_win_rate_excludes_them() -> None:
    rows = (*CORE, ("A", "B", "tie", 2), ("B", "A", "tie (bothbad)", 1), ("C", "A", "both_bad", 1))
    external = {"A": {"japanese_mt_bench": 6.6, "nejumi_lb3": 0.52}, "C": {"nejumi_lb3": None}}
    board = leaderboard(*_battles(*rows), anchor="A", external=external)
    a = next(row for row in board.rows if row.model == "A")
    assert (a.wins, a.losses, a.ties_plain, a.ties_bothbad, a.ties) == (13, 7, 2, 2, 4)
    assert a.battles == 24 and a.win_rate == pytest.approx(13 / 24)
    assert a.rating == 1000.0 and a.external == external["A"]
    assert board.external_columns == ("japanese_mt_bench", "nejumi_lb3")
    assert [list(d) for d in board.to_dicts()] == [list(JSON_KEYS)] * 3
    full = {d["model"]: d for d in board.to_dicts(full=True)}
    assert full["A"]["ties"] == 4 and full["A"]["ties_bothbad"] == 2
    assert full["C"]["external"] == {"nejumi_lb3": None}
    ratings = [row.rating for row in board.rows]
    assert ratings == sorted(ratings, reverse=True)


def test_pre_aggregated_counts_equal_one_row_per_battle() -> None:
    model_a, model_b, winner = _battles(*CORE)
    names = ["A", "B", "C"]
    codes = {"model_a": 0, "model_b": 1}
    grouped: dict[tuple[int, int, int], int] = {}
    for x, y, w in zip(model_a, model_b, winner, strict=True):
        key = (names.index(x), names.index(y), codes[w])
        grouped[key] = grouped.get(key, 0) + 1
    a, b, o = (list(column) for column in zip(*grouped, strict=True))
    fast = leaderboard_from_counts(names, a, b, o, list(grouped.values()), anchor="B")
    slow = leaderboard(model_a, model_b, winner, anchor="B")
    assert fast.to_dicts(full=True) == slow.to_dicts(full=True)
