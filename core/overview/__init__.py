"""Headline numbers, activity trend and event mix of an event log (the Overview page).

Modules, one concern each:

* :mod:`core.overview.metrics` -- headline numbers (:func:`overview_metrics`), the comparison
  with the previous period or the same dates a year earlier (:func:`compare_periods`,
  :func:`compare_with_previous`, :func:`headline_tiles`; the windows come from
  :mod:`core.compare`) and the currency of the prices (:func:`detect_currency`);
* :mod:`core.overview.trend` -- activity per hour, day or week (:func:`activity_trend`, with an
  optional comparison series) and the event mix (:func:`event_mix`);
* :mod:`core.overview.figures` -- the charts and people-readable tables of those;
* :mod:`core.overview.info` -- :func:`dataset_info`, what the controls need about a dataset.
"""

from core.errors import ParameterError
from core.overview.figures import (
    EVENT_COLORS,
    daily_trend_figure,
    event_mix_figure,
    mix_people_table,
    trend_people_table,
)
from core.overview.info import INFO_BATCH_CELLS, DatasetInfo, dataset_info
from core.overview.metrics import (
    OverviewMetrics,
    PeriodComparison,
    compare_periods,
    compare_with_previous,
    detect_currency,
    headline_tiles,
    overview_metrics,
)
from core.overview.trend import TREND_METRICS, activity_trend, daily_trend, event_mix

__all__ = [
    "EVENT_COLORS",
    "INFO_BATCH_CELLS",
    "TREND_METRICS",
    "DatasetInfo",
    "OverviewMetrics",
    "ParameterError",
    "PeriodComparison",
    "activity_trend",
    "compare_periods",
    "compare_with_previous",
    "daily_trend",
    "daily_trend_figure",
    "dataset_info",
    "detect_currency",
    "event_mix",
    "event_mix_figure",
    "headline_tiles",
    "mix_people_table",
    "overview_metrics",
    "trend_people_table",
]
