"""The result of a paths analysis (:class:`PathsResult`), its table schemas and node names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import polars as pl

from core.paths.params import PathsParams

#: Internal node names; the figure and tables show them as "Other", "Drop-off" and "…".
OTHER: Final = "$other"
DROP_OFF: Final = "$drop_off"
GAP: Final = "$gap"
SPECIAL_NODES: Final = (OTHER, DROP_OFF, GAP)
DISPLAY_NAMES: Final = {OTHER: "Other", DROP_OFF: "Drop-off", GAP: "…"}

#: How many of the most common complete paths :attr:`PathsResult.top_paths` keeps.
TOP_PATHS: Final = 100


def display_name(name: str) -> str:
    """How a node name is shown: "Other", "Drop-off", "…" for the special nodes, "(empty)"."""
    return DISPLAY_NAMES.get(name, name if name != "" else "(empty)")


def display_expr(name: pl.Expr) -> pl.Expr:
    """:func:`display_name` as a Polars expression."""
    return name.replace(DISPLAY_NAMES).replace("", "(empty)")


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


def path_counts_schema(k: int) -> dict[str, pl.DataType]:
    """The columns of :attr:`PathsResult.path_counts` for paths of at most ``k`` steps."""
    schema: dict[str, pl.DataType] = {f"step_{i}": pl.String() for i in range(1, k + 1)}
    schema["count"] = pl.Int64()
    schema.update({f"seconds_{i}": pl.Float64() for i in range(2, k + 1)})
    schema["purchased"] = pl.Int64()
    return schema


def empty_result(
    p: PathsParams, reason: str, node_types: Mapping[str, str] | None = None
) -> PathsResult:
    """An empty result (``entities == 0``) with typed empty tables and the ``reason``."""
    return PathsResult(
        params=p,
        edges=pl.DataFrame(schema=EDGE_SCHEMA),
        nodes=pl.DataFrame(schema=NODE_SCHEMA),
        top_paths=pl.DataFrame(schema=TOP_PATHS_SCHEMA),
        path_counts=pl.DataFrame(schema=path_counts_schema(p.max_steps)),
        entities=0,
        node_types=dict(node_types or {}),
        reason=reason,
    )
