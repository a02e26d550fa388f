"""Basket rules: which items sell together (Apriori / FP-Growth association rules).

A *basket* is a set of items bought (or carted, or viewed) together: an order, a session or a
user's whole history. :func:`mine_rules` finds the frequent itemsets on a sparse encoding and
turns them into rules "antecedents -> consequents" with mlxtend's measures (support,
confidence, lift, leverage, conviction; see :mod:`core.rules.result`).
:func:`load_baskets` reads the files people keep baskets in.

Modules: ``params`` (:class:`RulesParams`, the settings, validated once), ``baskets``
(:func:`build_baskets`), ``reading`` (:func:`read_baskets`, :func:`load_baskets`), ``encode``
(the sparse matrix of the items that can be in a rule), ``mining`` (Apriori and FP-Growth
runs), ``budget`` (the cap on itemsets and rules, the deadline, cancellation, the suggested
``min_support``), ``engine`` (:func:`mine_rules`, :func:`mine_rules_with`,
:func:`bought_together`), ``result`` (:class:`RuleSet`, :class:`RuleNotes`), ``figures`` and
``table`` (what a page shows).
"""

from core.rules.baskets import (
    _PLACEHOLDER_REASON,
    BASKET_COLUMNS,
    PLACEHOLDER_ITEMS,
    build_baskets,
)
from core.rules.budget import MAX_RULE_CANDIDATES, MiningBudgetExceeded, MiningCancelled
from core.rules.encode import DENSE_BUDGET_BYTES, MIN_AUTO_ITEMS, _min_count
from core.rules.engine import bought_together, mine_rules, mine_rules_with
from core.rules.figures import rules_network_figure, rules_scatter_figure
from core.rules.params import (
    ALGORITHMS,
    BASKET_KINDS,
    MAX_ITEMSETS,
    TIME_LIMIT_S,
    RuleParams,
    RulesParams,
)
from core.rules.reading import BasketLoad, load_baskets, read_baskets
from core.rules.result import ITEMSET_COLUMNS, RULE_COLUMNS, RuleNotes, RuleSet
from core.rules.table import RULE_TABLE_COLUMNS, rules_people_table, together_people_table

__all__ = [
    "ALGORITHMS",
    "BASKET_COLUMNS",
    "BASKET_KINDS",
    "DENSE_BUDGET_BYTES",
    "ITEMSET_COLUMNS",
    "MAX_ITEMSETS",
    "MAX_RULE_CANDIDATES",
    "MIN_AUTO_ITEMS",
    "PLACEHOLDER_ITEMS",
    "RULE_COLUMNS",
    "RULE_TABLE_COLUMNS",
    "TIME_LIMIT_S",
    "BasketLoad",
    "MiningBudgetExceeded",
    "MiningCancelled",
    "RuleNotes",
    "RuleParams",
    "RuleSet",
    "RulesParams",
    "_PLACEHOLDER_REASON",
    "_min_count",
    "bought_together",
    "build_baskets",
    "load_baskets",
    "mine_rules",
    "mine_rules_with",
    "read_baskets",
    "rules_network_figure",
    "rules_people_table",
    "rules_scatter_figure",
    "together_people_table",
]
