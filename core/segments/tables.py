"""What people read of segments: feature values in their units and the tables the page shows.

The CSV downloads keep the frames of :class:`~core.segments.Segmentation` (raw names, full
precision); these tables are for the screen.
"""

from __future__ import annotations

import math
from typing import Final

from core.fmt import MISSING, PeopleTable, fmt_duration, fmt_money, fmt_pct
from core.segments.features import feature_label
from core.segments.result import Segmentation

_SHARE_FEATURES: Final = frozenset({"cart_to_purchase", "mobile_share"})
_MONEY_FEATURES: Final = frozenset({"revenue", "order_value"})
_DURATION_SECONDS: Final[dict[str, float]] = {"recency_days": 86_400.0, "session_minutes": 60.0}


def _fmt_number(x: float) -> str:
    """A mean count or rate with three significant digits at most: ``12.4``, ``3.05``, ``1,234``."""
    a = abs(x)
    if a >= 100:
        return f"{x:,.0f}"
    return f"{x:.1f}" if a >= 10 else f"{x:.2f}"


def fmt_feature(name: str, value: float | None) -> str:
    """A value of feature ``name`` in its unit: shares as percentages, ``recency_days`` and
    ``session_minutes`` as durations, revenue as money, counts and rates as short numbers;
    missing (None or NaN) as an en dash.

    Examples
    --------
    >>> fmt_feature("mobile_share", 0.25), fmt_feature("session_minutes", 3.5)
    ('25.0%', '3 min 30 s')
    >>> fmt_feature("recency_days", 2.5), fmt_feature("sessions", 4.123), fmt_feature("x", None)
    ('2 d 12 h', '4.12', '–')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    v = float(value)
    if name in _SHARE_FEATURES:
        return fmt_pct(v)
    if name in _DURATION_SECONDS:
        return fmt_duration(v * _DURATION_SECONDS[name])
    if name in _MONEY_FEATURES:
        return fmt_money(v)
    return _fmt_number(v)


def _segment_title(number: int, name: str) -> str:
    return f"{number}. {name}"


def feature_kind(name: str) -> str:
    """How feature ``name`` reads in a table (a :data:`core.fmt.ColumnKind`): shares as
    percentages, ``recency_days`` and ``session_minutes`` as durations, revenue as money,
    anything else as a number; see :func:`feature_value` for the value that goes with it."""
    if name in _SHARE_FEATURES:
        return "percent"
    if name in _DURATION_SECONDS:
        return "duration"
    if name in _MONEY_FEATURES:
        return "money"
    return "number"


def feature_value(name: str, value: float | None) -> float | None:
    """A value of feature ``name`` in the unit :func:`feature_kind` expects (durations in
    seconds); ``None`` for a missing one."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value) * _DURATION_SECONDS.get(name, 1.0)


def profile_people_table(seg: Segmentation, segment: int | str) -> PeopleTable:
    """One segment's profile as people read it: ``Feature`` (label, ``" *"`` when it drove
    the clustering), ``Segment mean`` and ``All users`` in each feature's unit (see
    :func:`fmt_feature`), ``Compared with all users`` (times, ``2.10×``).

    The two mean columns stay text: each row is a different feature in its own unit
    (percentages, durations, money), so sorting them as one number column would compare
    minutes with euros. The comparison column is a number and sorts as one.

    Raises
    ------
    ParameterError
        No such segment.
    """
    p = seg.segment_profile(segment)
    rows = list(p.iter_rows(named=True))
    ratios = [r["ratio"] if r["ratio"] is not None and math.isfinite(r["ratio"]) else None
              for r in rows]
    return PeopleTable.build({
        "Feature": ("text", [r["label"] + (" *" if r["used"] else "") for r in rows]),
        "Segment mean": ("text", [_feature_text(r["feature"], r["mean"]) for r in rows]),
        "All users": ("text", [_feature_text(r["feature"], r["overall_mean"]) for r in rows]),
        "Compared with all users": ("times", ratios),
    })


def _feature_text(name: str, value: float | None) -> str | None:
    text = fmt_feature(name, value)
    return None if text == MISSING else text


def centroids_people_table(seg: Segmentation) -> PeopleTable:
    """The cluster centres (a typical member of each segment) with feature labels as column
    names and values as numbers in their units (see :func:`feature_kind`)."""
    c = seg.centroids
    feats = [f for f in c.columns if f not in ("segment", "name")]
    columns: dict[str, tuple[str, list]] = {
        "Segment": ("text", [_segment_title(n, m) for n, m in zip(c["segment"], c["name"],
                                                                   strict=True)])}
    for f in feats:
        columns[feature_label(f)] = (feature_kind(f), [feature_value(f, v)
                                                       for v in c[f].to_list()])
    return PeopleTable.build(columns)


def preparation_people_table(seg: Segmentation) -> PeopleTable:
    """How each feature was prepared for k-means, in words: whether it was log-scaled, how
    many users had no value (count) and what they were counted as (text, in the feature's
    unit: one column mixes units), and the mean and standard deviation used to standardise
    (numbers, in the prepared units)."""
    rows = list(seg.transform.iter_rows(named=True))
    return PeopleTable.build({
        "Feature": ("text", [feature_label(r["feature"]) for r in rows]),
        "Log-scaled": ("text", [
            f"yes, log(1 + x / {fmt_feature(r['feature'], r['log_scale'])})" if r["log"] else "no"
            for r in rows]),
        "Users without a value": ("count", [r["imputed"] for r in rows]),
        "Counted as": ("text", [_feature_text(r["feature"], r["impute_value"]) if r["imputed"]
                                else None for r in rows]),
        "Mean (prepared)": ("number", [_finite(r["mean"]) for r in rows]),
        "Standard deviation (prepared)": ("number", [_finite(r["std"]) for r in rows]),
    })


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def k_tried_people_table(seg: Segmentation) -> PeopleTable:
    """The numbers of segments tried: ``Segments (k)`` (count), ``Silhouette`` (three
    decimals), ``Inertia per user`` (number), ``Chosen`` (``"yes"`` on the chosen k)."""
    s = seg.scores
    return PeopleTable.build({
        "Segments (k)": ("count", s["k"]),
        "Silhouette": ("decimal", [_finite(x) for x in s["silhouette"].to_list()]),
        "Inertia per user": ("number", [_finite(x) for x in s["inertia"].to_list()]),
        "Chosen": ("text", ["yes" if c else "no" for c in s["chosen"].to_list()]),
    })
