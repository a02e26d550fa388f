"""Cohort retention: do people come back after their first start event?

``params`` (the settings object), ``engine`` (the computation and its per-partition steps),
``stats`` (cell table and pooled curve with intervals), ``figures`` (triangle and curves).
"""

from core.retention.engine import (
    OTHER,
    RetentionResult,
    compute_retention,
    merge_retention,
    people_table,
    retained_people,
    run,
)
from core.retention.figures import retention_curves_figure, retention_heatmap
from core.retention.params import MAX_PERIODS, MODES, PERIODS, RetentionParams

__all__ = [
    "OTHER",
    "MAX_PERIODS",
    "MODES",
    "PERIODS",
    "RetentionParams",
    "RetentionResult",
    "compute_retention",
    "merge_retention",
    "people_table",
    "retained_people",
    "retention_curves_figure",
    "retention_heatmap",
    "run",
]
