"""How features are prepared for K-means: log scale, standardise, impute; and back again."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from core.segments.features import FEATURE_SPECS, feature_label


def _skewness(x: np.ndarray) -> float:
    with np.errstate(over="ignore", invalid="ignore"):
        sd = x.std()
        if sd == 0 or not math.isfinite(sd):
            return 0.0
        skew = float(np.mean(((x - x.mean()) / sd) ** 3))
    return skew if math.isfinite(skew) else 0.0


def prepare(
    raw: np.ndarray, columns: Sequence[str]
) -> tuple[np.ndarray, list[str], list[dict[str, Any]], list[str]]:
    """Log-transform, standardise and impute; drop empty and constant columns.

    The log transform is ``log1p(x / s)`` with ``s`` the median of the positive values, so
    multiplying a feature by a constant (a change of unit) leaves the result unchanged. The
    transform and the standardisation are fitted on the users who have a value; users without
    one get the mean (0 after standardising), so a feature that is undefined for a user (the
    cart-to-purchase rate of someone who never added to cart) moves them towards no segment,
    where a median or a zero would pretend they behave like the typical or the worst user.
    """
    kept, rows, notes, blocks = [], [], [], []
    n = raw.shape[0]
    for j, name in enumerate(columns):
        x = raw[:, j].astype(np.float64, copy=True)
        missing = ~np.isfinite(x)
        seen = x[~missing]
        if seen.size == 0:
            notes.append(f"feature {name!r} was left out: it has no values")
            continue
        if seen.max() == seen.min():
            notes.append(f"feature {name!r} was left out: it is the same ({seen[0]:g}) for "
                         "every user, so it cannot separate segments")
            continue
        spec = FEATURE_SPECS.get(name)
        use_log = bool(seen.min() >= 0 and (spec.log if spec else _skewness(seen) > 1.0))
        scale = float("nan")
        if use_log:
            scale = float(np.median(seen[seen > 0]))
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                logged = np.log1p(x / scale)
            if np.isfinite(logged[~missing]).all():
                x = logged
            else:  # a scale so tiny that dividing overflows: keep the raw values
                use_log, scale = False, float("nan")
        with np.errstate(over="ignore", invalid="ignore"):
            mean, std = float(np.mean(x[~missing])), float(np.std(x[~missing]))
        if not (math.isfinite(mean) and math.isfinite(std)) or std == 0:
            notes.append(f"feature {name!r} was left out: its values are too extreme or too "
                         "close together to measure a spread")
            continue
        zc = (x - mean) / std
        n_missing = int(missing.sum())
        zc[missing] = 0.0
        blocks.append(zc)
        kept.append(name)
        impute = float(np.expm1(mean) * scale) if use_log else mean
        rows.append({"feature": name, "log": use_log, "log_scale": scale,
                     "impute_value": impute, "imputed": n_missing, "mean": mean, "std": std})
        if n_missing:
            notes.append(f"{feature_label(name)} (`{name}`): {n_missing:,} users "
                         f"({n_missing / n:.0%}) have no value; they count as the average user "
                         f"({impute:.3g}) for it")
    z = np.column_stack(blocks) if blocks else np.empty((n, 0))
    return z, kept, rows, notes


def to_original_units(centres: np.ndarray, rows: list[dict[str, Any]]) -> np.ndarray:
    """Cluster centres (standardised units, one column per prepared feature) in the features'
    original units: the inverse of :func:`prepare` described by its ``rows``."""
    out = np.empty_like(centres)
    for j, r in enumerate(rows):
        x = centres[:, j] * r["std"] + r["mean"]
        if r["log"]:
            x = np.expm1(x) * r["log_scale"]
        out[:, j] = x
    return out
