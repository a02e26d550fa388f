"""Basket rules: which items sell together (Apriori / FP-Growth association rules).

:func:`mine_rules` (keywords) and :func:`mine_rules_with` (a :class:`RulesParams`) build the
baskets (:mod:`core.rules.baskets`), encode the items that can be in a rule
(:mod:`core.rules.encode`), mine the frequent itemsets within the budget
(:mod:`core.rules.mining`, :mod:`core.rules.budget`) and turn them into rules with mlxtend's
``association_rules``; when no rule passes, the result says why, with a hint computed from the
data. The measures are defined in :mod:`core.rules.result`.

Scale-out: supports are basket counts over the number of baskets, so counts computed on
partitions that hold whole baskets add up; the mining itself runs on one machine, on the items
that pass ``min_support`` (items below it cannot be in any frequent itemset, so dropping them
first changes no result) and at most ``max_items`` of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import numpy as np
import polars as pl

from core.errors import ParameterError, is_integer
from core.rules.baskets import _is_baskets_table, baskets_for
from core.rules.budget import (
    _Budget,
    _check_rule_candidates,
    _items_and_pairs_bound,
    _OutOfTime,
    _pair_count_histogram,
    _pct,
    _time_exceeded,
    _too_many,
)
from core.rules.encode import _encode, _Encoded, _min_count, _most_frequent_pair, _name_lists
from core.rules.mining import _apriori, _CapHit, _fpgrowth
from core.rules.params import MAX_ITEMSETS, TIME_LIMIT_S, RulesParams
from core.rules.result import (
    ITEMSET_COLUMNS,
    RULE_COLUMNS,
    RuleNotes,
    RuleSet,
    _empty_itemsets,
    _empty_rules,
)


class _FromParams:
    """Default of ``mine_rules_with(time_limit=...)``: the settings' own ``time_limit``."""

    def __repr__(self) -> str:
        return "params.time_limit"


_FROM_PARAMS: Final = _FromParams()


def mine_rules(
    data: pl.DataFrame | pl.LazyFrame,
    *,
    basket: str = "order_id",
    item: str = "product_id",
    source_event: str = "purchase",
    min_support: float = 0.01,
    min_confidence: float = 0.2,
    min_lift: float = 1.0,
    max_len: int = 3,
    algorithm: str = "apriori",
    max_items: int | None = None,
    max_itemsets: int | None = MAX_ITEMSETS,
    time_limit: float | None = TIME_LIMIT_S,
    should_stop: Callable[[], bool] | None = None,
) -> RuleSet:
    """Mine association rules ("baskets with A also hold C") from events or baskets.

    Parameters
    ----------
    data : pl.DataFrame or pl.LazyFrame
        The canonical event table (see :mod:`core.schema`), or a baskets table with columns
        ``basket_id`` and ``item`` (as :func:`load_baskets` returns).
    basket : {"order_id", "session_id", "user_id"}, default "order_id"
        One basket is an order (events without an order id are grouped by session), a
        session, or a user's whole history.
    item : str, default "product_id"
        Column holding the items: ``product_id``, ``category``, ``brand`` or any other.
    source_event : str, default "purchase"
        Canonical event type filling the baskets: ``purchase``, ``add_to_cart``, ``view_item``.
    min_support, min_confidence : float, default 0.01, 0.2
        Smallest share of baskets holding all items of a rule (in (0, 1]); smallest
        confidence of a rule (in [0, 1]).
    min_lift, max_len : float >= 0, int in [2, 10], default 1.0, 3
        Smallest lift of a rule; most items in a rule.
    algorithm : {"apriori", "fpgrowth"}, default "apriori"
        mlxtend's miner (same itemsets either way).
    max_items : int >= 2, optional
        Mine only the most frequent items; without it a cap is set from memory and
        :class:`RuleNotes` says when it bound.
    max_itemsets : int >= 1 or None, default :data:`MAX_ITEMSETS` (10,000)
        Most frequent itemsets (singles included) the settings may produce (see
        :mod:`core.rules.budget`); ``None`` lifts the cap.
    time_limit : float > 0 or None, default :data:`TIME_LIMIT_S` (30 s)
        Wall-clock seconds mining may take; ``None`` lifts it.
    should_stop : callable () -> bool, optional
        Polled while counting; True stops the mining with :class:`MiningCancelled`. A web
        page passes :func:`ui.jobs.cancel_check`.

    Returns
    -------
    RuleSet
        ``rules``, ``itemsets``, ``notes``, the ``params`` used and, when there is no rule, a
        ``reason`` with a hint from the data ("lower min_support: the most frequent pair ...
        is in 0.4% of baskets").

    Raises
    ------
    ParameterError
        A threshold or option is out of range (the message names it).
    MiningBudgetExceeded
        The settings pass ``max_itemsets`` (with a ``suggested_min_support`` that fits), the
        rules to consider pass :data:`MAX_RULE_CANDIDATES`, or mining passed ``time_limit``.
        No partial result is ever returned.
    MiningCancelled
        ``should_stop`` returned True.
    SchemaError
        ``data`` is neither an event table nor a baskets table, or lacks the ``item`` column.

    Examples
    --------
    >>> rs = mine_rules(events, min_support=0.005)            # doctest: +SKIP
    >>> bought_together(rs, "P-1001", 5)                      # doctest: +SKIP
    """
    params = RulesParams(
        basket=basket, item=item, source_event=source_event, min_support=min_support,
        min_confidence=min_confidence, min_lift=min_lift, max_len=max_len, algorithm=algorithm,
        max_items=max_items, max_itemsets=max_itemsets, time_limit=time_limit,
    )
    return mine_rules_with(data, params, should_stop=should_stop)


def mine_rules_with(
    data: pl.DataFrame | pl.LazyFrame,
    params: RulesParams,
    *,
    time_limit: float | None | _FromParams = _FROM_PARAMS,
    should_stop: Callable[[], bool] | None = None,
) -> RuleSet:
    """:func:`mine_rules` with its settings as one frozen :class:`RulesParams`.

    Parameters
    ----------
    data : pl.DataFrame or pl.LazyFrame
        The canonical event table or a baskets table.
    params : RulesParams
        Basket and item definitions, thresholds, the itemset cap and the time limit.
    time_limit : float > 0 or None, optional
        Overrides ``params.time_limit`` (the result's ``params`` then carry it).
    should_stop : callable () -> bool, optional
        As in :func:`mine_rules`.

    Returns
    -------
    RuleSet
        See :func:`mine_rules`.

    Raises
    ------
    MiningBudgetExceeded, MiningCancelled
        See :func:`mine_rules`.
    """
    if not isinstance(time_limit, _FromParams):
        params = params.replace(time_limit=time_limit)
    budget = _Budget(params.time_limit, should_stop)
    baskets, dropped = baskets_for(data, params)
    if baskets.height == 0:
        where = (
            "the baskets table is empty"
            if _is_baskets_table(data.lazy().collect_schema().names())
            else f"no {params.source_event} event has a {params.item}"
        )
        return RuleSet(
            notes=RuleNotes(rows_dropped=dropped),
            params=params,
            reason=f"No baskets: {where}. Try another source event or item column.",
        )
    enc = _encode(baskets, params)
    itemsets = _frequent_itemsets(enc, params, budget)
    _check_rule_candidates(itemsets, params)
    rules = _rules(itemsets, enc, params) if itemsets.height else _empty_rules()
    reason = None if rules.height else _why_no_rule(baskets, enc, params, itemsets)
    return RuleSet(
        rules=rules, itemsets=itemsets, notes=_notes(enc, params, dropped), params=params,
        reason=reason,
    )


def _notes(enc: _Encoded, params: RulesParams, dropped: tuple[tuple[str, int], ...]) -> RuleNotes:
    return RuleNotes(
        baskets=enc.n_baskets,
        one_item_baskets=enc.one_item_baskets,
        items=enc.n_items,
        frequent_items=enc.n_frequent,
        items_used=len(enc.items),
        items_dropped_by_cap=enc.dropped_by_cap,
        cap=enc.cap,
        cap_from_memory=enc.cap is not None and params.max_items is None,
        rows_dropped=dropped,
    )


def _frequent_itemsets(enc: _Encoded, params: RulesParams, budget: _Budget) -> pl.DataFrame:
    """Every frequent itemset, or :class:`MiningBudgetExceeded` (never a partial result)."""
    if not enc.items:
        return _empty_itemsets()
    try:
        found = _mine_within_budget(enc, params, budget)
    except _OutOfTime:
        raise _time_exceeded(budget, params, enc) from None
    if not found:
        return _empty_itemsets()
    keys = list(found)
    counts = np.fromiter((found[s] for s in keys), dtype=np.int64, count=len(keys))
    out = pl.DataFrame(
        {
            "itemset": _name_lists(keys, enc.items),
            "size": pl.Series([len(s) for s in keys], dtype=pl.Int64),
            "support": counts / enc.n_baskets,
            "baskets": counts,
        },
        schema=ITEMSET_COLUMNS,
    )
    return out.sort(
        ["baskets", "size", "itemset"], descending=[True, False, False], maintain_order=True
    )


def _mine_within_budget(
    enc: _Encoded, params: RulesParams, budget: _Budget
) -> dict[tuple[int, ...], int]:
    """Frequent itemsets as column-index tuples -> basket count, under the itemset cap.

    Raises :class:`MiningBudgetExceeded` when the cap is passed (counted before mining, or
    reached while mining) and lets :class:`_OutOfTime` through.
    """
    min_c = _min_count(params.min_support, enc.n_baskets)
    cap = params.max_itemsets
    start = min_c
    try:
        if cap is not None:
            # Exact count of frequent items and pairs: a cheap lower bound of the itemsets.
            hist = _pair_count_histogram(enc, min_c, budget)
            singles, pairs, start = _items_and_pairs_bound(enc, hist, min_c, cap)
            if singles + pairs > cap:
                raise _too_many(
                    enc,
                    params,
                    budget,
                    at_least=singles + pairs,
                    start_count=start,
                    detail=f"{singles:,} items and {pairs:,} pairs alone, counted before mining",
                )
        if params.algorithm == "fpgrowth":
            return _fpgrowth(enc, min_c, params.max_len, budget, cap=cap)
        return _apriori(enc, min_c, params.max_len, budget, cap=cap)[0]
    except _CapHit:
        assert cap is not None
        raise _too_many(
            enc,
            params,
            budget,
            at_least=cap + 1,
            start_count=start,
            detail="mining stopped at the cap",
        ) from None


def _rules(itemsets: pl.DataFrame, enc: _Encoded, params: RulesParams) -> pl.DataFrame:
    # lazy: mlxtend (and the pandas it needs) are heavy; imported when rules are generated
    import pandas as pd
    from mlxtend.frequent_patterns import association_rules

    if itemsets.filter(pl.col("size") >= 2).height == 0:
        return _empty_rules()
    col = {name: i for i, name in enumerate(enc.items)}
    frame = pd.DataFrame(
        {
            "support": itemsets.get_column("support").to_numpy(),
            "itemsets": [frozenset(col[i] for i in s) for s in itemsets["itemset"].to_list()],
        }
    )
    found = association_rules(
        frame,
        num_itemsets=enc.n_baskets,
        metric="confidence",
        min_threshold=params.min_confidence,
        return_metrics=[
            "antecedent support",
            "consequent support",
            "support",
            "confidence",
            "lift",
            "leverage",
            "conviction",
        ],
    )
    if found.empty:
        return _empty_rules()
    found = found[found["lift"] >= params.min_lift]
    if found.empty:
        return _empty_rules()
    n = enc.n_baskets
    out = pl.DataFrame(
        {
            "antecedents": _name_lists(found["antecedents"], enc.items),
            "consequents": _name_lists(found["consequents"], enc.items),
            "antecedent_support": found["antecedent support"].to_numpy(dtype=float),
            "consequent_support": found["consequent support"].to_numpy(dtype=float),
            "support": found["support"].to_numpy(dtype=float),
            "confidence": found["confidence"].to_numpy(dtype=float),
            "lift": found["lift"].to_numpy(dtype=float),
            "leverage": found["leverage"].to_numpy(dtype=float),
            "conviction": found["conviction"].to_numpy(dtype=float),
        }
    ).with_columns(
        (pl.col(c) * n).round().cast(pl.Int64).alias(name)
        for c, name in (
            ("antecedent_support", "antecedent_baskets"),
            ("consequent_support", "consequent_baskets"),
            ("support", "baskets"),
        )
    )
    return out.select(list(RULE_COLUMNS)).sort(
        ["lift", "confidence", "support", "antecedents", "consequents"],
        descending=[True, True, True, False, False],
    )


def _why_no_rule(
    baskets: pl.DataFrame, enc: _Encoded, params: RulesParams, itemsets: pl.DataFrame
) -> str:
    """Why no rule passed, with the threshold to change and the best candidate found."""
    n = enc.n_baskets
    if enc.one_item_baskets == n:
        return (
            f"Every one of the {n:,} baskets holds a single item, so no item "
            "goes with another. Try a larger basket (session or user) or another source "
            "event (add_to_cart, view_item)."
        )
    if itemsets.filter(pl.col("size") >= 2).height == 0:
        best = _most_frequent_pair(baskets, n)
        if best is None:
            return (
                f"No two items ever share a basket among the {n:,} baskets, so there is no rule. "
                "Try a larger basket (session or user)."
            )
        (a, b), count = best
        return (
            f"No rule: lower min_support: the most frequent pair ({a} + {b}) is in "
            f"{_pct(count / n)} of baskets ({count:,} of {n:,}), below min_support "
            f"{_pct(params.min_support)}."
        )
    loose = _rules(itemsets, enc, params.replace(min_confidence=0.0, min_lift=0.0))
    if loose.height == 0:  # pragma: no cover - itemsets of size >= 2 always give rules
        return "No rule passes the thresholds."
    confident = loose.filter(pl.col("confidence") >= params.min_confidence)
    if confident.height == 0:
        top = loose.sort("confidence", descending=True).row(0, named=True)
        return (
            f"No rule: lower min_confidence: the most confident rule "
            f"({' + '.join(top['antecedents'])} -> {' + '.join(top['consequents'])}) has "
            f"confidence {_pct(top['confidence'])}, below {_pct(params.min_confidence)}."
        )
    top = confident.sort("lift", descending=True).row(0, named=True)
    return (
        f"No rule: lower min_lift: the highest lift among rules with enough confidence is "
        f"{top['lift']:.2f} ({' + '.join(top['antecedents'])} -> "
        f"{' + '.join(top['consequents'])}), below {params.min_lift:g}."
    )


def bought_together(rules: RuleSet | pl.DataFrame, item: str, top: int = 10) -> pl.DataFrame:
    """What goes into the basket with one item: the rules whose only antecedent is ``item``.

    Parameters
    ----------
    rules : RuleSet or pl.DataFrame
        A :class:`RuleSet` or its ``rules`` frame.
    item : str
        The item to look up.
    top : int >= 1, default 10
        Most rows returned.

    Returns
    -------
    pl.DataFrame
        ``items`` (List[String], what else is in the basket), ``confidence`` (share of the
        item's baskets that hold them), ``lift``, ``support``, ``baskets``; by confidence, then
        lift. Empty (same columns) when ``item`` is in no rule.

    Raises
    ------
    ParameterError
        ``top`` is not a positive integer.
    """
    if not is_integer(top) or top < 1:
        raise ParameterError(f"`top` must be a positive integer, got {top!r}")
    frame = rules.rules if isinstance(rules, RuleSet) else rules
    return (
        frame.filter(pl.col("antecedents") == pl.lit([str(item)], dtype=pl.List(pl.String)))
        .sort(["confidence", "lift", "support"], descending=True, maintain_order=True)
        .head(int(top))
        .select(pl.col("consequents").alias("items"), "confidence", "lift", "support", "baskets")
    )
