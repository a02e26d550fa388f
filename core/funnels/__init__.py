"""Conversion funnels: who did step 1, then step 2, ... within a conversion window.

The semantics follow PostHog's funnel UDF (``funnel-udf/src/steps.rs`` and
``unordered_steps.rs``, used by ``posthog/hogql_queries/insights/funnels/``) and agree with
ClickHouse's ``windowFunnel`` wherever the two agree. ``docs/funnels.md`` states every rule
with worked examples; in short:

* an *attempt* starts at a step-1 event and a later step-1 event starts a new attempt;
* each later step takes the first matching event after the attempt's previous step, no later
  than ``window`` after the attempt's first step (inclusive);
* one event fills at most one step of an attempt;
* ``strict``: any other event of the entity between two steps ends the attempt;
* ``unordered``: the steps may happen in any order inside the window;
* an entity's furthest step over all its attempts is what counts, with its step times taken
  from the first attempt that reached it;
* events with equal timestamps are taken in step order;
* exclusions remove an entity whose furthest attempt did an excluded event between the two
  given steps (ordered and strict), or cancel the attempts whose window holds an excluded
  event (unordered; PostHog then keeps the entity's best clean attempt).

Implementation: compiled per-entity kernels (``core.funnels.kernel``, numba). Ordered and
strict funnels run the state machine one event at a time, a port of the plain-Python spec
reference used by the tests; unordered funnels slide each step event's window over the
entity's events and take a maximum matching of events to steps. Preparation is one Polars
query (step bit sets, µs times); rows not already grouped by entity in time order (an export
in log order) are grouped by a hash partition and a stable counting sort
(``core._grouping``), never a sort of the table. Every computation is keyed by entity, so the function gives
the same answer on any partition of the data that holds all events of its entities;
:func:`merge_funnel_results` merges the per-partition results (concatenate ``entities``,
recompute the summaries).

Modules: ``steps`` (:class:`FunnelStep`), ``params`` (:class:`FunnelParams`: every setting,
validated once, and its URL form), ``prepare`` (the step-coded rows, grouped by entity),
``kernel`` (numba), ``engine`` (:func:`compute_funnel`, :func:`merge_funnel_results`,
:func:`dropped_off`), ``result`` (:class:`FunnelResult` and its summaries), ``stats`` (trends,
time to convert, the breakdown table), ``figures`` (Plotly; import it from
``core.funnels.figures``, it is not loaded with the package).
"""

from core.funnels.engine import compute_funnel, dropped_off, merge_funnel_results, warm_up
from core.funnels.params import MAX_STEPS, ORDERS, FunnelParams
from core.funnels.result import NONE_LABEL, OTHER, FunnelResult
from core.funnels.stats import (
    TREND_DEFINITIONS,
    TREND_INTERVALS,
    breakdown_table,
    conversion_by_attempt,
    conversion_over_time,
    time_to_convert,
    wilson_interval,
)
from core.funnels.steps import FunnelStep

__all__ = [
    "MAX_STEPS",
    "NONE_LABEL",
    "ORDERS",
    "OTHER",
    "TREND_DEFINITIONS",
    "TREND_INTERVALS",
    "FunnelParams",
    "FunnelResult",
    "FunnelStep",
    "breakdown_table",
    "compute_funnel",
    "conversion_by_attempt",
    "conversion_over_time",
    "dropped_off",
    "merge_funnel_results",
    "time_to_convert",
    "warm_up",
    "wilson_interval",
]
