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

Implementation: compiled per-entity kernels (``core._funnel_kernel``, numba). Ordered and
strict funnels run the state machine one event at a time, a port of the plain-Python spec
reference used by the tests; unordered funnels slide each step event's window over the
entity's events and take a maximum matching of events to steps. Preparation is one Polars
query (step bit sets, µs times); rows not already grouped by entity in time order (an export
in log order) are grouped by a hash partition and a stable counting sort
(``core._grouping``), never a sort of the table. Every computation is keyed by entity, so the function gives
the same answer on any partition of the data that holds all events of its entities;
:func:`merge_funnel_results` merges the per-partition results (concatenate ``entities``,
recompute the summaries).
"""

from __future__ import annotations

import base64
import json
import math
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import polars as pl

from core.errors import ParameterError, SchemaError
from core.filters import Condition, as_conditions, combine, format_condition, parse_condition

ORDERS: Final[tuple[str, ...]] = ("ordered", "strict", "unordered")
MAX_STEPS: Final[int] = 30
#: Label of the breakdown bucket that gathers the values beyond ``breakdown_limit``.
OTHER: Final[str] = "Other"
#: Label of entities whose breakdown value is empty.
NONE_LABEL: Final[str] = "(none)"


# --------------------------------------------------------------------------------------------
# Step specifications
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunnelStep:
    """One funnel step: an event name (or any of several) plus property conditions.

    Parameters
    ----------
    event : str or tuple of str
        Event name(s) matched against the ``event`` column; a tuple means "any of these".
    where : tuple of Condition
        Property conditions the event must also meet (all of them), e.g.
        ``(Condition("category", "eq", "phones"),)``. Compact strings ``"category:eq:phones"``
        are accepted too.
    label : str, optional
        Display name; defaults to the event name(s) and conditions.

    Examples
    --------
    >>> FunnelStep("view_item", where=(Condition("category", "eq", "phones"),)).display_label
    'view_item where category = phones'
    """

    event: str | tuple[str, ...]
    where: tuple[Condition, ...] = ()
    label: str = ""

    def __post_init__(self) -> None:
        event = self.event
        if isinstance(event, (list, tuple)):
            names = tuple(event)
            if len(names) == 1:
                event = names[0]
            else:
                event = names
        names = (event,) if isinstance(event, str) else tuple(event)
        if not names or any(not isinstance(n, str) or not n for n in names):
            raise ParameterError(
                f"a funnel step needs one or more non-empty event names, got {self.event!r}"
            )
        if len(set(names)) != len(names):
            event = tuple(dict.fromkeys(names)) if len(set(names)) > 1 else names[0]
        object.__setattr__(self, "event", event)
        object.__setattr__(self, "where", as_conditions(tuple(self.where or ())))
        object.__setattr__(self, "label", str(self.label or ""))

    @property
    def events(self) -> tuple[str, ...]:
        """The event names this step matches."""
        return (self.event,) if isinstance(self.event, str) else tuple(self.event)

    @property
    def display_label(self) -> str:
        """The label shown in tables and charts."""
        if self.label:
            return self.label
        text = " or ".join(self.events)
        if self.where:
            text += " where " + " and ".join(c.label() for c in self.where)
        return text

    def expr(self, schema: pl.Schema | dict[str, pl.DataType] | None = None) -> pl.Expr:
        """Boolean Polars expression: does an event match this step?

        Raises
        ------
        ParameterError
            A condition names a column that is not in ``schema``.
        """
        names = self.events
        match = pl.col("event") == names[0] if len(names) == 1 else pl.col("event").is_in(names)
        if self.where:
            match = match & combine(self.where, schema)
        return match.fill_null(False)

    @classmethod
    def coerce(cls, spec: Any, *, what: str = "step") -> FunnelStep:
        """Turn an event name, a list of names or a :class:`FunnelStep` into a step.

        Raises
        ------
        ParameterError
            ``spec`` is none of these.
        """
        if isinstance(spec, FunnelStep):
            return spec
        if isinstance(spec, str):
            return cls(spec)
        if isinstance(spec, (list, tuple)) and spec and all(isinstance(s, str) for s in spec):
            return cls(tuple(spec))
        raise ParameterError(
            f"each {what} must be an event name, a list of event names or a FunnelStep, "
            f"got {spec!r}"
        )


@dataclass(frozen=True)
class _Exclusion:
    step: FunnelStep
    from_step: int  # 1-based, inclusive: "after step from_step ..."
    to_step: int  # "... and before step to_step"


@dataclass(frozen=True)
class _Spec:
    steps: tuple[FunnelStep, ...]
    labels: tuple[str, ...]
    window: timedelta
    window_us: int
    order: str
    count_by: str
    exclusions: tuple[_Exclusion, ...]
    breakdown: str | None
    breakdown_limit: int

    @property
    def n(self) -> int:
        return len(self.steps)


def _coerce_exclusions(
    exclusions: Any, n: int, order: str, steps: tuple[FunnelStep, ...]
) -> tuple[_Exclusion, ...]:
    if exclusions is None:
        return ()
    if isinstance(exclusions, (str, FunnelStep)) or not isinstance(exclusions, Iterable):
        raise ParameterError(
            "`exclusions` must be a sequence of (step, from_step, to_step) triples, "
            f"got {exclusions!r}"
        )
    out = []
    for item in exclusions:
        if isinstance(item, _Exclusion):
            spec, a, b = item.step, item.from_step, item.to_step
        else:
            if not isinstance(item, (list, tuple)) or len(item) != 3:
                raise ParameterError(
                    f"each exclusion must be a (step, from_step, to_step) triple, got {item!r}"
                )
            spec, a, b = item
        step = FunnelStep.coerce(spec, what="exclusion")
        if (
            not (isinstance(a, int) and isinstance(b, int))
            or isinstance(a, bool)
            or isinstance(b, bool)
        ):
            raise ParameterError(
                f"exclusion `{step.display_label}` needs whole step numbers, got from {a!r} to {b!r}"
            )
        if n < 2:
            raise ParameterError(
                f"exclusion `{step.display_label}` needs a funnel of at least two steps; "
                f"this funnel has {n}"
            )
        if not 1 <= a < b <= n:
            raise ParameterError(
                f"exclusion `{step.display_label}` must lie between two steps with "
                f"1 <= from_step < to_step <= {n}, got from {a} to {b}"
            )
        if order == "unordered" and (a, b) != (1, n):
            raise ParameterError(
                f"unordered funnels only support exclusions over the whole funnel "
                f"(from 1 to {n}), got from {a} to {b} for `{step.display_label}`"
            )
        for k in range(a, b + 1):
            s = steps[k - 1]
            if set(s.events) == set(step.events) and set(s.where) == set(step.where):
                raise ParameterError(
                    f"exclusion `{step.display_label}` is the same as funnel step {k}; "
                    "an exclusion cannot be an event that is part of the steps it spans"
                )
        out.append(_Exclusion(step, a, b))
    return tuple(out)


def _validate(
    schema: pl.Schema,
    steps: Any,
    window: Any,
    order: Any,
    count_by: Any,
    exclusions: Any,
    breakdown: Any,
    breakdown_limit: Any,
) -> _Spec:
    for col in ("ts", "event"):
        if col not in schema:
            raise SchemaError(
                f"events table is missing required column {col!r}; found {list(schema)}"
            )
    if isinstance(steps, (str, FunnelStep)) or not isinstance(steps, Iterable):
        raise ParameterError(f"`steps` must be a list of 1 to {MAX_STEPS} steps, got {steps!r}")
    step_objs = tuple(FunnelStep.coerce(s) for s in steps)
    if len(step_objs) > MAX_STEPS:
        raise ParameterError(
            f"`steps` holds {len(step_objs)} steps; a funnel has at most {MAX_STEPS}"
        )
    if not isinstance(window, timedelta):
        raise ParameterError(f"`window` must be a positive datetime.timedelta, got {window!r}")
    if window <= timedelta(0):
        raise ParameterError(f"`window` must be positive, got {window}")
    if order not in ORDERS:
        raise ParameterError(f"`order` must be one of {list(ORDERS)}, got {order!r}")
    if not isinstance(count_by, str) or count_by not in schema:
        raise ParameterError(
            f"`count_by` must be a column of the events table, got {count_by!r}; "
            f"available: {sorted(schema)}"
        )
    if breakdown is not None and (not isinstance(breakdown, str) or breakdown not in schema):
        raise ParameterError(
            f"`breakdown` must be a column of the events table or None, got {breakdown!r}; "
            f"available: {sorted(schema)}"
        )
    if (
        isinstance(breakdown_limit, bool)
        or not isinstance(breakdown_limit, int)
        or breakdown_limit < 1
    ):
        raise ParameterError(
            f"`breakdown_limit` must be a whole number >= 1, got {breakdown_limit!r}"
        )
    for s in step_objs:
        s.expr(schema)  # raises ParameterError on an unknown condition column
    excl = _coerce_exclusions(exclusions, len(step_objs), order, step_objs)
    for x in excl:
        x.step.expr(schema)
    labels = tuple(s.display_label for s in step_objs)
    return _Spec(
        steps=step_objs,
        labels=labels,
        window=window,
        window_us=int(window // timedelta(microseconds=1)),
        order=order,
        count_by=count_by,
        exclusions=excl,
        breakdown=breakdown,
        breakdown_limit=breakdown_limit,
    )


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FunnelResult:
    """What :func:`compute_funnel` returns.

    Attributes
    ----------
    steps : pl.DataFrame
        One row per step: ``step`` (1-based), ``label``, ``entities`` (reached it),
        ``conversion_from_first``, ``conversion_from_previous`` (fractions in [0, 1], null when
        nobody reached the step before), ``drop_off`` (entities that reached the previous step
        but not this one; null for step 1), ``mean_seconds_from_previous`` and
        ``median_seconds_from_previous`` (over the entities that reached the step, from their
        counted attempt; null for step 1).
    entities : pl.DataFrame
        One row per entity with any event in the input: the ``count_by`` column,
        ``furthest_step`` (0 = never did step 1), ``excluded`` (removed by an exclusion; such
        entities count in no step), ``step_1_at`` ... ``step_<n>_at`` (UTC times of the counted
        attempt, null beyond ``furthest_step``) and, with a breakdown, ``breakdown`` (the
        raw first-touch value, a string, null when empty).
    breakdown_steps : pl.DataFrame
        With a breakdown, the columns of ``steps`` per bucket, after a leading ``breakdown``
        column (top ``breakdown_limit`` values by entities at step 1, the rest as ``"Other"``);
        empty without a breakdown.
    labels : tuple of str
        Step labels.
    reason : str or None
        Why the result is empty or partly meaningless (empty data, one step, a step absent
        from the data...); ``None`` when there is nothing to explain.
    """

    steps: pl.DataFrame
    entities: pl.DataFrame
    breakdown_steps: pl.DataFrame
    labels: tuple[str, ...]
    count_by: str
    order: str
    window: timedelta
    breakdown: str | None
    breakdown_limit: int
    reason: str | None = None
    data_end: datetime | None = None
    absent_steps: tuple[int, ...] = field(default_factory=tuple)

    @property
    def n_steps(self) -> int:
        return len(self.labels)

    @property
    def n_entities(self) -> int:
        """Entities with any event in the input."""
        return self.entities.height

    @property
    def n_excluded(self) -> int:
        """Entities removed by an exclusion."""
        if self.entities.is_empty():
            return 0
        return int(self.entities["excluded"].sum())

    @property
    def entered(self) -> int:
        """Entities that reached step 1 (and were not excluded)."""
        return int(self.steps["entities"][0]) if self.steps.height else 0

    @property
    def is_empty(self) -> bool:
        """True when no entity reached step 1: there is no funnel to draw."""
        return self.entered == 0


def _time_cols(n: int) -> list[str]:
    return [f"step_{k}_at" for k in range(1, n + 1)]


_STEP_SCHEMA: Final[dict[str, pl.DataType]] = {
    "step": pl.Int64(),
    "label": pl.String(),
    "entities": pl.Int64(),
    "conversion_from_first": pl.Float64(),
    "conversion_from_previous": pl.Float64(),
    "drop_off": pl.Int64(),
    "mean_seconds_from_previous": pl.Float64(),
    "median_seconds_from_previous": pl.Float64(),
}


def _entities_schema(
    count_by: str, id_dtype: pl.DataType, n: int, breakdown: bool
) -> dict[str, pl.DataType]:
    schema: dict[str, pl.DataType] = {
        count_by: id_dtype,
        "furthest_step": pl.Int64(),
        "excluded": pl.Boolean(),
    }
    for c in _time_cols(n):
        schema[c] = pl.Datetime("us", "UTC")
    if breakdown:
        schema["breakdown"] = pl.String()
    return schema


def _step_summary(
    entities: pl.DataFrame, labels: Sequence[str], by: str | None = None
) -> pl.DataFrame:
    """Per-step counts, conversion and timing from an entities table (optionally per ``by``).

    Excluded entities count in no step. Times from the previous step use each entity's counted
    attempt. Conversion is a fraction; it is null when the denominator is zero.
    """
    n = len(labels)
    schema = ({by: pl.String()} if by else {}) | dict(_STEP_SCHEMA)
    if n == 0:
        return pl.DataFrame(schema=schema)
    kept = entities.filter(~pl.col("excluded"))
    tcols = _time_cols(n)
    aggs: list[pl.Expr] = []
    for k in range(1, n + 1):
        reached = pl.col("furthest_step") >= k
        aggs.append(reached.sum().cast(pl.Int64).alias(f"n{k}"))
        if k >= 2:
            secs = (pl.col(tcols[k - 1]) - pl.col(tcols[k - 2])).dt.total_microseconds() / 1e6
            aggs.append(secs.filter(reached).mean().alias(f"mean{k}"))
            aggs.append(secs.filter(reached).median().alias(f"med{k}"))
    wide = kept.select(aggs) if by is None else kept.group_by(by, maintain_order=True).agg(aggs)
    rows = []
    for rec in wide.iter_rows(named=True):
        first = rec["n1"]
        for k in range(1, n + 1):
            cur = rec[f"n{k}"]
            prev = rec[f"n{k - 1}"] if k >= 2 else None
            row = {
                "step": k,
                "label": labels[k - 1],
                "entities": cur,
                "conversion_from_first": cur / first if first else None,
                "conversion_from_previous": cur / prev if prev else None,
                "drop_off": prev - cur if k >= 2 else None,
                "mean_seconds_from_previous": rec.get(f"mean{k}"),
                "median_seconds_from_previous": rec.get(f"med{k}"),
            }
            rows.append(({by: rec[by]} if by else {}) | row)
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def _breakdown_buckets(entities: pl.DataFrame, limit: int) -> tuple[pl.DataFrame, list[str]]:
    """The entities that entered the funnel with a ``bucket`` column: the top ``limit``
    values, the rest "Other" (entities that never entered count in no bucket, so an "Other"
    bucket exists only when it has entrants)."""
    value = pl.col("breakdown").fill_null(NONE_LABEL)
    entered = entities.filter(~pl.col("excluded") & (pl.col("furthest_step") >= 1))
    ranking = (
        entered.group_by(value.alias("bucket"))
        .agg(pl.len().alias("n"))
        .sort(["n", "bucket"], descending=[True, False])
    )
    top = ranking["bucket"].head(limit).to_list()
    bucket = pl.when(value.is_in(top)).then(value).otherwise(pl.lit(OTHER))
    return entered.with_columns(bucket.alias("bucket")), top


def _summaries(
    entities: pl.DataFrame, labels: Sequence[str], breakdown: str | None, limit: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    steps = _step_summary(entities, labels)
    if breakdown is None or "breakdown" not in entities.columns:
        return steps, pl.DataFrame(schema={"breakdown": pl.String()} | dict(_STEP_SCHEMA))
    with_bucket, top = _breakdown_buckets(entities, limit)
    per = _step_summary(with_bucket, labels, by="bucket").rename({"bucket": "breakdown"})
    order = {v: i for i, v in enumerate(top)}
    per = (
        per.with_columns(
            pl.col("breakdown")
            .replace_strict(order, default=len(order), return_dtype=pl.Int64)
            .alias("_o")
        )
        .sort(["_o", "step"])
        .drop("_o")
    )
    return steps, per


def _reason(
    count_by: str,
    labels: Sequence[str],
    entities: pl.DataFrame,
    steps: pl.DataFrame,
    absent: Sequence[int],
) -> str | None:
    """The explanation a page shows instead of (or above) the funnel, or None."""
    who = (
        "users"
        if count_by == "user_id"
        else ("sessions" if count_by == "session_id" else f"`{count_by}` values")
    )
    if entities.is_empty():
        if count_by in ("user_id", "session_id"):
            return "No events to analyse: the selected data is empty."
        return f"No events to analyse: no event in the selected data has a `{count_by}`."
    if not labels:
        return "Add at least one step to build a funnel."
    entered = int(steps["entities"][0]) if steps.height else 0
    if entered == 0:
        if 1 in absent:
            return (
                f"Step 1 ({labels[0]}) never occurs in the selected data, so nobody "
                "entered the funnel."
            )
        excluded = int(entities["excluded"].sum()) if "excluded" in entities.columns else 0
        if excluded:
            return (
                f"All {excluded:,} {who} who did step 1 ({labels[0]}) were removed by an exclusion."
            )
        return f"None of the {entities.height:,} {who} did step 1 ({labels[0]})."
    if absent:
        names = ", ".join(f"{k} ({labels[k - 1]})" for k in absent)
        if len(absent) == 1:
            return f"Step {names} never occurs in the selected data."
        return f"Steps {names} never occur in the selected data."
    if len(labels) == 1:
        return (
            "A funnel needs at least two steps to show conversion; add another step. "
            f"{entered:,} {who} did {labels[0]}."
        )
    return None


def _finish(
    entities: pl.DataFrame,
    like: _Spec | FunnelResult,
    *,
    absent: tuple[int, ...] = (),
    data_end: datetime | None = None,
    reason: str | None = None,
) -> FunnelResult:
    """The result for an ``entities`` table: summaries, and the explanation unless given.

    ``like`` supplies the settings (labels, count_by, order, window, breakdown)."""
    steps, per = _summaries(entities, like.labels, like.breakdown, like.breakdown_limit)
    if reason is None:
        reason = _reason(like.count_by, like.labels, entities, steps, absent)
    return FunnelResult(
        steps=steps,
        entities=entities,
        breakdown_steps=per,
        labels=like.labels,
        count_by=like.count_by,
        order=like.order,
        window=like.window,
        breakdown=like.breakdown,
        breakdown_limit=like.breakdown_limit,
        reason=reason,
        data_end=data_end,
        absent_steps=absent,
    )


def _empty_result(spec: _Spec, id_dtype: pl.DataType, reason: str) -> FunnelResult:
    ents = pl.DataFrame(
        schema=_entities_schema(spec.count_by, id_dtype, spec.n, spec.breakdown is not None)
    )
    return _finish(ents, spec, reason=reason)


# --------------------------------------------------------------------------------------------
# Preparation: rows with integer-coded steps, grouped by entity
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Rows:
    """Step-coded rows grouped by entity, each entity's in time order, then input order.

    ``ids`` holds each entity's id in entity order; the rows of entity ``e`` are
    ``starts[e]:starts[e + 1]``. ``t`` is µs since the epoch, ``mask`` has bit ``k-1`` set when
    the row matches step ``k``, ``xl`` bit ``j-1`` when it is an excluded event between steps
    ``j`` and ``j+1`` (never on a row that matches a step), ``bd`` the breakdown value.
    """

    ids: pl.Series
    starts: Any  # np.ndarray (int64)
    t: Any
    mask: Any
    xl: Any
    bd: pl.Series | None
    step_rows: list[int]
    data_end: datetime | None

    @property
    def n_entities(self) -> int:
        return len(self.starts) - 1


def _code_exprs(spec: _Spec, schema: pl.Schema) -> list[pl.Expr]:
    """Expressions of the working columns: ``_ent``, ``t``, ``mask``, ``xl``, ``bd``.

    ``mask`` and ``xl`` are Int32 bit sets (at most 30 steps): narrow columns copy faster
    into the kernel's arrays."""
    mask = pl.lit(0, dtype=pl.Int32)
    for k, step in enumerate(spec.steps):
        mask = mask | pl.when(step.expr(schema)).then(pl.lit(1 << k, dtype=pl.Int32)).otherwise(
            pl.lit(0, dtype=pl.Int32)
        )
    xl = pl.lit(0, dtype=pl.Int32)
    for x in spec.exclusions:
        bits = sum(1 << (j - 1) for j in range(x.from_step, x.to_step))
        xl = xl | pl.when(x.step.expr(schema)).then(pl.lit(bits, dtype=pl.Int32)).otherwise(
            pl.lit(0, dtype=pl.Int32)
        )
    cols = [
        pl.col(spec.count_by).alias("_ent"),
        pl.col("ts").dt.epoch("us").alias("t"),
        mask.alias("mask"),
    ]
    if spec.exclusions:
        # an event that matches a step is never an excluded event
        cols.append(pl.when(mask == 0).then(xl).otherwise(0).alias("xl"))
    if spec.breakdown is not None:
        cols.append(pl.col(spec.breakdown).cast(pl.String).alias("bd"))
    return cols


def _row_stats(starts: Any, t: Any, mask: Any, n: int) -> tuple[bool, list[int]]:
    """Are the rows of each entity in time order? How many rows match each step?"""
    from core._funnel_kernel import in_parallel, row_stats

    parts = in_parallel(row_stats, starts, t, mask, n)
    in_order = all(bad < 0 for bad, _ in parts)
    return in_order, [int(sum(int(c[k]) for _, c in parts)) for k in range(n)]


def _prepare(events: pl.DataFrame | pl.LazyFrame, spec: _Spec, schema: pl.Schema) -> _Rows:
    """Collect the working columns once and group them by entity, in time order.

    Rows already grouped (the canonical table) are used as they are; others (an export in
    time order, a shuffled file) are grouped by ``core._grouping.group_rows`` — a hash
    partition and a stable counting sort, no sort of the table — so entities then come in an
    order of its own (the per-entity results are the same)."""
    import numpy as np

    from core._grouping import group_rows

    df = events.lazy().select(*_code_exprs(spec, schema)).collect()
    if df["_ent"].null_count() or df["t"].null_count():
        df = df.filter(pl.col("_ent").is_not_null() & pl.col("t").is_not_null())
    t = df["t"].to_numpy()
    groups = group_rows(df["_ent"], t)
    t, mask = groups.take(t), groups.take(df["mask"].to_numpy())
    _, step_rows = _row_stats(groups.starts, t, mask, spec.n)
    xl = groups.take(df["xl"].to_numpy()) if "xl" in df.columns else np.zeros(len(t), np.int32)
    return _Rows(
        # one chunk first: gathering across the chunks of a Parquet read is several times slower
        ids=df["_ent"].rechunk().gather(groups.first_rows),
        starts=groups.starts,
        t=t,
        mask=mask,
        xl=xl,
        bd=groups.take_series(df["bd"].rechunk()) if "bd" in df.columns else None,
        step_rows=step_rows,
        data_end=_from_us(int(t.max())) if len(t) else None,
    )


def _entity_codes(rows: _Rows) -> Any:
    import numpy as np

    lens = np.diff(rows.starts)
    return np.repeat(np.arange(len(lens), dtype=np.uint32), lens)


def _unordered_work(rows: _Rows) -> pl.DataFrame:
    """The step and excluded events as a frame (``e``, ``t``, ``mask``, ``xl``, ``bd``) with
    equal timestamps in step order: lowest matched step first (stable)."""
    work = pl.DataFrame({"e": _entity_codes(rows), "t": rows.t, "mask": rows.mask, "xl": rows.xl})
    if rows.bd is not None:
        work = work.with_columns(rows.bd.alias("bd"))
    low = (
        pl.when(pl.col("mask") == 0)
        .then(pl.lit(1 << 62, dtype=pl.Int64))
        .otherwise(pl.col("mask") & (-pl.col("mask")))
    )
    return (
        work.filter((pl.col("mask") != 0) | (pl.col("xl") != 0))
        .with_columns(low.alias("_low"))
        .sort(["e", "t", "_low"], maintain_order=True)
        .drop("_low")
    )


def _from_us(us: int | None) -> datetime | None:
    if us is None:
        return None
    return pl.Series([us], dtype=pl.Int64).cast(pl.Datetime("us", "UTC")).item()


# --------------------------------------------------------------------------------------------
# Ordered and strict: the compiled per-entity state machine
# --------------------------------------------------------------------------------------------


def _ordered_scan(rows: _Rows, spec: _Spec) -> pl.DataFrame:
    """One record per entity: ``furthest_step``, ``excluded`` and the step times."""
    from core._funnel_kernel import in_parallel, ordered_funnel

    parts = in_parallel(
        ordered_funnel,
        rows.starts,
        rows.t,
        rows.mask,
        rows.xl,
        spec.n,
        spec.window_us,
        spec.order == "strict",
    )
    return _records(parts, spec.n)


def _records(parts: list, n: int) -> pl.DataFrame:
    """The kernels' per-chunk (furthest, excluded, times) as one frame, in entity order."""
    import numpy as np

    from core._funnel_kernel import NO_TIME

    times = np.concatenate([p[2] for p in parts])
    tcols = _time_cols(n)
    frame = pl.DataFrame(
        {
            "furthest_step": np.concatenate([p[0] for p in parts]).astype(np.int64),
            "excluded": np.concatenate([p[1] for p in parts]),
        }
        | {c: times[:, k] for k, c in enumerate(tcols)}
    )
    return frame.with_columns(
        pl.when(pl.col(c) == NO_TIME)
        .then(None)
        .otherwise(pl.col(c))
        .cast(pl.Datetime("us", "UTC"))
        .alias(c)
        for c in tcols
    )


# --------------------------------------------------------------------------------------------
# Unordered: best window of distinct steps
# --------------------------------------------------------------------------------------------


def _unordered_scan(rows: _Rows, spec: _Spec) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """One record per entity of an unordered funnel (see ``unordered_funnel``), and the rows
    in processing order as a frame when a breakdown needs them."""
    import numpy as np

    from core._funnel_kernel import (
        call,
        clear_mixed_exclusions,
        in_parallel,
        step_classes,
        ties_out_of_step_order,
        unordered_funnel,
    )

    starts, t, mask, xl = rows.starts, rows.t, rows.mask, rows.xl
    work = None
    if call(ties_out_of_step_order, starts, t, mask, xl):
        work = _unordered_work(rows)  # rare: equal timestamps out of step order
        e = work["e"].to_numpy()
        starts = np.searchsorted(e, np.arange(rows.n_entities + 1)).astype(np.int64)
        t, mask, xl = work["t"].to_numpy(), work["mask"].to_numpy(), work["xl"].to_numpy()
    if xl.any():
        xl = call(clear_mixed_exclusions, starts, t, mask, xl)
    # step classes: the distinct step bit sets (events of one class are interchangeable)
    classes = pl.Series(mask).unique().sort()
    cls_mask = classes.filter(classes != 0).to_numpy().astype(mask.dtype)
    cls = call(step_classes, mask, cls_mask)
    parts = in_parallel(unordered_funnel, starts, t, cls, xl, cls_mask, spec.n, spec.window_us)
    if spec.breakdown is not None and work is None:
        work = pl.DataFrame({"e": _entity_codes(rows), "mask": rows.mask, "bd": rows.bd})
    return _records(parts, spec.n), work


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def compute_funnel(
    events: pl.DataFrame | pl.LazyFrame,
    steps: Sequence[str | Sequence[str] | FunnelStep],
    *,
    window: timedelta,
    order: str = "ordered",
    count_by: str = "user_id",
    exclusions: Sequence[tuple[Any, int, int]] = (),
    breakdown: str | None = None,
    breakdown_limit: int = 10,
) -> FunnelResult:
    """Compute a conversion funnel.

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table (``core.schema``), already filtered by date and sidebar filters.
        Needs ``ts``, ``event``, the ``count_by`` column and the columns the conditions use.
    steps : sequence
        1 to 30 steps; each an event name, a list of names (any of them) or a
        :class:`FunnelStep` with property conditions.
    window : timedelta
        Conversion window, inclusive, measured from the attempt's first step to each later step.
    order : {"ordered", "strict", "unordered"}
        ``ordered``: other events may happen between steps; ``strict``: any other event of the
        entity between two steps breaks the attempt; ``unordered``: steps in any order.
    count_by : str
        Who converts: ``user_id``, ``session_id`` or any column (``order_id``...); rows where it
        is null are ignored.
    exclusions : sequence of (step, from_step, to_step)
        An entity whose counted attempt does an event matching ``step`` after step
        ``from_step`` and before step ``to_step`` (1-based, ``from_step < to_step``) is
        removed from the funnel and reported in ``entities.excluded``. Unordered funnels
        only accept exclusions over the whole funnel (1 to n).
    breakdown : str, optional
        Column to split the funnel by, attributed by first touch: the value on the entity's
        earliest step-1 event that has one (earliest step event in unordered funnels).
    breakdown_limit : int
        Number of breakdown values shown; the others are grouped as ``"Other"``.

    Returns
    -------
    FunnelResult
        ``steps`` (per step counts, conversion, drop-off, mean/median seconds from the
        previous step), ``entities`` (one row per entity: furthest step, excluded, step
        times, breakdown; in the input's order of entities when its rows are grouped by
        entity, as the stored tables are, else in an order of their own: sort by id to
        compare) and ``breakdown_steps``. Degenerate input (empty data, no step,
        nobody at step 1, steps absent from the data) gives a result with a ``reason``.

    Raises
    ------
    ParameterError
        A parameter is invalid: the message names it, the bad value and what is valid.
    SchemaError
        ``ts`` or ``event`` is missing.

    Examples
    --------
    >>> from datetime import timedelta
    >>> r = compute_funnel(events, ["view_item", "add_to_cart", "purchase"],
    ...                    window=timedelta(days=1))  # doctest: +SKIP
    >>> r.steps.select("step", "entities", "conversion_from_first")  # doctest: +SKIP
    """
    lf = events.lazy()
    schema = lf.collect_schema()
    spec = _validate(schema, steps, window, order, count_by, exclusions, breakdown, breakdown_limit)
    id_dtype = schema[count_by]
    if spec.n == 0:
        has_rows = lf.select(pl.col(count_by).is_not_null().any()).collect().item()
        empty = pl.DataFrame(schema={count_by: id_dtype})
        reason = (
            _reason(count_by, (), empty, empty, ())
            if not has_rows
            else "Add at least one step to build a funnel."
        )
        return _empty_result(spec, id_dtype, reason or "")
    rows = _prepare(lf, spec, schema)
    absent = tuple(k + 1 for k, c in enumerate(rows.step_rows) if c == 0)
    if rows.n_entities == 0:
        empty = pl.DataFrame(schema={count_by: id_dtype})
        return _empty_result(
            spec, id_dtype, _reason(count_by, spec.labels, empty, empty, absent) or ""
        )
    ents = pl.DataFrame(
        {"e": pl.int_range(rows.n_entities, dtype=pl.UInt32, eager=True), "_ent": rows.ids}
    )
    if spec.order == "unordered":
        records, work = _unordered_scan(rows, spec)
    else:
        records = _ordered_scan(rows, spec)
        if spec.breakdown is not None:
            work = pl.DataFrame({"e": _entity_codes(rows), "mask": rows.mask, "bd": rows.bd})
    entities = ents.hstack(records)
    if spec.breakdown is not None:
        entities = entities.join(
            _first_touch(work, spec), on="e", how="left", maintain_order="left"
        )
    entities = entities.rename({"_ent": count_by}).drop("e")
    cols = list(_entities_schema(count_by, id_dtype, spec.n, spec.breakdown is not None))
    entities = entities.select(cols)
    return _finish(entities, spec, absent=absent, data_end=rows.data_end)


def warm_up() -> None:
    """Compile the ordered-funnel kernel now (a few seconds on a fresh install, then loaded
    from numba's disk cache); the app calls this in a background thread at start."""
    from core._funnel_kernel import warm_up as _warm

    _warm()


def _first_touch(work: pl.DataFrame, spec: _Spec) -> pl.DataFrame:
    sel = (pl.col("mask") != 0) if spec.order == "unordered" else ((pl.col("mask") & 1) != 0)
    return (
        work.filter(sel & pl.col("bd").is_not_null())
        .filter(pl.col("e").is_first_distinct())
        .select("e", pl.col("bd").alias("breakdown"))
    )


def merge_funnel_results(results: Sequence[FunnelResult]) -> FunnelResult:
    """Merge results computed on partitions that each hold all events of their entities.

    The merge concatenates the ``entities`` tables and recomputes the summaries from them
    (breakdown buckets are ranked again over the whole data).

    Raises
    ------
    ParameterError
        The results were computed with different steps, windows, orders or breakdowns.
    """
    if not results:
        raise ParameterError("`results` must hold at least one FunnelResult, got none")
    head = results[0]
    for r in results[1:]:
        if (r.labels, r.count_by, r.order, r.window, r.breakdown, r.breakdown_limit) != (
            head.labels,
            head.count_by,
            head.order,
            head.window,
            head.breakdown,
            head.breakdown_limit,
        ):
            raise ParameterError("cannot merge funnel results computed with different settings")
    entities = pl.concat([r.entities for r in results], how="vertical")
    absent = tuple(sorted(set.intersection(*[set(r.absent_steps) for r in results])))
    ends = [r.data_end for r in results if r.data_end is not None]
    return _finish(entities, head, absent=absent, data_end=max(ends) if ends else None)


def dropped_off(result: FunnelResult, step: int) -> pl.DataFrame:
    """Entities that reached ``step - 1`` but not ``step`` (excluded entities are left out).

    Parameters
    ----------
    result : FunnelResult
        A computed funnel.
    step : int
        1-based step number, 1 to ``result.n_steps``. ``step=1`` gives the entities that never
        did step 1.

    Returns
    -------
    pl.DataFrame
        The ``count_by`` column, ``furthest_step`` and ``dropped_after`` (UTC time of their
        ``step - 1`` in the counted attempt; null for ``step=1``), plus ``breakdown`` when the
        funnel has one. Sorted by ``dropped_after`` then id.

    Raises
    ------
    ParameterError
        ``step`` is out of range.
    """
    n = result.n_steps
    if isinstance(step, bool) or not isinstance(step, int) or not 1 <= step <= max(n, 1):
        raise ParameterError(f"`step` must be a step number from 1 to {n}, got {step!r}")
    ents = result.entities
    if step == 1:
        at = pl.lit(None, dtype=pl.Datetime("us", "UTC"))
    else:
        at = pl.col(f"step_{step - 1}_at")
    cols = [result.count_by, "furthest_step", at.alias("dropped_after")]
    if "breakdown" in ents.columns:
        cols.append("breakdown")
    return (
        ents.filter(~pl.col("excluded") & (pl.col("furthest_step") == step - 1))
        .select(cols)
        .sort(["dropped_after", result.count_by], nulls_last=True)
    )


# --------------------------------------------------------------------------------------------
# Parameters bound to the page (and shared with the Paths page through the URL)
# --------------------------------------------------------------------------------------------


def _step_to_json(s: FunnelStep) -> Any:
    # shortest form first: "name", ["a", "b"], or [["a"], ["col:op:v"], "label"]
    if not s.where and not s.label:
        return s.events[0] if len(s.events) == 1 else list(s.events)
    out: list = [list(s.events), [format_condition(c) for c in s.where]]
    if s.label:
        out.append(s.label)
    return out


def _step_from_json(obj: Any) -> FunnelStep:
    if isinstance(obj, str):
        return FunnelStep(obj)
    if isinstance(obj, list) and obj and all(isinstance(x, str) for x in obj):
        return FunnelStep(tuple(obj))
    if (
        not isinstance(obj, list)
        or not 2 <= len(obj) <= 3
        or not isinstance(obj[0], list)
        or not isinstance(obj[1], list)
    ):
        raise ParameterError(f"funnel step {obj!r} is not in the expected form")
    where = tuple(parse_condition(c) for c in obj[1])
    label = obj[2] if len(obj) > 2 else ""
    if not isinstance(label, str):
        raise ParameterError(f"funnel step label {label!r} is not text")
    return FunnelStep(tuple(obj[0]), where=where, label=label)


@dataclass(frozen=True)
class FunnelParams:
    """Everything the Funnels page controls, frozen and hashable (a cache key).

    ``to_query()`` gives a compact URL-safe string; ``from_query()`` reads it back. The Paths
    page opens with ``paths.funnel=<to_query()>&paths.dropped_at=<k>``.

    Parameters
    ----------
    steps : tuple of FunnelStep
    window : timedelta
    order : {"ordered", "strict", "unordered"}
    count_by : str
    exclusions : tuple of (FunnelStep, from_step, to_step)
    breakdown : str or None
    breakdown_limit : int
    """

    steps: tuple[FunnelStep, ...]
    window: timedelta = timedelta(days=1)
    order: str = "ordered"
    count_by: str = "user_id"
    exclusions: tuple[tuple[FunnelStep, int, int], ...] = ()
    breakdown: str | None = None
    breakdown_limit: int = 10

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(FunnelStep.coerce(s) for s in self.steps))
        object.__setattr__(
            self,
            "exclusions",
            tuple(
                (FunnelStep.coerce(s, what="exclusion"), int(a), int(b))
                for s, a, b in self.exclusions
            ),
        )
        if not isinstance(self.window, timedelta) or self.window <= timedelta(0):
            raise ParameterError(f"`window` must be a positive timedelta, got {self.window!r}")
        if self.order not in ORDERS:
            raise ParameterError(f"`order` must be one of {list(ORDERS)}, got {self.order!r}")
        if (
            isinstance(self.breakdown_limit, bool)
            or not isinstance(self.breakdown_limit, int)
            or self.breakdown_limit < 1
        ):
            raise ParameterError(
                f"`breakdown_limit` must be a whole number >= 1, got {self.breakdown_limit!r}"
            )

    def to_query(self) -> str:
        """Compact URL-safe form: ``f1.`` + base64url of a short JSON (``f1z.``: deflated)."""
        obj: dict[str, Any] = {"s": [_step_to_json(s) for s in self.steps]}
        if self.window != timedelta(days=1):
            us = self.window // timedelta(microseconds=1)
            obj["w"] = us // 1_000_000 if us % 1_000_000 == 0 else us / 1e6
        if self.order != "ordered":
            obj["o"] = self.order
        if self.count_by != "user_id":
            obj["c"] = self.count_by
        if self.exclusions:
            obj["x"] = [[_step_to_json(s), a, b] for s, a, b in self.exclusions]
        if self.breakdown is not None:
            obj["b"] = self.breakdown
        if self.breakdown_limit != 10:
            obj["l"] = self.breakdown_limit
        raw = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
        plain = "f1." + base64.urlsafe_b64encode(raw).decode().rstrip("=")
        packed = "f1z." + base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode().rstrip("=")
        return packed if len(packed) < len(plain) else plain

    @classmethod
    def from_query(cls, text: str) -> FunnelParams:
        """Inverse of :meth:`to_query`.

        Raises
        ------
        ParameterError
            ``text`` is not a funnel written by :meth:`to_query`.
        """
        if not isinstance(text, str) or not text.startswith(("f1.", "f1z.")) or len(text) > 20_000:
            raise ParameterError(f"funnel parameter {str(text)[:80]!r} is not a saved funnel")
        packed = text.startswith("f1z.")
        body = text[4:] if packed else text[3:]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            if packed:
                raw = zlib.decompressobj().decompress(raw, 200_000)
            obj = json.loads(raw.decode())
            if not isinstance(obj, dict) or not isinstance(obj.get("s"), list):
                raise ValueError("steps")
            steps = tuple(_step_from_json(s) for s in obj["s"])
            w = obj.get("w", 86400)
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w):
                raise ValueError("window")
            exclusions = tuple((_step_from_json(s), a, b) for s, a, b in obj.get("x", []))
            for _, a, b in exclusions:
                if not (isinstance(a, int) and isinstance(b, int)):
                    raise ValueError("exclusion steps")
            if len(steps) > MAX_STEPS or not 0 < w <= 10 * 365 * 86400:
                raise ValueError("size")
            params = cls(
                steps=steps,
                window=timedelta(seconds=w),
                order=obj.get("o", "ordered"),
                count_by=obj.get("c", "user_id"),
                exclusions=exclusions,
                breakdown=obj.get("b"),
                breakdown_limit=obj.get("l", 10),
            )
        except ParameterError as e:
            raise ParameterError(f"funnel parameter {text[:80]!r} is invalid: {e}") from None
        except (
            ValueError,
            TypeError,
            KeyError,
            IndexError,
            AttributeError,
            OverflowError,
            zlib.error,
            json.JSONDecodeError,
            UnicodeDecodeError,
            RecursionError,
        ) as e:
            raise ParameterError(
                f"funnel parameter {text[:80]!r} is not a saved funnel ({type(e).__name__})"
            ) from None
        if not isinstance(params.count_by, str) or (
            params.breakdown is not None and not isinstance(params.breakdown, str)
        ):
            raise ParameterError(f"funnel parameter {text[:80]!r} names an invalid column")
        return params

    def compute(self, events: pl.DataFrame | pl.LazyFrame) -> FunnelResult:
        """:func:`compute_funnel` with these parameters."""
        return compute_funnel(
            events,
            self.steps,
            window=self.window,
            order=self.order,
            count_by=self.count_by,
            exclusions=self.exclusions,
            breakdown=self.breakdown,
            breakdown_limit=self.breakdown_limit,
        )


# --------------------------------------------------------------------------------------------
# Trends, time to convert, breakdown table with intervals and tests
# --------------------------------------------------------------------------------------------


def _z(confidence: float) -> float:
    if not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ParameterError(f"`confidence` must be between 0 and 1, got {confidence!r}")
    from scipy.stats import norm

    return float(norm.ppf(0.5 + confidence / 2))


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
    z = _z(confidence)
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    # exact at the ends (floating point would leave 1 - 1e-16)
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


def _wilson_exprs(succ: str, trials: str, z: float) -> tuple[pl.Expr, pl.Expr]:
    x, n = pl.col(succ).cast(pl.Float64), pl.col(trials).cast(pl.Float64)
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


def _check_step(result: FunnelResult, value: Any, name: str, *, low: int = 1) -> int:
    n = result.n_steps
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= max(n, low):
        raise ParameterError(f"`{name}` must be a step number from {low} to {n}, got {value!r}")
    return value


#: Trend intervals and their length (UTC; weeks start on Monday).
TREND_INTERVALS: Final[dict[str, timedelta]] = {
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(weeks=1),
}
_TRUNCATE: Final[dict[str, str]] = {"hour": "1h", "day": "1d", "week": "1w"}
#: The two definitions of a conversion trend (see :func:`conversion_by_attempt`).
TREND_DEFINITIONS: Final[dict[str, str]] = {
    "attempts": "attempts that entered in the period and converted within the window",
    "cohort": "entities by the period of their first entry (cohort)",
}

_TREND_SCHEMA: Final[dict[str, pl.DataType]] = {
    "period": pl.Datetime("us", "UTC"),
    "entered": pl.Int64(),
    "converted": pl.Int64(),
    "conversion": pl.Float64(),
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
    "complete": pl.Boolean(),
}


def _check_interval(interval: Any) -> timedelta:
    if not isinstance(interval, str) or interval not in TREND_INTERVALS:
        raise ParameterError(
            f"`interval` must be one of {list(TREND_INTERVALS)}, got {interval!r}"
        )
    return TREND_INTERVALS[interval]


def _trend_frame(
    counts: pl.DataFrame, span: timedelta, window: timedelta, data_end: datetime | None, z: float
) -> pl.DataFrame:
    """``_start``, ``entered``, ``converted`` per period -> the trend table.

    A period is complete when the window of its last possible entry (just before the period's
    end) closes no later than the end of the data: only then can no later event still convert
    one of its entries."""
    low, high = _wilson_exprs("converted", "entered", z)
    if data_end is not None:
        complete = (pl.col("_start") + span + window) <= pl.lit(data_end)
    else:
        complete = pl.lit(True)
    return counts.sort("_start").select(
        pl.col("_start").cast(pl.Datetime("us", "UTC")).alias("period"),
        pl.col("entered").cast(pl.Int64),
        pl.col("converted").cast(pl.Int64),
        (pl.col("converted") / pl.col("entered")).alias("conversion"),
        low.alias("ci_low"),
        high.alias("ci_high"),
        complete.alias("complete"),
    )


def conversion_over_time(
    result: FunnelResult,
    *,
    interval: str = "day",
    to_step: int | None = None,
    confidence: float = 0.95,
) -> pl.DataFrame:
    """Conversion by the period of each entity's first entry into the funnel (a cohort view).

    Each entity counts once, in the period of the step 1 of its counted attempt, as converted
    when that entity converted at all. A growing shop's repeat visitors all sit in the first
    periods, so this view is not a trend of the conversion rate: use
    :func:`conversion_by_attempt` for that (the default of the Funnels page).

    Parameters
    ----------
    result : FunnelResult
    interval : {"hour", "day", "week"}
        UTC hours, days, or weeks starting on Monday.
    to_step : int, optional
        Conversion means reaching this step; default the last one.
    confidence : float
        Coverage of the Wilson interval.

    Returns
    -------
    pl.DataFrame
        ``period`` (Datetime UTC, start of the period), ``entered``, ``converted``,
        ``conversion``, ``ci_low``, ``ci_high`` and ``complete`` (false when the window of some
        entrants runs past the end of the data, so the period's conversion may still rise).
        Empty when nobody entered.

    Raises
    ------
    ParameterError
        ``interval``, ``to_step`` or ``confidence`` is invalid.
    """
    span = _check_interval(interval)
    to_step = result.n_steps if to_step is None else _check_step(result, to_step, "to_step")
    z = _z(confidence)
    ents = result.entities
    if result.n_steps == 0 or ents.is_empty():
        return pl.DataFrame(schema=_TREND_SCHEMA)
    entered = ents.filter(~pl.col("excluded") & (pl.col("furthest_step") >= 1))
    if entered.is_empty():
        return pl.DataFrame(schema=_TREND_SCHEMA)
    counts = entered.group_by(
        pl.col("step_1_at").dt.truncate(_TRUNCATE[interval]).alias("_start")
    ).agg(
        pl.len().alias("entered"),
        (pl.col("furthest_step") >= to_step).sum().alias("converted"),
    )
    return _trend_frame(counts, span, result.window, result.data_end, z)


def conversion_by_attempt(
    events: pl.DataFrame | pl.LazyFrame,
    params: FunnelParams,
    *,
    interval: str = "week",
    to_step: int | None = None,
    confidence: float = 0.95,
) -> pl.DataFrame:
    """Conversion of the funnel attempts that entered in each period (PostHog's funnel trend).

    For each period and each entity with a step-1 event in it, the entity's attempts that start
    at one of those step-1 events are followed with the funnel's rules (window from the
    attempt's step 1, order, exclusions); the entity counts once in the period's ``entered``,
    and in ``converted`` when one of those attempts reached ``to_step``. A later step may fall
    after the period's end, inside the window. An entity active in three weeks counts in all
    three, so the rate follows what the shop converts week by week, unlike
    :func:`conversion_over_time`, which puts every entity in the period of its first entry.

    This is PostHog's trends funnel (``funnel-udf/src/trends.rs``: one state per entity and
    entry period) and Mixpanel's conversion trend. Breakdowns are ignored.

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table, filtered as for :func:`compute_funnel`.
    params : FunnelParams
        The funnel (ordered or strict; unordered funnels have no step 1 to enter by).
    interval : {"hour", "day", "week"}
        UTC hours, days, or weeks starting on Monday.
    to_step : int, optional
        Conversion means reaching this step (2 to the number of steps); default the last.
    confidence : float
        Coverage of the Wilson interval.

    Returns
    -------
    pl.DataFrame
        The columns of :func:`conversion_over_time`: ``period`` (Datetime UTC),
        ``entered``, ``converted``, ``conversion``, ``ci_low``, ``ci_high``, ``complete``
        (false when the window of entries late in the period runs past the end of the data).
        Empty when nobody entered or the funnel has fewer than two steps.

    Raises
    ------
    ParameterError
        A parameter is invalid, or the funnel is unordered.

    Examples
    --------
    >>> p = FunnelParams(steps=("view_item", "purchase"), window=timedelta(days=1))
    >>> conversion_by_attempt(events, p, interval="week")  # doctest: +SKIP
    """
    import numpy as np

    span = _check_interval(interval)
    z = _z(confidence)
    if not isinstance(params, FunnelParams):
        raise ParameterError(f"`params` must be a FunnelParams, got {type(params).__name__}")
    if params.order == "unordered":
        raise ParameterError(
            "a trend by attempt needs an ordered or strict funnel (an unordered funnel has no "
            "step 1 to enter by), got order='unordered'; use conversion_over_time instead"
        )
    lf = events.lazy()
    schema = lf.collect_schema()
    spec = _validate(
        schema, params.steps, params.window, params.order, params.count_by,
        params.exclusions, None, params.breakdown_limit,
    )
    if spec.n < 2:
        return pl.DataFrame(schema=_TREND_SCHEMA)
    if to_step is None:
        to_step = spec.n
    elif isinstance(to_step, bool) or not isinstance(to_step, int) or not 2 <= to_step <= spec.n:
        raise ParameterError(f"`to_step` must be a step number from 2 to {spec.n}, got {to_step!r}")
    rows = _prepare(lf, spec, schema)
    if rows.n_entities == 0 or rows.step_rows[0] == 0:
        return pl.DataFrame(schema=_TREND_SCHEMA)
    every, span_us = _TRUNCATE[interval], span // timedelta(microseconds=1)
    t, mask, ent = rows.t, rows.mask, _entity_codes(rows)
    # one (entity, period) per period with a step-1 event, from its first entry in the period
    entries = (
        pl.DataFrame({"e": ent, "t": t, "mask": mask})
        .filter((pl.col("mask") & 1) != 0)
        .group_by(
            "e",
            pl.col("t").cast(pl.Datetime("us", "UTC")).dt.truncate(every).dt.epoch("us")
            .alias("p"),
        )
        .agg(pl.col("t").min().alias("first"))
    )
    e_in, p_in = entries["e"].to_numpy(), entries["p"].to_numpy()
    # Every (entity, period) becomes its own entity: the entity's rows from the first one at
    # the time of its first entry in the period (ties included) to the last one at or before
    # the period's end plus the window, with step 1 cleared outside the period, so that only
    # attempts entering in the period are followed. The slices are found by binary search on
    # a (entity, time rank) key, which rows sorted by entity and time keep non-decreasing.
    times = np.sort(t)  # np.unique hashes: 20x slower on a million rows
    times = times[np.concatenate(([True], times[1:] != times[:-1]))]
    width = np.int64(len(times) + 1)
    key = ent.astype(np.int64) * width + np.searchsorted(times, t)
    base = e_in.astype(np.int64) * width
    lo = np.searchsorted(key, base + np.searchsorted(times, entries["first"].to_numpy()), "left")
    limit = p_in + (span_us - 1 + spec.window_us)
    hi = np.searchsorted(key, base + np.searchsorted(times, limit, "right") - 1, "right")
    lengths = hi - lo
    starts = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    idx = np.repeat(lo - starts[:-1], lengths) + np.arange(starts[-1], dtype=np.int64)
    t_w, p_w = t[idx], np.repeat(p_in, lengths)
    inside = (t_w >= p_w) & (t_w < p_w + span_us)
    mask_w = np.where(inside, mask[idx], mask[idx] & ~np.int32(1)).astype(mask.dtype)
    from core._funnel_kernel import in_parallel, ordered_funnel

    parts = in_parallel(
        ordered_funnel,
        starts,
        t_w,
        mask_w,
        rows.xl[idx],
        spec.n,
        spec.window_us,
        spec.order == "strict",
    )
    per = pl.DataFrame(
        {
            "_start": pl.Series(p_in).cast(pl.Datetime("us", "UTC")),
            "furthest": np.concatenate([p[0] for p in parts]).astype(np.int64),
            "excluded": np.concatenate([p[1] for p in parts]),
        }
    ).filter(~pl.col("excluded") & (pl.col("furthest") >= 1))
    counts = per.group_by("_start").agg(
        pl.len().alias("entered"), (pl.col("furthest") >= to_step).sum().alias("converted")
    )
    return _trend_frame(counts, span, spec.window, rows.data_end, z)


def time_to_convert(
    result: FunnelResult, *, from_step: int = 1, to_step: int | None = None, bins: int = 20
) -> pl.DataFrame:
    """Histogram of the time entities took from ``from_step`` to ``to_step``.

    Parameters
    ----------
    result : FunnelResult
    from_step, to_step : int
        1-based, ``from_step < to_step``; ``to_step`` defaults to the last step.
    bins : int
        Number of equal-width bins from 0 to the longest time (1 to 200).

    Returns
    -------
    pl.DataFrame
        ``bin_start_seconds``, ``bin_end_seconds``, ``entities``, ``share`` (of converters).
        Empty when nobody reached ``to_step``.

    Raises
    ------
    ParameterError
        Steps out of range or not increasing, or ``bins`` out of range.
    """
    schema = {
        "bin_start_seconds": pl.Float64(),
        "bin_end_seconds": pl.Float64(),
        "entities": pl.Int64(),
        "share": pl.Float64(),
    }
    if result.n_steps < 2:
        return pl.DataFrame(schema=schema)
    to_step = result.n_steps if to_step is None else _check_step(result, to_step, "to_step", low=2)
    _check_step(result, from_step, "from_step")
    if from_step >= to_step:
        raise ParameterError(
            f"`from_step` must come before `to_step`, got from {from_step} to {to_step}"
        )
    if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= 200:
        raise ParameterError(f"`bins` must be a whole number from 1 to 200, got {bins!r}")
    secs = result.entities.filter(
        ~pl.col("excluded") & (pl.col("furthest_step") >= to_step)
    ).select(
        (
            (pl.col(f"step_{to_step}_at") - pl.col(f"step_{from_step}_at")).dt.total_microseconds()
            / 1e6
        ).alias("s")
    )["s"]
    if secs.is_empty():
        return pl.DataFrame(schema=schema)
    import numpy as np

    values = secs.to_numpy()
    top = float(values.max())
    edges = np.linspace(0.0, top if top > 0 else 1.0, bins + 1)
    counts, _ = np.histogram(values, bins=edges)
    return pl.DataFrame(
        {
            "bin_start_seconds": edges[:-1],
            "bin_end_seconds": edges[1:],
            "entities": counts.astype("int64"),
            "share": counts / counts.sum(),
        },
        schema=schema,
    )


def _holm(pvalues: Sequence[float | None]) -> list[float | None]:
    idx = [i for i, p in enumerate(pvalues) if p is not None]
    m = len(idx)
    order = sorted(idx, key=lambda i: pvalues[i])
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * float(pvalues[i])))
        out[i] = running
    return out


def breakdown_table(
    result: FunnelResult, *, to_step: int | None = None, confidence: float = 0.95
) -> pl.DataFrame:
    """Conversion per breakdown value, its Wilson interval and a test against the rest.

    Each value's conversion (entered step 1 -> reached ``to_step``) is compared with the pooled
    conversion of all other values by Fisher's exact test (two-sided); p-values are adjusted
    for the number of values by Holm's method, and ``significant`` is
    ``p_adjusted < 1 - confidence``.

    Returns
    -------
    pl.DataFrame
        ``breakdown``, ``entered``, ``converted``, ``conversion``, ``ci_low``, ``ci_high``,
        ``rest_conversion``, ``difference`` (value minus rest), ``p_value``, ``p_adjusted``,
        ``significant``. Empty without a breakdown or when nobody entered.
    """
    schema = {
        "breakdown": pl.String(),
        "entered": pl.Int64(),
        "converted": pl.Int64(),
        "conversion": pl.Float64(),
        "ci_low": pl.Float64(),
        "ci_high": pl.Float64(),
        "rest_conversion": pl.Float64(),
        "difference": pl.Float64(),
        "p_value": pl.Float64(),
        "p_adjusted": pl.Float64(),
        "significant": pl.Boolean(),
    }
    z = _z(confidence)
    if result.breakdown is None or result.n_steps == 0 or result.entities.is_empty():
        return pl.DataFrame(schema=schema)
    to_step = result.n_steps if to_step is None else _check_step(result, to_step, "to_step")
    with_bucket, top = _breakdown_buckets(result.entities, result.breakdown_limit)
    counts = with_bucket.group_by("bucket").agg(
        pl.len().cast(pl.Int64).alias("entered"),
        (pl.col("furthest_step") >= to_step).sum().cast(pl.Int64).alias("converted"),
    )
    if counts.is_empty():
        return pl.DataFrame(schema=schema)
    rank = {v: i for i, v in enumerate(top)}
    counts = counts.with_columns(
        pl.col("bucket").replace_strict(rank, default=len(rank), return_dtype=pl.Int64).alias("_o")
    ).sort("_o")
    total_n = int(counts["entered"].sum())
    total_x = int(counts["converted"].sum())
    from scipy.stats import fisher_exact

    pvals: list[float | None] = []
    for x, n_ in zip(counts["converted"].to_list(), counts["entered"].to_list(), strict=True):
        rn, rx = total_n - n_, total_x - x
        if rn == 0:
            pvals.append(None)
            continue
        table = [[x, n_ - x], [rx, rn - rx]]
        pvals.append(float(fisher_exact(table, alternative="two-sided").pvalue))
    low, high = _wilson_exprs("converted", "entered", z)
    rest_n = pl.lit(total_n) - pl.col("entered")
    rest_conv = pl.when(rest_n > 0).then((pl.lit(total_x) - pl.col("converted")) / rest_n)
    out = counts.select(
        pl.col("bucket").alias("breakdown"),
        "entered",
        "converted",
        (pl.col("converted") / pl.col("entered")).alias("conversion"),
        low.alias("ci_low"),
        high.alias("ci_high"),
        rest_conv.alias("rest_conversion"),
    ).with_columns(
        (pl.col("conversion") - pl.col("rest_conversion")).alias("difference"),
        pl.Series("p_value", pvals, dtype=pl.Float64),
        pl.Series("p_adjusted", _holm(pvals), dtype=pl.Float64),
    )
    return out.with_columns(
        (pl.col("p_adjusted") < (1 - confidence)).fill_null(False).alias("significant")
    ).select(list(schema))
