"""Compiled first passes over large tables in file order (numba, imported only for tables of
:data:`core.loader.order.COMPILED_FROM` rows or more).

Both kernels only *narrow down* the rows an exact Polars step then looks at, so a 64-bit hash
collision can add rows to look at but never changes an answer:

- :func:`repeated_pairs`: rows whose (time, user hash) pair occurs more than once (every
  exact duplicate row is among them);
- :func:`mixed_sessions`: session hashes seen with more than one user (every session id
  shared by users is among them: the users are compared by two independent 64-bit hashes).
"""

from __future__ import annotations

import numpy as np

from core.funnels.kernel import _kernel, _read_only

#: Runs of equal times up to this long are compared pair by pair; longer ones are sorted.
_PAIRWISE_RUN = 16


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


def mixed_sessions(
    hs: np.ndarray, hu: np.ndarray, hu2: np.ndarray, valid: np.ndarray
) -> np.ndarray:
    """The distinct session hashes ``hs`` whose rows carry more than one user.

    Parameters
    ----------
    hs : np.ndarray
        uint64 session hashes, one per row.
    hu, hu2 : np.ndarray
        uint64 user hashes under two independent seeds (users differ when either differs).
    valid : np.ndarray
        bool, rows that have a session (an empty array: all rows).

    Returns
    -------
    np.ndarray
        uint64, each hash once, in order of the row that revealed the second user.
    """
    return _mixed_sessions(_read_only(hs), _read_only(hu), _read_only(hu2), _read_only(valid))


@_kernel()
def _mixed_sessions(
    hs: np.ndarray, hu: np.ndarray, hu2: np.ndarray, valid: np.ndarray
) -> np.ndarray:
    # open addressing on the session hash, grown at half load: one slot per distinct session
    cap = 1 << 16
    keys = np.empty(cap, dtype=np.uint64)
    users = np.empty(cap, dtype=np.uint64)
    users2 = np.empty(cap, dtype=np.uint64)
    state = np.zeros(cap, dtype=np.uint8)  # 0 empty, 1 one user so far, 2 mixed
    filled = 0
    found = np.empty(16, dtype=np.uint64)
    n_found = 0
    every = len(valid) == 0
    for i in range(len(hs)):
        if not every and not valid[i]:
            continue
        if 2 * (filled + 1) > cap:
            old_k, old_u, old_u2, old_s = keys, users, users2, state
            cap *= 2
            keys = np.empty(cap, dtype=np.uint64)
            users = np.empty(cap, dtype=np.uint64)
            users2 = np.empty(cap, dtype=np.uint64)
            state = np.zeros(cap, dtype=np.uint8)
            for s in range(len(old_k)):
                if old_s[s]:
                    p = np.int64(old_k[s] & np.uint64(cap - 1))
                    while state[p]:
                        p = (p + 1) & (cap - 1)
                    keys[p], users[p], users2[p], state[p] = old_k[s], old_u[s], old_u2[s], old_s[s]
        h = hs[i]
        p = np.int64(h & np.uint64(cap - 1))
        while state[p] and keys[p] != h:
            p = (p + 1) & (cap - 1)
        if state[p] == 0:
            keys[p], users[p], users2[p], state[p] = h, hu[i], hu2[i], 1
            filled += 1
        elif state[p] == 1 and (users[p] != hu[i] or users2[p] != hu2[i]):
            state[p] = 2
            if n_found == len(found):
                grown = np.empty(2 * len(found), dtype=np.uint64)
                grown[:n_found] = found
                found = grown
            found[n_found] = h
            n_found += 1
    return found[:n_found].copy()
