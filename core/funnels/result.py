"""What a funnel computation returns: :class:`FunnelResult`, and the summaries built from the
per-entity table (per-step counts and times, breakdown buckets, the reason shown for an empty
or partly meaningless funnel).

The summaries depend on the ``entities`` table and the settings only, so a result merged from
partitions (:func:`core.funnels.merge_funnel_results`) is summarised by the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

import polars as pl

from core.funnels.params import FunnelParams

__all__ = ["NONE_LABEL", "OTHER", "FunnelResult"]

#: Label of the breakdown bucket that gathers the values beyond ``breakdown_limit``.
OTHER: Final[str] = "Other"
#: Label of entities whose breakdown value is empty.
NONE_LABEL: Final[str] = "(none)"


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
    params : FunnelParams
        The settings the funnel was computed with (``labels``, ``count_by``, ``order``,
        ``window``, ``breakdown`` and ``breakdown_limit`` read them).
    reason : str or None
        Why the result is empty or partly meaningless (empty data, one step, a step absent
        from the data...); ``None`` when there is nothing to explain.
    """

    steps: pl.DataFrame
    entities: pl.DataFrame
    breakdown_steps: pl.DataFrame
    params: FunnelParams
    reason: str | None = None
    data_end: datetime | None = None
    absent_steps: tuple[int, ...] = field(default_factory=tuple)

    @property
    def labels(self) -> tuple[str, ...]:
        """Step labels."""
        return self.params.labels

    @property
    def count_by(self) -> str:
        """The column whose values are the entities counted."""
        return self.params.count_by

    @property
    def order(self) -> str:
        """``"ordered"``, ``"strict"`` or ``"unordered"``."""
        return self.params.order

    @property
    def window(self) -> timedelta:
        """The conversion window."""
        return self.params.window

    @property
    def breakdown(self) -> str | None:
        """The breakdown column, or None."""
        return self.params.breakdown

    @property
    def breakdown_limit(self) -> int:
        """Number of breakdown values shown before "Other"."""
        return self.params.breakdown_limit

    @property
    def n_steps(self) -> int:
        """Number of steps."""
        return len(self.params.steps)

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


def time_cols(n: int) -> list[str]:
    """Names of the step-time columns of the entities table."""
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


def entities_schema(
    count_by: str, id_dtype: pl.DataType, n: int, breakdown: bool
) -> dict[str, pl.DataType]:
    """Columns of the entities table, in order (see :class:`FunnelResult`)."""
    schema: dict[str, pl.DataType] = {
        count_by: id_dtype,
        "furthest_step": pl.Int64(),
        "excluded": pl.Boolean(),
    }
    for c in time_cols(n):
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
    tcols = time_cols(n)
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


def breakdown_buckets(entities: pl.DataFrame, limit: int) -> tuple[pl.DataFrame, list[str]]:
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
    with_bucket, top = breakdown_buckets(entities, limit)
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


def reason_for(
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


def finish(
    entities: pl.DataFrame,
    params: FunnelParams,
    *,
    absent: tuple[int, ...] = (),
    data_end: datetime | None = None,
    reason: str | None = None,
) -> FunnelResult:
    """The result for an ``entities`` table: summaries, and the explanation unless given."""
    labels = params.labels
    steps, per = _summaries(entities, labels, params.breakdown, params.breakdown_limit)
    if reason is None:
        reason = reason_for(params.count_by, labels, entities, steps, absent)
    return FunnelResult(
        steps=steps,
        entities=entities,
        breakdown_steps=per,
        params=params,
        reason=reason,
        data_end=data_end,
        absent_steps=absent,
    )


def empty_result(params: FunnelParams, id_dtype: pl.DataType, reason: str) -> FunnelResult:
    """A result without entities (the table has the columns it would have)."""
    schema = entities_schema(
        params.count_by, id_dtype, len(params.steps), params.breakdown is not None
    )
    return finish(pl.DataFrame(schema=schema), params, reason=reason)
