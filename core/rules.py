"""Basket rules: which items sell together (Apriori / FP-Growth association rules).

A *basket* is a set of items bought (or carted, or viewed) together: an order, a session or a
user's whole history. :func:`mine_rules` finds the frequent itemsets with mlxtend on a sparse
one-hot encoding and turns them into rules "antecedents -> consequents" with the usual measures
(Agrawal et al. 1993; the definitions are mlxtend's):

- ``support(A -> C)`` = share of baskets holding every item of A and of C,
- ``confidence`` = support(A + C) / support(A): how often C is in a basket that holds A,
- ``lift`` = confidence / support(C): > 1 means A and C go together more than by chance
  (symmetric: lift(A -> C) = lift(C -> A)),
- ``leverage`` = support(A + C) - support(A) * support(C),
- ``conviction`` = (1 - support(C)) / (1 - confidence), infinite when confidence is 1.

:func:`load_baskets` reads the files people keep baskets in (one basket per line, order lines,
or an event log) into the two-column baskets table that :func:`mine_rules` also accepts.

Scale-out: supports are basket counts over the number of baskets, so counts computed on
partitions that hold whole baskets add up; the mining itself runs on one machine, on the items
that pass ``min_support`` (items below it cannot be in any frequent itemset, so dropping them
first changes no result) and at most ``max_items`` of them.
"""

from __future__ import annotations

import csv
import io
import math
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import polars as pl

from core.errors import LoadError, ParameterError, PathLensError, SchemaError, is_integer
from core.fmt import PeopleTable, fmt_count, fmt_pct
from core.schema import EVENT_TYPES

if TYPE_CHECKING:
    import plotly.graph_objects as go

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

#: Without an explicit ``max_items``, keep at most this many bytes in a dense block of
#: ``baskets x items`` booleans (what mlxtend's low-memory Apriori and FP-Growth build).
DENSE_BUDGET_BYTES: Final[int] = 512 * 1024**2
#: ...but never fewer items than this.
MIN_AUTO_ITEMS: Final[int] = 200
#: Items considered when looking for the most frequent pair to explain an empty result.
_HINT_ITEMS: Final[int] = 2000

#: Default cap on frequent itemsets (singles included). Memory and rule generation grow with
#: it; a page shows at most a few thousand rules. ``max_itemsets=None`` lifts it.
MAX_ITEMSETS: Final[int] = 10_000
#: Default wall-clock limit of one mining, in seconds (``time_limit=None`` lifts it).
TIME_LIMIT_S: Final[float] = 30.0
#: Most rules association-rule generation may consider (sum of 2**size - 2 over itemsets).
MAX_RULE_CANDIDATES: Final[int] = 500_000
#: Seconds between two calls of ``should_stop`` (and deadline checks) while mining.
_CHECK_EVERY_S: Final[float] = 0.02
#: Share of the time limit the search for a fitting ``min_support`` may use after the cap was
#: hit (at least :data:`_MIN_SEARCH_S` seconds).
_SEARCH_SHARE: Final[float] = 0.5
_MIN_SEARCH_S: Final[float] = 5.0
#: Item values that mean "no item" in exports (compared trimmed and lower-cased).
PLACEHOLDER_ITEMS: Final[frozenset[str]] = frozenset({"", "none", "-", "nan", "null", "n/a"})
_PLACEHOLDER_REASON: Final[str] = (
    "placeholder item (empty, '-', NONE, NaN, NULL or N/A) treated as missing"
)

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
BASKET_COLUMNS: Final[dict[str, pl.DataType]] = {"basket_id": pl.String(), "item": pl.String()}


# --------------------------------------------------------------------------------------------
# parameters and results
# --------------------------------------------------------------------------------------------


def _check_unit(name: str, value: Any, *, low_open: bool) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"`{name}` must be a number, got {value!r}") from None
    ok = (0.0 < v <= 1.0) if low_open else (0.0 <= v <= 1.0)
    if not ok or math.isnan(v):
        valid = "in (0, 1]" if low_open else "in [0, 1]"
        raise ParameterError(
            f"`{name}` must be a share of baskets {valid} (0.01 = 1%), got {value!r}"
        )
    return v


@dataclass(frozen=True)
class RuleParams:
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
        memory a dense ``baskets x items`` block would take (:data:`DENSE_BUDGET_BYTES`).
    max_itemsets : int >= 1 or None, default :data:`MAX_ITEMSETS`
        Most frequent itemsets (singles included) the settings may produce; beyond it mining
        stops with :class:`MiningBudgetExceeded` and a ``min_support`` that fits. ``None``
        lifts the cap (only for a machine of your own: low supports on long baskets produce
        billions of itemsets).

    Raises
    ------
    ParameterError
        A value is out of range; the message names the parameter and what is valid.
    """

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

    def __post_init__(self) -> None:
        basket = _BASKET_ALIASES.get(self.basket, self.basket)
        if basket not in BASKET_KINDS:
            raise ParameterError(
                f"`basket` must be one of {sorted(BASKET_KINDS)} (or order/session/user), "
                f"got {self.basket!r}"
            )
        object.__setattr__(self, "basket", basket)
        if not isinstance(self.item, str) or not self.item:
            raise ParameterError(f"`item` must be a column name, got {self.item!r}")
        if self.source_event not in EVENT_TYPES:
            raise ParameterError(
                f"`source_event` must be a canonical event type, one of {list(EVENT_TYPES)}, "
                f"got {self.source_event!r}"
            )
        object.__setattr__(
            self, "min_support", _check_unit("min_support", self.min_support, low_open=True)
        )
        object.__setattr__(
            self,
            "min_confidence",
            _check_unit("min_confidence", self.min_confidence, low_open=False),
        )
        try:
            lift = float(self.min_lift)
        except (TypeError, ValueError):
            lift = float("nan")
        if not lift >= 0 or math.isinf(lift):
            raise ParameterError(
                f"`min_lift` must be a finite number >= 0 (1 = no association), "
                f"got {self.min_lift!r}"
            )
        object.__setattr__(self, "min_lift", lift)
        if not is_integer(self.max_len):
            raise ParameterError(f"`max_len` must be an integer in [2, 10], got {self.max_len!r}")
        if not 2 <= int(self.max_len) <= 10:
            raise ParameterError(
                f"`max_len` must be in [2, 10] (a rule needs two items), got {self.max_len!r}"
            )
        object.__setattr__(self, "max_len", int(self.max_len))
        if self.algorithm not in ALGORITHMS:
            raise ParameterError(
                f"`algorithm` must be one of {list(ALGORITHMS)}, got {self.algorithm!r}"
            )
        if self.max_items is not None:
            if not is_integer(self.max_items):
                raise ParameterError(
                    f"`max_items` must be None or an integer >= 2, got {self.max_items!r}"
                )
            if self.max_items < 2:
                raise ParameterError(
                    f"`max_items` must be None or an integer >= 2, got {self.max_items!r}"
                )
            object.__setattr__(self, "max_items", int(self.max_items))
        if self.max_itemsets is not None:
            if not is_integer(self.max_itemsets) or self.max_itemsets < 1:
                raise ParameterError(
                    "`max_itemsets` must be None (no cap) or an integer >= 1, "
                    f"got {self.max_itemsets!r}"
                )
            object.__setattr__(self, "max_itemsets", int(self.max_itemsets))


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
    params : RuleParams
        The parameters used.
    reason : str or None
        Why there is no rule (with a hint computed from the data); ``None`` when there are.
    """

    rules: pl.DataFrame = field(default_factory=_empty_rules)
    itemsets: pl.DataFrame = field(default_factory=_empty_itemsets)
    notes: RuleNotes = field(default_factory=RuleNotes)
    params: RuleParams = field(default_factory=RuleParams)
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


# --------------------------------------------------------------------------------------------
# baskets
# --------------------------------------------------------------------------------------------


def _is_baskets_table(names: Sequence[str]) -> bool:
    return "basket_id" in names and "item" in names and "event_type" not in names


def build_baskets(
    data: pl.DataFrame | pl.LazyFrame,
    *,
    basket: str = "order_id",
    item: str = "product_id",
    source_event: str = "purchase",
) -> tuple[pl.DataFrame, tuple[tuple[str, int], ...]]:
    """Turn a canonical event table or a baskets table into distinct ``(basket_id, item)`` rows.

    Parameters
    ----------
    data : pl.DataFrame or pl.LazyFrame
        The canonical event table, or a baskets table with ``basket_id`` and ``item``.
    basket, item, source_event : str
        As in :class:`RuleParams` (ignored for a baskets table).

    Returns
    -------
    baskets : pl.DataFrame
        ``basket_id`` (String), ``item`` (String): one row per item in a basket, no nulls,
        no repeats.
    rows_dropped : tuple of (str, int)
        Rows of ``data`` left out, per reason.

    Raises
    ------
    SchemaError
        ``data`` is neither table, or lacks the ``item``/``basket`` column.
    ParameterError
        ``basket`` or ``source_event`` is not valid.
    """
    lf = data.lazy()
    names = lf.collect_schema().names()
    if _is_baskets_table(names):
        placeholder = _is_placeholder(pl.col("item"))
        stats, kept = pl.collect_all(
            [
                lf.select(
                    pl.len().alias("rows"),
                    pl.col("basket_id").is_null().sum().alias("no_basket"),
                    (pl.col("basket_id").is_not_null() & pl.col("item").is_null())
                    .sum()
                    .alias("no_item"),
                    (pl.col("basket_id").is_not_null() & placeholder).sum().alias("placeholder"),
                ),
                lf.filter(~placeholder.fill_null(False))
                .select(pl.col("basket_id").cast(pl.String), pl.col("item").cast(pl.String))
                .drop_nulls()
                .unique(maintain_order=True),
            ]
        )
        rows, no_basket, no_item, placeholders = stats.row(0)
        repeats = rows - no_basket - no_item - placeholders - kept.height
        dropped = (
            ("no basket id", int(no_basket)),
            ("no item", int(no_item)),
            (_PLACEHOLDER_REASON, int(placeholders)),
            ("item repeated in its basket (counted once)", int(repeats)),
        )
        return kept, tuple(d for d in dropped if d[1])
    if "event_type" not in names:
        raise SchemaError(
            "mine_rules needs the canonical event table (with `event_type`) or a baskets table "
            f"with `basket_id` and `item` columns; found columns {names}"
        )
    params = RuleParams(basket=basket, item=item, source_event=source_event)
    basket, item = params.basket, _column_any_case(params.item, names)
    if item not in names:
        raise SchemaError(f"`item` column {item!r} is not in the data; available columns: {names}")
    needed = {"user_id", "session_id"} | ({"order_id"} if basket == "order_id" else set())
    missing = sorted(c for c in needed if c not in names)
    if missing:
        raise SchemaError(f"basket={basket!r} needs column(s) {missing}; found columns {names}")
    if basket == "order_id":
        # The order id when there is one, else the session: "purchase events of one session".
        key = (
            pl.when(pl.col("order_id").is_not_null())
            .then(pl.lit("order ") + pl.col("order_id").cast(pl.String))
            .otherwise(
                pl.lit("session ")
                + pl.col("user_id").cast(pl.String)
                + pl.lit("/")
                + pl.col("session_id").cast(pl.String)
            )
        )
    elif basket == "session_id":
        # Session ids need not be unique across users; the user makes them so.
        key = pl.col("user_id").cast(pl.String) + pl.lit("/") + pl.col("session_id").cast(pl.String)
    else:
        key = pl.col("user_id").cast(pl.String)
    placeholder = _is_placeholder(pl.col(item))
    chosen = lf.filter((pl.col("event_type") == source_event) & ~placeholder.fill_null(False))
    # one pass over the source for both (collect_all shares the scan)
    stats, kept = pl.collect_all(
        [
            lf.select(
                pl.len().alias("rows"),
                (pl.col("event_type") != source_event).fill_null(True).sum().alias("other"),
                ((pl.col("event_type") == source_event) & key.is_null()).sum().alias("no_basket"),
                (
                    (pl.col("event_type") == source_event)
                    & key.is_not_null()
                    & pl.col(item).is_null()
                )
                .sum()
                .alias("no_item"),
                ((pl.col("event_type") == source_event) & key.is_not_null() & placeholder)
                .sum()
                .alias("placeholder"),
            ),
            chosen.select(key.alias("basket_id"), pl.col(item).cast(pl.String).alias("item"))
            .drop_nulls()
            .unique(maintain_order=True),
        ]
    )
    rows, other, no_basket, no_item, placeholders = stats.row(0)
    repeats = rows - other - no_basket - no_item - placeholders - kept.height
    dropped = (
        (f"event type is not {source_event}", int(other)),
        (f"no {basket} (nor session)" if basket == "order_id" else f"no {basket}", int(no_basket)),
        (f"no {item}", int(no_item)),
        (f"{item}: {_PLACEHOLDER_REASON}", int(placeholders)),
        ("item repeated in its basket (counted once)", int(repeats)),
    )
    return kept, tuple(d for d in dropped if d[1])


def _is_placeholder(item: pl.Expr) -> pl.Expr:
    """True where an item value is a placeholder (:data:`PLACEHOLDER_ITEMS`); null stays null."""
    return (
        item.cast(pl.String).str.strip_chars().str.to_lowercase().is_in(sorted(PLACEHOLDER_ITEMS))
    )


def _column_any_case(name: str, names: Sequence[str]) -> str:
    """``name`` if present, else the one column equal to it ignoring case (``Description``
    for ``description``); unchanged when there is none or several."""
    if name in names:
        return name
    same = [c for c in names if c.lower() == name.lower()]
    return same[0] if len(same) == 1 else name


def _min_count(min_support: float, n: int) -> int:
    """Smallest basket count ``c`` with ``c / n >= min_support`` (mlxtend's float comparison)."""
    c = max(1, math.ceil(min_support * n))
    while c > 1 and (c - 1) / n >= min_support:
        c -= 1
    while c / n < min_support:
        c += 1
    return c


@dataclass(frozen=True)
class _Encoded:
    matrix: Any  # scipy.sparse.csr_matrix, baskets x items, bool
    items: list[str]  # column names
    counts: np.ndarray  # basket count per column
    n_baskets: int
    one_item_baskets: int
    n_items: int
    n_frequent: int
    dropped_by_cap: int
    cap: int | None


def _encode(baskets: pl.DataFrame, params: RuleParams) -> _Encoded:
    import scipy.sparse as sp

    n = baskets.get_column("basket_id").n_unique()
    sizes = baskets.group_by("basket_id").len()
    one_item = int((sizes.get_column("len") == 1).sum())
    counts = baskets.group_by("item").len().sort(["len", "item"], descending=[True, False])
    n_items = counts.height
    min_c = _min_count(params.min_support, n) if n else 1
    frequent = counts.filter(pl.col("len") >= min_c)
    cap = params.max_items
    if cap is None and n:
        auto = max(MIN_AUTO_ITEMS, DENSE_BUDGET_BYTES // n)
        cap = auto if frequent.height > auto else None
    kept = frequent.head(cap) if cap is not None else frequent
    dropped = frequent.height - kept.height
    kept = kept.sort("item")
    items = kept.get_column("item").to_list()
    codes = kept.select("item", pl.int_range(pl.len(), dtype=pl.Int64).alias("col"))
    rows = baskets.select(
        "item", (pl.col("basket_id").rank("dense") - 1).cast(pl.Int64).alias("row")
    ).join(codes, on="item", how="inner")
    data = np.ones(rows.height, dtype=bool)
    matrix = sp.csr_matrix(
        (data, (rows.get_column("row").to_numpy(), rows.get_column("col").to_numpy())),
        shape=(n, len(items)),
        dtype=bool,
    )
    return _Encoded(
        matrix=matrix,
        items=items,
        counts=kept.get_column("len").to_numpy().astype(np.int64),
        n_baskets=n,
        one_item_baskets=one_item,
        n_items=n_items,
        n_frequent=frequent.height,
        dropped_by_cap=dropped,
        cap=cap if dropped else None,
    )


def _pct(x: float) -> str:
    return f"{100 * x:.3g}%"


def _most_frequent_pair(baskets: pl.DataFrame, n: int) -> tuple[tuple[str, str], int] | None:
    import scipy.sparse as sp

    top = (
        baskets.group_by("item")
        .len()
        .sort(["len", "item"], descending=[True, False])
        .head(_HINT_ITEMS)
        .with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("col"))
    )
    rows = baskets.select(
        "item", (pl.col("basket_id").rank("dense") - 1).cast(pl.Int64).alias("row")
    ).join(top, on="item", how="inner")
    if rows.height == 0:
        return None
    x = sp.csr_matrix(
        (np.ones(rows.height, dtype=np.int32), (rows["row"].to_numpy(), rows["col"].to_numpy())),
        shape=(n, top.height),
    )
    co = sp.triu(x.T @ x, k=1).tocoo()
    if co.nnz == 0:
        return None
    best = int(np.argmax(co.data))
    names = top.get_column("item").to_list()
    pair = tuple(sorted((names[co.row[best]], names[co.col[best]])))
    return (pair[0], pair[1]), int(co.data[best])


def _frozen_names(s: frozenset, items: list[str]) -> list[str]:
    return sorted(items[int(i)] for i in s)


def _name_lists(sets: Sequence[Any], items: list[str]) -> pl.Series:
    """Sets of column indices as a List[String] Series of item names, each list sorted.

    Columns are numbered in item-name order, so sorting indices sorts names. Built from one
    flat gather (a Series of Python lists is several times slower to construct).
    """
    lens = np.fromiter((len(s) for s in sets), dtype=np.int64, count=len(sets))
    flat = np.fromiter(
        (int(c) for s in sets for c in sorted(s)), dtype=np.int64, count=int(lens.sum())
    )
    names = pl.Series(items, dtype=pl.String).gather(flat)
    rule = np.repeat(np.arange(len(sets), dtype=np.int64), lens)
    return (
        pl.DataFrame({"r": rule, "x": names})
        .group_by("r", maintain_order=True)
        .agg("x")
        .get_column("x")
    )


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
        What one basket is: an order (events without an order id are grouped by session), a
        session, or a user's whole history.
    item : str, default "product_id"
        Column holding the items: ``product_id``, ``category``, ``brand`` or any other.
    source_event : str, default "purchase"
        Canonical event type filling the baskets: ``purchase``, ``add_to_cart``, ``view_item``.
    min_support : float in (0, 1], default 0.01
        Smallest share of baskets holding all items of a rule.
    min_confidence : float in [0, 1], default 0.2
        Smallest confidence of a rule.
    min_lift : float >= 0, default 1.0
        Smallest lift of a rule.
    max_len : int in [2, 10], default 3
        Most items in a rule.
    algorithm : {"apriori", "fpgrowth"}, default "apriori"
        mlxtend's miner (same itemsets either way).
    max_items : int >= 2, optional
        Mine only the most frequent items; without it a cap is set from memory
        (:data:`DENSE_BUDGET_BYTES`) and :class:`RuleNotes` says when it bound.
    max_itemsets : int >= 1 or None, default :data:`MAX_ITEMSETS` (10,000)
        Most frequent itemsets (singles included) the settings may produce. Before mining,
        the frequent items and pairs are counted exactly (a cheap lower bound); if they
        already pass the cap, or mining reaches it, :class:`MiningBudgetExceeded` is raised
        with the smallest ``min_support`` that fits. ``None`` lifts the cap.
    time_limit : float > 0 or None, default :data:`TIME_LIMIT_S` (30 s)
        Wall-clock seconds mining may take; past it :class:`MiningBudgetExceeded` is raised
        (``cause="time"``). The search for a fitting ``min_support`` after the itemset cap
        is hit has its own limit (half of this, at least 5 s). ``None`` lifts it.
    should_stop : callable () -> bool, optional
        Called every few hundredths of a second while counting (per candidate batch of
        Apriori, per itemset of FP-Growth, per block of pair counts): True stops the mining
        with :class:`MiningCancelled`; an exception it raises propagates unchanged. A web
        page passes one that notices a closed tab or a newer request
        (:func:`ui.jobs.cancel_check`).

    Returns
    -------
    RuleSet
        ``rules``, ``itemsets``, ``notes`` and, when there is no rule, a ``reason`` with a
        hint computed from the data (e.g. "lower min_support: the most frequent pair ... is in
        0.4% of baskets").

    Raises
    ------
    ParameterError
        A threshold or option is out of range (the message names it).
    MiningBudgetExceeded
        A :class:`ParameterError`: the settings pass ``max_itemsets`` (the message gives the
        count, the cap and a ``min_support`` that fits, also in ``suggested_min_support``),
        the rules to consider pass :data:`MAX_RULE_CANDIDATES`, or mining passed
        ``time_limit``. No partial result is ever returned.
    MiningCancelled
        ``should_stop`` returned True.
    SchemaError
        ``data`` is neither an event table nor a baskets table, or lacks the ``item`` column.

    Examples
    --------
    >>> from core import mine_rules, bought_together          # doctest: +SKIP
    >>> rs = mine_rules(events, min_support=0.005)            # doctest: +SKIP
    >>> bought_together(rs, "P-1001", 5)                      # doctest: +SKIP
    """
    params = RuleParams(
        basket=basket,
        item=item,
        source_event=source_event,
        min_support=min_support,
        min_confidence=min_confidence,
        min_lift=min_lift,
        max_len=max_len,
        algorithm=algorithm,
        max_items=max_items,
        max_itemsets=max_itemsets,
    )
    return mine_rules_with(data, params, time_limit=time_limit, should_stop=should_stop)


def mine_rules_with(
    data: pl.DataFrame | pl.LazyFrame,
    params: RuleParams,
    *,
    time_limit: float | None = TIME_LIMIT_S,
    should_stop: Callable[[], bool] | None = None,
) -> RuleSet:
    """:func:`mine_rules` with its parameters as one frozen :class:`RuleParams`.

    Parameters
    ----------
    data : pl.DataFrame or pl.LazyFrame
        The canonical event table or a baskets table.
    params : RuleParams
        Basket and item definitions, thresholds and the itemset cap.
    time_limit : float > 0 or None, default :data:`TIME_LIMIT_S`
        As in :func:`mine_rules`.
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
    budget = _Budget(_check_time_limit(time_limit), should_stop)
    baskets, dropped = build_baskets(
        data, basket=params.basket, item=params.item, source_event=params.source_event
    )
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
    notes = RuleNotes(
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
    itemsets = _frequent_itemsets(enc, params, budget)
    _check_rule_candidates(itemsets, params)
    rules = _rules(itemsets, enc, params) if itemsets.height else _empty_rules()
    if rules.height:
        reason = None
    elif enc.one_item_baskets == enc.n_baskets:
        reason = (
            f"Every one of the {enc.n_baskets:,} baskets holds a single item, so no item "
            "goes with another. Try a larger basket (session or user) or another source "
            "event (add_to_cart, view_item)."
        )
    else:
        reason = _why_no_rule(baskets, enc, params, itemsets)
    return RuleSet(rules=rules, itemsets=itemsets, notes=notes, params=params, reason=reason)


# --------------------------------------------------------------------------------------------
# bounded mining: a cap on itemsets, a deadline, cancellation
# --------------------------------------------------------------------------------------------


class _CapHit(Exception):
    """More than the cap of itemsets were found (internal)."""


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


def _check_time_limit(time_limit: Any) -> float | None:
    if time_limit is None:
        return None
    try:
        v = float(time_limit)
    except (TypeError, ValueError):
        v = float("nan")
    if not v > 0 or math.isinf(v):
        raise ParameterError(
            f"`time_limit` must be None (no limit) or a positive number of seconds, "
            f"got {time_limit!r}"
        )
    return v


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


def _apriori(
    enc: _Encoded,
    min_c: int,
    max_len: int,
    budget: _Budget,
    *,
    cap: int | None,
    adaptive: bool = False,
) -> tuple[dict[tuple[int, ...], int], int]:
    """Frequent itemsets by levels (Apriori with per-prefix counting on the sparse encoding).

    Candidates are grouped by their prefix (all items but the last); one batch counts every
    extension of one prefix in the baskets that hold the prefix, then the budget is checked.

    With ``adaptive=False`` finding more than ``cap`` itemsets raises :class:`_CapHit`. With
    ``adaptive=True`` the threshold rises instead (top-``cap`` mining): whenever more than
    ``cap`` itemsets are known, it becomes one more than the ``cap + 1``-th largest count and
    the itemsets below it are dropped (with their supersets, by anti-monotonicity). At the
    end the dict holds every itemset whose count reaches the returned threshold, which is the
    smallest count with at most ``cap`` itemsets at or above it.

    Returns
    -------
    found : dict
        Sorted column-index tuples -> basket count.
    threshold : int
        The final basket-count threshold.
    """
    k = len(enc.items)
    csr = enc.matrix.tocsr()
    csr.sort_indices()
    indptr, indices = csr.indptr, csr.indices
    basket_sizes = np.diff(indptr)
    # One bit per basket and item: a batch ANDs the prefix's bits with its extensions' bits
    # and counts. k x n/8 bytes: at most DENSE_BUDGET_BYTES / 8 given the item cap.
    bits = np.packbits(enc.matrix.T.toarray(), axis=1)
    words = bits.shape[1]
    t = min_c
    found: dict[tuple[int, ...], int] = {}

    def check_cap(*, slack: int = 2) -> None:
        nonlocal t
        # adaptive: trim only past slack * cap (amortised), and with slack=1 at level ends
        if cap is None or len(found) <= (slack if adaptive else 1) * cap:
            return
        if not adaptive:
            raise _CapHit
        counts = np.fromiter(found.values(), dtype=np.int64, count=len(found))
        kth = len(counts) - cap - 1  # the (cap + 1)-th largest count
        t = int(np.partition(counts, kth)[kth]) + 1
        for key in [key for key, c in found.items() if c < t]:
            del found[key]

    for j in range(k):
        if enc.counts[j] >= t:
            found[(j,)] = int(enc.counts[j])
    check_cap()
    level = sorted(found)
    size = 1
    while level and size < max_len:
        nxt: list[tuple[int, ...]] = []
        for prefix, ext in _candidate_batches(level, found, size):
            budget.tick()
            if prefix not in found:  # dropped by a raised threshold since
                continue
            if len(ext) == 0 or found[prefix] < t:
                continue
            held = bits[prefix[0]]
            for j in prefix[1:]:
                held = held & bits[j]
            # Count by bits (|ext| x n/8 bytes) or by reading the items of the prefix's
            # baskets, whichever touches less memory.
            rows = None
            if len(ext) * words > 4 * found[prefix] * basket_sizes.mean():
                rows = np.nonzero(np.unpackbits(held, count=enc.n_baskets))[0]
            if rows is not None and 4 * basket_sizes[rows].sum() < len(ext) * words:
                starts = indptr[rows]
                lens = basket_sizes[rows]
                pos = np.arange(int(lens.sum())) + np.repeat(starts - np.cumsum(lens) + lens, lens)
                counts = np.bincount(indices[pos], minlength=k)[ext]
            else:
                counts = np.bitwise_count(bits[ext] & held).sum(axis=1, dtype=np.int64)
            keep = np.nonzero(counts >= t)[0]
            for i in keep:
                key = (*prefix, int(ext[i]))
                found[key] = int(counts[i])
                nxt.append(key)
            check_cap()
        check_cap(slack=1)
        level = sorted(key for key in nxt if key in found)
        size += 1
    check_cap(slack=1)
    return found, t


def _candidate_batches(
    level: list[tuple[int, ...]], found: dict[tuple[int, ...], int], size: int
) -> Iterator[tuple[tuple[int, ...], np.ndarray]]:
    """Apriori candidates of size ``size + 1`` as (prefix, extensions) batches.

    ``level`` is the sorted list of frequent itemsets of size ``size``. A candidate joins
    two of them that share all but their last item, and every one of its ``size``-subsets
    must be frequent (looked up in ``found``, which also reflects a raised threshold).
    """
    if size == 1:
        singles = np.array([s[0] for s in level], dtype=np.int64)
        for i, (a,) in enumerate(level):
            yield (a,), singles[i + 1 :]
        return
    start = 0
    while start < len(level):
        stem = level[start][:-1]
        end = start
        while end < len(level) and level[end][:-1] == stem:
            end += 1
        lasts = [level[i][-1] for i in range(start, end)]
        for ia, a in enumerate(lasts):
            ext = [
                b
                for b in lasts[ia + 1 :]
                if all((*stem[:m], *stem[m + 1 :], a, b) in found for m in range(len(stem)))
            ]
            yield (*stem, a), np.array(ext, dtype=np.int64)
        start = end


def _fpgrowth(
    enc: _Encoded, min_c: int, max_len: int, budget: _Budget, *, cap: int | None
) -> dict[tuple[int, ...], int]:
    """Frequent itemsets by mlxtend's FP-Growth, driven one itemset at a time.

    mlxtend's ``fpg_step`` is a generator over the conditional FP-trees; reading it here lets
    the budget be checked between itemsets and the cap stop it (building the first tree, one
    pass over the baskets, is the only step without checks).
    """
    import pandas as pd
    from mlxtend.frequent_patterns import fpcommon
    from mlxtend.frequent_patterns.fpgrowth import fpg_step

    onehot = pd.DataFrame.sparse.from_spmatrix(enc.matrix, columns=range(len(enc.items)))
    # Half a basket below the integer threshold: free of floating-point ties.
    tree, _, _ = fpcommon.setup_fptree(onehot, (min_c - 0.5) / enc.n_baskets)
    found: dict[tuple[int, ...], int] = {}
    for count, itemset in fpg_step(tree, min_c, None, max_len, 0):
        budget.tick()
        if count >= min_c:
            found[tuple(sorted(int(i) for i in itemset))] = int(count)
            if cap is not None and len(found) > cap:
                raise _CapHit
    return found


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
    params: RuleParams,
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


def _frequent_itemsets(enc: _Encoded, params: RuleParams, budget: _Budget) -> pl.DataFrame:
    """Every frequent itemset, or :class:`MiningBudgetExceeded` (never a partial result)."""
    if not enc.items:
        return _empty_itemsets()
    n = enc.n_baskets
    min_c = _min_count(params.min_support, n)
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
            found = _fpgrowth(enc, min_c, params.max_len, budget, cap=cap)
        else:
            found, _ = _apriori(enc, min_c, params.max_len, budget, cap=cap)
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
    except _OutOfTime:
        raise MiningBudgetExceeded(
            f"Mining stopped after the time limit of {budget.time_limit:g} s "
            f"(min_support {_pct(params.min_support)}, max_len {params.max_len}, "
            f"{len(enc.items):,} items over {n:,} baskets). Raise min_support or lower "
            "max_len.",
            cause="time",
            itemsets=0,
            max_itemsets=cap,
            min_support=params.min_support,
            suggested_min_support=None,
            suggestion_exact=False,
        ) from None
    if not found:
        return _empty_itemsets()
    keys = list(found)
    counts = np.fromiter((found[s] for s in keys), dtype=np.int64, count=len(keys))
    out = pl.DataFrame(
        {
            "itemset": _name_lists(keys, enc.items),
            "size": pl.Series([len(s) for s in keys], dtype=pl.Int64),
            "support": counts / n,
            "baskets": counts,
        },
        schema=ITEMSET_COLUMNS,
    )
    return out.sort(
        ["baskets", "size", "itemset"], descending=[True, False, False], maintain_order=True
    )


def _check_rule_candidates(itemsets: pl.DataFrame, params: RuleParams) -> None:
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


def _rules(itemsets: pl.DataFrame, enc: _Encoded, params: RuleParams) -> pl.DataFrame:
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
    baskets: pl.DataFrame, enc: _Encoded, params: RuleParams, itemsets: pl.DataFrame
) -> str:
    n = enc.n_baskets
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
    loose = _rules(
        itemsets,
        enc,
        RuleParams(
            min_support=params.min_support, min_confidence=0.0, min_lift=0.0, max_len=params.max_len
        ),
    )
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


# --------------------------------------------------------------------------------------------
# loading baskets from files
# --------------------------------------------------------------------------------------------

#: Column names (lower-cased, letters and digits only) that hold a basket / order id.
_ID_NAMES: Final[tuple[str, ...]] = (
    "basketid",
    "basket",
    "orderid",
    "order",
    "ordernumber",
    "orderno",
    "invoiceno",
    "invoice",
    "invoiceid",
    "invoicenumber",
    "transactionid",
    "transaction",
    "transactionno",
    "transno",
    "transid",
    "tid",
    "receiptid",
    "receipt",
    "ticketid",
    "ticket",
    "billno",
    "bill",
    "cartid",
)
#: Column names that hold the item, most readable first (a description beats a stock code).
_ITEM_NAMES: Final[tuple[str, ...]] = (
    "item",
    "items",
    "itemname",
    "itemdescription",
    "description",
    "productname",
    "product",
    "productdescription",
    "name",
    "article",
    "itemid",
    "productid",
    "sku",
    "stockcode",
    "stockid",
    "articleid",
    "ean",
    "upc",
)
_CUSTOMER_NAMES: Final[tuple[str, ...]] = (
    "customerid",
    "customer",
    "membernumber",
    "member",
    "memberid",
    "userid",
    "user",
    "clientid",
    "client",
    "visitorid",
)
_DATE_NAMES: Final[tuple[str, ...]] = (
    "date",
    "orderdate",
    "invoicedate",
    "transactiondate",
    "datetime",
    "timestamp",
    "time",
    "day",
)
_QUANTITY_NAMES: Final[tuple[str, ...]] = ("quantity", "qty", "units", "count")
#: Columns that mark an event log (a time and an event name/type) rather than order lines.
_EVENT_NAMES: Final[tuple[str, ...]] = (
    "event",
    "eventtype",
    "eventname",
    "behaviortype",
    "behavior",
    "behaviour",
    "action",
)


@dataclass(frozen=True)
class BasketLoad:
    """What :func:`read_baskets` read: the baskets and an account of every row not used.

    Attributes
    ----------
    baskets : pl.DataFrame
        ``basket_id`` (String), ``item`` (String); one row per distinct item of a basket.
    format : str
        ``"basket_lines"`` (one basket per line), ``"order_lines"`` (an id and an item per
        row) or ``"events"`` (an event log read by :func:`core.load_events`).
    rows_read : int
        Data rows (or lines) in the file.
    rows_dropped : tuple of (str, int)
        Rows, fields or events not used, per reason (an item repeated in its basket is
        counted here too: it is kept once).
    basket_column, item_column : str or None
        The columns used for order-line files (``None`` for the other formats).
    warnings : tuple of str
        Anything the user should know (a fallback encoding, a basket built from customer and
        date...).
    """

    baskets: pl.DataFrame
    format: str
    rows_read: int
    rows_dropped: tuple[tuple[str, int], ...] = ()
    basket_column: str | None = None
    item_column: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def n_baskets(self) -> int:
        """Distinct baskets loaded."""
        return self.baskets.get_column("basket_id").n_unique()


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _pick(header: Sequence[str], names: Sequence[str]) -> str | None:
    normed = {_norm(h): h for h in reversed(header)}
    for n in names:
        if n in normed:
            return normed[n]
    return None


def _sniff_delimiter(lines: Sequence[str]) -> str:
    counts = {d: sum(line.count(d) for line in lines) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _looks_like_events(header: Sequence[str]) -> bool:
    return _pick(header, _EVENT_NAMES) is not None and (
        _pick(header, _DATE_NAMES) is not None or any("time" in _norm(h) for h in header)
    )


def read_baskets(source: Any) -> BasketLoad:
    """Read baskets from a file, recognising its layout with no mapping.

    Three layouts are recognised:

    - **one basket per line** (no header; items separated by commas, semicolons or tabs;
      rows of any length, as the arules ``Groceries`` export): basket ids are the line
      numbers (from 1); blank lines and empty fields are counted and skipped;
    - **order lines** (a header with an order / invoice / transaction id column and an item
      column, with or without dates, customers, quantities): the most readable item column is
      used (a description before a stock code); rows without an id or an item, and rows with a
      quantity <= 0 (returns, cancellations) are counted and dropped. Without an id column, a
      customer and a date make a basket (one shopping trip), with a warning;
    - **event logs** (a header with an event column and a time): read by
      :func:`core.load_events`; baskets are orders of purchased products
      (:func:`build_baskets` with its defaults), and the loader's dropped rows are reported.

    Parameters
    ----------
    source : str, Path, bytes or file-like
        The file (CSV/TSV text, optionally ``.gz`` or ``.zip``).

    Returns
    -------
    BasketLoad
        The baskets, the detected format and the rows not used, per reason.

    Raises
    ------
    LoadError
        The file is missing, empty, binary, or holds no basket.
    """
    from core.io import read_raw, read_text

    try:
        text, name, warnings = read_text(source)
    except LoadError as e:
        if e.code != "not_text":
            raise
        # A Parquet file is a table: order lines or an event log, never basket lines.
        frame, warnings = read_raw(source)
        name = _display_name(source)
        if _looks_like_events(frame.columns):
            return _read_event_log(source, name, warnings)
        return _order_lines_from_frame(frame, name, warnings)
    lines = text.splitlines()
    head = [ln for ln in lines[:50] if ln.strip()]
    if not head:
        raise LoadError(f"{name!r} is empty: expected one basket per line or order lines")
    delimiter = _sniff_delimiter(head)
    header = [h.strip() for h in next(csv.reader([head[0]], delimiter=delimiter))]
    if _looks_like_events(header) or _is_headerless_event_log(source):
        return _read_event_log(source, name, warnings)
    if _is_order_header(header):
        frame, more = read_raw(_named_bytes(text, name))
        return _order_lines_from_frame(frame, name, warnings + more)
    return _read_basket_lines(lines, name, delimiter, warnings)


def load_baskets(source: Any) -> pl.DataFrame:
    """Read a basket file into the ``(basket_id, item)`` table that :func:`mine_rules` takes.

    See :func:`read_baskets` for the layouts recognised; this returns its ``baskets`` frame.
    Use :func:`read_baskets` to also get the format and the rows dropped per reason.

    Parameters
    ----------
    source : str, Path, bytes or file-like
        One basket per line, order lines, or an event log (optionally gzip/zip-compressed).

    Returns
    -------
    pl.DataFrame
        ``basket_id`` (String), ``item`` (String): one row per distinct item of a basket.

    Raises
    ------
    LoadError
        The file cannot be read as baskets (the message says why).

    Examples
    --------
    >>> baskets = load_baskets("groceries.csv")          # doctest: +SKIP
    >>> mine_rules(baskets, min_support=0.001)            # doctest: +SKIP
    """
    return read_baskets(source).baskets


def _read_basket_lines(
    lines: list[str], name: str, delimiter: str, warnings: list[str]
) -> BasketLoad:
    ids: list[str] = []
    items: list[str] = []
    blank = empty_fields = repeats = placeholders = 0
    for number, fields in enumerate(csv.reader(lines, delimiter=delimiter), start=1):
        seen: set[str] = set()
        for f in fields:
            v = f.strip()
            if not v:
                empty_fields += 1
            elif v.lower() in PLACEHOLDER_ITEMS:
                placeholders += 1
            elif v in seen:
                repeats += 1
            else:
                seen.add(v)
                ids.append(str(number))
                items.append(v)
        if not seen:
            blank += 1
    rows_read = len(lines)
    if not items:
        raise LoadError(f"{name} holds no item: every one of its {rows_read:,} lines is empty")
    baskets = pl.DataFrame({"basket_id": ids, "item": items}, schema=BASKET_COLUMNS)
    dropped = (
        ("blank line (no item)", blank),
        ("empty field between separators", empty_fields),
        (_PLACEHOLDER_REASON, placeholders),
        ("item repeated in its basket (counted once)", repeats),
    )
    return BasketLoad(
        baskets=baskets,
        format="basket_lines",
        rows_read=rows_read,
        rows_dropped=tuple(d for d in dropped if d[1]),
        warnings=tuple(warnings),
    )


def _is_headerless_event_log(source: Any) -> bool:
    """True for the one headerless event log the loader knows (Taobao UserBehavior)."""
    from core.io import TAOBAO_COLUMNS, open_source

    try:
        raw = open_source(source)
    except LoadError:
        return False
    return raw.column_names == TAOBAO_COLUMNS


def _display_name(source: Any) -> str:
    if isinstance(source, str | Path):
        return Path(source).name
    named = getattr(source, "name", None)
    return Path(str(named)).name if named else "upload"


def _named_bytes(text: str, name: str) -> io.BytesIO:
    buf = io.BytesIO(text.encode("utf-8"))
    buf.name = name  # read_raw / load_events name the file in their messages
    return buf


def _is_order_header(header: Sequence[str]) -> bool:
    if _pick(header, _ITEM_NAMES) is None:
        return False
    return _pick(header, _ID_NAMES) is not None or (
        _pick(header, _CUSTOMER_NAMES) is not None and _pick(header, _DATE_NAMES) is not None
    )


def _order_lines_from_frame(frame: pl.DataFrame, name: str, warnings: list[str]) -> BasketLoad:
    if not _is_order_header(frame.columns):
        raise LoadError(
            f"{name!r} has columns {frame.columns} but no order/transaction id and item column "
            "(e.g. order_id + product, InvoiceNo + Description); expected order lines, one "
            "basket per line, or an event log"
        )
    frame = frame.select(pl.all().cast(pl.String))
    id_col = _pick(frame.columns, _ID_NAMES)
    item_col = _pick(frame.columns, _ITEM_NAMES)
    assert item_col is not None
    qty_col = _pick(frame.columns, _QUANTITY_NAMES)
    warn = list(warnings)
    if id_col is not None:
        key = pl.col(id_col).str.strip_chars()
        basket_desc = id_col
    else:
        cust = _pick(frame.columns, _CUSTOMER_NAMES)
        date = _pick(frame.columns, _DATE_NAMES)
        key = pl.col(cust).str.strip_chars() + pl.lit(" @ ") + pl.col(date).str.strip_chars()
        basket_desc = f"{cust} + {date}"
        warn.append(f"no order id column: one basket is one customer on one date ({cust} + {date})")
    item = pl.col(item_col).str.strip_chars()
    no_key = key.is_null() | (key == "")
    no_item = ~no_key & (item.is_null() | (item == ""))
    placeholder = ~no_key & ~no_item & _is_placeholder(item)
    if qty_col is not None:
        qty = pl.col(qty_col).str.strip_chars().cast(pl.Float64, strict=False)
        returned = ~no_key & ~no_item & ~placeholder & (qty <= 0).fill_null(False)
    else:
        returned = pl.lit(False)
    flagged = frame.select(
        key.alias("basket_id"),
        item.alias("item"),
        no_key.alias("no_key"),
        no_item.alias("no_item"),
        placeholder.alias("placeholder"),
        returned.alias("returned"),
    )
    good = flagged.filter(
        ~pl.col("no_key") & ~pl.col("no_item") & ~pl.col("placeholder") & ~pl.col("returned")
    )
    baskets = good.select("basket_id", "item").unique(maintain_order=True)
    dropped = (
        (f"no basket id ({basket_desc})", int(flagged["no_key"].sum())),
        (f"no item ({item_col})", int(flagged["no_item"].sum())),
        (f"{item_col}: {_PLACEHOLDER_REASON}", int(flagged["placeholder"].sum())),
        (f"{qty_col} <= 0 (return or cancellation)", int(flagged["returned"].sum())),
        ("item repeated in its basket (counted once)", good.height - baskets.height),
    )
    if baskets.height == 0:
        raise LoadError(
            f"{name}: no usable order line among {frame.height:,} rows "
            f"(basket from {basket_desc}, item from {item_col})"
        )
    return BasketLoad(
        baskets=baskets.cast(BASKET_COLUMNS),
        format="order_lines",
        rows_read=frame.height,
        rows_dropped=tuple(d for d in dropped if d[1]),
        basket_column=basket_desc,
        item_column=item_col,
        warnings=tuple(warn),
    )


def _read_event_log(source: Any, name: str, warnings: list[str]) -> BasketLoad:
    try:
        from core.loader import load_events
    except ImportError as e:  # pragma: no cover - the loader ships with the package
        raise LoadError(f"{name} looks like an event log, but the event loader is missing") from e
    result = load_events(source)
    report = result.report
    dropped: list[tuple[str, int]] = []
    loader_dropped = getattr(report, "rows_dropped", None) or getattr(report, "dropped", None)
    if isinstance(loader_dropped, dict):
        dropped.extend((f"loader: {k}", int(v)) for k, v in loader_dropped.items() if v)
    baskets, from_events = build_baskets(result.events)
    dropped.extend(from_events)
    rows_read = getattr(report, "rows_read", None)
    return BasketLoad(
        baskets=baskets,
        format="events",
        rows_read=int(rows_read) if rows_read is not None else result.events.height,
        rows_dropped=tuple(dropped),
        warnings=tuple(warnings) + tuple(getattr(report, "warnings", ()) or ()),
    )


# --------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------


def _rules_frame(rules: RuleSet | pl.DataFrame) -> pl.DataFrame:
    return rules.rules if isinstance(rules, RuleSet) else rules


def _rule_text(antecedents: Sequence[str], consequents: Sequence[str]) -> str:
    return f"{' + '.join(antecedents)} → {' + '.join(consequents)}"


def _circle_order(n_items: int, arcs: Sequence[tuple[int, int, int]]) -> list[int]:
    """Items in drawing order round the circle: connected items next to each other.

    Components (items linked by a rule, directly or through a hub) come largest first, each
    walked breadth-first from its best-connected item, so a bundle's items are neighbours and
    its arrows are short chords instead of lines across the drawing.
    """
    links: dict[int, set[int]] = {i: set() for i in range(n_items)}
    by_rule: dict[int, set[int]] = {}
    for s, t, r in arcs:
        by_rule.setdefault(r, set()).update(x for x in (s, t) if x < n_items)
    for members in by_rule.values():
        for x in members:
            links[x] |= members - {x}
    seen: set[int] = set()
    components: list[list[int]] = []
    for start in sorted(range(n_items), key=lambda i: (-len(links[i]), i)):
        if start in seen:
            continue
        seen.add(start)
        comp, queue = [], [start]
        while queue:
            x = queue.pop(0)
            comp.append(x)
            for y in sorted(links[x] - seen, key=lambda i: (-len(links[i]), i)):
                seen.add(y)
                queue.append(y)
        components.append(comp)
    components.sort(key=lambda c: -len(c))  # stable: ties keep the rule order
    return [x for comp in components for x in comp]


def _circle_layout(
    n_items: int, arcs: Sequence[tuple[int, int, int]], n_hubs: int
) -> tuple[np.ndarray, np.ndarray]:
    """Items evenly on the unit circle (see :func:`_circle_order`), hubs inside.

    Evenly spaced, any two items are at least ``2 sin(pi / n)`` apart, so labels placed
    outward beside their nodes never sit on each other. A hub (a rule with several items on a
    side) sits at 60% of the way to the mean position of its items. Returns the positions
    (items then hubs) and each item's angle.
    """
    order = _circle_order(n_items, arcs)
    angles = np.zeros(n_items)
    # start at the top, clockwise, as one reads
    angles[order] = np.pi / 2 - 2 * np.pi * np.arange(n_items) / max(n_items, 1)
    pos = np.zeros((n_items + n_hubs, 2))
    pos[:n_items] = np.c_[np.cos(angles), np.sin(angles)]
    members: dict[int, list[int]] = {}
    for s, t, _ in arcs:
        if s >= n_items:
            members.setdefault(s, []).append(t)
        if t >= n_items:
            members.setdefault(t, []).append(s)
    for hub, items in members.items():
        pos[hub] = 0.6 * pos[items].mean(axis=0)
    return pos, angles


def _label_side(angle: float) -> str:
    """Where a label goes beside a node on the circle: outward, away from the arrows."""
    x, y = math.cos(angle), math.sin(angle)
    if x > 0.2:
        return "middle right"
    if x < -0.2:
        return "middle left"
    return "top center" if y > 0 else "bottom center"


_ARROW_RGB: Final[str] = "99, 110, 250"
_ITEM_COLOUR: Final[str] = "#EF553B"


def rules_network_figure(rules: RuleSet | pl.DataFrame, *, top: int = 30) -> go.Figure:
    """Network of the strongest rules: items are nodes, rules are arrows, width by lift.

    Items sit evenly on a circle, the items of a rule next to each other, each label beside
    its node on the outside; a rule with one item on each side is an arrow between the two
    items, a rule with several items on a side goes through a small hub dot inside the circle
    (the items of the left side point to it, it points to the items of the right side). Node
    size follows the item's basket count. The legend names the item and hub markers and shows
    the thinnest and thickest arrow with their lift.

    Parameters
    ----------
    rules : RuleSet or pl.DataFrame
        A :class:`RuleSet` or its ``rules`` frame.
    top : int >= 1, default 30
        Number of rules drawn, the highest lift first.

    Returns
    -------
    plotly.graph_objects.Figure
        An empty figure with a note when there is no rule.

    Raises
    ------
    ParameterError
        ``top`` is not a positive integer.
    """
    import plotly.graph_objects as go

    if not is_integer(top) or top < 1:
        raise ParameterError(f"`top` must be a positive integer, got {top!r}")
    frame = (
        _rules_frame(rules)
        .sort(["lift", "confidence", "support"], descending=True, maintain_order=True)
        .head(int(top))
    )
    fig = go.Figure()
    fig.update_layout(
        # room outside the unit circle for the labels
        xaxis={"visible": False, "range": [-2.4, 2.4]},
        yaxis={"visible": False, "scaleanchor": "x", "range": [-1.35, 1.35]},
        showlegend=True,
        legend={"orientation": "h", "x": 0, "y": -0.02, "yanchor": "top"},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        height=620,
        plot_bgcolor="white",
    )
    if frame.height == 0:
        fig.update_layout(title="No rule to draw", showlegend=False)
        return fig
    nodes: dict[str, int] = {}
    size: dict[str, int] = {}
    for row in frame.iter_rows(named=True):
        for side, count in (
            (row["antecedents"], row["antecedent_baskets"]),
            (row["consequents"], row["consequent_baskets"]),
        ):
            for it in side:
                nodes.setdefault(it, len(nodes))
                if len(side) == 1:
                    size[it] = max(size.get(it, 0), count)
                else:
                    size.setdefault(it, 0)
    n_items = len(nodes)
    # (source node, target node, rule index); hubs are numbered after the items.
    arcs: list[tuple[int, int, int]] = []
    hubs: list[int] = []
    for r, row in enumerate(frame.iter_rows(named=True)):
        a, c = row["antecedents"], row["consequents"]
        if len(a) == 1 and len(c) == 1:
            arcs.append((nodes[a[0]], nodes[c[0]], r))
        else:
            hub = n_items + len(hubs)
            hubs.append(r)
            arcs.extend((nodes[x], hub, r) for x in a)
            arcs.extend((hub, nodes[x], r) for x in c)
    lifts = frame.get_column("lift").to_numpy()
    pos, angles = _circle_layout(n_items, arcs, len(hubs))
    lo, hi = float(lifts.min()), float(lifts.max())
    width = 1.5 + 6.5 * ((lifts - lo) / (hi - lo) if hi > lo else np.full_like(lifts, 0.5))
    texts = [
        _rule_text(row["antecedents"], row["consequents"])
        + f"<br>lift {row['lift']:.2f} · confidence {fmt_pct(row['confidence'])}"
        + f" · {fmt_count(row['baskets'])} baskets"
        for row in frame.iter_rows(named=True)
    ]
    # One layout update: add_annotation one by one is quadratic in plotly.
    arrows = [
        {
            "x": float(pos[t, 0]),
            "y": float(pos[t, 1]),
            "ax": float(pos[s, 0]),
            "ay": float(pos[s, 1]),
            "xref": "x",
            "yref": "y",
            "axref": "x",
            "ayref": "y",
            "showarrow": True,
            "arrowhead": 2,
            "arrowsize": 0.8,
            "arrowwidth": float(width[r]),
            "arrowcolor": f"rgba({_ARROW_RGB}, 0.55)",
            "standoff": 14 if t < n_items else 3,
            "startstandoff": 10 if s < n_items else 2,
            "text": "",
        }
        for s, t, r in arcs
    ]
    fig.update_layout(annotations=arrows)
    # Invisible markers at arc midpoints carry each rule's hover text.
    mids = np.array([(pos[s] + pos[t]) / 2 for s, t, _ in arcs])
    fig.add_trace(
        go.Scatter(
            x=mids[:, 0],
            y=mids[:, 1],
            mode="markers",
            marker={"size": 12, "opacity": 0},
            hovertext=[texts[r] for _, _, r in arcs],
            hoverinfo="text",
            name="rules",
            showlegend=False,
        )
    )
    # Legend: the thinnest and the thickest arrow with their lift (annotations have no legend).
    thin, thick = int(np.argmin(width)), int(np.argmax(width))
    for r, what in ((thin, "lowest"), (thick, "highest")):
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="lines",
                line={"width": float(width[r]), "color": f"rgba({_ARROW_RGB}, 0.8)"},
                name=f"rule, arrow from 'if' to 'then' items: {what} lift {lifts[r]:.2f}",
                hoverinfo="skip",
            )
        )
    if hubs:
        fig.add_trace(
            go.Scatter(
                x=pos[n_items:, 0],
                y=pos[n_items:, 1],
                mode="markers",
                marker={"size": 7, "color": f"rgba({_ARROW_RGB}, 0.9)"},
                hovertext=[texts[r] for r in hubs],
                hoverinfo="text",
                name="rule with several items on a side (joins them)",
            )
        )
    names = list(nodes)
    counts = np.array([size[x] for x in names], dtype=float)
    marker_size = 14 + 22 * np.sqrt(counts / counts.max()) if counts.max() > 0 else 18
    fig.add_trace(
        go.Scatter(
            x=pos[:n_items, 0],
            y=pos[:n_items, 1],
            mode="markers+text",
            text=names,
            textposition=[_label_side(a) for a in angles],
            cliponaxis=False,  # a long label may reach past the plot area, never cut
            marker={
                "size": marker_size,
                "color": _ITEM_COLOUR,
                "line": {"width": 1, "color": "white"},
            },
            hovertext=[f"{x}<br>{fmt_count(size[x])} baskets" for x in names],
            hoverinfo="text",
            name="items",
            legendgroup="items",
            showlegend=False,
        )
    )
    fig.add_trace(  # the legend entry of the items: a mid-size marker, saying what size means
        go.Scatter(
            x=[None],
            y=[None],
            mode="markers",
            marker={"size": 14, "color": _ITEM_COLOUR},
            name="item (bigger = in more baskets)",
            legendgroup="items",
            hoverinfo="skip",
        )
    )
    fig.update_layout(title=f"The {frame.height} strongest rules by lift (wider arrow = higher lift)")
    return fig


def rules_scatter_figure(rules: RuleSet | pl.DataFrame, *, max_points: int = 5000) -> go.Figure:
    """Support against confidence of every rule, coloured by lift.

    Parameters
    ----------
    rules : RuleSet or pl.DataFrame
        A :class:`RuleSet` or its ``rules`` frame.
    max_points : int >= 1, default 5000
        Most rules drawn (the highest lift first); the title says when rules were left out.

    Returns
    -------
    plotly.graph_objects.Figure
        An empty figure with a note when there is no rule.

    Raises
    ------
    ParameterError
        ``max_points`` is not a positive integer.
    """
    import plotly.graph_objects as go

    if not is_integer(max_points) or max_points < 1:
        raise ParameterError(f"`max_points` must be a positive integer, got {max_points!r}")
    frame = _rules_frame(rules)
    total = frame.height
    frame = frame.sort("lift", descending=True, maintain_order=True).head(int(max_points))
    fig = go.Figure()
    fig.update_layout(
        xaxis={"title": "support (share of baskets)", "tickformat": ".1%"},
        yaxis={"title": "confidence", "tickformat": ".0%"},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        height=460,
    )
    if total == 0:
        fig.update_layout(title="No rule to draw")
        return fig
    texts = [
        _rule_text(a, c) + f"<br>support {s:.2%} · confidence {q:.0%} · lift {lift:.2f}"
        for a, c, s, q, lift in frame.select(
            "antecedents", "consequents", "support", "confidence", "lift"
        ).iter_rows()
    ]
    trace = go.Scattergl if frame.height > 1000 else go.Scatter
    fig.add_trace(
        trace(
            x=frame.get_column("support").to_numpy(),
            y=frame.get_column("confidence").to_numpy(),
            mode="markers",
            marker={
                "color": frame.get_column("lift").to_numpy(),
                "colorscale": "Viridis",
                "showscale": True,
                "colorbar": {"title": "lift"},
                "size": 8,
                "opacity": 0.8,
            },
            hovertext=texts,
            hoverinfo="text",
        )
    )
    title = f"{total:,} rules: support vs confidence, coloured by lift"
    if frame.height < total:
        title = f"The {frame.height:,} highest-lift of {total:,} rules: support vs confidence"
    fig.update_layout(title=title)
    return fig


# --------------------------------------------------------------------------------------------
# tables for people (the CSV downloads keep RuleSet.table(): machine names, full precision)
# --------------------------------------------------------------------------------------------

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
