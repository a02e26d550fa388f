"""Tables of rules for people: columns in words, numbers kept as numbers.

The CSV downloads keep :meth:`RuleSet.table` (machine names, full precision); these are the
tables a page shows.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from core.fmt import PeopleTable
from core.rules.engine import bought_together
from core.rules.result import RuleSet, _rules_frame

#: The columns of :func:`rules_people_table`: the rule, its strength, then the detail.
RULE_TABLE_COLUMNS: Final[tuple[str, ...]] = (
    "If a basket holds",
    "it also holds",
    "Lift",
    "Confidence",
    "Baskets with both",
    "Support",
    "Baskets with the first items",
    "Baskets with the second items",
    "Leverage",
    "Conviction",
)


def rules_people_table(rules: RuleSet | pl.DataFrame) -> PeopleTable:
    """The rules as people read them: columns in words, numbers kept as numbers.

    Lift and confidence come right after the two item lists (visible without scrolling);
    shares are fractions shown as percentages, leverage is in percentage points, lift and
    conviction are ratios (conviction is infinite when the rule always holds). The row order
    is kept.

    Parameters
    ----------
    rules : RuleSet or pl.DataFrame
        A :class:`RuleSet` or its ``rules`` frame (item lists or joined text).

    Returns
    -------
    PeopleTable
        Columns :data:`RULE_TABLE_COLUMNS` with their kinds; "Baskets with the first/second
        items" are the shares of baskets holding each side (``antecedent_support``,
        ``consequent_support``).
    """
    frame = _rules_frame(rules)

    def items(col: str) -> list[str | None]:
        s = frame.get_column(col)
        if s.dtype == pl.List(pl.String):
            s = s.list.join(" + ")
        return s.to_list()

    kinds = ("text", "text", "ratio", "percent", "count", "percent", "percent", "percent", "pp",
             "ratio")
    sources = ("antecedents", "consequents", "lift", "confidence", "baskets", "support",
               "antecedent_support", "consequent_support", "leverage", "conviction")
    return PeopleTable.build({
        name: (kind, items(src) if kind == "text" else frame.get_column(src).to_list())
        for name, kind, src in zip(RULE_TABLE_COLUMNS, kinds, sources, strict=True)
    })


def together_people_table(rules: RuleSet | pl.DataFrame, item: str, top: int = 10) -> PeopleTable:
    """:func:`bought_together` for people: what else is in the basket, by confidence.

    Returns
    -------
    PeopleTable
        ``Also in the basket`` (text), ``Confidence`` (percent), ``Lift`` (ratio), ``Baskets
        with both`` (count), ``Support`` (percent).

    Raises
    ------
    ParameterError
        ``top`` is not a positive integer.
    """
    frame = bought_together(rules, item, top)
    return PeopleTable.build({
        "Also in the basket": ("text", [" + ".join(x) for x in frame["items"].to_list()]),
        "Confidence": ("percent", frame["confidence"]),
        "Lift": ("ratio", frame["lift"]),
        "Baskets with both": ("count", frame["baskets"]),
        "Support": ("percent", frame["support"]),
    })
