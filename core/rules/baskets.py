"""Baskets from events: which items went together, with every row left out counted.

A *basket* is a set of items bought (or carted, or viewed) together: an order, a session or a
user's whole history (:data:`core.rules.params.BASKET_KINDS`). :func:`build_baskets` turns the
canonical event table, or a table that already holds baskets (``basket_id``, ``item``), into
distinct ``(basket_id, item)`` rows and says per reason which rows it did not use.

Scale-out: a basket's rows are all keyed by its id, so partitions that hold whole baskets (for
example hash-partitioned by user) give their baskets independently; the counts of rows not used
add up.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import polars as pl

from core.errors import SchemaError
from core.rules.params import RulesParams

#: Item values that mean "no item" in exports (compared trimmed and lower-cased).
PLACEHOLDER_ITEMS: Final[frozenset[str]] = frozenset({"", "none", "-", "nan", "null", "n/a"})

_PLACEHOLDER_REASON: Final[str] = (
    "placeholder item (empty, '-', NONE, NaN, NULL or N/A) treated as missing"
)

BASKET_COLUMNS: Final[dict[str, pl.DataType]] = {"basket_id": pl.String(), "item": pl.String()}


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
        As in :class:`~core.rules.params.RulesParams` (ignored for a baskets table).

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
        return _from_baskets_table(lf)
    _require_events(names)
    return _from_events(lf, names, RulesParams(basket=basket, item=item, source_event=source_event))


def baskets_for(
    data: pl.DataFrame | pl.LazyFrame, params: RulesParams
) -> tuple[pl.DataFrame, tuple[tuple[str, int], ...]]:
    """:func:`build_baskets` with the basket, item and source event of ``params``."""
    lf = data.lazy()
    names = lf.collect_schema().names()
    if _is_baskets_table(names):
        return _from_baskets_table(lf)
    _require_events(names)
    return _from_events(lf, names, params)


def _require_events(names: Sequence[str]) -> None:
    if "event_type" not in names:
        raise SchemaError(
            "mine_rules needs the canonical event table (with `event_type`) or a baskets table "
            f"with `basket_id` and `item` columns; found columns {names}"
        )


def _from_baskets_table(lf: pl.LazyFrame) -> tuple[pl.DataFrame, tuple[tuple[str, int], ...]]:
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


def _basket_key(basket: str, names: Sequence[str]) -> pl.Expr:
    """The basket id of an event, for ``basket`` in :data:`BASKET_KINDS`."""
    needed = {"user_id", "session_id"} | ({"order_id"} if basket == "order_id" else set())
    missing = sorted(c for c in needed if c not in names)
    if missing:
        raise SchemaError(f"basket={basket!r} needs column(s) {missing}; found columns {names}")
    if basket == "order_id":
        # The order id when there is one, else the session: "purchase events of one session".
        return (
            pl.when(pl.col("order_id").is_not_null())
            .then(pl.lit("order ") + pl.col("order_id").cast(pl.String))
            .otherwise(
                pl.lit("session ")
                + pl.col("user_id").cast(pl.String)
                + pl.lit("/")
                + pl.col("session_id").cast(pl.String)
            )
        )
    if basket == "session_id":
        # Session ids need not be unique across users; the user makes them so.
        user, session = pl.col("user_id").cast(pl.String), pl.col("session_id").cast(pl.String)
        return user + pl.lit("/") + session
    return pl.col("user_id").cast(pl.String)


def _from_events(
    lf: pl.LazyFrame, names: Sequence[str], params: RulesParams
) -> tuple[pl.DataFrame, tuple[tuple[str, int], ...]]:
    basket, source_event = params.basket, params.source_event
    item = _column_any_case(params.item, names)
    if item not in names:
        raise SchemaError(f"`item` column {item!r} is not in the data; available columns: {names}")
    key = _basket_key(basket, names)
    placeholder = _is_placeholder(pl.col(item))
    is_source = pl.col("event_type") == source_event
    chosen = lf.filter(is_source & ~placeholder.fill_null(False))
    # one pass over the source for both (collect_all shares the scan)
    stats, kept = pl.collect_all(
        [
            lf.select(
                pl.len().alias("rows"),
                (pl.col("event_type") != source_event).fill_null(True).sum().alias("other"),
                (is_source & key.is_null()).sum().alias("no_basket"),
                (is_source & key.is_not_null() & pl.col(item).is_null()).sum().alias("no_item"),
                (is_source & key.is_not_null() & placeholder).sum().alias("placeholder"),
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
