"""The funnel computation: :func:`compute_funnel` builds a :class:`FunnelParams` and
:func:`run` computes the funnel from it (the rules are in the package docstring and
``docs/funnels.md``).

Ordered and strict funnels run the compiled state machine one event at a time
(``ordered_funnel``); unordered funnels slide each step event's window over the entity's events
and take a maximum matching of events to steps (``unordered_funnel``). Every computation is
keyed by entity, so the funnel is the same on any partition of the data that holds all events of
its entities; :func:`merge_funnel_results` merges the per-partition results (concatenate
``entities``, recompute the summaries).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl

from core.errors import ParameterError
from core.funnels.params import FunnelParams
from core.funnels.prepare import Rows, entity_codes, prepare_rows, unordered_work
from core.funnels.result import (
    FunnelResult,
    empty_result,
    entities_schema,
    finish,
    reason_for,
    time_cols,
)
from core.funnels.steps import FunnelStep

__all__ = ["compute_funnel", "dropped_off", "merge_funnel_results", "run", "warm_up"]


def _ordered_scan(rows: Rows, params: FunnelParams) -> pl.DataFrame:
    """One record per entity: ``furthest_step``, ``excluded`` and the step times."""
    from core.funnels.kernel import in_parallel, ordered_funnel  # lazy: numba (~0.5 s)

    parts = in_parallel(
        ordered_funnel,
        rows.starts,
        rows.t,
        rows.mask,
        rows.xl,
        len(params.steps),
        params.window_us,
        params.order == "strict",
    )
    return _records(parts, len(params.steps))


def _records(parts: list, n: int) -> pl.DataFrame:
    """The kernels' per-chunk (furthest, excluded, times) as one frame, in entity order."""
    from core.funnels.kernel import NO_TIME  # lazy: numba (~0.5 s)

    times = np.concatenate([p[2] for p in parts])
    tcols = time_cols(n)
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


def _unordered_scan(rows: Rows, params: FunnelParams) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """One record per entity of an unordered funnel (see ``unordered_funnel``), and the rows
    in processing order as a frame when a breakdown needs them."""
    from core.funnels.kernel import (  # lazy: numba (~0.5 s)
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
        work = unordered_work(rows)  # rare: equal timestamps out of step order
        e = work["e"].to_numpy()
        starts = np.searchsorted(e, np.arange(rows.n_entities + 1)).astype(np.int64)
        t, mask, xl = work["t"].to_numpy(), work["mask"].to_numpy(), work["xl"].to_numpy()
    if xl.any():
        xl = call(clear_mixed_exclusions, starts, t, mask, xl)
    # step classes: the distinct step bit sets (events of one class are interchangeable)
    classes = pl.Series(mask).unique().sort()
    cls_mask = classes.filter(classes != 0).to_numpy().astype(mask.dtype)
    cls = call(step_classes, mask, cls_mask)
    n = len(params.steps)
    parts = in_parallel(unordered_funnel, starts, t, cls, xl, cls_mask, n, params.window_us)
    if params.breakdown is not None and work is None:
        work = pl.DataFrame({"e": entity_codes(rows), "mask": rows.mask, "bd": rows.bd})
    return _records(parts, n), work


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
    params = FunnelParams(
        steps=steps,
        window=window,
        order=order,
        count_by=count_by,
        exclusions=exclusions,
        breakdown=breakdown,
        breakdown_limit=breakdown_limit,
    )
    return run(events, params)


def run(events: pl.DataFrame | pl.LazyFrame, params: FunnelParams) -> FunnelResult:
    """:func:`compute_funnel` with its settings as one :class:`FunnelParams` (the engine).

    Raises
    ------
    ParameterError
        A column the settings name is not in ``events``.
    SchemaError
        ``ts`` or ``event`` is missing.
    """
    lf = events.lazy()
    schema = lf.collect_schema()
    params.check_schema(schema)
    count_by = params.count_by
    id_dtype = schema[count_by]
    if not params.steps:
        has_rows = lf.select(pl.col(count_by).is_not_null().any()).collect().item()
        empty = pl.DataFrame(schema={count_by: id_dtype})
        reason = (
            reason_for(count_by, (), empty, empty, ())
            if not has_rows
            else "Add at least one step to build a funnel."
        )
        return empty_result(params, id_dtype, reason or "")
    rows = prepare_rows(lf, params, schema)
    absent = tuple(k + 1 for k, c in enumerate(rows.step_rows) if c == 0)
    if rows.n_entities == 0:
        empty = pl.DataFrame(schema={count_by: id_dtype})
        reason = reason_for(count_by, params.labels, empty, empty, absent)
        return empty_result(params, id_dtype, reason or "")
    entities = _entities(rows, params, id_dtype)
    return finish(entities, params, absent=absent, data_end=rows.data_end)


def _entities(rows: Rows, params: FunnelParams, id_dtype: pl.DataType) -> pl.DataFrame:
    """The per-entity table: id, furthest step, excluded, step times, breakdown."""
    ents = pl.DataFrame(
        {"e": pl.int_range(rows.n_entities, dtype=pl.UInt32, eager=True), "_ent": rows.ids}
    )
    if params.order == "unordered":
        records, work = _unordered_scan(rows, params)
    else:
        records = _ordered_scan(rows, params)
        if params.breakdown is not None:
            work = pl.DataFrame({"e": entity_codes(rows), "mask": rows.mask, "bd": rows.bd})
    entities = ents.hstack(records)
    if params.breakdown is not None:
        entities = entities.join(
            _first_touch(work, params), on="e", how="left", maintain_order="left"
        )
    entities = entities.rename({"_ent": params.count_by}).drop("e")
    schema = entities_schema(
        params.count_by, id_dtype, len(params.steps), params.breakdown is not None
    )
    return entities.select(list(schema))


def warm_up() -> None:
    """Compile the ordered-funnel kernel now (a few seconds on a fresh install, then loaded
    from numba's disk cache); the app calls this in a background thread at start."""
    from core.funnels.kernel import warm_up as _warm  # lazy: numba (~0.5 s)

    _warm()


def _first_touch(work: pl.DataFrame, params: FunnelParams) -> pl.DataFrame:
    """Each entity's first non-empty breakdown value on a step-1 event (any step event when
    unordered)."""
    sel = (pl.col("mask") != 0) if params.order == "unordered" else ((pl.col("mask") & 1) != 0)
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
        The results were computed with different settings (their ``params`` differ: steps,
        exclusions, window, order, ``count_by`` or breakdown).
    """
    if not results:
        raise ParameterError("`results` must hold at least one FunnelResult, got none")
    head = results[0]
    if any(r.params != head.params for r in results[1:]):
        raise ParameterError("cannot merge funnel results computed with different settings")
    entities = pl.concat([r.entities for r in results], how="vertical")
    absent = tuple(sorted(set.intersection(*[set(r.absent_steps) for r in results])))
    ends = [r.data_end for r in results if r.data_end is not None]
    return finish(entities, head.params, absent=absent, data_end=max(ends) if ends else None)


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
