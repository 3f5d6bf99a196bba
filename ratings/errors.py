"""Errors raised by the ratings package.

One small hierarchy, so callers (the CLI, the arena's nightly recompute) can
catch every refusal of the fitter with one ``except RatingsError`` and show its
message, while tests can tell the kinds apart.
"""

from __future__ import annotations

from collections.abc import Sequence


class RatingsError(ValueError):
    """Base class: the input cannot be turned into ratings as asked."""


class InvalidInputError(RatingsError):
    """An input array or row is malformed (unknown winner, bad index, ...)."""


class NoMLEError(RatingsError):
    """The unregularised maximum-likelihood ratings do not exist.

    Raised only when the caller asked for ``prior=0`` and some group of models
    never lost (or never won) against the rest.
    """


class DisconnectedGraphError(RatingsError):
    """The comparison graph falls into pieces that were never compared.

    Parameters
    ----------
    message : str
        Human-readable explanation.
    components : sequence of sequence of int
        Model indices of each piece, largest first.
    """

    def __init__(self, message: str, components: Sequence[Sequence[int]]) -> None:
        super().__init__(message)
        self.components: list[list[int]] = [list(c) for c in components]
