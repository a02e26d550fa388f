"""Each entity's path as the Sankey shows it, for "save the people at this node as a cohort".

:class:`~core.paths.PathsResult` keeps only the per-path counts (it is mergeable and small), not
who took each path, so :func:`path_entities` recomputes the per-entity paths from the same
events and :class:`~core.paths.PathsParams` with the paths engine's own steps (read, group,
name, collapse, cut) and folds them with the engine's own folding. Folding per entity (each with
a count of one) gives the same totals as folding the per-path counts, so every entity lands on
exactly the node the chart shows it on, Other and Drop-off included: the number of entities at
each node equals ``result.nodes["value"]`` (a test checks this on random logs).
"""

from __future__ import annotations

from typing import Final

import polars as pl

from core.paths.build import _aligned, _fold
from core.paths.engine import (
    _anchor_code,
    _cut,
    _ensure_contiguous,
    _map_names,
    _position,
    _read_events,
)
from core.paths.params import PathsParams
from core.paths.result import GAP
from core.schema import check_events
from core.sessions import assign_sessions

#: Prefix the paths engine gives sessions it splits at inactivity gaps (no session id).
_GAP_PREFIX: Final = "~gap~"


def path_entities(events: pl.DataFrame | pl.LazyFrame, params: PathsParams) -> pl.DataFrame:
    """One row per entity with a path: who it is and the node it is at on each step.

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        The canonical events the paths were computed from (the same filters).
    params : PathsParams
        The settings of the paths (``result.params``).

    Returns
    -------
    pl.DataFrame
        ``entity`` (the ``count_by`` value as text; a session split at a gap is
        ``"~gap~<user>-<n>"``), ``user_id``, and ``step_1`` ... ``step_<max_steps>``: the node
        name at each step after folding and alignment, as in ``result.nodes["name"]`` (``$other``,
        ``$drop_off``, ``$gap`` included; null where the path has no node).

    Raises
    ------
    ParameterError
        ``params.node`` is not a column of ``events``.
    SchemaError
        ``events`` lacks the canonical required columns.
    """
    check_events(events)
    lf = events.lazy()
    params.check_columns(lf.collect_schema())
    k = params.max_steps
    empty = pl.DataFrame(schema={"entity": pl.String, "user_id": pl.String,
                                 **{f"step_{i}": pl.String for i in range(1, k + 1)}})
    paths = _entity_paths(lf, params)
    if paths is None or paths.height == 0:
        return empty
    aligned, _ = _fold(_aligned(paths, params), params)
    steps = aligned.select(pl.col(f"f{i}").alias(f"step_{i}") for i in range(1, k + 1))
    out = pl.concat([paths.select("entity"), steps], how="horizontal")
    users = _entity_users(lf, params).collect()
    return (out.join(users, on="entity", how="left", maintain_order="left")
            .select("entity", "user_id", *steps.columns).cast(empty.schema))  # type: ignore[arg-type]


def _entity_paths(lf: pl.LazyFrame, p: PathsParams) -> pl.DataFrame | None:
    """``entity``, ``step_1..k`` (raw names, left-aligned), ``seconds_2..k`` (null), ``count``
    (1) and ``_len``: the engine's per-entity paths before they are counted."""
    df = _read_events(lf, p)
    if df is None:
        return None
    df = _ensure_contiguous(df.with_columns(pl.col("_e").alias("_id")))
    raw_names = df.lazy().select(pl.col("_n").unique().drop_nulls()).collect().to_series()
    raw_names = raw_names.sort().to_list()
    if not raw_names:
        return None
    final_names, raw_to_final = _map_names(raw_names, p)
    start_code = _anchor_code(p.start, final_names, p)
    end_code = _anchor_code(p.end, final_names, p)
    mapping = pl.Series("map", raw_to_final, dtype=pl.UInt32)
    base = df.lazy().select(
        (pl.col("_e").ne_missing(pl.col("_e").shift(1)).cum_sum() - 1).cast(pl.UInt32).alias("seg"),
        pl.lit(mapping).gather(pl.col("_n").cast(pl.Enum(raw_names)).to_physical()).alias("code"),
        pl.col("_t").alias("t"),
        pl.col("_id"),
    ).collect()
    rows = base.lazy().select("seg", "code", "t").filter(pl.col("code").is_not_null())
    if p.collapse_repeats:  # the engine's rule: keep the last event of each run of one node
        rows = rows.filter(
            pl.col("seg").ne_missing(pl.col("seg").shift(-1))
            | pl.col("code").ne_missing(pl.col("code").shift(-1))
        )
    rows = _cut(rows.with_columns(_position()), p, start_code, end_code, len(final_names))
    k = p.max_steps
    same = [pl.col("seg").shift(-j) == pl.col("seg") for j in range(k)]
    ahead = [pl.when(same[j]).then(pl.col("code").shift(-j)) if j else pl.col("code")
             for j in range(k)]
    wide = (rows.with_columns(*[ahead[j].alias(f"c{j}") for j in range(k)])
            .filter(pl.col("slot") == 0).collect())
    ids = base.lazy().group_by("seg").agg(pl.col("_id").first()).collect()
    lookup = pl.Series("names", [*final_names, GAP], dtype=pl.String)
    steps = [f"step_{j + 1}" for j in range(k)]
    return (
        wide.join(ids, on="seg", how="left", maintain_order="left")
        .select(
            pl.col("_id").cast(pl.String).alias("entity"),
            *[pl.lit(lookup).gather(pl.col(f"c{j}")).alias(steps[j]) for j in range(k)],
            *[pl.lit(None, dtype=pl.Float64).alias(f"seconds_{j}") for j in range(2, k + 1)],
            pl.lit(1, dtype=pl.Int64).alias("count"),
        )
        .with_columns(pl.sum_horizontal(pl.col(s).is_not_null() for s in steps)
                      .cast(pl.Int32).alias("_len"))
    )


def _entity_users(lf: pl.LazyFrame, p: PathsParams) -> pl.LazyFrame:
    """``entity`` (text, as :func:`_entity_paths` names it) -> ``user_id``."""
    if p.count_by == "user_id":
        return lf.select(pl.col("user_id").cast(pl.String).alias("entity"),
                         pl.col("user_id")).unique()
    named = lf.filter(pl.col(p.count_by).is_not_null()).select(
        pl.col(p.count_by).cast(pl.String).alias("entity"), pl.col("user_id"))
    # Sessions without an id: the engine splits them as here (over all of the user's events).
    split = assign_sessions(
        lf.select(pl.col("user_id"), pl.col("user_id").cast(pl.String).alias("_u"),
                  pl.col("ts").alias("_ts"), pl.col(p.count_by).is_null().alias("_unnamed")),
        user_col="_u", ts_col="_ts", out_col="_gap",
    )
    gaps = split.filter(pl.col("_unnamed")).select(
        (pl.lit(_GAP_PREFIX) + pl.col("_gap")).alias("entity"), pl.col("user_id"))
    return pl.concat([named, gaps]).unique()
