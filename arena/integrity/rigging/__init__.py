"""The statistics that keep rigged votes out of the ratings.

The nightly recomputation loads per-vote and per-battle arrays and asks these pure
functions (numpy and scipy only, no database) which votes to leave out. One module per
rule; this package names them all:

:func:`daily_cap`
    Votes beyond the ``cap``-th of their (voter, day).
:func:`steering_test`
    Voters whose decision to vote or to abandon depends on which models are in the
    battle: a one-sided Fisher exact test per model, Bonferroni within the voter,
    Benjamini-Hochberg across voters.
:func:`outlier_test` (and :func:`iterated_outlier_test`)
    Voters whose votes are improbable under the fitted Bradley-Terry model: the
    score test for a voter-specific bias for or against one model, with Monte Carlo
    p-values, Benjamini-Hochberg across voters.
:func:`benjamini_hochberg`
    The step-up procedure both tests end with.
"""

from __future__ import annotations

from arena.integrity.rigging.caps import daily_cap
from arena.integrity.rigging.fdr import DEFAULT_FDR, benjamini_hochberg
from arena.integrity.rigging.outliers import (
    DEFAULT_EXCEEDANCES,
    DEFAULT_MAX_DRAWS,
    FitFn,
    OutlierResult,
    iterated_outlier_test,
    outlier_test,
)
from arena.integrity.rigging.steering import SteeringResult, steering_test

__all__ = [
    "DEFAULT_EXCEEDANCES",
    "DEFAULT_FDR",
    "DEFAULT_MAX_DRAWS",
    "FitFn",
    "OutlierResult",
    "SteeringResult",
    "benjamini_hochberg",
    "daily_cap",
    "iterated_outlier_test",
    "outlier_test",
    "steering_test",
]
