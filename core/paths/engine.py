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

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import polars as pl

from core.errors import ParameterError
from core.fmt import PeopleTable, color_for, fmt_duration
from core.schema import check_events
from core.sessions import assign_sessions

if TYPE_CHECKING:  # plotly is imported only by the figure builders
    import plotly.graph_objects as go

#: Internal node names; the figure and tables show them as "Other", "Drop-off" and "…".
OTHER: Final = "$other"
DROP_OFF: Final = "$drop_off"
GAP: Final = "$gap"
SPECIAL_NODES: Final = (OTHER, DROP_OFF, GAP)
DISPLAY_NAMES: Final = {OTHER: "Other", DROP_OFF: "Drop-off", GAP: "…"}

COUNT_BY: Final = ("session_id", "user_id")
MAX_STEPS_LIMIT: Final = 20
#: How many of the most common complete paths :attr:`PathsResult.top_paths` keeps.
TOP_PATHS: Final = 100
PURCHASE: Final = "purchase"
ARROW: Final = " → "

_ENTITY_WORD = {"session_id": "sessions", "user_id": "users"}


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class PathsParams:
    """The settings of a paths analysis (frozen and hashable, so pages can cache on them).

    The fields and their defaults are exactly the keyword arguments of :func:`compute_paths`,
    which documents them. Validation that needs no data happens here; the checks that need the
    table (does the ``node`` column exist?) happen in :func:`compute_paths`.

    Raises
    ------
    ParameterError
        A parameter is out of range; the message names it, the bad value and what is valid.
    """

    start: str | None = None
    end: str | None = None
    max_steps: int = 5
    count_by: str = "session_id"
    node: str = "event"
    collapse_repeats: bool = True
    top_per_step: int | None = 8
    min_edge_weight: int = 1
    exclude: tuple[str, ...] = ()
    groupings: tuple[str | tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ParameterError(f"`{name}` must be a node name (str) or None, got {value!r}")
            if value == "":
                set_(self, name, None)
        if isinstance(self.exclude, str):
            set_(self, "exclude", (self.exclude,))
        set_(self, "exclude", tuple(str(e) for e in self.exclude))
        if isinstance(self.groupings, str):
            set_(self, "groupings", (self.groupings,))
        set_(
            self,
            "groupings",
            tuple(tuple(g) if isinstance(g, list | tuple) else g for g in self.groupings),
        )
        if not _is_int(self.max_steps) or not 2 <= self.max_steps <= MAX_STEPS_LIMIT:
            raise ParameterError(
                f"`max_steps` must be an integer from 2 to {MAX_STEPS_LIMIT}, got {self.max_steps!r}"
            )
        if self.start is not None and self.end is not None and self.max_steps < 3:
            raise ParameterError(
                "`max_steps` must be at least 3 when both `start` and `end` are set "
                f"(start, one elided middle step, end), got {self.max_steps}"
            )
        if self.count_by not in COUNT_BY:
            raise ParameterError(
                f"`count_by` must be one of {list(COUNT_BY)}, got {self.count_by!r}"
            )
        if not isinstance(self.node, str) or self.node in ("ts", "user_id", "session_id"):
            raise ParameterError(
                "`node` must name a column of categories such as 'event', 'event_type' or "
                f"'category', got {self.node!r}"
            )
        if self.top_per_step is not None and (
            not _is_int(self.top_per_step) or self.top_per_step < 1
        ):
            raise ParameterError(
                "`top_per_step` must be a positive integer (or None to keep every node), "
                f"got {self.top_per_step!r}"
            )
        if not _is_int(self.min_edge_weight) or self.min_edge_weight < 1:
            raise ParameterError(
                f"`min_edge_weight` must be an integer of at least 1, got {self.min_edge_weight!r}"
            )
        _compile_groupings(self.groupings)  # raises on a bad pattern

    @property
    def mode(self) -> str:
        """``"all"``, ``"start"``, ``"end"`` or ``"between"`` (both start and end)."""
        if self.start is not None and self.end is not None:
            return "between"
        if self.start is not None:
            return "start"
        if self.end is not None:
            return "end"
        return "all"

    @property
    def entity_word(self) -> str:
        """``"sessions"`` or ``"users"``: what the counts count."""
        return _ENTITY_WORD[self.count_by]

    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`compute_paths` these params stand for."""
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _compile_groupings(groupings: Iterable[str | tuple[str, str]]) -> list[tuple[re.Pattern, str]]:
    """``[(compiled regex, group name), ...]`` in priority order.

    A plain string is a wildcard pattern (``*`` matches any run of characters) and names its
    group, as in PostHog (``/product/*``). ``"re:<regex>"`` is a regular expression named by the
    regex. A ``(pattern, name)`` pair gives the group an explicit name. Matching is a *search*
    (anywhere in the node name), as PostHog's ``multiMatchAnyIndex`` does: anchor with ``^``/``$``
    in a regex when needed.
    """
    compiled = []
    for g in groupings:
        if isinstance(g, tuple):
            if len(g) != 2 or not all(isinstance(x, str) for x in g):
                raise ParameterError(
                    f"`groupings` entries must be a pattern or a (pattern, name) pair, got {g!r}"
                )
            pattern, name = g
        elif isinstance(g, str):
            pattern, name = g, (g[3:] if g.startswith("re:") else g)
        else:
            raise ParameterError(
                f"`groupings` entries must be a pattern or a (pattern, name) pair, got {g!r}"
            )
        if not pattern or pattern == "re:":
            raise ParameterError("`groupings` contains an empty pattern")
        if pattern.startswith("re:"):
            try:
                rx = re.compile(pattern[3:])
            except re.error as exc:
                raise ParameterError(
                    f"`groupings` entry {pattern!r} is not a valid regular expression: {exc}"
                ) from None
        else:
            rx = re.compile(re.escape(pattern).replace(r"\*", ".*"))
        compiled.append((rx, name))
    return compiled


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class PathsResult:
    """Chart-ready paths.

    Attributes
    ----------
    params : PathsParams
        The settings that produced this result.
    edges : pl.DataFrame
        One row per Sankey link: ``source`` and ``target`` (node keys ``"<step>_<name>"``),
        ``value`` (number of entities that took this step), ``mean_seconds`` (mean time between
        the two steps; null into a drop-off node), ``source_step``, ``target_step``,
        ``source_name``, ``target_name``. Sorted by step, then value (largest first).
    nodes : pl.DataFrame
        One row per node: ``key``, ``step``, ``name``, ``label`` (display name), ``kind``
        (``"node"``, ``"other"``, ``"drop_off"`` or ``"gap"``), ``value`` (entities at that
        node), ``share`` (of all entities with a path), ``members`` (names folded into an Other
        node, most common first; empty otherwise).
    top_paths : pl.DataFrame
        The most common complete paths (at most :data:`TOP_PATHS`): ``path`` (list of display
        names), ``label`` (``"a → b → c"``), ``steps``, ``count``, ``share`` (of all entities
        with a path), ``purchased`` (how many of them had a ``purchase`` event at or after the
        start of their path, even beyond the step limit) and ``conversion``.
    path_counts : pl.DataFrame
        The mergeable per-path table everything else is derived from: ``step_1`` ...
        ``step_<max_steps>`` (node names, null after the path ends, left-aligned), ``count``,
        ``seconds_2`` ... (summed seconds from the previous step), ``purchased``.
    entities : int
        Number of entities (sessions or users) with a path.
    node_types : Mapping[str, str]
        The canonical event type of each node name, when the nodes are events (for colours).
    reason : str or None
        Why the result is empty; ``None`` when it is not.
    """

    params: PathsParams
    edges: pl.DataFrame
    nodes: pl.DataFrame
    top_paths: pl.DataFrame
    path_counts: pl.DataFrame
    entities: int
    node_types: Mapping[str, str] = field(default_factory=dict)
    reason: str | None = None

    @property
    def empty(self) -> bool:
        """True when there is no path to show (see :attr:`reason`)."""
        return self.entities == 0


EDGE_SCHEMA: Final = {
    "source": pl.String,
    "target": pl.String,
    "value": pl.Int64,
    "mean_seconds": pl.Float64,
    "source_step": pl.Int32,
    "target_step": pl.Int32,
    "source_name": pl.String,
    "target_name": pl.String,
}
NODE_SCHEMA: Final = {
    "key": pl.String,
    "step": pl.Int32,
    "name": pl.String,
    "label": pl.String,
    "kind": pl.String,
    "value": pl.Int64,
    "share": pl.Float64,
    "members": pl.List(pl.String),
}
TOP_PATHS_SCHEMA: Final = {
    "path": pl.List(pl.String),
    "label": pl.String,
    "steps": pl.Int32,
    "count": pl.Int64,
    "share": pl.Float64,
    "purchased": pl.Int64,
    "conversion": pl.Float64,
}


def _path_counts_schema(k: int) -> dict[str, pl.DataType]:
    schema: dict[str, pl.DataType] = {f"step_{i}": pl.String() for i in range(1, k + 1)}
    schema["count"] = pl.Int64()
    schema.update({f"seconds_{i}": pl.Float64() for i in range(2, k + 1)})
    schema["purchased"] = pl.Int64()
    return schema


def _empty_result(p: PathsParams, reason: str, node_types=None) -> PathsResult:
    return PathsResult(
        params=p,
        edges=pl.DataFrame(schema=EDGE_SCHEMA),
        nodes=pl.DataFrame(schema=NODE_SCHEMA),
        top_paths=pl.DataFrame(schema=TOP_PATHS_SCHEMA),
        path_counts=pl.DataFrame(schema=_path_counts_schema(p.max_steps)),
        entities=0,
        node_types=dict(node_types or {}),
        reason=reason,
    )


# --------------------------------------------------------------------------- public API


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
    repeats are collapsed; the path is cut at the anchors and limited to ``max_steps``.

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table (``core.schema``); only ``ts``, the ``count_by`` column, the
        ``node`` column and ``event_type`` are read. Sessions with a null ``session_id`` are
        split at 30 minutes of inactivity.
    start : str, optional
        Paths begin at the *first* occurrence of this node in each entity (after collapsing);
        entities that never reach it are left out. Compared with node names after groupings;
        a raw name that a grouping renames is accepted too.
    end : str, optional
        Paths end at the first occurrence of this node: the ``max_steps`` steps leading to it,
        walking backwards. The end node sits at step ``max_steps`` and shorter paths begin at
        later steps. With ``start`` as well: what happens between the first start and the
        first end after it; paths longer than ``max_steps`` keep their first and last steps
        around one "…" node.
    max_steps : int, default 5
        Steps per path, 2 to 20 (at least 3 with both ``start`` and ``end``).
    count_by : {"session_id", "user_id"}, default "session_id"
        What a path is and what the counts count: each session's events, or each user's whole
        history across sessions.
    node : str, default "event"
        Column whose values are the nodes: ``"event"`` (raw names), ``"event_type"`` (canonical
        steps), ``"category"`` (category hops) or any other property column.
    collapse_repeats : bool, default True
        Consecutive repeats of the same node count once (``A A B`` -> ``A B``); loops that come
        back later stay (``A B A``). The step's time is that of the last repeat (as PostHog).
    top_per_step : int or None, default 8
        Per step, keep the most frequent nodes and fold the rest into one "Other" node (whose
        counts include everything folded). ``None`` keeps every node.
    min_edge_weight : int, default 1
        Links taken by fewer entities are folded too: those entities' target node becomes the
        step's "Other" node, so every total stays exact and flows stay conserved. Links into
        "Other" and drop-off nodes are never folded.
    exclude : sequence of str
        Node names (raw, or after groupings) removed before paths are built.
    groupings : sequence of str or (pattern, name)
        Rules that merge node names before anything is counted, first match wins: a wildcard
        pattern (``"/product/*"``, ``*`` = any characters) names its own group; ``"re:<regex>"``
        is a regular expression; a ``(pattern, name)`` pair names the group explicitly.
        Patterns match anywhere in the name (as PostHog's); anchor regexes with ``^``/``$``.

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
        start=start,
        end=end,
        max_steps=max_steps,
        count_by=count_by,
        node=node,
        collapse_repeats=collapse_repeats,
        top_per_step=top_per_step,
        min_edge_weight=min_edge_weight,
        exclude=tuple(exclude),
        groupings=tuple(groupings),
    )
    check_events(events)
    names = events.collect_schema().names()
    if p.node not in names:
        raise ParameterError(
            f"`node` must be a column of the events table, got {p.node!r}; "
            f"available: {[c for c in names if c not in ('ts', 'user_id', 'session_id')]}"
        )
    counts, node_types, reason = _count_paths(events, p)
    if reason is not None:
        return _empty_result(p, reason, node_types)
    return build_result(counts, p, node_types=node_types)


def merge_paths(results: Sequence[PathsResult]) -> PathsResult:
    """Combine results computed on partitions that each hold all events of their entities.

    The path tables are concatenated and identical paths add up (counts, seconds, purchases);
    folding and the edges are then computed once on the merged table, so the merge equals
    :func:`compute_paths` on the whole table.

    Parameters
    ----------
    results : sequence of PathsResult
        Results computed with the same parameters.

    Returns
    -------
    PathsResult

    Raises
    ------
    ParameterError
        No results, or results computed with different parameters.
    """
    if not results:
        raise ParameterError("`results` must hold at least one PathsResult, got none")
    p = results[0].params
    if any(r.params != p for r in results):
        raise ParameterError("`results` must all be computed with the same parameters")
    node_types: dict[str, str] = {}
    for r in results:
        node_types.update(r.node_types)
    frames = [r.path_counts for r in results if r.path_counts.height]
    if not frames:
        return _empty_result(p, results[0].reason or "no entity has a path", node_types)
    k = p.max_steps
    steps = [f"step_{i}" for i in range(1, k + 1)]
    merged = (
        pl.concat(frames)
        .group_by(steps, maintain_order=True)
        .agg(
            pl.col("count").sum(),
            *[pl.col(f"seconds_{i}").sum() for i in range(2, k + 1)],
            pl.col("purchased").sum(),
        )
        .with_columns(
            pl.when(pl.col(f"step_{i}").is_not_null())
            .then(pl.col(f"seconds_{i}"))
            .alias(f"seconds_{i}")
            for i in range(2, k + 1)
        )
        .select(list(_path_counts_schema(k)))
    )
    return build_result(merged, p, node_types=node_types)


# --------------------------------------------------------------------------- step 1: per entity


def _count_paths(
    events: pl.DataFrame | pl.LazyFrame, p: PathsParams
) -> tuple[pl.DataFrame, dict[str, str], str | None]:
    """Per-entity paths counted into the path table (see :attr:`PathsResult.path_counts`)."""
    word = p.entity_word
    lf = events.lazy()
    schema = lf.collect_schema()
    has_type = "event_type" in schema
    cols = [
        pl.col(p.count_by).cast(pl.String).alias("_e"),
        pl.col("ts").dt.epoch("us").alias("_t"),
        pl.col(p.node).cast(pl.String).alias("_n"),
        ((pl.col("event_type") == PURCHASE).fill_null(False) if has_type else pl.lit(False)).alias(
            "_p"
        ),
    ]
    types_from = {"event": "event_type"}.get(p.node)
    if types_from and has_type:
        cols.append(pl.col("event_type").cast(pl.String).alias("_ty"))
    df = lf.select(cols).collect()
    if df.height == 0:
        return (
            pl.DataFrame(),
            {},
            "no events to build paths from (the table or the filters are empty)",
        )
    if p.count_by == "session_id" and df["_e"].null_count():
        # Sessions without an id are split at 30 minutes of inactivity, as everywhere else.
        full = lf.select(
            *cols, pl.col("user_id").cast(pl.String).alias("_u"), pl.col("ts").alias("_ts")
        ).collect()
        gap = assign_sessions(
            full.with_row_index("_row"), user_col="_u", ts_col="_ts", out_col="_gap"
        ).sort("_row")
        df = gap.with_columns(pl.coalesce("_e", pl.lit("~gap~") + pl.col("_gap")).alias("_e")).drop(
            "_row", "_u", "_ts", "_gap"
        )
    df = df.filter(pl.col("_e").is_not_null() & pl.col("_t").is_not_null())
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
    rows = rows.with_columns(_position())
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
        rows = _elide_middle(rows, k, gap_code=len(final_names))
    rows = rows.select("seg", "slot", "code", "t")
    counts = _wide_counts(rows, base, k, [*final_names, GAP])
    if counts.height == 0:
        return counts, node_types, _no_path_reason(p, word, start_code, end_code)
    return counts, node_types, None


def _ensure_contiguous(df: pl.DataFrame) -> pl.DataFrame:
    """Make each entity's rows contiguous and in time order (stable) without sorting the table:
    the canonical table is returned as it is, an export in log order is grouped by a hash
    partition and a stable counting sort (``core._grouping.group_rows``), ``_e`` then holding
    entity numbers (only its runs matter from here on)."""
    from core._grouping import group_rows  # (numba: imported on first use)

    groups = group_rows(df["_e"], df["_t"].to_numpy())
    return df if groups.order is None else groups.take_frame(df, codes="_e")


def _map_names(raw_names: list[str], p: PathsParams) -> tuple[list[str], list[int | None]]:
    """Final node names and, for each raw name, the index of its final name (None: excluded)."""
    rules = _compile_groupings(p.groupings)
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
            (label for rx, label in _compile_groupings(p.groupings) if rx.search(anchor)), anchor
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


# --------------------------------------------------------------------------- step 2: global


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
        return _empty_result(p, "no entity has a path", node_types)
    steps = [f"step_{i}" for i in range(1, k + 1)]
    pc = path_counts.with_columns(
        pl.sum_horizontal(pl.col(s).is_not_null() for s in steps).cast(pl.Int32).alias("_len")
    )
    entities = int(pc["count"].sum())

    # Aligned positions 1..k: a_i (node name at step i) and s_i (seconds from step i-1).
    if p.mode == "end":  # right-aligned: the end point sits at step k
        off = pl.lit(k, dtype=pl.Int32) - pl.col("_len")

        def at(prefix: str, i: int) -> pl.Expr:
            e = pl.lit(None, dtype=pl.String if prefix == "step_" else pl.Float64)
            for o in range(i - 1, -1, -1):
                src = i - o
                if prefix == "seconds_" and src < 2:
                    continue
                e = pl.when(off == o).then(pl.col(f"{prefix}{src}")).otherwise(e)
            return e

        aligned = [at("step_", i).alias(f"a{i}") for i in range(1, k + 1)]
        aligned += [at("seconds_", i).alias(f"s{i}") for i in range(2, k + 1)]
    else:
        drop = p.mode in ("all", "start")
        aligned = []
        for i in range(1, k + 1):
            a = pl.col(f"step_{i}")
            if drop and i >= 2:
                a = pl.when(pl.col("_len") == i - 1).then(pl.lit(DROP_OFF)).otherwise(a)
            aligned.append(a.alias(f"a{i}"))
        aligned += [pl.col(f"seconds_{i}").alias(f"s{i}") for i in range(2, k + 1)]
    w = pc.select("count", *aligned)

    # Folding, step by step from the left, per path (so every flow stays conserved).
    members: dict[int, list[str]] = {}
    for i in range(1, k + 1):
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
            src, dst = pl.col(f"f{i - 1}"), pl.col(f"f{i}")
            weak = (
                w.filter(src.is_not_null() & dst.is_not_null() & ~dst.is_in(SPECIAL_NODES))
                .group_by(f"f{i - 1}", f"f{i}")
                .agg(pl.col("count").sum().alias("_tot"))
                .filter(pl.col("_tot") < p.min_edge_weight)
                .select(f"f{i - 1}", f"f{i}", pl.lit(True).alias("_weak"))
            )
            if weak.height:
                w = (
                    w.join(
                        weak,
                        on=[f"f{i - 1}", f"f{i}"],
                        how="left",
                        nulls_equal=False,
                        maintain_order="left",
                    )
                    .with_columns(
                        pl.when(pl.col("_weak")).then(pl.lit(OTHER)).otherwise(dst).alias(f"f{i}")
                    )
                    .drop("_weak")
                )
        folded_names = (
            w.filter(pl.col(f"f{i}") == OTHER)
            .filter(real)
            .group_by(f"a{i}")
            .agg(pl.col("count").sum().alias("_tot"))
            .sort(["_tot", f"a{i}"], descending=[True, False])
        )
        members[i] = folded_names[f"a{i}"].to_list()

    nodes = _nodes(w, k, entities, members)
    edges = _edges(w, k)
    top = _top_paths(pc, entities)
    return PathsResult(
        params=p,
        edges=edges,
        nodes=nodes,
        top_paths=top,
        path_counts=path_counts.select(list(_path_counts_schema(k))),
        entities=entities,
        node_types=node_types,
        reason=None,
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


def display_name(name: str) -> str:
    """How a node name is shown: "Other", "Drop-off", "…" for the special nodes, "(empty)"."""
    return DISPLAY_NAMES.get(name, name if name != "" else "(empty)")


def _display(name: pl.Expr) -> pl.Expr:
    return name.replace(DISPLAY_NAMES).replace("", "(empty)")


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
        _display(pl.col("name")).alias("label"),
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
    path = pl.concat_list([_display(pl.col(s)) for s in steps]).list.drop_nulls()
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


# --------------------------------------------------------------------------- funnel drop-offs


@dataclass(frozen=True)
class FunnelDropOff:
    """What a link from the Funnels page restricts the paths to.

    Attributes
    ----------
    step : int
        The funnel step ``k`` people did not reach.
    previous_label, step_label : str
        Labels of steps ``k - 1`` (where the paths start) and ``k``.
    entities : int
        How many entities reached step ``k - 1`` but not ``k``.
    count_by : str
        The funnel's entity, which the paths count too.
    start : str or None
        The start point used (step ``k - 1``'s event when it is a single event name and the
        nodes are events); the paths begin at the time of step ``k - 1`` in any case.
    """

    step: int
    previous_label: str
    step_label: str
    entities: int
    count_by: str
    start: str | None


def paths_after_drop_off(
    events: pl.DataFrame | pl.LazyFrame,
    *,
    funnel: Any,
    dropped_at: int,
    params: PathsParams = PathsParams(),
) -> tuple[PathsResult, FunnelDropOff]:
    """What did the people who dropped off at funnel step ``k`` do next?

    Computes the funnel, keeps the entities that reached step ``k - 1`` but not step ``k``
    (:func:`core.funnels.dropped_off`), keeps their events from the time of their step ``k - 1``
    on, and computes paths that start there, counted by the funnel's entity.

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table (the same the funnel was computed on).
    funnel : core.funnels.FunnelParams
        The funnel (e.g. ``FunnelParams.from_query`` of the Funnels page's link).
    dropped_at : int
        The step not reached, 2 to the number of steps.
    params : PathsParams
        The other path settings; ``start`` and ``count_by`` are replaced as described.

    Returns
    -------
    (PathsResult, FunnelDropOff)
        The paths (empty with a reason when nobody dropped off there) and what was used.

    Raises
    ------
    ParameterError
        ``dropped_at`` is out of range, or the funnel counts something other than sessions
        or users.
    """
    from core.funnels import dropped_off

    steps = funnel.steps
    n = len(steps)
    if not _is_int(dropped_at) or not 2 <= dropped_at <= max(n, 1):
        raise ParameterError(
            f"`dropped_at` must be a funnel step from 2 to {n} (paths start at the step "
            f"before it), got {dropped_at!r}"
        )
    if funnel.count_by not in COUNT_BY:
        raise ParameterError(
            f"paths count sessions or users; this funnel counts by {funnel.count_by!r}"
        )
    previous = steps[dropped_at - 2]
    start = previous.events[0] if len(previous.events) == 1 and params.node == "event" else None
    p = PathsParams(**{**params.kwargs(), "start": start, "count_by": funnel.count_by})
    gone = dropped_off(funnel.compute(events), dropped_at)
    info = FunnelDropOff(
        step=dropped_at,
        previous_label=previous.display_label,
        step_label=steps[dropped_at - 1].display_label,
        entities=gone.height,
        count_by=funnel.count_by,
        start=start,
    )
    if gone.height == 0:
        return _empty_result(
            p, f"nobody reached {info.previous_label!r} without going on to {info.step_label!r}"
        ), info
    key = funnel.count_by
    restricted = (
        events.lazy()
        .join(
            gone.lazy().select(pl.col(key).cast(pl.String), "dropped_after"),
            left_on=pl.col(key).cast(pl.String),
            right_on=key,
            how="inner",
            maintain_order="left",
        )
        .filter(pl.col("ts") >= pl.col("dropped_after"))
        .drop("dropped_after")
    )
    return compute_paths(restricted, **p.kwargs()), info


# --------------------------------------------------------------------------- figures

#: One colour per canonical event type (colour-blind-safe hues; purchase is the green).
TYPE_COLOURS: Final = {
    "page_view": "#4C78A8",
    "search": "#72B7B2",
    "view_item": "#54A24B",
    "add_to_wishlist": "#B279A2",
    "add_to_cart": "#F58518",
    "remove_from_cart": "#E45756",
    "begin_checkout": "#EECA3B",
    "purchase": "#2CA02C",
    "other": "#9D755D",
}
SPECIAL_COLOURS: Final = {"other": "#C7C7C7", "drop_off": "#8C8C8C", "gap": "#DDDDDD"}


def node_colour(name: str, kind: str, node_types: Mapping[str, str]) -> str:
    """The colour of a node: by event type for event nodes, grey for the special nodes.

    Names without a known event type (categories, pages) get a stable colour from a fixed
    palette, so a name has the same colour in every chart.
    """
    if kind in SPECIAL_COLOURS:
        return SPECIAL_COLOURS[kind]
    ty = node_types.get(name)
    if ty in TYPE_COLOURS:
        return TYPE_COLOURS[ty]
    # the colour every page gives this value (a category has one colour on Funnels too)
    return color_for(name)


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _fmt_seconds(s: float | None) -> str:
    if s is None or (isinstance(s, float) and math.isnan(s)):
        return ""
    return fmt_duration(s)


_NODE_PAD_PX = 12


def _node_positions(
    steps: list[int], values: list[int], plot_px: float
) -> tuple[list[float], list[float]]:
    """Node centres (x, y in [0, 1], y down): one column per step, nodes stacked in table order.

    One vertical scale for all columns, as Plotly draws node heights, so stacks never overflow;
    within a column the table order puts real nodes first (largest on top), then Other and
    Drop-off at the bottom.
    """
    gap = _NODE_PAD_PX / max(plot_px, 50.0)
    columns: dict[int, list[int]] = {}
    for i, s in enumerate(steps):
        columns.setdefault(s, []).append(i)
    scale = min(
        max(1.0 - gap * (len(idx) - 1), 0.05) / max(sum(values[i] for i in idx), 1)
        for idx in columns.values()
    )
    order = sorted(columns)
    xs, ys = [0.0] * len(steps), [0.0] * len(steps)
    for j, s in enumerate(order):
        top = 0.0
        for i in columns[s]:
            h = values[i] * scale
            xs[i] = min(max(j / max(len(order) - 1, 1), 0.001), 0.999)
            ys[i] = min(max(top + h / 2, 0.001), 0.999)
            top += h + gap
    return xs, ys


def _sankey_trace(
    result: PathsResult, *, plot_px: float, domain_x: tuple[float, float] = (0.0, 1.0)
):
    import plotly.graph_objects as go

    nodes = result.nodes
    edges = result.edges
    word = result.params.entity_word
    index = {key: i for i, key in enumerate(nodes["key"].to_list())}
    colours = [
        node_colour(n, k, result.node_types)
        for n, k in zip(nodes["name"].to_list(), nodes["kind"].to_list(), strict=True)
    ]
    xs, ys = _node_positions(nodes["step"].to_list(), nodes["value"].to_list(), plot_px)
    members = [
        ", ".join(m[:8]) + (" …" if len(m) > 8 else "") if m else ""
        for m in nodes["members"].to_list()
    ]
    node_custom = [
        [lbl, s, v, sh, (f"<br>folded: {mem}" if mem else "")]
        for lbl, s, v, sh, mem in zip(
            nodes["label"].to_list(),
            nodes["step"].to_list(),
            nodes["value"].to_list(),
            nodes["share"].to_list(),
            members,
            strict=True,
        )
    ]
    src = [index[k] for k in edges["source"].to_list()]
    dst = [index[k] for k in edges["target"].to_list()]
    entities = max(result.entities, 1)
    link_custom = [
        [
            nodes["label"][a],
            nodes["label"][b],
            v / entities,
            (f"<br>mean {_fmt_seconds(sec)} between the steps" if sec is not None else ""),
        ]
        for a, b, v, sec in zip(
            src, dst, edges["value"].to_list(), edges["mean_seconds"].to_list(), strict=True
        )
    ]
    link_colours = [
        _rgba(SPECIAL_COLOURS["drop_off"], 0.25)
        if nodes["kind"][b] == "drop_off"
        else _rgba(colours[a], 0.35)
        for a, b in zip(src, dst, strict=True)
    ]
    return go.Sankey(
        domain={"x": list(domain_x), "y": [0, 1]},
        arrangement="snap",
        valueformat=",d",
        node={
            "label": nodes["label"].to_list(),
            "color": colours,
            "x": xs,
            "y": ys,
            # Columns are steps: every node past step 1 is reached from the step before, so
            # left alignment (depth from the sources) puts it in its step's column; walking
            # backwards from an end point, right alignment does (distance to the end).
            "align": "right" if result.params.mode == "end" else "left",
            "pad": _NODE_PAD_PX,
            "thickness": 14,
            "line": {"width": 0},
            "customdata": node_custom,
            "hovertemplate": (
                "<b>%{customdata[0]}</b> (step %{customdata[1]})<br>"
                f"%{{customdata[2]:,}} {word} (%{{customdata[3]:.1%}} of starting {word})"
                "%{customdata[4]}<extra></extra>"
            ),
        },
        link={
            "source": src,
            "target": dst,
            "value": edges["value"].to_list(),
            "color": link_colours,
            "customdata": link_custom,
            "hovertemplate": (
                "%{customdata[0]} → %{customdata[1]}<br>"
                f"%{{value:,}} {word} (%{{customdata[2]:.1%}} of starting {word})"
                "%{customdata[3]}<extra></extra>"
            ),
        },
    )


_SPECIAL_LEGEND: Final = {"other": "Other (rarer steps folded)", "drop_off": "Drop-off (path ended)",
                          "gap": "… (steps elided)"}


def _legend_entries(results: Sequence[PathsResult]) -> list[tuple[str, str]]:
    """(name, colour) of every colour the Sankeys use for a whole kind of node: the event types
    of event nodes, then Other / Drop-off / …; nodes coloured by their own name (categories)
    are named by their label already."""
    types: dict[str, None] = {}
    specials: dict[str, None] = {}
    for r in results:
        if r.empty:
            continue
        for name, kind in r.nodes.select("name", "kind").iter_rows():
            if kind in SPECIAL_COLOURS:
                specials[kind] = None
            elif r.node_types.get(name) in TYPE_COLOURS:
                types[r.node_types[name]] = None
    ordered = [t for t in TYPE_COLOURS if t in types]
    return [(f"{t.replace('_', ' ')} (event type)", TYPE_COLOURS[t]) for t in ordered] + [
        (_SPECIAL_LEGEND[k], SPECIAL_COLOURS[k]) for k in SPECIAL_COLOURS if k in specials
    ]


def _add_legend(fig: go.Figure, results: Sequence[PathsResult]) -> None:
    """A legend of the node colours (a Sankey has none): one square marker per colour."""
    import plotly.graph_objects as go

    entries = _legend_entries(results)
    for name, colour in entries:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name,
                                 marker={"symbol": "square", "size": 12, "color": colour},
                                 hoverinfo="skip"))
    fig.update_layout(
        showlegend=bool(entries),
        legend={"orientation": "h", "x": 0, "y": -0.02, "yanchor": "top",
                "title": {"text": "colours:"}},
        xaxis={"visible": False},
        yaxis={"visible": False},
        plot_bgcolor="rgba(0,0,0,0)",
    )


def paths_figure(result: PathsResult, *, title: str | None = None, height: int = 520) -> go.Figure:
    """A Plotly Sankey of a :class:`PathsResult`.

    Labels are the node names without step prefixes ("Other", "Drop-off", "…" for the special
    nodes); nodes are coloured by event type (one colour per type, stable across charts),
    drop-off nodes are grey; hovering shows the count and the share of starting entities
    (and the mean time between steps on links). Nodes are placed one column per step.

    Parameters
    ----------
    result : PathsResult
        What :func:`compute_paths` returned. An empty result gives an empty figure whose
        title is the result's reason.
    title : str, optional
        Figure title.
    height : int, default 520
        Figure height in pixels.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    import plotly.graph_objects as go

    fig = go.Figure()
    if result.empty:
        fig.update_layout(title=title or (result.reason or "no paths"), height=height)
        return fig
    top = 40 if title else 10
    fig.add_trace(_sankey_trace(result, plot_px=height - top - 10))
    _add_legend(fig, [result])
    fig.update_layout(
        title=title,
        height=height + 40,  # the legend below the chart
        margin={"l": 10, "r": 10, "t": top, "b": 50},
        font={"size": 12},
    )
    return fig


def paths_comparison_figure(
    left: PathsResult,
    right: PathsResult,
    *,
    left_title: str,
    right_title: str,
    left_value: object = None,
    right_value: object = None,
    height: int = 560,
) -> go.Figure:
    """Two Sankeys side by side (e.g. two values of a breakdown such as device).

    Both use the same colours for the same node names, and each hover's percentage is of its
    own starting entities, so the two sides compare as shares even when their sizes differ.

    Parameters
    ----------
    left, right : PathsResult
        The two results (an empty side shows its reason instead of a chart).
    left_title, right_title : str
        Titles above each side (e.g. ``"device = mobile (1,234 sessions)"``).
    left_value, right_value : optional
        The breakdown value of each side: its title gets the value's colour
        (:func:`core.fmt.color_for`, as on every page), whichever side it is on.
    height : int, default 560
        Figure height in pixels.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    import plotly.graph_objects as go

    fig = go.Figure()
    annotations = []
    sides = ((left, left_title, left_value, (0.0, 0.48)),
             (right, right_title, right_value, (0.52, 1.0)))
    for res, title, value, dom in sides:
        text = f"<b>{title}</b>"
        if value is not None:
            text = f"<span style='color:{color_for(value)}'>■</span> {text}"
        if res.empty:
            text += f"<br>{res.reason or 'no paths'}"
        else:
            fig.add_trace(_sankey_trace(res, plot_px=height - 70, domain_x=dom))
        annotations.append(
            {
                "x": (dom[0] + dom[1]) / 2,
                "y": 1.06,
                "xref": "paper",
                "yref": "paper",
                "text": text,
                "showarrow": False,
                "font": {"size": 13},
            }
        )
    _add_legend(fig, [left, right])
    fig.update_layout(
        height=height + 40,
        annotations=annotations,
        margin={"l": 10, "r": 10, "t": 60, "b": 50},
        font={"size": 12},
    )
    return fig


# --------------------------------------------------------------------------- tables for people
# (the CSV downloads keep ``top_paths`` and ``edges``: machine names, full precision)


def top_paths_people_table(result: PathsResult) -> PeopleTable:
    """The top paths as people read them: ``Path`` (text), ``Steps`` and the count
    (``Sessions`` or ``Users``, counts), ``Share of <entities>`` (percent), ``Purchased``
    (count), ``Conversion`` (percent); numbers stay numbers so the grid sorts them."""
    word = result.params.entity_word
    t = result.top_paths
    return PeopleTable.build({
        "Path": ("text", t["label"]),
        "Steps": ("count", t["steps"]),
        word.capitalize(): ("count", t["count"]),
        f"Share of {word}": ("percent", t["share"]),
        "Purchased": ("count", t["purchased"]),
        "Conversion": ("percent", t["conversion"]),
    })


def links_people_table(result: PathsResult) -> PeopleTable:
    """The Sankey's links as people read them: ``Step`` (``"2 → 3"``), ``From``, ``To``
    (display names), the count, ``Share of starting <entities>`` (percent) and ``Mean time
    between`` (a duration; null into Drop-off, where there is no next step)."""
    word = result.params.entity_word
    e = result.edges
    entities = max(result.entities, 1)
    return PeopleTable.build({
        "Step": ("text", [f"{a} → {b}" for a, b in zip(e["source_step"], e["target_step"],
                                                        strict=True)]),
        "From": ("text", [display_name(n) for n in e["source_name"].to_list()]),
        "To": ("text", [display_name(n) for n in e["target_name"].to_list()]),
        word.capitalize(): ("count", e["value"]),
        f"Share of starting {word}": ("percent", [v / entities for v in e["value"].to_list()]),
        "Mean time between": ("duration", e["mean_seconds"]),
    })


# --------------------------------------------------------------------------- breakdowns


def filter_breakdown(
    events: pl.DataFrame | pl.LazyFrame, *, column: str, value: str, count_by: str = "session_id"
) -> pl.DataFrame | pl.LazyFrame:
    """All events of the entities whose breakdown value (first non-null ``column``) is ``value``.

    Whole entities are kept, so their paths are not cut by events lacking the property.

    Parameters
    ----------
    events : pl.DataFrame or pl.LazyFrame
        Canonical event table.
    column : str
        Property column.
    value : str
        The value to keep (compared as text).
    count_by : {"session_id", "user_id"}, default "session_id"
        The entity.

    Returns
    -------
    pl.DataFrame or pl.LazyFrame
        Same kind as the input, row order kept.

    Raises
    ------
    ParameterError
        ``column`` is not in the table or ``count_by`` is not valid.
    """
    _check_breakdown(events, column, count_by)
    first_value = pl.col(column).cast(pl.String).drop_nulls().first().over(count_by)
    return events.filter(first_value == str(value))


def _check_breakdown(events, column: str, count_by: str) -> None:
    if count_by not in COUNT_BY:
        raise ParameterError(f"`count_by` must be one of {list(COUNT_BY)}, got {count_by!r}")
    names = events.collect_schema().names()
    if column not in names:
        raise ParameterError(f"breakdown column {column!r} is not in the data; available: {names}")


__all__ = [
    "DROP_OFF",
    "GAP",
    "OTHER",
    "PathsParams",
    "PathsResult",
    "build_result",
    "compute_paths",
    "display_name",
    "FunnelDropOff",
    "filter_breakdown",
    "merge_paths",
    "node_colour",
    "paths_comparison_figure",
    "paths_after_drop_off",
    "paths_figure",
]
