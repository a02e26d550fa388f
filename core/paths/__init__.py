"""Paths: how sessions (or users) really move through the shop, step by step.

The settings are a :class:`PathsParams` (``params.py``); :func:`compute_paths` (``engine.py``)
counts each entity's path (step 1) and :func:`~core.paths.build.build_result` (``build.py``)
folds and derives the Sankey's edges and nodes (step 2); :func:`merge_paths` (``merge.py``)
combines partitions; ``figures.py`` draws, ``tables.py`` words the tables for people,
``dropoff.py`` and ``breakdown.py`` restrict the events first. ``docs/paths.md`` explains every
rule with worked examples.
"""

from core.paths.breakdown import filter_breakdown
from core.paths.build import ARROW, build_result
from core.paths.dropoff import FunnelDropOff, paths_after_drop_off
from core.paths.engine import PURCHASE, compute_paths
from core.paths.figures import (
    SPECIAL_COLOURS,
    TYPE_COLOURS,
    node_colour,
    paths_comparison_figure,
    paths_figure,
)
from core.paths.merge import merge_paths
from core.paths.params import COUNT_BY, MAX_STEPS_LIMIT, PathsParams
from core.paths.result import (
    DISPLAY_NAMES,
    DROP_OFF,
    EDGE_SCHEMA,
    GAP,
    NODE_SCHEMA,
    OTHER,
    SPECIAL_NODES,
    TOP_PATHS,
    TOP_PATHS_SCHEMA,
    PathsResult,
    display_name,
)
from core.paths.tables import links_people_table, top_paths_people_table

__all__ = [
    "ARROW",
    "COUNT_BY",
    "DISPLAY_NAMES",
    "DROP_OFF",
    "EDGE_SCHEMA",
    "GAP",
    "MAX_STEPS_LIMIT",
    "NODE_SCHEMA",
    "OTHER",
    "PURCHASE",
    "SPECIAL_COLOURS",
    "SPECIAL_NODES",
    "TOP_PATHS",
    "TOP_PATHS_SCHEMA",
    "TYPE_COLOURS",
    "FunnelDropOff",
    "PathsParams",
    "PathsResult",
    "build_result",
    "compute_paths",
    "display_name",
    "filter_breakdown",
    "links_people_table",
    "merge_paths",
    "node_colour",
    "paths_after_drop_off",
    "paths_comparison_figure",
    "paths_figure",
    "top_paths_people_table",
]
