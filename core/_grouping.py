"""Group rows by entity, in time order, without a full two-key sort of the table.

The per-entity engines (the funnel kernels, paths) need each entity's rows contiguous and in
time order, input order breaking ties: exactly what a stable sort by (entity, time) gives.
Event exports usually arrive in time order ("log order"), and sorting ten million string keys
costs several times what the engines themselves do. Instead:

1. rows already grouped by entity (the stored datasets, sorted by user then time) are used as
   they are;
2. otherwise the rows are scattered into partitions by the top bits of their key's 64-bit
   hash (one stable counting-sort pass), and each partition (a few thousand rows) is grouped
   with a hash table that stays in cache, codes in order of first appearance, then a stable
   counting sort by code — partitions side by side in threads, no comparisons of keys;
3. equal 64-bit hashes are checked against a second, independent 64-bit hash (integer keys
   need no check: their "hash" is a bijection); a collision falls back to a sort, so two
   entities are never merged;
4. an entity whose rows are then not in time order (only when the input was not in time
   order) gets its own rows sorted, stably.

Entities come out in the order of grouped input, or else partition by partition, each in order of
first appearance: deterministic, but not sorted.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import polars as pl

from core.funnels.kernel import _kernel, _read_only, run_starts

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@dataclass(frozen=True, eq=False)
class Grouping:
    """Where each entity's rows are once grouped.

    ``order`` is the row permutation that groups the rows (``None`` when they already are
    grouped and in time order); after ``take(order)``, the rows of entity ``e`` are
    ``starts[e]:starts[e + 1]``, in time order, input order breaking ties. ``first_rows[e]``
    is the input row of entity ``e``'s first grouped row.
    """

    order: np.ndarray | None
    starts: np.ndarray  # int64, n_entities + 1

    @property
    def n_entities(self) -> int:
        return len(self.starts) - 1

    @property
    def first_rows(self) -> np.ndarray:
        firsts = self.starts[:-1]
        return firsts if self.order is None else self.order[firsts]

    def take(self, values: np.ndarray) -> np.ndarray:
        """``values`` in grouped row order."""
        return values if self.order is None else values[self.order]

    def take_series(self, values: pl.Series) -> pl.Series:
        return values if self.order is None else values.gather(self.order)

    def take_frame(self, frame: pl.DataFrame, *, codes: str | None = None) -> pl.DataFrame:
        """``frame`` in grouped row order, its column ``codes`` (the keys) replaced by the
        entity numbers (UInt32, ascending): no key is copied.

        Each column is made one chunk before it is gathered (gathering across the hundred
        chunks of a Parquet read is several times slower), a few columns at a time in
        threads (Polars releases the GIL)."""
        if self.order is None:
            return frame
        idx = pl.Series(self.order, dtype=pl.get_index_type())
        columns = frame.get_columns()

        def move(i: int) -> None:
            if columns[i].name == codes:
                ent = np.arange(self.n_entities, dtype=np.uint32)
                columns[i] = pl.Series(codes, np.repeat(ent, np.diff(self.starts)))
            else:
                columns[i] = columns[i].rechunk().gather(idx)

        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            list(pool.map(move, range(len(columns))))
        return pl.DataFrame(columns)

    def rows_in_entity_order(self, entities: np.ndarray) -> np.ndarray:
        """The row permutation that lists the entities in the order ``entities`` (a
        permutation of ``range(n_entities)``), each entity's rows as grouped."""
        order = np.arange(self.starts[-1], dtype=np.int64) if self.order is None else self.order
        return _concat_segments(
            _read_only(self.starts), _read_only(order), _read_only(entities.astype(np.int64))
        )


@_kernel()
def _histogram(h: np.ndarray, lo: int, hi: int, bits: int) -> tuple[np.ndarray, int]:
    """Rows of ``lo:hi`` per partition (the top ``bits`` of the hash), and their runs of
    equal hashes."""
    shift = np.uint64(64 - bits)
    counts = np.zeros(1 << bits, dtype=np.int64)
    runs = 0
    for i in range(lo, hi):
        counts[np.int64(h[i] >> shift)] += 1
        if i == lo or h[i] != h[i - 1]:
            runs += 1
    return counts, runs


@_kernel()
def _scatter(
    h: np.ndarray,
    h2: np.ndarray,
    lo: int,
    hi: int,
    bits: int,
    pos: np.ndarray,
    order: np.ndarray,
    hp: np.ndarray,
    h2p: np.ndarray,
) -> None:
    """Write rows ``lo:hi`` to their partitions from positions ``pos`` on (stable)."""
    shift = np.uint64(64 - bits)
    two = len(h2) > 0
    for i in range(lo, hi):
        j = np.int64(h[i] >> shift)
        q = pos[j]
        order[q] = i
        hp[q] = h[i]
        if two:
            h2p[q] = h2[i]
        pos[j] = q + 1


def _partition(
    h: np.ndarray, h2: np.ndarray, bits: int, threads: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Stable scatter of the rows into ``2**bits`` partitions by the top bits of their hash:
    the row order, the partitions' first positions, both hashes in that order (so the next
    pass reads them sequentially; ``h2`` may be empty: no second hash), and the number of
    runs of equal hashes in input order. ``threads`` contiguous chunks of rows are counted,
    then scattered, side by side (chunk ``c`` writes after chunks ``< c``: still stable)."""
    n = len(h)
    h, h2 = _read_only(h), _read_only(h2)
    cuts = np.linspace(0, n, max(1, threads) + 1).astype(np.int64)
    spans = list(zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True))
    with ThreadPoolExecutor(len(spans)) as pool:
        counted = list(pool.map(lambda ab: _histogram(h, ab[0], ab[1], bits), spans))
        counts = np.stack([c for c, _ in counted])
        # a run that crosses a cut was counted in both chunks
        runs = sum(r for _, r in counted) - sum(
            1 for c in cuts[1:-1] if 0 < c < n and h[c] == h[c - 1]
        )
        pstarts = np.zeros((1 << bits) + 1, dtype=np.int64)
        np.cumsum(counts.sum(axis=0), out=pstarts[1:])
        below = np.cumsum(counts, axis=0) - counts  # rows of earlier chunks per partition
        order = np.empty(n, dtype=np.int64)
        hp = np.empty(n, dtype=np.uint64)
        h2p = np.empty(len(h2), dtype=np.uint64)
        list(
            pool.map(
                lambda c: _scatter(
                    h, h2, spans[c][0], spans[c][1], bits, pstarts[:-1] + below[c], order, hp, h2p
                ),
                range(len(spans)),
            )
        )
    return order, pstarts, hp, h2p, int(runs)


@_kernel()
def _code_rows(
    hp: np.ndarray,
    h2p: np.ndarray,
    a: int,
    m: int,
    table: np.ndarray,
    codes: np.ndarray,
) -> int:
    """Code rows ``a:a + m`` by hash in order of first appearance (``codes[:m]``) with the
    open-addressing ``table`` of ``(hash, code + 1, second hash)`` triples (cleared, a power
    of two of slots, at least ``2 * m``). Returns the number of codes, or -1 when rows of
    equal ``hp`` differ in ``h2p`` (``h2p`` empty: not checked)."""
    two = len(h2p) > 0
    mask = np.int64(len(table) // 3 - 1)
    k = 0
    for r in range(m):
        x = hp[a + r]
        s = np.int64((x * _GOLDEN) >> np.uint64(32)) & mask
        while table[3 * s + 1] != 0 and table[3 * s] != x:
            s = (s + 1) & mask
        v = table[3 * s + 1]
        if v == 0:
            table[3 * s] = x
            table[3 * s + 1] = np.uint64(k + 1)
            if two:
                table[3 * s + 2] = h2p[a + r]
            codes[r] = k
            k += 1
        elif two and table[3 * s + 2] != h2p[a + r]:
            return -1
        else:
            codes[r] = np.int64(v) - 1
    return k


@_kernel()
def _sort_by_code(order: np.ndarray, a: int, m: int, codes: np.ndarray, cnt: np.ndarray) -> None:
    """Stable counting sort of ``order[a:a + m]`` by ``codes[:m]``; ``cnt`` (one slot per
    code) receives the size of each code's group."""
    cnt[:] = 0
    for r in range(m):
        cnt[codes[r]] += 1
    pos = np.empty(len(cnt), dtype=np.int64)
    acc = 0
    for c in range(len(cnt)):
        pos[c] = acc
        acc += cnt[c]
    seg = order[a : a + m].copy()
    for r in range(m):
        c = codes[r]
        order[a + pos[c]] = seg[r]
        pos[c] += 1


@_kernel()
def _group_partitions(
    hp: np.ndarray,
    h2p: np.ndarray,
    order: np.ndarray,
    pstarts: np.ndarray,
    p0: int,
    p1: int,
    sizes: np.ndarray,
) -> np.ndarray:
    """Group the rows of partitions ``p0:p1`` by hash, in place in ``order``.

    A partition's rows (``order[a:b]``, input order; their hashes ``hp[a:b]``) get codes in
    order of first appearance from a small open-addressing table (it stays in cache), then a
    stable counting sort by code rewrites ``order[a:b]``; the group sizes go to
    ``sizes[a:a + k]``. Returns each partition's number of groups ``k``, or -1 for a
    partition where rows of equal ``hp`` differ in ``h2p`` (a collision; ``h2p`` may be
    empty)."""
    ks = np.zeros(p1 - p0, dtype=np.int64)
    cap = 16
    table = np.empty(3 * cap, dtype=np.uint64)
    codes = np.empty(0, dtype=np.int64)
    for q in range(p0, p1):
        a, m = pstarts[q], pstarts[q + 1] - pstarts[q]
        if m == 0:
            continue
        while cap < 2 * m:
            cap *= 2
        if len(table) < 3 * cap:
            table = np.empty(3 * cap, dtype=np.uint64)
        table[1 : 3 * cap : 3] = 0
        if len(codes) < m:
            codes = np.empty(2 * m, dtype=np.int64)
        k = _code_rows(hp, h2p, a, m, table, codes)
        if k >= 0:
            _sort_by_code(order, a, m, codes, sizes[a : a + k])
        ks[q - p0] = k
    return ks


@_kernel()
def _group_starts(pstarts: np.ndarray, ks: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    starts = np.empty(ks.sum() + 1, dtype=np.int64)
    g = 0
    acc = 0
    for q in range(len(ks)):
        a = pstarts[q]
        for c in range(ks[q]):
            starts[g] = acc
            acc += sizes[a + c]
            g += 1
    starts[g] = acc
    return starts


@_kernel()
def _sort_segments(starts: np.ndarray, t: np.ndarray, order: np.ndarray) -> int:
    """Put each segment ``order[starts[e]:starts[e+1]]`` in order of ``t`` (stable: the
    segment is in input order), in place; returns how many segments needed it."""
    fixed = 0
    for e in range(len(starts) - 1):
        a, b = starts[e], starts[e + 1]
        ok = True
        for i in range(a + 1, b):
            if t[order[i]] < t[order[i - 1]]:
                ok = False
                break
        if ok:
            continue
        fixed += 1
        seg = order[a:b].copy()
        o = np.argsort(t[seg], kind="mergesort")
        for j in range(b - a):
            order[a + j] = seg[o[j]]
    return fixed


@_kernel()
def _concat_segments(starts: np.ndarray, order: np.ndarray, entities: np.ndarray) -> np.ndarray:
    out = np.empty(len(order), dtype=np.int64)
    j = 0
    for e in entities:
        for i in range(starts[e], starts[e + 1]):
            out[j] = order[i]
            j += 1
    return out


@_kernel()
def _segments_in_order(starts: np.ndarray, t: np.ndarray) -> bool:
    for e in range(len(starts) - 1):
        for i in range(starts[e] + 1, starts[e + 1]):
            if t[i] < t[i - 1]:
                return False
    return True


def _is_sorted(t: np.ndarray) -> bool:
    return len(t) < 2 or bool((t[1:] >= t[:-1]).all())


def _hashes(keys: pl.Series) -> tuple[np.ndarray, bool]:
    """64-bit hashes of the keys, and whether equal hashes mean equal keys (integer keys:
    multiplying by an odd constant is a bijection, so their "hash" is exact)."""
    if keys.dtype.is_integer():
        v = keys.cast(pl.Int64).to_numpy().view(np.uint64)
        return v * _GOLDEN, True
    return keys.hash().to_numpy(), False


def _hash_grouping(keys: pl.Series) -> Grouping | None:
    """Rows grouped by key: partition by the top bits of the hash (one stable scatter), then
    group each partition with a table small enough to stay in cache, partitions side by side
    in threads. ``None`` when two different keys share a 64-bit hash (seen as a second,
    independent 64-bit hash that differs within a group)."""
    n = len(keys)
    h, exact = _hashes(keys)
    h2 = np.empty(0, dtype=np.uint64) if exact else keys.hash(seed=0x5EED).to_numpy()
    bits = int(np.clip(np.log2(max(n, 1) / 4096), 1, 12))  # (a shift by 64 is undefined)
    k = max(1, min(os.cpu_count() or 1, n // 200_000))
    order, pstarts, hp, h2p, runs = _partition(h, h2, bits, threads=k)
    del h2  # (copied in partition order: the peak stays lower)
    sizes = np.empty(n, dtype=np.int64)
    p = len(pstarts) - 1
    cuts = np.linspace(0, p, k + 1).astype(np.int64)
    with ThreadPoolExecutor(k) as pool:
        ks = np.concatenate(
            list(
                pool.map(
                    lambda ab: _group_partitions(hp, h2p, order, pstarts, ab[0], ab[1], sizes),
                    zip(cuts[:-1], cuts[1:], strict=True),
                )
            )
        )
    if (ks < 0).any():
        return None
    if len(ks) and ks.sum() == runs:  # one run per key: the input is grouped already
        return Grouping(order=None, starts=run_starts(h))
    return Grouping(order=order, starts=_group_starts(pstarts, ks, sizes))


def group_rows(keys: pl.Series, t: np.ndarray) -> Grouping:
    """Group rows by ``keys`` (no nulls), each group in order of ``t`` (then input order).

    Parameters
    ----------
    keys : pl.Series
        The entity of each row (any hashable dtype, no nulls).
    t : np.ndarray
        The time of each row (int64, e.g. µs since the epoch).

    Returns
    -------
    Grouping
        The permutation (``None`` when the rows are already grouped and in time order) and
        the first row of each entity; the same grouping a stable sort by ``(keys, t)`` gives,
        up to the order of the entities (first appearance here, sorted there).
    """
    n = len(keys)
    t = _read_only(np.ascontiguousarray(t))
    if n == 0:
        return Grouping(order=None, starts=np.zeros(1, dtype=np.int64))
    if keys.is_sorted():  # grouped already (the canonical table); stops at the first descent
        return _in_time_order(None, run_starts(keys.rle_id().to_numpy()), t)
    grouping = _hash_grouping(keys)
    if grouping is None:  # a 64-bit hash collision: sort (never seen in practice)
        frame = pl.DataFrame({"k": keys, "t": t})
        order = frame.select(pl.arg_sort_by(["k", "t"], maintain_order=True)).to_series()
        order = order.to_numpy().astype(np.int64)
        return Grouping(order=order, starts=run_starts(keys.gather(order).rle_id().to_numpy()))
    if grouping.order is None:  # grouped already, in another order of the keys
        return _in_time_order(None, grouping.starts, t)
    if _is_sorted(t):  # log order: the stable grouping keeps each entity's rows in time order
        return grouping
    return _in_time_order(grouping.order, grouping.starts, t)


def _in_time_order(order: np.ndarray | None, starts: np.ndarray, t: np.ndarray) -> Grouping:
    """The grouping with each entity's rows sorted by time where they are not yet."""
    if order is None:
        if _segments_in_order(starts, t):
            return Grouping(order=None, starts=starts)
        order = np.arange(len(t), dtype=np.int64)
    _sort_segments(starts, t, order)
    return Grouping(order=order, starts=starts)
