"""Battle outcome codes and the mapping from the public winner strings.

The public Chatbot Arena schema stores the vote as a string in ``winner``;
the numerics work on small integer codes. This module is the one place that
knows both spellings.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

from ratings.errors import InvalidInputError


class Outcome(IntEnum):
    """Outcome of one battle, from the point of view of side A."""

    A_WINS = 0
    B_WINS = 1
    TIE = 2
    BOTHBAD = 3


#: Number of distinct outcome codes.
N_OUTCOMES = len(Outcome)

#: Accepted ``winner`` strings and their codes. ``both_bad`` is an alias
#: of ``tie (bothbad)`` found in some exports.
WINNER_CODES: dict[str, Outcome] = {
    "model_a": Outcome.A_WINS,
    "model_b": Outcome.B_WINS,
    "tie": Outcome.TIE,
    "tie (bothbad)": Outcome.BOTHBAD,
    "both_bad": Outcome.BOTHBAD,
}

#: The one spelling of each outcome that files and the database use (FastChat's).
CANONICAL_WINNER: dict[Outcome, str] = {
    Outcome.A_WINS: "model_a",
    Outcome.B_WINS: "model_b",
    Outcome.TIE: "tie",
    Outcome.BOTHBAD: "tie (bothbad)",
}

#: Score of side A for each outcome code: ties of both kinds are half a win.
SCORE_A: NDArray[np.float64] = np.array([1.0, 0.0, 0.5, 0.5])


def parse_winner(value: object) -> Outcome:
    """Map one ``winner`` value to its outcome code.

    Parameters
    ----------
    value : object
        The raw value, normally a string such as ``"model_a"``.

    Returns
    -------
    Outcome
        The code.

    Raises
    ------
    InvalidInputError
        If the value is not one of :data:`WINNER_CODES`.
    """
    if isinstance(value, str):
        code = WINNER_CODES.get(value)
        if code is not None:
            return code
    expected = ", ".join(repr(k) for k in WINNER_CODES)
    raise InvalidInputError(f"unknown winner {value!r} (expected one of {expected})")


def encode_winners(winners: Sequence[str] | NDArray[np.str_]) -> NDArray[np.int8]:
    """Encode an array of ``winner`` strings as outcome codes.

    Parameters
    ----------
    winners : sequence of str
        One ``winner`` value per battle.

    Returns
    -------
    ndarray of int8
        Outcome codes, same length as ``winners``.

    Raises
    ------
    InvalidInputError
        If a value is unknown; the message names the first bad position.
    """
    values = np.asarray(winners, dtype=object)
    if values.size == 0:
        return np.zeros(0, dtype=np.int8)
    uniques, inverse = np.unique(values.astype(str), return_inverse=True)
    codes = np.empty(len(uniques), dtype=np.int8)
    for k, value in enumerate(uniques):
        try:
            codes[k] = parse_winner(str(value))
        except InvalidInputError as err:
            first = int(np.flatnonzero(inverse == k)[0])
            raise InvalidInputError(f"battle {first}: {err}") from err
    return codes[inverse.reshape(-1)]
