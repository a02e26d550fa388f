"""Step 2 of a paths analysis (global, small): from the per-path table to the chart.

:func:`build_result` folds rare nodes and weak links into "Other" per step, then derives the
Sankey's nodes and edges and the top paths from :attr:`PathsResult.path_counts`. It sees only
that small table, so it runs once after the per-partition tables are merged
(:func:`core.paths.merge_paths`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import polars as pl

from core.paths.params import PathsParams
from core.paths.result import (
    DROP_OFF,
    EDGE_SCHEMA,
    GAP,
    NODE_SCHEMA,
    OTHER,
    SPECIAL_NODES,
    TOP_PATHS,
    TOP_PATHS_SCHEMA,
    PathsResult,
    display_expr,
    empty_result,
    path_counts_schema,
)

ARROW: Final = " → "


def build_result(
    path_counts: pl.DataFrame, params: PathsParams, *, node_types: Mapping[str, str] | None = None
) -> PathsResult:
    """Fold, then derive edges, nodes and top paths from a path table.

    Parameters
    ----------
    path_counts : pl.DataFrame
        A table shaped as :attr:`PathsResult.path_counts` (one row per distinct path).
    params : PathsParams
        The settings (folding, anchors) to apply.
    node_types : mapping, optional
        Node name -> event type, kept for the figure's colours.

    Returns
    -------
    PathsResult
    """
    p = params
    k = p.max_steps
    node_types = dict(node_types or {})
    if path_counts.height == 0:
        return empty_result(p, "no entity has a path", node_types)
    steps = [f"step_{i}" for i in range(1, k + 1)]
    pc = path_counts.with_columns(
        pl.sum_horizontal(pl.col(s).is_not_null() for s in steps).cast(pl.Int32).alias("_len")
    )
    entities = int(pc["count"].sum())
    w, members = _fold(_aligned(pc, p), p)
    nodes = _nodes(w, k, entities, members)
    edges = _edges(w, k)
    top = _top_paths(pc, entities)
    return PathsResult(
        params=p,
        edges=edges,
        nodes=nodes,
        top_paths=top,
        path_counts=path_counts.select(list(path_counts_schema(k))),
        entities=entities,
        node_types=node_types,
        reason=None,
    )


def _aligned(pc: pl.DataFrame, p: PathsParams) -> pl.DataFrame:
    """``count`` and the aligned positions 1..k: ``a<i>`` (node name at step i) and ``s<i>``
    (seconds from step i-1). Paths to an end point are right-aligned (the end sits at step k);
    otherwise a path that ends early gets a drop-off node after its last step."""
    k = p.max_steps
    if p.mode == "end":
        aligned = [_right_aligned("step_", i, k).alias(f"a{i}") for i in range(1, k + 1)]
        aligned += [_right_aligned("seconds_", i, k).alias(f"s{i}") for i in range(2, k + 1)]
        return pc.select("count", *aligned)
    drop = p.mode in ("all", "start")
    aligned = []
    for i in range(1, k + 1):
        a = pl.col(f"step_{i}")
        if drop and i >= 2:
            a = pl.when(pl.col("_len") == i - 1).then(pl.lit(DROP_OFF)).otherwise(a)
        aligned.append(a.alias(f"a{i}"))
    aligned += [pl.col(f"seconds_{i}").alias(f"s{i}") for i in range(2, k + 1)]
    return pc.select("count", *aligned)


def _right_aligned(prefix: str, i: int, k: int) -> pl.Expr:
    """Column ``prefix<src>`` that lands at step ``i`` when the path is shifted right by
    ``k - _len`` (null where none does)."""
    off = pl.lit(k, dtype=pl.Int32) - pl.col("_len")
    e = pl.lit(None, dtype=pl.String if prefix == "step_" else pl.Float64)
    for o in range(i - 1, -1, -1):
        src = i - o
        if prefix == "seconds_" and src < 2:
            continue
        e = pl.when(off == o).then(pl.col(f"{prefix}{src}")).otherwise(e)
    return e


def _fold(w: pl.DataFrame, p: PathsParams) -> tuple[pl.DataFrame, dict[int, list[str]]]:
    """Fold rare nodes and weak links into "Other", step by step from the left, per path (so
    every flow stays conserved). Adds ``f<i>`` (the folded name at step i); returns the table
    and, per step, the names folded into its Other node (most common first)."""
    members: dict[int, list[str]] = {}
    for i in range(1, p.max_steps + 1):
        a = pl.col(f"a{i}")
        real = a.is_not_null() & ~a.is_in(SPECIAL_NODES)
        totals = (
            w.filter(real)
            .group_by(f"a{i}")
            .agg(pl.col("count").sum().alias("_tot"))
            .sort(["_tot", f"a{i}"], descending=[True, False])
        )
        keep = totals[f"a{i}"] if p.top_per_step is None else totals[f"a{i}"].head(p.top_per_step)
        folded = pl.when(real & ~a.is_in(keep.implode())).then(pl.lit(OTHER)).otherwise(a)
        w = w.with_columns(folded.alias(f"f{i}"))
        if i >= 2 and p.min_edge_weight > 1:
            w = _fold_weak_links(w, i, p.min_edge_weight)
        folded_names = (
            w.filter(pl.col(f"f{i}") == OTHER)
            .filter(real)
            .group_by(f"a{i}")
            .agg(pl.col("count").sum().alias("_tot"))
            .sort(["_tot", f"a{i}"], descending=[True, False])
        )
        members[i] = folded_names[f"a{i}"].to_list()
    return w, members


def _fold_weak_links(w: pl.DataFrame, i: int, min_edge_weight: int) -> pl.DataFrame:
    """Links from step i-1 into a real node at step i taken by fewer than ``min_edge_weight``
    entities: their target becomes the step's Other node."""
    src, dst = pl.col(f"f{i - 1}"), pl.col(f"f{i}")
    weak = (
        w.filter(src.is_not_null() & dst.is_not_null() & ~dst.is_in(SPECIAL_NODES))
        .group_by(f"f{i - 1}", f"f{i}")
        .agg(pl.col("count").sum().alias("_tot"))
        .filter(pl.col("_tot") < min_edge_weight)
        .select(f"f{i - 1}", f"f{i}", pl.lit(True).alias("_weak"))
    )
    if not weak.height:
        return w
    return (
        w.join(weak, on=[f"f{i - 1}", f"f{i}"], how="left", nulls_equal=False,
               maintain_order="left")
        .with_columns(pl.when(pl.col("_weak")).then(pl.lit(OTHER)).otherwise(dst).alias(f"f{i}"))
        .drop("_weak")
    )


def _key(step: pl.Expr, name: pl.Expr) -> pl.Expr:
    return pl.format("{}_{}", step, name)


def _kind(name: pl.Expr) -> pl.Expr:
    return (
        pl.when(name == OTHER)
        .then(pl.lit("other"))
        .when(name == DROP_OFF)
        .then(pl.lit("drop_off"))
        .when(name == GAP)
        .then(pl.lit("gap"))
        .otherwise(pl.lit("node"))
    )


def _nodes(w: pl.DataFrame, k: int, entities: int, members: dict[int, list[str]]) -> pl.DataFrame:
    parts = []
    for i in range(1, k + 1):
        f = pl.col(f"f{i}")
        part = (
            w.filter(f.is_not_null())
            .group_by(f"f{i}")
            .agg(pl.col("count").sum().alias("value"))
            .select(pl.lit(i, dtype=pl.Int32).alias("step"), f.alias("name"), "value")
        )
        parts.append(
            part.with_columns(
                pl.when(pl.col("name") == OTHER)
                .then(pl.lit(pl.Series([members.get(i, [])], dtype=pl.List(pl.String))))
                .otherwise(pl.lit(pl.Series([[]], dtype=pl.List(pl.String))))
                .alias("members")
            )
        )
    nodes = pl.concat(parts)
    nodes = nodes.select(
        _key(pl.col("step"), pl.col("name")).alias("key"),
        "step",
        "name",
        display_expr(pl.col("name")).alias("label"),
        _kind(pl.col("name")).alias("kind"),
        pl.col("value").cast(pl.Int64),
        (pl.col("value") / entities).alias("share"),
        "members",
    )
    order = pl.col("kind").replace_strict(
        {"node": 0, "gap": 1, "other": 2, "drop_off": 3}, return_dtype=pl.Int8
    )
    return nodes.sort(
        [pl.col("step"), order, pl.col("value"), pl.col("name")],
        descending=[False, False, True, False],
    ).select(list(NODE_SCHEMA))


def _edges(w: pl.DataFrame, k: int) -> pl.DataFrame:
    parts = []
    for i in range(1, k):
        src, dst = pl.col(f"f{i}"), pl.col(f"f{i + 1}")
        part = (
            w.filter(src.is_not_null() & dst.is_not_null())
            .group_by(f"f{i}", f"f{i + 1}")
            .agg(pl.col("count").sum().alias("value"), pl.col(f"s{i + 1}").sum().alias("_sec"))
            .select(
                pl.lit(i, dtype=pl.Int32).alias("source_step"),
                pl.lit(i + 1, dtype=pl.Int32).alias("target_step"),
                src.alias("source_name"),
                dst.alias("target_name"),
                pl.col("value").cast(pl.Int64),
                pl.when(dst == DROP_OFF)
                .then(None)
                .otherwise(pl.col("_sec") / pl.col("value"))
                .cast(pl.Float64)
                .alias("mean_seconds"),
            )
        )
        parts.append(part)
    edges = pl.concat(parts) if parts else pl.DataFrame(schema=EDGE_SCHEMA)
    return (
        edges.with_columns(
            _key(pl.col("source_step"), pl.col("source_name")).alias("source"),
            _key(pl.col("target_step"), pl.col("target_name")).alias("target"),
        )
        .sort(
            ["source_step", "value", "source_name", "target_name"],
            descending=[False, True, False, False],
        )
        .select(list(EDGE_SCHEMA))
    )


def _top_paths(pc: pl.DataFrame, entities: int) -> pl.DataFrame:
    steps = [c for c in pc.columns if c.startswith("step_")]
    path = pl.concat_list([display_expr(pl.col(s)) for s in steps]).list.drop_nulls()
    top = (
        pc.select(
            path.alias("path"),
            pl.col("_len").alias("steps"),
            pl.col("count").cast(pl.Int64),
            pl.col("purchased").cast(pl.Int64),
        )
        .with_columns(pl.col("path").list.join(ARROW).alias("label"))
        .sort(["count", "label"], descending=[True, False])
        .head(TOP_PATHS)
    )
    return top.with_columns(
        (pl.col("count") / entities).alias("share"),
        (pl.col("purchased") / pl.col("count")).alias("conversion"),
    ).select(list(TOP_PATHS_SCHEMA))
