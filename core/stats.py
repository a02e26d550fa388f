"""The statistics every analysis shares: normal quantiles, Wilson intervals, Holm correction.

One place for them, so a proportion's interval is computed the same way on every page, as a
scalar (:func:`wilson_interval`) or as Polars expressions over count columns
(:func:`wilson_exprs`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

import polars as pl

from core.errors import ParameterError

__all__ = ["holm", "wilson_exprs", "wilson_interval", "z_score"]

_STANDARD_NORMAL = NormalDist()


def z_score(confidence: Any) -> float:
    """Two-sided standard-normal quantile for a coverage, e.g. 1.96 for 0.95.

    Raises
    ------
    ParameterError
        ``confidence`` is not strictly between 0 and 1.

    Examples
    --------
    >>> round(z_score(0.95), 4)
    1.96
    """
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, (int, float))
        or not 0 < confidence < 1
    ):
        raise ParameterError(f"`confidence` must be between 0 and 1, got {confidence!r}")
    # The standard library's quantile (Wichura's AS241, within 2e-15 of scipy's ``norm.ppf``):
    # importing scipy.stats for it cost a fresh server's first Funnels page 0.9 s (issue 14).
    return _STANDARD_NORMAL.inv_cdf(0.5 + confidence / 2)


def wilson_interval(
    successes: int, trials: int, *, confidence: float = 0.95
) -> tuple[float | None, float | None]:
    """Wilson score interval for a proportion.

    Parameters
    ----------
    successes, trials : int
        Converted and entered counts, ``0 <= successes <= trials``.
    confidence : float
        Coverage, e.g. 0.95.

    Returns
    -------
    (low, high)
        Bounds in [0, 1]; ``(None, None)`` when ``trials`` is 0.

    Examples
    --------
    >>> [round(x, 4) for x in wilson_interval(5, 10)]
    [0.2366, 0.7634]
    """
    if trials < 0 or not 0 <= successes <= trials:
        raise ParameterError(
            f"need 0 <= successes <= trials, got successes={successes}, trials={trials}"
        )
    if trials == 0:
        return None, None
    z = z_score(confidence)
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    # exact at the ends (floating point would leave 1 - 1e-16)
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


def wilson_exprs(successes: str, trials: str, z: float) -> tuple[pl.Expr, pl.Expr]:
    """Wilson bounds as Polars expressions over two count columns.

    The same formula as :func:`wilson_interval`, for a whole table at once: null where
    ``trials`` is 0, exactly 0 (1) where no (every) trial succeeded.

    Parameters
    ----------
    successes, trials : str
        Names of the count columns.
    z : float
        Normal quantile, from :func:`z_score`.

    Returns
    -------
    (low, high) : tuple of pl.Expr
    """
    x, n = pl.col(successes).cast(pl.Float64), pl.col(trials).cast(pl.Float64)
    p = x / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * (p * (1 - p) / n + z * z / (4 * n * n)).sqrt()
    low = (
        pl.when(n == 0)
        .then(None)
        .when(x == 0)
        .then(0.0)
        .otherwise(pl.max_horizontal(centre - half, pl.lit(0.0)))
    )
    high = (
        pl.when(n == 0)
        .then(None)
        .when(x == n)
        .then(1.0)
        .otherwise(pl.min_horizontal(centre + half, pl.lit(1.0)))
    )
    return low, high


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm–Bonferroni adjusted p-values; ``None`` entries are skipped and stay ``None``.

    Examples
    --------
    >>> holm([0.01, None, 0.04, 0.03])
    [0.03, None, 0.06, 0.06]
    """
    idx = [i for i, p in enumerate(pvalues) if p is not None]
    m = len(idx)
    order = sorted(idx, key=lambda i: pvalues[i])
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * float(pvalues[i])))
        out[i] = running
    return out
