"""The frequent-itemset miners, checked against the mining budget as they go.

:func:`_apriori` mines by levels with per-prefix counting on the sparse encoding (and, with
``adaptive=True``, finds the threshold at which at most ``cap`` itemsets remain: top-``cap``
mining, used to suggest a ``min_support``); :func:`_fpgrowth` drives mlxtend's FP-Growth one
itemset at a time. Both call ``budget.tick()`` between batches, so a deadline or a
cancellation stops them within a few hundredths of a second, and both raise :class:`_CapHit`
when more than ``cap`` itemsets are found (never a partial result).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.rules.encode import _Encoded

if TYPE_CHECKING:
    from core.rules.budget import _Budget


class _CapHit(Exception):
    """More than the cap of itemsets were found (internal)."""


def _apriori(
    enc: _Encoded,
    min_c: int,
    max_len: int,
    budget: _Budget,
    *,
    cap: int | None,
    adaptive: bool = False,
) -> tuple[dict[tuple[int, ...], int], int]:
    """Frequent itemsets by levels (Apriori with per-prefix counting on the sparse encoding).

    Candidates are grouped by their prefix (all items but the last); one batch counts every
    extension of one prefix in the baskets that hold the prefix, then the budget is checked.

    With ``adaptive=False`` finding more than ``cap`` itemsets raises :class:`_CapHit`. With
    ``adaptive=True`` the threshold rises instead (top-``cap`` mining): whenever more than
    ``cap`` itemsets are known, it becomes one more than the ``cap + 1``-th largest count and
    the itemsets below it are dropped (with their supersets, by anti-monotonicity). At the
    end the dict holds every itemset whose count reaches the returned threshold, which is the
    smallest count with at most ``cap`` itemsets at or above it.

    Returns
    -------
    found : dict
        Sorted column-index tuples -> basket count.
    threshold : int
        The final basket-count threshold.
    """
    counter = _ExtensionCounter.of(enc)
    t = min_c
    found: dict[tuple[int, ...], int] = {
        (j,): int(enc.counts[j]) for j in range(len(enc.items)) if enc.counts[j] >= t
    }
    t = _trim(found, t, cap, adaptive=adaptive)
    level = sorted(found)
    size = 1
    while level and size < max_len:
        nxt: list[tuple[int, ...]] = []
        for prefix, ext in _candidate_batches(level, found, size):
            budget.tick()
            # a prefix may have been dropped by a raised threshold since
            if prefix not in found or len(ext) == 0 or found[prefix] < t:
                continue
            counts = counter.count(prefix, ext, found[prefix])
            for i in np.nonzero(counts >= t)[0]:
                key = (*prefix, int(ext[i]))
                found[key] = int(counts[i])
                nxt.append(key)
            t = _trim(found, t, cap, adaptive=adaptive)
        t = _trim(found, t, cap, adaptive=adaptive, slack=1)
        level = sorted(key for key in nxt if key in found)
        size += 1
    return found, _trim(found, t, cap, adaptive=adaptive, slack=1)


def _trim(
    found: dict[tuple[int, ...], int], t: int, cap: int | None, *, adaptive: bool, slack: int = 2
) -> int:
    """Apply the cap to ``found``; return the (possibly raised) threshold.

    Not adaptive: more than ``cap`` itemsets raise :class:`_CapHit`. Adaptive: past
    ``slack * cap`` itemsets (amortised; ``slack=1`` at level ends) the threshold becomes one
    more than the ``cap + 1``-th largest count and the itemsets below it are dropped.
    """
    if cap is None or len(found) <= (slack if adaptive else 1) * cap:
        return t
    if not adaptive:
        raise _CapHit
    counts = np.fromiter(found.values(), dtype=np.int64, count=len(found))
    kth = len(counts) - cap - 1  # the (cap + 1)-th largest count
    t = int(np.partition(counts, kth)[kth]) + 1
    for key in [key for key, c in found.items() if c < t]:
        del found[key]
    return t


@dataclass(frozen=True)
class _ExtensionCounter:
    """Counts the baskets that hold a prefix together with each of its extension items.

    One bit per basket and item (``bits``, k x n/8 bytes: at most DENSE_BUDGET_BYTES / 8
    given the item cap); a count ANDs the prefix's bits with its extensions' bits, or reads
    the items of the prefix's baskets from the sparse rows, whichever touches less memory.
    """

    bits: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    basket_sizes: np.ndarray
    n_baskets: int
    n_items: int

    @classmethod
    def of(cls, enc: _Encoded) -> _ExtensionCounter:
        csr = enc.matrix.tocsr()
        csr.sort_indices()
        return cls(
            bits=np.packbits(enc.matrix.T.toarray(), axis=1),
            indptr=csr.indptr,
            indices=csr.indices,
            basket_sizes=np.diff(csr.indptr),
            n_baskets=enc.n_baskets,
            n_items=len(enc.items),
        )

    def count(self, prefix: tuple[int, ...], ext: np.ndarray, prefix_count: int) -> np.ndarray:
        """Baskets holding ``prefix`` and each item of ``ext`` (``prefix_count``: the prefix's)."""
        held = self.bits[prefix[0]]
        for j in prefix[1:]:
            held = held & self.bits[j]
        words = self.bits.shape[1]
        rows = None
        if len(ext) * words > 4 * prefix_count * self.basket_sizes.mean():
            rows = np.nonzero(np.unpackbits(held, count=self.n_baskets))[0]
        if rows is not None and 4 * self.basket_sizes[rows].sum() < len(ext) * words:
            starts = self.indptr[rows]
            lens = self.basket_sizes[rows]
            pos = np.arange(int(lens.sum())) + np.repeat(starts - np.cumsum(lens) + lens, lens)
            return np.bincount(self.indices[pos], minlength=self.n_items)[ext]
        return np.bitwise_count(self.bits[ext] & held).sum(axis=1, dtype=np.int64)


def _candidate_batches(
    level: list[tuple[int, ...]], found: dict[tuple[int, ...], int], size: int
) -> Iterator[tuple[tuple[int, ...], np.ndarray]]:
    """Apriori candidates of size ``size + 1`` as (prefix, extensions) batches.

    ``level`` is the sorted list of frequent itemsets of size ``size``. A candidate joins
    two of them that share all but their last item, and every one of its ``size``-subsets
    must be frequent (looked up in ``found``, which also reflects a raised threshold).
    """
    if size == 1:
        singles = np.array([s[0] for s in level], dtype=np.int64)
        for i, (a,) in enumerate(level):
            yield (a,), singles[i + 1 :]
        return
    start = 0
    while start < len(level):
        stem = level[start][:-1]
        end = start
        while end < len(level) and level[end][:-1] == stem:
            end += 1
        lasts = [level[i][-1] for i in range(start, end)]
        for ia, a in enumerate(lasts):
            ext = [
                b
                for b in lasts[ia + 1 :]
                if all((*stem[:m], *stem[m + 1 :], a, b) in found for m in range(len(stem)))
            ]
            yield (*stem, a), np.array(ext, dtype=np.int64)
        start = end


def _fpgrowth(
    enc: _Encoded, min_c: int, max_len: int, budget: _Budget, *, cap: int | None
) -> dict[tuple[int, ...], int]:
    """Frequent itemsets by mlxtend's FP-Growth, driven one itemset at a time.

    mlxtend's ``fpg_step`` is a generator over the conditional FP-trees; reading it here lets
    the budget be checked between itemsets and the cap stop it (building the first tree, one
    pass over the baskets, is the only step without checks).
    """
    # lazy: mlxtend (and the pandas it needs) are heavy; only FP-Growth runs use them here
    import pandas as pd
    from mlxtend.frequent_patterns import fpcommon
    from mlxtend.frequent_patterns.fpgrowth import fpg_step

    onehot = pd.DataFrame.sparse.from_spmatrix(enc.matrix, columns=range(len(enc.items)))
    # Half a basket below the integer threshold: free of floating-point ties.
    tree, _, _ = fpcommon.setup_fptree(onehot, (min_c - 0.5) / enc.n_baskets)
    found: dict[tuple[int, ...], int] = {}
    for count, itemset in fpg_step(tree, min_c, None, max_len, 0):
        budget.tick()
        if count >= min_c:
            found[tuple(sorted(int(i) for i in itemset))] = int(count)
            if cap is not None and len(found) > cap:
                raise _CapHit
    return found
