"""Compiled per-entity state machine for ordered and strict funnels (numba).

The rules are the ones of ``docs/funnels.md`` (PostHog's funnel UDF), applied one event at a
time, per entity, exactly as the plain-Python spec reference in
``tests/test_funnels_reference.py`` does; the vectorised Polars passes this replaced took a
handful of full passes over the table per step, this takes one.

Input contract (prepared by ``core.funnels.prepare``): rows sorted by entity, then time, then input
order; ``starts`` holds the first row of each entity and ends with the number of rows;
``mask`` bit ``k-1`` is set when the row matches step ``k``; ``xl`` bit ``j-1`` is set when the
row is an excluded event between steps ``j`` and ``j+1`` (zero on rows that match a step).
Entities are independent, so any partition of the rows that keeps each entity whole gives the
same per-entity answer.

Compiled on first use and cached on disk (``cache=True``: next to this file, or numba's user
cache directory when that is read-only).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

#: Marks "no time" in the step-time matrix (never a real µs timestamp).
NO_TIME = np.iinfo(np.int64).min


def _kernel(*, inline: str = "never") -> Callable:
    """``numba.njit`` without the GIL, cached on disk when numba finds a writable cache
    folder; where it finds none (a read-only install without a home directory) the kernel
    is compiled in each process instead of failing the import."""

    def wrap(fn: Callable) -> Callable:
        try:
            return njit(cache=True, nogil=True, inline=inline)(fn)
        except RuntimeError:  # numba: "cannot cache function ...: no locator available"
            return njit(nogil=True, inline=inline)(fn)

    return wrap


def run_starts(values: np.ndarray) -> np.ndarray:
    """First row of each run of equal values, then ``len(values)``."""
    return _run_starts(_read_only(values))


@_kernel()
def _run_starts(h: np.ndarray) -> np.ndarray:
    n = len(h)
    out = np.empty(n + 1, dtype=np.int64)
    c = 0
    for i in range(n):
        if i == 0 or h[i] != h[i - 1]:
            out[c] = i
            c += 1
    out[c] = n
    return out[: c + 1].copy()


@_kernel()
def row_stats(
    starts: np.ndarray, t: np.ndarray, mask: np.ndarray, n: int
) -> tuple[int, np.ndarray]:
    """First row whose time is earlier than its predecessor's in the same entity (-1 if
    none) and the number of rows matching each step (a row may match several)."""
    counts = np.zeros(n, dtype=np.int64)
    bad = -1
    for e in range(len(starts) - 1):
        for i in range(starts[e], starts[e + 1]):
            if bad < 0 and i > starts[e] and t[i] < t[i - 1]:
                bad = i
            m = mask[i]
            if m != 0:
                for k in range(n):
                    counts[k] += (m >> k) & 1
    return bad, counts


def _read_only(a: np.ndarray) -> np.ndarray:
    if a.flags.writeable:
        a = a.view()  # the caller's array keeps its flag
        a.flags.writeable = False
    return a


def call(kernel: Callable, *args):
    """``kernel(*args)`` with every array read-only (see :func:`in_parallel`)."""
    return kernel(*(_read_only(a) if isinstance(a, np.ndarray) else a for a in args))


def in_parallel(kernel: Callable, starts: np.ndarray, *args) -> list:
    """Run ``kernel(starts_chunk, *args)`` on chunks of whole entities in threads.

    The kernels release the GIL (``nogil``), so the chunks run side by side; each gets a
    contiguous run of entities holding about the same number of rows. Returns the results in
    entity order.
    """
    # one compiled variant per call pattern: numba types read-only and writable arrays apart,
    # and Polars hands out either, so every array goes in read-only
    starts = _read_only(starts)
    args = tuple(_read_only(a) if isinstance(a, np.ndarray) else a for a in args)
    rows = int(starts[-1])
    k = os.cpu_count() or 1
    k = max(1, min(k, rows // 200_000, len(starts) - 1))
    if k == 1:
        return [call(kernel, starts, *args)]
    cuts = np.searchsorted(starts, np.linspace(0, rows, k + 1)[1:-1])
    bounds = np.unique(np.concatenate(([0], cuts, [len(starts) - 1])))
    chunks = [starts[a : b + 1] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    with ThreadPoolExecutor(len(chunks)) as pool:
        return list(pool.map(lambda s: kernel(s, *args), chunks))


@_kernel(inline="always")
def _low(m: int, n: int) -> int:
    """Lowest step an event matches (1-based); events of no step sort after every step."""
    if m == 0:
        return n + 1
    k = 1
    while not (m >> (k - 1)) & 1:
        k += 1
    return k


@_kernel(inline="always")
def _event(tr, m, x, clears, n, w, strict, state):
    """Apply one event (time ``tr``, step bits ``m``, exclusion bits ``x``) to the state.

    ``state`` has ``n + 3`` rows and columns. Row ``k`` (1..n) is the latest attempt at step k:
    its step times in columns ``0..n-1``, then its start, whether it exists and whether an
    excluded event hit it. Row ``n + 1`` is the counted attempt (times, start, furthest step,
    excluded); row ``n + 2`` the times of the first attempt that reached the furthest step.
    """
    start, has, excl = n, n + 1, n + 2  # columns
    rec, first = n + 1, n + 2  # rows
    if m != 0:
        # steps in descending order read only states this event has not written yet, which
        # is what the reference's copy of the state before the event achieves
        for k in range(n, 0, -1):
            if not (m >> (k - 1)) & 1:
                continue
            if k == 1:
                cs, cex = tr, 0
            else:
                if state[k - 1, has] == 0 or tr - state[k - 1, start] > w:
                    continue
                cs, cex = state[k - 1, start], state[k - 1, excl]
            if state[k, has] == 1 and state[k, start] == cs:
                continue  # this attempt already reached step k
            best = state[rec, has]
            if k > best:
                for j in range(k - 1):
                    state[first, j] = state[k - 1, j]
                state[first, k - 1] = tr
            if k > best or (k == best and state[rec, excl] == 1):
                for j in range(k - 1):
                    state[rec, j] = state[k - 1, j]
                state[rec, k - 1] = tr
                state[rec, start], state[rec, has], state[rec, excl] = cs, k, cex
            if cex == 0:  # an excluded attempt does not move on
                for j in range(k - 1):
                    state[k, j] = state[k - 1, j]
                state[k, k - 1] = tr
                state[k, start], state[k, has], state[k, excl] = cs, 1, 0
    elif x != 0:
        for j in range(1, n):
            if not (x >> (j - 1)) & 1:
                continue
            if state[j, has] == 0 or tr - state[j, start] > w:
                continue
            if state[j + 1, has] == 1 and state[j + 1, start] == state[j, start]:
                continue  # the attempt is already past step j+1
            if state[j, excl] == 0:
                state[j, excl] = 1
                if state[rec, has] == j and tr - state[rec, start] <= w:
                    state[rec, excl] = 1
    if strict and clears:
        for k in range(1, n + 1):
            if not (m >> (k - 1)) & 1:
                state[k, has] = 0


@_kernel()
def _tie_group(mask, xl, i, g, tr, n, w, strict, state):
    """Apply rows ``i:g``, which share a timestamp: lowest step first (stable). When their
    events differ in steps or exclusions (counting only events that matter: all of them in
    strict funnels), excluded events are ignored and no event breaks another."""
    mixed, in_order, seen = False, True, False
    sig_m, sig_x, prev_low = 0, 0, 0
    for r in range(i, g):
        m = mask[r]
        x = xl[r] if m == 0 else 0
        if strict or m != 0 or x != 0:
            if not seen:
                sig_m, sig_x, seen = m, x, True
            elif m != sig_m or x != sig_x:
                mixed = True
        lo = _low(m, n)
        in_order = in_order and lo >= prev_low
        prev_low = lo
    if in_order:
        order = np.arange(i, g)
    else:
        lows = np.empty(g - i, dtype=np.int64)
        for r in range(i, g):
            lows[r - i] = _low(mask[r], n)
        order = i + np.argsort(lows, kind="mergesort")
    for r in order:
        m = mask[r]
        x = 0 if (mixed or m != 0) else xl[r]
        if m != 0 or x != 0 or strict:
            _event(tr, m, x, not mixed, n, w, strict, state)


@_kernel()
def ordered_funnel(
    starts: np.ndarray,
    t: np.ndarray,
    mask: np.ndarray,
    xl: np.ndarray,
    n: int,
    w: int,
    strict: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Furthest step, excluded flag and step times (µs, ``NO_TIME`` beyond) per entity.

    Follows the spec reference: each step of an attempt takes the first matching event after
    the attempt's previous step, within ``w`` µs of its first step; a later step-1 event
    starts a new attempt; the entity's furthest step over all attempts counts, with the
    times of the first attempt that reached it when the counted attempt is excluded.
    Events with equal timestamps are taken lowest step first (stable); in a group of equal
    timestamps whose events differ in steps or exclusions, excluded events are ignored and,
    in strict funnels, no event breaks another.
    """
    n_ent = len(starts) - 1
    furthest = np.zeros(n_ent, dtype=np.int8)
    excluded = np.zeros(n_ent, dtype=np.bool_)
    out_times = np.full((n_ent, n), NO_TIME, dtype=np.int64)
    state = np.zeros((n + 3, n + 3), dtype=np.int64)  # see _event
    rec, first, has, excl = n + 1, n + 2, n + 1, n + 2
    for e in range(n_ent):
        state[:, has] = 0  # no attempts; furthest step 0
        state[:, excl] = 0
        i, end = starts[e], starts[e + 1]
        while i < end:
            tr = t[i]
            g = i + 1
            while g < end and t[g] == tr:
                g += 1
            if g == i + 1:  # the common case: a timestamp of its own
                m = mask[i]
                x = xl[i] if m == 0 else 0
                if m != 0 or x != 0 or strict:
                    _event(tr, m, x, True, n, w, strict, state)
            else:
                _tie_group(mask, xl, i, g, tr, n, w, strict, state)
            i = g
        best = state[rec, has]
        if best > 0:
            furthest[e] = best
            excluded[e] = state[rec, excl] == 1
            src = first if state[rec, excl] == 1 else rec
            for j in range(best):
                out_times[e, j] = state[src, j]
    return furthest, excluded, out_times


# --------------------------------------------------------------------------------------------
# Unordered funnels
# --------------------------------------------------------------------------------------------


@_kernel()
def _augment(c0: int, cls_mask: np.ndarray, assign: np.ndarray, n: int) -> bool:
    """Give one more event of class ``c0`` a step, moving other events along an augmenting
    path (breadth first over the steps); ``assign[k]`` is the class holding step k or -1.
    ``assign[n:2n]`` and ``assign[2n:3n]`` are scratch space (parents and queue)."""
    parent = assign[n : 2 * n]  # -2 unvisited, -1 reached from c0
    queue = assign[2 * n : 3 * n]
    parent[:] = -2
    head = tail = 0
    for k in range(n):
        if (cls_mask[c0] >> k) & 1:
            parent[k] = -1
            queue[tail] = k
            tail += 1
    while head < tail:
        k = queue[head]
        head += 1
        if assign[k] < 0:  # a free step: shift every class on the path by one step
            while parent[k] >= 0:
                p = parent[k]
                assign[k] = assign[p]
                k = p
            assign[k] = c0
            return True
        c = assign[k]
        for k2 in range(n):
            if (cls_mask[c] >> k2) & 1 and parent[k2] == -2:
                parent[k2] = k
                queue[tail] = k2
                tail += 1
    return False


@_kernel()
def _matching(cnt: np.ndarray, cls_mask: np.ndarray, assign: np.ndarray, n: int) -> int:
    """Most steps that distinct events can fill, given the number of events of each class."""
    assign[:n] = -1
    size = 0
    for c in range(len(cnt)):
        for _ in range(min(cnt[c], n)):
            if not _augment(c, cls_mask, assign, n):
                break  # another event of the same class cannot help either
            size += 1
    return size


@_kernel(inline="always")
def _drop(cnt: np.ndarray, c: int) -> int:
    """Take one event of class ``c`` out of the window; 1 when its class is no longer there."""
    if c < 0:
        return 0
    cnt[c] -= 1
    return 1 if cnt[c] == 0 else 0


@_kernel()
def clear_mixed_exclusions(starts: np.ndarray, t: np.ndarray, mask: np.ndarray, xl: np.ndarray):
    """``xl`` with excluded events ignored in groups of equal timestamps whose step and
    excluded events differ in steps or exclusions (PostHog's rule; other events do not
    count)."""
    out = xl.copy()
    for e in range(len(starts) - 1):
        i, end = starts[e], starts[e + 1]
        while i < end:
            g = i
            mixed, seen, sig_m, sig_x = False, False, 0, 0
            while g < end and t[g] == t[i]:
                if mask[g] != 0 or xl[g] != 0:
                    if not seen:
                        sig_m, sig_x, seen = mask[g], xl[g], True
                    elif mask[g] != sig_m or xl[g] != sig_x:
                        mixed = True
                g += 1
            if mixed:
                out[i:g] = 0
            i = g
    return out


@_kernel()
def ties_out_of_step_order(starts: np.ndarray, t: np.ndarray, mask: np.ndarray, xl: np.ndarray):
    """Is there an entity whose step and excluded events with equal timestamps are not in
    step order (lowest step first)? Other events do not count."""
    n = 64
    for e in range(len(starts) - 1):
        prev_t, prev_low, seen = 0, 0, False
        for i in range(starts[e], starts[e + 1]):
            if mask[i] == 0 and xl[i] == 0:
                continue
            lo = _low(mask[i], n)
            if seen and t[i] == prev_t and lo < prev_low:
                return True
            prev_t, prev_low, seen = t[i], lo, True
    return False


@_kernel()
def step_classes(mask: np.ndarray, cls_mask: np.ndarray) -> np.ndarray:
    """Index of each row's step bit set in the sorted ``cls_mask`` (-1 for no step)."""
    out = np.full(len(mask), -1, dtype=np.int32)
    for i in range(len(mask)):
        if mask[i] != 0:
            out[i] = np.searchsorted(cls_mask, mask[i])
    return out


@_kernel()
def unordered_funnel(
    starts: np.ndarray,
    t: np.ndarray,
    cls: np.ndarray,
    xl: np.ndarray,
    cls_mask: np.ndarray,
    n: int,
    w: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Furthest step, excluded flag and step times per entity for an unordered funnel.

    Rows are in processing order (time, then lowest step for the step and excluded events);
    ``cls`` is each row's step class (an index into ``cls_mask``, the distinct step bit sets;
    -1 for other events) and ``xl`` is non-zero on excluded events that count. Rows that are
    neither are ignored. Every
    step event anchors a window: the events from it to ``w`` after it, cut at the first
    excluded event; the window fills as many steps as a maximum matching of its events to
    the steps they match. An anchor whose window was cut before filling every step is
    cancelled. The entity counts the best clean anchor (the first of equals), or, when all
    are cancelled, the best one, marked excluded. Step time j is the time of the event at
    which the anchor's window first fills j steps.
    """
    n_ent = len(starts) - 1
    n_cls = len(cls_mask)
    furthest = np.zeros(n_ent, dtype=np.int8)
    excluded = np.zeros(n_ent, dtype=np.bool_)
    out_times = np.full((n_ent, n), NO_TIME, dtype=np.int64)
    single = True  # every class is one step: the matching is the number of classes present
    for c in range(n_cls):
        single = single and (cls_mask[c] & (cls_mask[c] - 1)) == 0
    cnt = np.zeros(n_cls, dtype=np.int64)
    assign = np.empty(3 * n, dtype=np.int64)  # see _augment
    for e in range(n_ent):
        s, end = starts[e], starts[e + 1]
        cnt[:] = 0
        present = 0
        lo = hi = s  # rows [lo, hi) are counted in cnt
        nx = s  # the next excluded event at or after the anchor
        stop = s  # the first row later than the anchor's window
        best_clean, a_clean, b_clean = 0, -1, -1
        best_any, a_any, b_any = 0, -1, -1
        for a in range(s, end):
            if cls[a] < 0:
                continue
            lim = t[a] + w
            while stop < end and t[stop] <= lim:
                stop += 1
            if nx < a:
                nx = a
            while nx < end and xl[nx] == 0:
                nx += 1
            b = min(stop, nx)
            if hi <= a:  # the window moved past every counted row
                while lo < hi:
                    present -= _drop(cnt, cls[lo])
                    lo += 1
                lo = hi = a
            while lo < a:
                present -= _drop(cnt, cls[lo])
                lo += 1
            while hi < b:
                if cls[hi] >= 0:
                    cnt[cls[hi]] += 1
                    if cnt[cls[hi]] == 1:
                        present += 1
                hi += 1
            count = present if single else _matching(cnt, cls_mask, assign, n)
            cancelled = nx < stop and count < n
            if not cancelled and count > best_clean:
                best_clean, a_clean, b_clean = count, a, b
            if count > best_any:
                best_any, a_any, b_any = count, a, b
        if best_clean > 0:
            best, a0, b0 = best_clean, a_clean, b_clean
        elif best_any > 0:
            best, a0, b0 = best_any, a_any, b_any
            excluded[e] = True
        else:
            continue
        furthest[e] = best
        assign[:n] = -1
        size = 0
        for r in range(a0, b0):
            if size == best:
                break
            if cls[r] >= 0 and _augment(cls[r], cls_mask, assign, n):
                out_times[e, size] = t[r]
                size += 1
    return furthest, excluded, out_times


def warm_up() -> None:
    """Compile every kernel (or load it from the disk cache) on a tiny input, with the argument
    types of real calls, so the first funnel a user asks for does not wait for the compiler."""
    starts = np.array([0, 2], dtype=np.int64)
    t = np.array([0, 1], dtype=np.int64)
    mask = np.array([1, 2], dtype=np.int32)
    xl = np.zeros(2, dtype=np.int32)
    run_starts(np.zeros(2, dtype=np.uint32))
    in_parallel(row_stats, starts, t, mask, 2)
    in_parallel(ordered_funnel, starts, t, mask, xl, 2, 10, False)
    call(ties_out_of_step_order, starts, t, mask, xl)
    call(clear_mixed_exclusions, starts, t, mask, xl)
    cls_mask = np.array([1, 2], dtype=np.int32)
    cls = call(step_classes, mask, cls_mask)
    in_parallel(unordered_funnel, starts, t, cls, xl, cls_mask, 2, 10)
