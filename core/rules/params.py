"""The settings of a basket-rule mining (:class:`RulesParams`), validated once, declaratively.

Every rule on the settings lives in ``RulesParams._parameter_constraints`` (checked when the
object is built). Numbers are accepted in any spelling ``float()`` / ``int()`` reads exactly as
before the settings object existed (``"0.05"``, NumPy scalars) and stored as Python numbers, so
equal settings hash alike. The item column is not checked against the data here: a baskets
table ignores it, and an event table matches it ignoring case (see :mod:`core.rules.baskets`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final

from core.errors import is_integer
from core.params import Column, Constraint, Interval, Options, Params
from core.schema import EVENT_TYPES

if TYPE_CHECKING:
    import polars as pl

    from core.rules.result import RuleSet

#: Accepted values of ``basket`` and what they mean (aliases map onto the canonical column).
BASKET_KINDS: Final[dict[str, str]] = {
    "order_id": "an order (purchase events of one session when the export has no order id)",
    "session_id": "a session",
    "user_id": "a user's whole history",
}
_BASKET_ALIASES: Final[dict[str, str]] = {
    "order": "order_id",
    "session": "session_id",
    "user": "user_id",
}
ALGORITHMS: Final[tuple[str, ...]] = ("apriori", "fpgrowth")
#: Default cap on frequent itemsets (singles included). Memory and rule generation grow with
#: it; a page shows at most a few thousand rules. ``max_itemsets=None`` lifts it.
MAX_ITEMSETS: Final[int] = 10_000
#: Default wall-clock limit of one mining, in seconds (``time_limit=None`` lifts it).
TIME_LIMIT_S: Final[float] = 30.0


class Worded(Constraint):
    """Any of ``allowed`` (constraints, or None for "may be None"), described in the words given.

    The message of a refused value then reads as the rule is meant (``a share of baskets in
    (0, 1]``) rather than as the bounds the check happens to use.
    """

    def __init__(self, text: str, *allowed: Constraint | None) -> None:
        self.text = text
        self.allowed = allowed

    def is_satisfied_by(self, value: Any) -> bool:
        return any(
            value is None if c is None else c.is_satisfied_by(value) for c in self.allowed
        )

    def describe(self) -> str:
        return self.text


def _as_float(value: Any) -> Any:
    """A Python int or float unchanged (so a message shows it as given; stored as a float once
    valid); any other value ``float()`` reads (``"0.1"``, ``np.float32``, ``True``) as that
    float; anything else unchanged, for the constraint to refuse."""
    if type(value) in (int, float):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _as_int(value: Any) -> Any:
    """A whole number (Python or NumPy, not bool) as a Python int; anything else unchanged."""
    return int(value) if is_integer(value) else value


_SHARE_TEXT: Final = "a share of baskets in {} (0.01 = 1%)"


@dataclass(frozen=True)
class RulesParams(Params):
    """What a basket and an item are, and the thresholds a rule must pass (frozen, hashable).

    Parameters
    ----------
    basket : {"order_id", "session_id", "user_id"}
        One basket is an order, a session or a user's whole history. ``order``, ``session``
        and ``user`` are accepted as aliases. With ``order_id``, events without an order id
        are grouped by their session. Ignored for a baskets table.
    item : str
        The column whose values are the items: ``product_id``, ``category``, ``brand`` or any
        other column of the event table. Ignored for a baskets table.
    source_event : str
        The canonical ``event_type`` whose events fill the baskets: ``purchase``,
        ``add_to_cart``, ``view_item`` (any of :data:`core.schema.EVENT_TYPES`). Ignored for a
        baskets table.
    min_support : float in (0, 1]
        Smallest share of baskets a rule's items must appear in together.
    min_confidence : float in [0, 1]
        Smallest share of the antecedent's baskets that also hold the consequent.
    min_lift : float >= 0
        Smallest lift (1 = independent; the default keeps only positive associations).
    max_len : int in [2, 10]
        Most items in one rule (antecedents and consequents together).
    algorithm : {"apriori", "fpgrowth"}
        mlxtend's miner; both give the same itemsets.
    max_items : int >= 2, optional
        Keep only the ``max_items`` most frequent items. Without it, a cap is set from the
        memory a dense ``baskets x items`` block would take
        (:data:`core.rules.encode.DENSE_BUDGET_BYTES`).
    max_itemsets : int >= 1 or None, default :data:`MAX_ITEMSETS`
        Most frequent itemsets (singles included) the settings may produce; beyond it mining
        stops with :class:`~core.rules.budget.MiningBudgetExceeded` and a ``min_support`` that
        fits. ``None`` lifts the cap (only for a machine of your own: low supports on long
        baskets produce billions of itemsets).
    time_limit : float > 0 or None, default :data:`TIME_LIMIT_S`
        Wall-clock seconds mining may take (see :mod:`core.rules.budget`); ``None`` lifts it.

    Raises
    ------
    ParameterError
        A value is out of range; the message names the parameter and what is valid.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "basket": [
            Worded(
                f"one of {sorted(BASKET_KINDS)} (or order/session/user)", Options(BASKET_KINDS)
            )
        ],
        "item": [Worded("a column name", Column())],
        "source_event": [
            Worded(f"a canonical event type, one of {list(EVENT_TYPES)}", Options(EVENT_TYPES))
        ],
        "min_support": [
            Worded(_SHARE_TEXT.format("(0, 1]"), Interval(float, 0, 1, closed="right"))
        ],
        "min_confidence": [Worded(_SHARE_TEXT.format("[0, 1]"), Interval(float, 0, 1))],
        "min_lift": [Worded("a finite number >= 0 (1 = no association)", Interval(float, 0))],
        "max_len": [Worded("an integer in [2, 10] (a rule needs two items)", Interval(int, 2, 10))],
        "algorithm": [Worded(f"one of {list(ALGORITHMS)}", Options(ALGORITHMS))],
        "max_items": [Worded("None or an integer >= 2", None, Interval(int, 2))],
        "max_itemsets": [Worded("None (no cap) or an integer >= 1", None, Interval(int, 1))],
        "time_limit": [
            Worded(
                "None (no limit) or a positive number of seconds",
                None,
                Interval(float, 0, closed="neither"),
            )
        ],
    }

    basket: str = "order_id"
    item: str = "product_id"
    source_event: str = "purchase"
    min_support: float = 0.01
    min_confidence: float = 0.2
    min_lift: float = 1.0
    max_len: int = 3
    algorithm: str = "apriori"
    max_items: int | None = None
    max_itemsets: int | None = MAX_ITEMSETS
    time_limit: float | None = TIME_LIMIT_S

    def _normalise(self) -> None:
        if isinstance(self.basket, str):
            self._set("basket", _BASKET_ALIASES.get(self.basket, self.basket))
        for name in ("min_support", "min_confidence", "min_lift"):
            self._set(name, _as_float(getattr(self, name)))
        if self.time_limit is not None:
            self._set("time_limit", _as_float(self.time_limit))
        for name in ("max_len", "max_items", "max_itemsets"):
            self._set(name, _as_int(getattr(self, name)))

    def __post_init__(self) -> None:
        super().__post_init__()
        # Valid now: store the numbers as floats, so equal settings print alike in links.
        for name in ("min_support", "min_confidence", "min_lift"):
            self._set(name, float(getattr(self, name)))
        if self.time_limit is not None:
            self._set("time_limit", float(self.time_limit))

    def compute(self, data: pl.DataFrame | pl.LazyFrame) -> RuleSet:
        """Mine the rules of ``data`` with these settings (:func:`core.rules.mine_rules_with`).

        Parameters
        ----------
        data : pl.DataFrame or pl.LazyFrame
            The canonical event table or a baskets table (``basket_id``, ``item``).

        Returns
        -------
        RuleSet
            The rules, itemsets and notes, carrying these settings as ``params``.
        """
        from core.rules.engine import mine_rules_with  # lazy: the engine imports this module

        return mine_rules_with(data, self)


#: The name pages, ``ui`` and tests have always used.
RuleParams = RulesParams
