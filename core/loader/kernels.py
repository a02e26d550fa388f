"""Compiled first passes over large tables in file order (numba, imported only for tables of
:data:`core.loader.order.COMPILED_FROM` rows or more).

Both kernels only *narrow down* the rows an exact Polars step then looks at, so a 64-bit hash
collision can add rows to look at but never changes an answer:

- :func:`repeated_pairs`: rows whose (time, user hash) pair occurs more than once (every
  exact duplicate row is among them);
- :func:`mixed_sessions`: session hashes seen with more than one user hash (every session
  id shared by users is among them, unless two of its users have equal 64-bit hashes).
"""

from __future__ import annotations

import numpy as np

from core.funnels.kernel import _kernel, _read_only

#: Runs of equal times up to this long are compared pair by pair; longer ones are sorted.
_PAIRWISE_RUN = 16


def warm_up() -> None:
    """Load the compiled kernels (numba's import and on-disk cache: ~0.4 s in a fresh
    process) with tiny inputs, so that a thread can do it while the file is being read."""
    one = np.zeros(1, dtype=np.uint64)
    repeated_pairs(np.zeros(1, dtype=np.int64), one, None)
    mixed_sessions(one, one, np.empty(0, dtype=np.bool_))


def repeated_pairs(t: np.ndarray, hu: np.ndarray, order: np.ndarray | None) -> np.ndarray:
    """Whether each row's ``(t, hu)`` pair occurs in another row too.

    Parameters
    ----------
    t : np.ndarray
        int64 times, one per row.
    hu : np.ndarray
        uint64 user hashes, one per row.
    order : np.ndarray or None
        A permutation that puts ``t`` in non-decreasing order; ``None`` when it already is.

    Returns
    -------
    np.ndarray
        bool, one per row (in the rows' own order).
    """
    n = len(t)
    if order is None:
        order = np.empty(0, dtype=np.int64)
    return _repeated_pairs(_read_only(t), _read_only(hu), _read_only(order), n)


@_kernel()
def _repeated_pairs(t: np.ndarray, hu: np.ndarray, order: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=np.bool_)
    direct = len(order) == 0
    a = 0
    while a < n:
        ra = a if direct else order[a]
        b = a + 1
        while b < n and t[b if direct else order[b]] == t[ra]:
            b += 1
        size = b - a
        if 1 < size <= _PAIRWISE_RUN:
            for i in range(a, b):
                ri = i if direct else order[i]
                for j in range(i + 1, b):
                    rj = j if direct else order[j]
                    if hu[ri] == hu[rj]:
                        out[ri] = True
                        out[rj] = True
        elif size > _PAIRWISE_RUN:
            rows = np.empty(size, dtype=np.int64)
            keys = np.empty(size, dtype=np.uint64)
            for i in range(size):
                rows[i] = a + i if direct else order[a + i]
                keys[i] = hu[rows[i]]
            by_key = np.argsort(keys)
            for i in range(1, size):
                if keys[by_key[i]] == keys[by_key[i - 1]]:
                    out[rows[by_key[i]]] = True
                    out[rows[by_key[i - 1]]] = True
        a = b
    return out


def mixed_sessions(hs: np.ndarray, hu: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The distinct session hashes ``hs`` whose rows carry more than one user hash ``hu``.

    The rows are first scattered into partitions by the top bits of ``hs`` (one stable pass),
    so each partition's table of sessions stays in cache: one table for all rows would miss
    the cache on nearly every row (0.9 s against about 0.15 s on 10M rows).

    Parameters
    ----------
    hs : np.ndarray
        uint64 session hashes, one per row.
    hu : np.ndarray
        uint64 user hashes, one per row. Two users of one session are told apart unless their
        64-bit hashes are equal (chance about 2**-64 per pair of users sharing a session).
    valid : np.ndarray
        bool, rows that have a session (an empty array: all rows).

    Returns
    -------
    np.ndarray
        uint64, each hash once.
    """
    n = len(hs)
    # partitions of ~32k rows: few enough write streams for the scatter, tables in cache
    bits = int(np.clip(np.log2(max(n, 1) / 32768), 1, 14))
    starts, ps, pu = _scatter(_read_only(hs), _read_only(hu), _read_only(valid), bits)
    return _mixed_in_partitions(starts, ps, pu)


@_kernel()
def _scatter(
    hs: np.ndarray, hu: np.ndarray, valid: np.ndarray, bits: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The valid rows' ``(hs, hu)`` grouped by the top ``bits`` of ``hs`` (stable), and the
    first position of each partition (then the end)."""
    every = len(valid) == 0
    shift = np.uint64(64 - bits)
    parts = 1 << bits
    starts = np.zeros(parts + 1, dtype=np.int64)
    for i in range(len(hs)):
        if every or valid[i]:
            starts[np.int64(hs[i] >> shift) + 1] += 1
    for p in range(parts):
        starts[p + 1] += starts[p]
    pos = starts[:-1].copy()
    ps = np.empty(starts[parts], dtype=np.uint64)
    pu = np.empty(starts[parts], dtype=np.uint64)
    for i in range(len(hs)):
        if every or valid[i]:
            p = np.int64(hs[i] >> shift)
            ps[pos[p]] = hs[i]
            pu[pos[p]] = hu[i]
            pos[p] += 1
    return starts, ps, pu


@_kernel()
def _mixed_in_partitions(starts: np.ndarray, ps: np.ndarray, pu: np.ndarray) -> np.ndarray:
    """Per partition, one open-addressing table of its sessions (first user hash seen)."""
    largest = 1
    for p in range(len(starts) - 1):
        largest = max(largest, starts[p + 1] - starts[p])
    cap = 1
    while cap < 2 * largest:
        cap *= 2
    keys = np.empty(cap, dtype=np.uint64)
    users = np.empty(cap, dtype=np.uint64)
    state = np.zeros(cap, dtype=np.uint8)  # 0 empty, 1 one user so far, 2 mixed
    found = np.empty(16, dtype=np.uint64)
    n_found = 0
    for p in range(len(starts) - 1):
        a, b = starts[p], starts[p + 1]
        size = 1
        while size < 2 * (b - a):
            size *= 2
        state[:size] = 0
        for k in range(a, b):
            h = ps[k]
            s = np.int64(h & np.uint64(size - 1))
            while state[s] and keys[s] != h:
                s = (s + 1) & (size - 1)
            if state[s] == 0:
                keys[s], users[s], state[s] = h, pu[k], 1
            elif state[s] == 1 and users[s] != pu[k]:
                state[s] = 2
                if n_found == len(found):
                    grown = np.empty(2 * len(found), dtype=np.uint64)
                    grown[:n_found] = found
                    found = grown
                found[n_found] = h
                n_found += 1
    return found[:n_found].copy()
