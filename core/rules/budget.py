"""The mining budget: a cap on itemsets and rules, a deadline, cancellation.

Mining is bounded so that one request cannot hold a shared server: at most
:data:`~core.rules.params.MAX_ITEMSETS` frequent itemsets (``max_itemsets``), at most
:data:`MAX_RULE_CANDIDATES` rules to consider, and :data:`~core.rules.params.TIME_LIMIT_S`
seconds (``time_limit``). Before mining, the frequent items and pairs are counted exactly (a
cheap lower bound of the itemsets); if they already pass the cap, or mining reaches it,
:class:`MiningBudgetExceeded` is raised with the smallest ``min_support`` that fits, found by
top-``cap`` mining under its own time budget (half the time limit, at least 5 s). Nothing is
returned partially: a result under a cap is always the complete result.

``should_stop`` (a callable, e.g. :func:`ui.jobs.cancel_check`, which notices a closed tab or
a newer request) is called every few hundredths of a second while counting (per candidate
batch of Apriori, per itemset of FP-Growth, per block of pair counts): True stops the mining
with :class:`MiningCancelled`; an exception it raises propagates unchanged.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Final

import numpy as np
import polars as pl

from core.errors import ParameterError, PathLensError
from core.rules.encode import _Encoded, _min_count
from core.rules.mining import _apriori
from core.rules.params import RulesParams

#: Most rules association-rule generation may consider (sum of 2**size - 2 over itemsets).
MAX_RULE_CANDIDATES: Final[int] = 500_000

#: Seconds between two calls of ``should_stop`` (and deadline checks) while mining.
_CHECK_EVERY_S: Final[float] = 0.02

#: Share of the time limit the search for a fitting ``min_support`` may use after the cap was
#: hit (at least :data:`_MIN_SEARCH_S` seconds).
_SEARCH_SHARE: Final[float] = 0.5

_MIN_SEARCH_S: Final[float] = 5.0


class MiningBudgetExceeded(ParameterError):
    """Mining would pass (or passed) the cap on itemsets, rules or time.

    Raised before mining when the exact count of frequent items and pairs alone passes the
    cap, or during mining when the cap or the time limit is reached. Nothing is returned
    partially: a result under a cap is always the complete result.

    Attributes
    ----------
    cause : {"itemsets", "rules", "time"}
        The cap that was reached.
    itemsets : int
        Frequent itemsets the settings produce at least (a lower bound, exact for what was
        counted).
    max_itemsets : int or None
        The cap on itemsets.
    min_support : float
        The ``min_support`` asked for.
    suggested_min_support : float or None
        A ``min_support`` that fits the cap: with it the same settings mine at most
        ``max_itemsets`` itemsets (exact when ``suggestion_exact``); ``None`` when none could
        be computed in time.
    suggestion_exact : bool
        True when ``suggested_min_support`` was verified by counting (it is then the smallest
        basket count that fits, as a share rounded up to three significant digits).
    """

    code = "budget_exceeded"

    def __init__(
        self,
        message: str,
        *,
        cause: str,
        itemsets: int,
        max_itemsets: int | None,
        min_support: float,
        suggested_min_support: float | None,
        suggestion_exact: bool,
    ) -> None:
        super().__init__(message)
        self.cause = cause
        self.itemsets = itemsets
        self.max_itemsets = max_itemsets
        self.min_support = min_support
        self.suggested_min_support = suggested_min_support
        self.suggestion_exact = suggestion_exact


class MiningCancelled(PathLensError):
    """``should_stop`` asked the mining to stop (a closed tab, a newer request)."""

    code = "cancelled"


class _OutOfTime(Exception):
    """The deadline passed (internal)."""


class _Budget:
    """A deadline and a cancellation check, cheap enough to call once per itemset.

    ``tick`` reads the clock (tens of nanoseconds) and, at most every
    :data:`_CHECK_EVERY_S` seconds, calls ``should_stop`` and compares with the deadline.
    ``should_stop`` may return True (the mining raises :class:`MiningCancelled`) or raise
    its own exception, which propagates unchanged (Streamlit's stop/rerun exceptions do).
    """

    def __init__(self, time_limit: float | None, should_stop: Callable[[], bool] | None) -> None:
        self.start = time.monotonic()
        self.time_limit = time_limit
        self.deadline = math.inf if time_limit is None else self.start + time_limit
        self.should_stop = should_stop
        self._next = self.start

    def tick(self) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + _CHECK_EVERY_S
        if self.should_stop is not None and self.should_stop():
            raise MiningCancelled(
                "Mining basket rules was cancelled (the page was closed or asked for "
                "something newer)."
            )
        if now > self.deadline:
            raise _OutOfTime

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def for_search(self) -> _Budget:
        """A fresh budget for the search of a fitting ``min_support`` (same cancellation)."""
        share = _SEARCH_SHARE * self.time_limit if self.time_limit is not None else 60.0
        return _Budget(max(_MIN_SEARCH_S, share), self.should_stop)


def _pair_count_histogram(enc: _Encoded, min_c: int, budget: _Budget) -> np.ndarray:
    """``hist[c]``: item pairs held together by exactly ``c`` baskets, for ``c >= min_c``.

    Exact co-occurrence counts of the mined items, one block of items at a time (a dense
    ``block x items`` array of at most 4M counts), with a budget check per block.
    """
    x = enc.matrix.tocsr().astype(np.int32)
    xt = x.T.tocsr()
    k = x.shape[1]
    hist = np.zeros(enc.n_baskets + 1, dtype=np.int64)
    block = max(1, min(k, 4_000_000 // max(k, 1)))
    for j0 in range(0, k, block):
        budget.tick()
        co = (xt[j0 : j0 + block] @ x).toarray()
        co = np.triu(co, k=j0 + 1)  # row r is item j0 + r: keep its pairs with later items
        hist += np.bincount(co[co >= min_c], minlength=enc.n_baskets + 1)
    return hist


def _at_least(counts: np.ndarray, n: int) -> np.ndarray:
    """``out[c]``: values of ``counts`` that are >= c, for c in 0..n+1."""
    return np.cumsum(np.bincount(counts, minlength=n + 2)[::-1])[::-1]


def _items_and_pairs_bound(
    enc: _Encoded, hist: np.ndarray, min_c: int, cap: int
) -> tuple[int, int, int]:
    """Frequent items and pairs at ``min_c`` (a lower bound of the itemsets), and the smallest
    basket count at which items and pairs alone fit the cap (no smaller count can fit)."""
    n = enc.n_baskets
    singles = _at_least(enc.counts, n)
    pairs = np.cumsum(np.append(hist, 0)[::-1])[::-1]
    total = singles + pairs
    fits = np.nonzero(total[min_c:] <= cap)[0]
    return int(singles[min_c]), int(pairs[min_c]), min_c + int(fits[0])


def _pct(x: float) -> str:
    return f"{100 * x:.3g}%"


def _support_for_count(count: int, n: int) -> float:
    """The shortest share (3 significant digits or more) whose basket threshold is ``count``."""
    x = count / n
    for digits in range(3, 12):
        decimals = max(0, digits - 1 - math.floor(math.log10(x)))
        step = 10.0**-decimals
        s = min(1.0, round(math.ceil(x / step - 1e-9) * step, decimals))
        if _min_count(s, n) == count:
            return s
    return x


def _too_many(
    enc: _Encoded,
    params: RulesParams,
    budget: _Budget,
    *,
    at_least: int,
    start_count: int,
    detail: str,
) -> MiningBudgetExceeded:
    """The error for settings that pass the cap, with the smallest ``min_support`` that fits.

    The fitting threshold is found by top-``cap`` mining from ``start_count`` (a count below
    which nothing can fit) under a fresh time budget; when that runs out the threshold
    reached so far is given as a lower bound.
    """
    cap = params.max_itemsets
    assert cap is not None
    n = enc.n_baskets
    search = budget.for_search()
    try:
        found, t = _apriori(enc, start_count, params.max_len, search, cap=cap, adaptive=True)
        exact = True
    except _OutOfTime:
        found, t, exact = {}, start_count, False
    head = (
        f"min_support {_pct(params.min_support)} with max_len {params.max_len} gives "
        f"at least {at_least:,} frequent "
        f"itemsets ({detail}), above the cap of {cap:,} (max_itemsets)."
    )
    if t > n:
        suggested = None
        tail = (
            " Even the most frequent items alone pass the cap at any min_support: raise "
            "max_itemsets or lower max_len."
        )
    else:
        suggested = _support_for_count(t, n)
        if exact:
            at = _min_count(suggested, n)
            fitting = sum(1 for c in found.values() if c >= at)
            tail = (
                f" Suggested min_support: {suggested:g} (itemsets in at least {at:,} of "
                f"{n:,} baskets): it gives {fitting:,} itemsets. Or lower max_len."
            )
        else:
            tail = (
                f" Raise min_support to at least {suggested:g}: no smaller value fits (a "
                f"search for the exact value stopped after {search.elapsed():.0f} s). Or "
                "lower max_len."
            )
    return MiningBudgetExceeded(
        head + tail,
        cause="itemsets",
        itemsets=at_least,
        max_itemsets=cap,
        min_support=params.min_support,
        suggested_min_support=suggested,
        suggestion_exact=exact and suggested is not None,
    )


def _check_rule_candidates(itemsets: pl.DataFrame, params: RulesParams) -> None:
    """Refuse before generating rules when there are too many to consider.

    Every itemset of size k gives 2**k - 2 candidate rules (one per non-empty proper subset as
    antecedents), all examined in Python by mlxtend's ``association_rules``.
    """
    sizes = itemsets.get_column("size").to_numpy()
    candidates = int((2.0 ** sizes[sizes >= 2] - 2).sum())
    if candidates > MAX_RULE_CANDIDATES:
        raise MiningBudgetExceeded(
            f"{itemsets.height:,} frequent itemsets of up to {int(sizes.max())} items give "
            f"{candidates:,} candidate rules, above the cap of {MAX_RULE_CANDIDATES:,}. "
            f"Lower max_len (now {params.max_len}) or raise min_support.",
            cause="rules",
            itemsets=itemsets.height,
            max_itemsets=params.max_itemsets,
            min_support=params.min_support,
            suggested_min_support=None,
            suggestion_exact=False,
        )


def _time_exceeded(budget: _Budget, params: RulesParams, enc: _Encoded) -> MiningBudgetExceeded:
    """The error for a mining that passed its time limit."""
    return MiningBudgetExceeded(
        f"Mining stopped after the time limit of {budget.time_limit:g} s "
        f"(min_support {_pct(params.min_support)}, max_len {params.max_len}, "
        f"{len(enc.items):,} items over {enc.n_baskets:,} baskets). Raise min_support or lower "
        "max_len.",
        cause="time",
        itemsets=0,
        max_itemsets=params.max_itemsets,
        min_support=params.min_support,
        suggested_min_support=None,
        suggestion_exact=False,
    )
