"""What a mining returns: the rules, the frequent itemsets, notes on the baskets, the settings.

The measures are mlxtend's (Agrawal et al. 1993):

- ``support(A -> C)`` = share of baskets holding every item of A and of C,
- ``confidence`` = support(A + C) / support(A): how often C is in a basket that holds A,
- ``lift`` = confidence / support(C): > 1 means A and C go together more than by chance
  (symmetric: lift(A -> C) = lift(C -> A)),
- ``leverage`` = support(A + C) - support(A) * support(C),
- ``conviction`` = (1 - support(C)) / (1 - confidence), infinite when confidence is 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import polars as pl

from core.rules.params import RulesParams

RULE_COLUMNS: Final[dict[str, pl.DataType]] = {
    "antecedents": pl.List(pl.String()),
    "consequents": pl.List(pl.String()),
    "antecedent_support": pl.Float64(),
    "consequent_support": pl.Float64(),
    "support": pl.Float64(),
    "confidence": pl.Float64(),
    "lift": pl.Float64(),
    "leverage": pl.Float64(),
    "conviction": pl.Float64(),
    "antecedent_baskets": pl.Int64(),
    "consequent_baskets": pl.Int64(),
    "baskets": pl.Int64(),
}

ITEMSET_COLUMNS: Final[dict[str, pl.DataType]] = {
    "itemset": pl.List(pl.String()),
    "size": pl.Int64(),
    "support": pl.Float64(),
    "baskets": pl.Int64(),
}


@dataclass(frozen=True)
class RuleNotes:
    """How the baskets were built and what was left out.

    Attributes
    ----------
    baskets : int
        Baskets used (each holds at least one item); the denominator of every support.
    one_item_baskets : int
        Baskets holding a single item: they count in supports but can support no rule.
    items : int
        Distinct items in the baskets.
    frequent_items : int
        Items whose own support reaches ``min_support`` (only these can be in a rule).
    items_used : int
        Items given to the miner.
    items_dropped_by_cap : int
        Frequent items left out by the ``max_items`` cap (the least frequent ones).
    cap : int or None
        The cap that dropped items: ``max_items``, or the memory-based one; ``None`` when no
        item was dropped by a cap.
    cap_from_memory : bool
        True when the cap was set automatically from :data:`DENSE_BUDGET_BYTES`.
    rows_dropped : tuple of (str, int)
        Input rows not used, per reason.
    """

    baskets: int = 0
    one_item_baskets: int = 0
    items: int = 0
    frequent_items: int = 0
    items_used: int = 0
    items_dropped_by_cap: int = 0
    cap: int | None = None
    cap_from_memory: bool = False
    rows_dropped: tuple[tuple[str, int], ...] = ()

    def lines(self) -> list[str]:
        """The notes as sentences for a page or a report."""
        out = [
            f"{self.baskets:,} baskets, {self.items:,} distinct items; "
            f"{self.one_item_baskets:,} baskets hold a single item (they count in supports "
            "but support no rule)."
        ]
        if self.frequent_items < self.items:
            out.append(
                f"{self.items - self.frequent_items:,} items are below min_support and cannot "
                "be in any rule."
            )
        if self.items_dropped_by_cap:
            out.append(
                f"Only the {self.items_used:,} most frequent items were mined: "
                f"{self.items_dropped_by_cap:,} frequent items were dropped by "
                + (
                    f"the automatic memory cap of {self.cap:,} items (set max_items or raise "
                    "min_support)."
                    if self.cap_from_memory
                    else f"the max_items cap of {self.cap:,} (raise max_items or min_support)."
                )
            )
        for reason, n in self.rows_dropped:
            if n:
                out.append(f"{n:,} rows not used: {reason}.")
        return out


def _empty_rules() -> pl.DataFrame:
    return pl.DataFrame(schema=RULE_COLUMNS)


def _empty_itemsets() -> pl.DataFrame:
    return pl.DataFrame(schema=ITEMSET_COLUMNS)


@dataclass(frozen=True)
class RuleSet:
    """Association rules, the frequent itemsets behind them and notes on the baskets.

    Attributes
    ----------
    rules : pl.DataFrame
        One row per rule, strongest first (lift, then confidence, then support):

        ====================== ============== ==============================================
        ``antecedents``        List[String]   items on the left, sorted
        ``consequents``        List[String]   items on the right, sorted
        ``antecedent_support`` Float64        share of baskets holding the antecedents
        ``consequent_support`` Float64        share of baskets holding the consequents
        ``support``            Float64        share of baskets holding both sides
        ``confidence``         Float64        support / antecedent_support, in [0, 1]
        ``lift``               Float64        confidence / consequent_support
        ``leverage``           Float64        support - antecedent_support * consequent_support
        ``conviction``         Float64        (1 - consequent_support) / (1 - confidence); inf
                                              when confidence is 1
        ``antecedent_baskets`` Int64          baskets holding the antecedents
        ``consequent_baskets`` Int64          baskets holding the consequents
        ``baskets``            Int64          baskets holding both sides
        ====================== ============== ==============================================
    itemsets : pl.DataFrame
        Frequent itemsets: ``itemset`` (List[String], sorted), ``size``, ``support``,
        ``baskets``; most frequent first.
    notes : RuleNotes
        Baskets used, one-item baskets, items dropped and why.
    params : RulesParams
        The settings the rules were mined with.
    reason : str or None
        Why there is no rule (with a hint computed from the data); ``None`` when there are.
    """

    rules: pl.DataFrame = field(default_factory=_empty_rules)
    itemsets: pl.DataFrame = field(default_factory=_empty_itemsets)
    notes: RuleNotes = field(default_factory=RuleNotes)
    params: RulesParams = field(default_factory=RulesParams)
    reason: str | None = None

    @property
    def empty(self) -> bool:
        """True when no rule passed the thresholds."""
        return self.rules.height == 0

    def table(self) -> pl.DataFrame:
        """The rules with the item lists joined into text (``a + b``), for display and CSV."""
        return self.rules.with_columns(
            pl.col("antecedents").list.join(" + "),
            pl.col("consequents").list.join(" + "),
        )


def _rules_frame(rules: RuleSet | pl.DataFrame) -> pl.DataFrame:
    return rules.rules if isinstance(rules, RuleSet) else rules
