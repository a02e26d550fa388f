"""Basket rules on Spark: MLlib ``FPGrowth`` behind the result type of :func:`mine_rules`.

Baskets are built on Spark from the event table exactly as :mod:`core.rules` defines them
(an order, or the session for events without an order id; a session; a user), or taken as
they are from a ``basket_id, item`` table; placeholder items (``PLACEHOLDER_ITEMS``) and
repeats are left out and counted. MLlib's ``FPGrowth`` finds the frequent itemsets with the
same minimum basket count as ``mine_rules`` (the smallest ``c`` with ``c / n >= min_support``,
mlxtend's float comparison; MLlib is given a support half a basket below it so its
``ceil(min_support * n)`` lands on the same ``c``). Itemsets larger than ``max_len`` are left
out. The rules are generated on the driver from the itemsets with mlxtend's formulas (every
split of a frequent itemset into antecedents and consequents, multi-item consequents
included, which MLlib's own ``associationRules`` does not produce), so the rules, metrics and
orderings equal those of :func:`mine_rules` on the same baskets.

Not applied on Spark: the ``max_items`` memory cap (the itemsets are mined distributed) and the
time limit; ``max_itemsets`` is checked on the result (:class:`ParameterError` naming it).
"""

from __future__ import annotations

import dataclasses
import math
from itertools import combinations
from typing import Any

import numpy as np
import polars as pl

from core import ParameterError, RuleSet, SchemaError
from core.rules import PLACEHOLDER_ITEMS, RulesParams

__all__ = ["mine_rules_spark", "baskets_spark"]

_RULE_SORT = (
    ["lift", "confidence", "support", "antecedents", "consequents"],
    [True, True, True, False, False],
)


def _min_count(min_support: float, n: int) -> int:
    """Smallest basket count ``c`` with ``c / n >= min_support`` (as :mod:`core.rules`)."""
    c = max(1, math.ceil(min_support * n))
    while c > 1 and (c - 1) / n >= min_support:
        c -= 1
    while c / n < min_support:
        c += 1
    return c


def baskets_spark(frame: Any, params: RulesParams) -> tuple[Any, tuple[tuple[str, int], ...]]:
    """Distinct ``basket_id, item`` rows of a Spark event or baskets table, and the rows left
    out per reason.

    Raises
    ------
    SchemaError
        The table is neither an event table nor a baskets table, or lacks a column it needs.
    """
    from pyspark.sql import functions as F  # lazy: only the Spark backend imports pyspark

    names = frame.columns
    placeholders = sorted(PLACEHOLDER_ITEMS)

    def placeholder(col: Any) -> Any:
        return F.lower(F.trim(col.cast("string"))).isin(placeholders)

    if "basket_id" in names and "item" in names:
        key, item, chosen, reasons = F.col("basket_id"), F.col("item"), F.lit(True), []
    else:
        if "event_type" not in names:
            raise SchemaError(
                "the rules need the canonical event table (with `event_type`) or "
                f"a baskets table with `basket_id` and `item`; found {names}"
            )
        item_name = (
            params.item
            if params.item in names
            else next((c for c in names if c.lower() == params.item.lower()), params.item)
        )
        if item_name not in names:
            raise SchemaError(
                f"`item` column {item_name!r} is not in the data; available columns: {names}"
            )
        item = F.col(item_name)
        key = _basket_key(params.basket, names)
        chosen = F.col("event_type") == F.lit(params.source_event)
        reasons = [(f"event type is not {params.source_event}", F.coalesce(~chosen, F.lit(True)))]
        chosen = F.coalesce(chosen, F.lit(False))
    ok = chosen & key.isNotNull()
    conds = [
        *reasons,
        ("no basket id", chosen & key.isNull()),
        ("no item", ok & item.isNull()),
        ("placeholder item treated as missing", ok & F.coalesce(placeholder(item), F.lit(False))),
    ]
    kept = (
        frame.filter(ok & item.isNotNull() & ~placeholder(item))
        .select(key.cast("string").alias("basket_id"), item.cast("string").alias("item"))
        .distinct()
    )
    counts = frame.agg(
        F.count(F.lit(1)).alias("rows"),
        *[F.sum(F.when(c, 1).otherwise(0)).alias(f"c{i}") for i, (_, c) in enumerate(conds)],
    ).collect()[0]
    kept = kept.cache()
    n_kept = kept.count()
    dropped = [(why, int(counts[f"c{i}"] or 0)) for i, (why, _) in enumerate(conds)]
    repeats = int(counts["rows"]) - sum(n for _, n in dropped) - n_kept
    dropped.append(("item repeated in its basket (counted once)", repeats))
    return kept, tuple(d for d in dropped if d[1])


def _basket_key(basket: str, names: list[str]) -> Any:
    from pyspark.sql import functions as F  # lazy: only the Spark backend imports pyspark

    needed = {"user_id", "session_id"} | ({"order_id"} if basket == "order_id" else set())
    missing = sorted(c for c in needed if c not in names)
    if missing:
        raise SchemaError(f"basket={basket!r} needs column(s) {missing}; found columns {names}")
    user, session = F.col("user_id").cast("string"), F.col("session_id").cast("string")
    if basket == "order_id":
        return F.when(
            F.col("order_id").isNotNull(),
            F.concat(F.lit("order "), F.col("order_id").cast("string")),
        ).otherwise(F.concat(F.lit("session "), user, F.lit("/"), session))
    if basket == "session_id":
        return F.concat(user, F.lit("/"), session)
    return user


def _rules(found: dict[frozenset[str], int], n: int, params: RulesParams) -> pl.DataFrame:
    """mlxtend's ``association_rules`` over the frequent itemsets (every split)."""
    rows: list[tuple] = []
    for itemset, count in found.items():
        if len(itemset) < 2:
            continue
        s_ac = count / n
        for r in range(1, len(itemset)):
            for ante in combinations(sorted(itemset), r):
                a = frozenset(ante)
                c = itemset - a
                s_a, s_c = found[a] / n, found[c] / n
                # mlxtend 0.25's expression (complete baskets: no disabled entries), so the
                # floats are bit-equal and ties in the ordering fall the same way
                conf = (s_ac * n) / (s_a * n - 0)
                if not conf >= params.min_confidence:
                    continue
                lift = conf / s_c
                if not lift >= params.min_lift:
                    continue
                conviction = np.inf if conf >= 1.0 else (1 - s_c) / (1 - conf)
                rows.append(
                    (sorted(a), sorted(c), s_a, s_c, s_ac, conf, lift, s_ac - s_a * s_c, conviction)
                )
    cols = [
        "antecedents",
        "consequents",
        "antecedent_support",
        "consequent_support",
        "support",
        "confidence",
        "lift",
        "leverage",
        "conviction",
    ]
    empty = RuleSet().rules
    if not rows:
        return empty
    out = pl.DataFrame(rows, schema={c: empty.schema[c] for c in cols}, orient="row")
    out = out.with_columns(
        (pl.col(c) * n).round().cast(pl.Int64).alias(name)
        for c, name in (
            ("antecedent_support", "antecedent_baskets"),
            ("consequent_support", "consequent_baskets"),
            ("support", "baskets"),
        )
    )
    return out.select(empty.columns).sort(_RULE_SORT[0], descending=_RULE_SORT[1])


def mine_rules_spark(
    source: Any, params: RulesParams | None = None, *, spark: Any = None
) -> RuleSet:
    """:func:`mine_rules` on Spark: baskets and frequent itemsets (MLlib ``FPGrowth``) on the
    cluster, rules on the driver.

    Parameters
    ----------
    source : str or pyspark.sql.DataFrame
        Parquet path, catalog table name or Spark DataFrame: canonical events or a
        ``basket_id, item`` table.
    params : RulesParams, optional
        Default ``RulesParams()`` (the defaults of :func:`mine_rules`).
    spark : SparkSession, optional
        Default: :func:`core.spark.session.get_session`.

    Returns
    -------
    RuleSet
        ``rules`` and ``itemsets`` equal to ``mine_rules`` on the same baskets; ``notes`` with
        the basket, item and frequent-item counts and the rows left out.

    Raises
    ------
    ParameterError
        More frequent itemsets than ``params.max_itemsets``.
    SchemaError, DatasetNotFound
        As :func:`baskets_spark`; ``source`` does not exist.
    """
    from pyspark.sql import functions as F  # lazy: only the Spark backend imports pyspark

    from core.spark.runner import ROW_COL, read_events
    from core.spark.session import get_session

    params = params or RulesParams()
    spark = spark or get_session()
    frame = read_events(spark, source).frame.drop(ROW_COL)
    kept, dropped = baskets_spark(frame, params)
    per_basket = kept.groupBy("basket_id").agg(F.collect_list("item").alias("items")).cache()
    stats = per_basket.agg(
        F.count(F.lit(1)).alias("n"),
        F.sum(F.when(F.size("items") == 1, 1).otherwise(0)).alias("one"),
    ).collect()[0]
    n, one = int(stats["n"]), int(stats["one"] or 0)
    n_items = kept.select("item").distinct().count()
    notes = dataclasses.replace(
        RuleSet().notes, baskets=n, one_item_baskets=one, items=n_items, rows_dropped=dropped
    )
    if n == 0:
        return RuleSet(
            notes=notes,
            params=params,
            reason="No baskets: no row of the data fills a basket. Try another "
            "source event or item column.",
        )
    found = _frequent_itemsets(per_basket, n, params)
    per_basket.unpersist()
    kept.unpersist()
    itemsets = _itemsets_frame(found, n)
    frequent = sum(1 for s in found if len(s) == 1)
    notes = dataclasses.replace(notes, frequent_items=frequent, items_used=frequent)
    rules = _rules(found, n, params)
    reason = (
        None
        if rules.height
        else (
            f"No rule passes min_support={params.min_support}, min_confidence="
            f"{params.min_confidence} and min_lift={params.min_lift} in {n:,} baskets."
        )
    )
    return RuleSet(rules=rules, itemsets=itemsets, notes=notes, params=params, reason=reason)


def _frequent_itemsets(per_basket: Any, n: int, params: RulesParams) -> dict[frozenset[str], int]:
    """MLlib FPGrowth's itemsets of at most ``max_len`` items -> basket count.

    Raises
    ------
    ParameterError
        More itemsets than ``params.max_itemsets``.
    """
    from pyspark.ml.fpm import FPGrowth  # lazy: only the Spark backend imports pyspark
    from pyspark.sql import functions as F

    min_c = _min_count(params.min_support, n)
    model = FPGrowth(itemsCol="items", minSupport=(min_c - 0.5) / n, minConfidence=1.0)
    sets = model.fit(per_basket).freqItemsets.filter(F.size("items") <= params.max_len).toArrow()
    found = {
        frozenset(s): int(f)
        for s, f in zip(
            sets.column("items").to_pylist(), sets.column("freq").to_pylist(), strict=True
        )
    }
    if params.max_itemsets is not None and len(found) > params.max_itemsets:
        raise ParameterError(
            f"`max_itemsets` is {params.max_itemsets:,} but min_support="
            f"{params.min_support} gives {len(found):,} frequent itemsets; "
            "raise min_support or max_itemsets"
        )
    return found


def _itemsets_frame(found: dict[frozenset[str], int], n: int) -> pl.DataFrame:
    """The ``itemsets`` table of :class:`RuleSet`, most frequent first (as ``mine_rules``)."""
    return pl.DataFrame(
        {
            "itemset": [sorted(s) for s in found],
            "size": [len(s) for s in found],
            "support": np.array(list(found.values()), dtype=np.int64) / n,
            "baskets": list(found.values()),
        },
        schema=RuleSet().itemsets.schema,
    ).sort(["baskets", "size", "itemset"], descending=[True, False, False], maintain_order=True)
