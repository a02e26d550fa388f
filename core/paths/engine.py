"""Paths: how sessions (or users) really move through the shop, step by step.

:func:`compute_paths` turns the canonical event table into the edges of a Sankey diagram whose
node keys carry their step (``"1_view_item" -> "2_add_to_cart"``), so the graph has no cycles
even when people loop. The semantics follow PostHog's paths insight (session split, collapse of
consecutive duplicates, first occurrence of the start point, step limit, exclusions, groupings);
``docs/paths.md`` explains every rule with worked examples and lists where PathLens differs.

How it is computed (and why it scales)
--------------------------------------
1. *Per entity* (the heavy part, one vectorised Polars pass over the events, no per-group
   Python): each session's (or user's) events in time order are mapped to node names
   (groupings, exclusions), consecutive repeats are collapsed, the path is cut at the start
   and/or end point and limited to ``max_steps``. Identical paths are then counted into a small
   table, :attr:`PathsResult.path_counts` (one row per distinct path: its steps, the number of
   entities that took it, the summed seconds between consecutive steps and how many of them
   purchased).
2. *Global* (small): folding into "Other" per step, the minimum edge weight, the edges, the
   nodes and the top paths are all derived from that path table.

Step 1 only looks at one entity at a time, so it gives the same answer on any partition that
holds all events of its entities. The merge (see :func:`merge_paths`) concatenates the path
tables of the partitions and adds up counts and seconds of identical paths, then runs step 2
once; without folding (``top_per_step=None, min_edge_weight=1``) the edge counts of the
partitions simply add up.
"""


from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import polars as pl

from core.paths.build import build_result
from core.paths.params import PathsParams
from core.paths.result import GAP, PathsResult, empty_result
from core.schema import check_events
from core.sessions import assign_sessions

PURCHASE: Final = "purchase"


def compute_paths(
    events: pl.DataFrame | pl.LazyFrame,
    *,
    start: str | None = None,
    end: str | None = None,
    max_steps: int = 5,
    count_by: str = "session_id",
    node: str = "event",
    collapse_repeats: bool = True,
    top_per_step: int | None = 8,
    min_edge_weight: int = 1,
    exclude: Sequence[str] = (),
    groupings: Sequence[str | tuple[str, str]] = (),
) -> PathsResult:
    """Sankey edges of how sessions (or users) move from step to step.

    Each entity's events, in time order, become a path of nodes. Events with no value in the
    ``node`` column and excluded events are removed first; groupings rename nodes; consecutive
    repeats are collapsed; the path is cut at the anchors and limited to ``max_steps``. The
    keywords are the fields of :class:`PathsParams`, whose docstring gives every rule in full.

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table (``core.schema``); only ``ts``, the ``count_by`` column, the
        ``node`` column and ``event_type`` are read. Sessions with a null ``session_id`` are
        split at 30 minutes of inactivity.
    start : str, optional
        Paths begin at the first occurrence of this node (after collapsing and groupings);
        entities that never reach it are left out.
    end : str, optional
        Paths end at the first occurrence of this node (the steps leading to it). With
        ``start``: what happens between them, long paths elided around one "…" node.
    max_steps : int, default 5
        Steps per path, 2 to 20 (at least 3 with both ``start`` and ``end``).
    count_by : {"session_id", "user_id"}, default "session_id"
        What a path is and what the counts count: a session, or a user's whole history.
    node : str, default "event"
        Column whose values are the nodes (``"event"``, ``"event_type"``, ``"category"``...).
    collapse_repeats : bool, default True
        Consecutive repeats of the same node count once (``A A B`` -> ``A B``).
    top_per_step : int or None, default 8
        Per step, keep the most frequent nodes and fold the rest into one "Other" node.
    min_edge_weight : int, default 1
        Links taken by fewer entities are folded into the step's "Other" node too.
    exclude : str or sequence of str
        Node names (raw, or after groupings) removed before paths are built.
    groupings : str or sequence of str or (pattern, name)
        Rules that merge node names first, first match wins: a wildcard pattern, a
        ``"re:<regex>"`` or a ``(pattern, name)`` pair.

    Returns
    -------
    PathsResult
        Edges, nodes, top paths and the mergeable per-path counts. Empty (``entities == 0``)
        with a ``reason`` when no entity has a path (empty table, start point never reached...).

    Raises
    ------
    ParameterError
        A parameter is out of range or ``node`` is not a column of ``events``.
    SchemaError
        ``events`` lacks the canonical required columns.

    Examples
    --------
    >>> from tests.builders import make_events  # doctest: +SKIP
    >>> ev = make_events({"u1": [("page_view", "00:00"), ("view_item", "00:01"),
    ...                          ("view_item", "00:02"), ("add_to_cart", "00:03")]})
    >>> compute_paths(ev).edges.select("source", "target", "value")  # doctest: +SKIP
    1_page_view -> 2_view_item (1); 2_view_item -> 3_add_to_cart (1);
    3_add_to_cart -> 4_$drop_off (1)
    """
    p = PathsParams(
        start=start, end=end, max_steps=max_steps, count_by=count_by, node=node,
        collapse_repeats=collapse_repeats, top_per_step=top_per_step,
        min_edge_weight=min_edge_weight, exclude=exclude, groupings=groupings,
    )
    return run(events, p)


def run(events: pl.DataFrame | pl.LazyFrame, p: PathsParams) -> PathsResult:
    """:func:`compute_paths` with its settings as one object (see :meth:`PathsParams.compute`).

    Raises
    ------
    ParameterError
        ``p.node`` is not a column of ``events``.
    SchemaError
        ``events`` lacks the canonical required columns.
    """
    check_events(events)
    p.check_columns(events.collect_schema())
    counts, node_types, reason = _count_paths(events, p)
    if reason is not None:
        return empty_result(p, reason, node_types)
    return build_result(counts, p, node_types=node_types)


# --------------------------------------------------------------------------- step 1: per entity


def _count_paths(
    events: pl.DataFrame | pl.LazyFrame, p: PathsParams
) -> tuple[pl.DataFrame, dict[str, str], str | None]:
    """Per-entity paths counted into the path table (see :attr:`PathsResult.path_counts`)."""
    df = _read_events(events.lazy(), p)
    if df is None:
        return (
            pl.DataFrame(),
            {},
            "no events to build paths from (the table or the filters are empty)",
        )
    df = _ensure_contiguous(df)

    # Node names -> dense codes; groupings and exclusions are applied to the distinct names only.
    raw_names = df.lazy().select(pl.col("_n").unique().drop_nulls()).collect().to_series()
    raw_names = raw_names.sort().to_list()
    final_names, raw_to_final = _map_names(raw_names, p)
    start_code = _anchor_code(p.start, final_names, p)
    end_code = _anchor_code(p.end, final_names, p)
    mapping = pl.Series("map", raw_to_final, dtype=pl.UInt32)

    q = df.lazy().select(
        (pl.col("_e").ne_missing(pl.col("_e").shift(1)).cum_sum() - 1).cast(pl.UInt32).alias("seg"),
        pl.lit(mapping).gather(pl.col("_n").cast(pl.Enum(raw_names)).to_physical()).alias("code"),
        pl.col("_t").alias("t"),
        pl.col("_p").alias("p"),
    )
    base = q.collect()
    node_types = _node_types(base, df, final_names) if "_ty" in df.columns else {}
    del df
    if p.node == "event_type":
        node_types = {n: n for n in final_names}

    if not raw_names:
        return pl.DataFrame(), node_types, f"no events have a value in the `{p.node}` column"
    rows = base.lazy().select("seg", "code", "t").filter(pl.col("code").is_not_null())
    if p.collapse_repeats:  # keep the last event of each run of one node (PostHog's timing)
        rows = rows.filter(
            pl.col("seg").ne_missing(pl.col("seg").shift(-1))
            | pl.col("code").ne_missing(pl.col("code").shift(-1))
        )
    rows = _cut(rows.with_columns(_position()), p, start_code, end_code, len(final_names))
    counts = _wide_counts(rows, base, p.max_steps, [*final_names, GAP])
    if counts.height == 0:
        return counts, node_types, _no_path_reason(p, p.entity_word, start_code, end_code)
    return counts, node_types, None


def _read_events(lf: pl.LazyFrame, p: PathsParams) -> pl.DataFrame | None:
    """The columns the paths need (``_e`` entity, ``_t`` µs, ``_n`` node, ``_p`` purchase,
    ``_ty`` event type when the nodes are events); None when there are no events.

    Sessions without an id are split at 30 minutes of inactivity, as everywhere else; rows
    without an entity or a time are left out.
    """
    has_type = "event_type" in lf.collect_schema()
    purchase = (pl.col("event_type") == PURCHASE).fill_null(False) if has_type else pl.lit(False)
    cols = [
        pl.col(p.count_by).cast(pl.String).alias("_e"),
        pl.col("ts").dt.epoch("us").alias("_t"),
        pl.col(p.node).cast(pl.String).alias("_n"),
        purchase.alias("_p"),
    ]
    if p.node == "event" and has_type:
        cols.append(pl.col("event_type").cast(pl.String).alias("_ty"))
    df = lf.select(cols).collect()
    if df.height == 0:
        return None
    if p.count_by == "session_id" and df["_e"].null_count():
        full = lf.select(
            *cols, pl.col("user_id").cast(pl.String).alias("_u"), pl.col("ts").alias("_ts")
        ).collect()
        gap = assign_sessions(
            full.with_row_index("_row"), user_col="_u", ts_col="_ts", out_col="_gap"
        ).sort("_row")
        df = gap.with_columns(pl.coalesce("_e", pl.lit("~gap~") + pl.col("_gap")).alias("_e")).drop(
            "_row", "_u", "_ts", "_gap"
        )
    return df.filter(pl.col("_e").is_not_null() & pl.col("_t").is_not_null())


def _cut(
    rows: pl.LazyFrame, p: PathsParams, start_code: int | None, end_code: int | None, gap_code: int
) -> pl.LazyFrame:
    """Cut each entity's path at the anchors, limit it to ``max_steps`` and number its steps
    (``slot`` 0..L-1); returns ``seg``, ``slot``, ``code``, ``t``."""
    k = p.max_steps
    if p.mode == "all":
        rows = rows.filter(pl.col("pos") < k).with_columns(pl.col("pos").alias("slot"))
    elif p.mode == "start":
        rows = _from_first(rows, start_code).filter(pl.col("pos") < k)
        rows = rows.with_columns(pl.col("pos").alias("slot"))
    elif p.mode == "end":
        rows = _to_first_end(rows, end_code, strictly_after_first=False)
        first_kept = (pl.col("end_pos") - (k - 1)).clip(lower_bound=0)
        rows = rows.filter(pl.col("pos") >= first_kept).with_columns(
            (pl.col("pos") - first_kept).alias("slot")
        )
    else:
        rows = _from_first(rows, start_code)
        rows = _to_first_end(rows, end_code, strictly_after_first=True)
        rows = _elide_middle(rows, k, gap_code=gap_code)
    return rows.select("seg", "slot", "code", "t")


def _ensure_contiguous(df: pl.DataFrame) -> pl.DataFrame:
    """Make each entity's rows contiguous and in time order (stable) without sorting the table:
    the canonical table is returned as it is, an export in log order is grouped by a hash
    partition and a stable counting sort (``core._grouping.group_rows``), ``_e`` then holding
    entity numbers (only its runs matter from here on)."""
    from core._grouping import group_rows  # lazy: numba; `import core` must not pay for it

    groups = group_rows(df["_e"], df["_t"].to_numpy())
    return df if groups.order is None else groups.take_frame(df, codes="_e")


def _map_names(raw_names: list[str], p: PathsParams) -> tuple[list[str], list[int | None]]:
    """Final node names and, for each raw name, the index of its final name (None: excluded)."""
    rules = p.rules()
    exclude = set(p.exclude)
    final_names: list[str] = []
    index: dict[str, int] = {}
    mapping: list[int | None] = []
    for raw in raw_names:
        name = next((label for rx, label in rules if rx.search(raw)), raw)
        if raw in exclude or name in exclude:
            mapping.append(None)
            continue
        if name not in index:
            index[name] = len(final_names)
            final_names.append(name)
        mapping.append(index[name])
    return final_names, mapping


def _anchor_code(anchor: str | None, final_names: list[str], p: PathsParams) -> int | None:
    """Code of a start/end point: a node name, or a raw name the groupings rename.

    Returns -1 (matches nothing) when the anchor is absent from the data or excluded.
    """
    if anchor is None:
        return None
    if anchor not in final_names:
        anchor = next(
            (label for rx, label in p.rules() if rx.search(anchor)), anchor
        )
    return final_names.index(anchor) if anchor in final_names else -1


def _position() -> pl.Expr:
    """0-based position of each row within its entity (rows grouped by ``seg``)."""
    idx = pl.int_range(pl.len(), dtype=pl.Int64)
    first = pl.col("seg").ne_missing(pl.col("seg").shift(1))
    return (idx - pl.when(first).then(idx).forward_fill()).alias("pos")


def _count_in_entity(flag: pl.Expr) -> pl.Expr:
    """How many rows of this entity up to and including this one have ``flag`` (rows grouped)."""
    f = flag.cast(pl.Int64)
    cum = f.cum_sum()
    first = pl.col("seg").ne_missing(pl.col("seg").shift(1))
    return cum - pl.when(first).then(cum - f).forward_fill()


def _from_first(rows: pl.LazyFrame, code: int) -> pl.LazyFrame:
    """Keep each entity's rows from its first ``code`` on; ``pos`` restarts at 0 there."""
    is_start = pl.col("code") == code
    return (
        rows.with_columns(_count_in_entity(is_start).alias("_seen"))
        .with_columns(
            pl.when(is_start & (pl.col("_seen") == 1))
            .then(pl.col("pos"))
            .forward_fill()
            .alias("_start_pos")
        )
        .filter(pl.col("_seen") >= 1)
        .with_columns((pl.col("pos") - pl.col("_start_pos")).alias("pos"))
        .drop("_seen", "_start_pos")
    )


def _to_first_end(rows: pl.LazyFrame, code: int, *, strictly_after_first: bool) -> pl.LazyFrame:
    """Keep entities that reach ``code`` and their rows up to its first occurrence.

    Adds ``end_pos``, the position of that first occurrence. With ``strictly_after_first``
    the row at position 0 (the start point) does not count as the end.
    """
    is_end = pl.col("code") == code
    if strictly_after_first:
        is_end = is_end & (pl.col("pos") > 0)
    first_end = is_end & (_count_in_entity(is_end) == 1)
    return (
        rows.with_columns(
            pl.when(first_end).then(pl.col("pos")).backward_fill().alias("end_pos"),
            pl.when(first_end).then(pl.col("seg")).backward_fill().alias("_end_seg"),
        )
        # backward fill reaches into the next entity when this one has no (further) end
        .filter((pl.col("_end_seg") == pl.col("seg")) & (pl.col("pos") <= pl.col("end_pos")))
        .drop("_end_seg")
    )


def _elide_middle(rows: pl.LazyFrame, k: int, *, gap_code: int) -> pl.LazyFrame:
    """Paths longer than ``k`` keep their first ``a`` and last ``b`` steps around one gap node.

    ``b = (k - 1) // 2`` and ``a = k - 1 - b`` (5 steps: 2, "…", 2, as PostHog). The gap node
    takes the time of the last elided event, so the seconds along the path still add up.
    """
    b = (k - 1) // 2
    a = k - 1 - b
    length = pl.col("end_pos") + 1
    long = length > k
    is_gap = long & (pl.col("pos") == length - 1 - b)
    keep = ~long | (pl.col("pos") < a) | is_gap | (pl.col("pos") >= length - b)
    slot = (
        pl.when(~long | (pl.col("pos") < a))
        .then(pl.col("pos"))
        .when(is_gap)
        .then(pl.lit(a, dtype=pl.Int64))
        .otherwise(pl.col("pos") - (length - b) + a + 1)
    )
    return rows.filter(keep).with_columns(
        slot.alias("slot"),
        pl.when(is_gap)
        .then(pl.lit(gap_code, dtype=pl.UInt32))
        .otherwise(pl.col("code"))
        .alias("code"),
    )


def _wide_counts(rows: pl.LazyFrame, base: pl.DataFrame, k: int, names: list[str]) -> pl.DataFrame:
    """One row per entity (its path as columns), then counted per distinct path.

    ``rows`` hold each kept step (``seg``, ``slot`` 0..L-1 contiguous per entity, ``code``,
    ``t``); looking ``j`` rows ahead within the same entity gives step ``j`` of its path.
    """
    same = [pl.col("seg").shift(-j) == pl.col("seg") for j in range(k)]
    ahead = [
        pl.when(same[j]).then(pl.col("code").shift(-j)) if j else pl.col("code") for j in range(k)
    ]
    times = [pl.when(same[j]).then(pl.col("t").shift(-j)) if j else pl.col("t") for j in range(k)]
    # Entities that purchased at or after the start of their path (beyond the step limit too).
    last_purchase = (
        base.lazy().filter(pl.col("p")).group_by("seg").agg(pl.col("t").max().alias("tp"))
    )
    wide = (
        rows.with_columns(
            *[ahead[j].alias(f"c{j}") for j in range(k)],
            *[(times[j] - times[j - 1]).alias(f"d{j}") for j in range(1, k)],
        )
        .filter(pl.col("slot") == 0)
        .join(last_purchase, on="seg", how="left")
        .with_columns((pl.col("tp") >= pl.col("t")).fill_null(False).alias("purchased"))
    )
    counted = (
        wide.group_by([f"c{j}" for j in range(k)])
        .agg(
            pl.len().cast(pl.Int64).alias("count"),
            *[(pl.col(f"d{j}").sum() / 1e6).alias(f"seconds_{j + 1}") for j in range(1, k)],
            pl.col("purchased").sum().cast(pl.Int64),
        )
        .collect()
    )
    lookup = pl.Series("names", names, dtype=pl.String)
    return counted.select(
        *[pl.lit(lookup).gather(pl.col(f"c{j}")).alias(f"step_{j + 1}") for j in range(k)],
        "count",
        *[
            pl.when(pl.col(f"c{j - 1}").is_not_null())
            .then(pl.col(f"seconds_{j}"))
            .cast(pl.Float64)
            .alias(f"seconds_{j}")
            for j in range(2, k + 1)
        ],
        "purchased",
    )


def _node_types(base: pl.DataFrame, df: pl.DataFrame, final_names: list[str]) -> dict[str, str]:
    """Event type of each node name: that of its first event (an event name has one type)."""
    first = base.lazy().select(pl.col("code").arg_unique()).collect().to_series()
    codes = base["code"].gather(first).to_list()
    types = df["_ty"].gather(first).to_list()
    return {final_names[c]: ty for c, ty in zip(codes, types, strict=True) if c is not None and ty}


def _no_path_reason(p: PathsParams, word: str, start_code, end_code) -> str:
    if p.mode in ("start", "between") and start_code == -1:
        return (
            f"no {word[:-1]} reaches the start point {p.start!r} (check exclusions and groupings)"
        )
    if p.mode in ("end", "between") and end_code == -1:
        return f"no {word[:-1]} reaches the end point {p.end!r} (check exclusions and groupings)"
    if p.mode == "start":
        return f"no {word[:-1]} reaches the start point {p.start!r}"
    if p.mode == "end":
        return f"no {word[:-1]} reaches the end point {p.end!r}"
    if p.mode == "between":
        return f"no {word[:-1]} reaches {p.end!r} after {p.start!r}"
    return "every event was excluded; nothing is left to build paths from"
