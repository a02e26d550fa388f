"""Merging paths computed on partitions (scale-out).

Step 1 of :func:`~core.paths.compute_paths` looks at one entity at a time, so it gives the
same answer on any partition that holds all events of its entities (hash-partition by the
entity). :func:`merge_paths` concatenates the partitions' path tables, adds up counts, seconds
and purchases of identical paths, then runs step 2 (:func:`~core.paths.build.build_result`)
once; without folding (``top_per_step=None, min_edge_weight=1``) the edge counts of the
partitions simply add up.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from core.errors import ParameterError
from core.paths.build import build_result
from core.paths.result import PathsResult, empty_result, path_counts_schema


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
        return empty_result(p, results[0].reason or "no entity has a path", node_types)
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
        .select(list(path_counts_schema(k)))
    )
    return build_result(merged, p, node_types=node_types)
