"""Baskets as a sparse ``baskets x items`` matrix of the items that can be in a rule.

Items below ``min_support`` cannot be in any frequent itemset, so they are dropped before
mining (no result changes); of the rest at most ``max_items`` are kept, the most frequent, or
as many as a dense block of :data:`DENSE_BUDGET_BYTES` holds when ``max_items`` is not set.
Supports are basket counts over the number of baskets, so counts computed on partitions that
hold whole baskets add up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import polars as pl

from core.rules.params import RulesParams

#: Without an explicit ``max_items``, keep at most this many bytes in a dense block of
#: ``baskets x items`` booleans (what mlxtend's low-memory Apriori and FP-Growth build).
DENSE_BUDGET_BYTES: Final[int] = 512 * 1024**2
#: ...but never fewer items than this.
MIN_AUTO_ITEMS: Final[int] = 200
#: Items considered when looking for the most frequent pair to explain an empty result.
_HINT_ITEMS: Final[int] = 2000


def _min_count(min_support: float, n: int) -> int:
    """Smallest basket count ``c`` with ``c / n >= min_support`` (mlxtend's float comparison)."""
    c = max(1, math.ceil(min_support * n))
    while c > 1 and (c - 1) / n >= min_support:
        c -= 1
    while c / n < min_support:
        c += 1
    return c


@dataclass(frozen=True)
class _Encoded:
    matrix: Any  # scipy.sparse.csr_matrix, baskets x items, bool
    items: list[str]  # column names
    counts: np.ndarray  # basket count per column
    n_baskets: int
    one_item_baskets: int
    n_items: int
    n_frequent: int
    dropped_by_cap: int
    cap: int | None


def _encode(baskets: pl.DataFrame, params: RulesParams) -> _Encoded:
    import scipy.sparse as sp  # lazy: scipy is heavy; only mining needs it

    n = baskets.get_column("basket_id").n_unique()
    sizes = baskets.group_by("basket_id").len()
    one_item = int((sizes.get_column("len") == 1).sum())
    counts = baskets.group_by("item").len().sort(["len", "item"], descending=[True, False])
    n_items = counts.height
    min_c = _min_count(params.min_support, n) if n else 1
    frequent = counts.filter(pl.col("len") >= min_c)
    cap = params.max_items
    if cap is None and n:
        auto = max(MIN_AUTO_ITEMS, DENSE_BUDGET_BYTES // n)
        cap = auto if frequent.height > auto else None
    kept = frequent.head(cap) if cap is not None else frequent
    dropped = frequent.height - kept.height
    kept = kept.sort("item")
    items = kept.get_column("item").to_list()
    codes = kept.select("item", pl.int_range(pl.len(), dtype=pl.Int64).alias("col"))
    rows = baskets.select(
        "item", (pl.col("basket_id").rank("dense") - 1).cast(pl.Int64).alias("row")
    ).join(codes, on="item", how="inner")
    data = np.ones(rows.height, dtype=bool)
    matrix = sp.csr_matrix(
        (data, (rows.get_column("row").to_numpy(), rows.get_column("col").to_numpy())),
        shape=(n, len(items)),
        dtype=bool,
    )
    return _Encoded(
        matrix=matrix,
        items=items,
        counts=kept.get_column("len").to_numpy().astype(np.int64),
        n_baskets=n,
        one_item_baskets=one_item,
        n_items=n_items,
        n_frequent=frequent.height,
        dropped_by_cap=dropped,
        cap=cap if dropped else None,
    )


def _most_frequent_pair(baskets: pl.DataFrame, n: int) -> tuple[tuple[str, str], int] | None:
    import scipy.sparse as sp  # lazy: scipy is heavy; only mining needs it

    top = (
        baskets.group_by("item")
        .len()
        .sort(["len", "item"], descending=[True, False])
        .head(_HINT_ITEMS)
        .with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("col"))
    )
    rows = baskets.select(
        "item", (pl.col("basket_id").rank("dense") - 1).cast(pl.Int64).alias("row")
    ).join(top, on="item", how="inner")
    if rows.height == 0:
        return None
    x = sp.csr_matrix(
        (np.ones(rows.height, dtype=np.int32), (rows["row"].to_numpy(), rows["col"].to_numpy())),
        shape=(n, top.height),
    )
    co = sp.triu(x.T @ x, k=1).tocoo()
    if co.nnz == 0:
        return None
    best = int(np.argmax(co.data))
    names = top.get_column("item").to_list()
    pair = tuple(sorted((names[co.row[best]], names[co.col[best]])))
    return (pair[0], pair[1]), int(co.data[best])


def _name_lists(sets: Sequence[Any], items: list[str]) -> pl.Series:
    """Sets of column indices as a List[String] Series of item names, each list sorted.

    Columns are numbered in item-name order, so sorting indices sorts names. Built from one
    flat gather (a Series of Python lists is several times slower to construct).
    """
    lens = np.fromiter((len(s) for s in sets), dtype=np.int64, count=len(sets))
    flat = np.fromiter(
        (int(c) for s in sets for c in sorted(s)), dtype=np.int64, count=int(lens.sum())
    )
    names = pl.Series(items, dtype=pl.String).gather(flat)
    rule = np.repeat(np.arange(len(sets), dtype=np.int64), lens)
    return (
        pl.DataFrame({"r": rule, "x": names})
        .group_by("r", maintain_order=True)
        .agg("x")
        .get_column("x")
    )
