"""The canonical event table: the one schema every analysis in PathLens reads.

Every loader output, every stored dataset and every ``core`` function speaks this schema.

Columns (in this order, then any extra properties of the export):

============== ===================== ==================================================
column         dtype                 meaning
============== ===================== ==================================================
``user_id``    ``String``            who did it (required, never null)
``session_id`` ``String``            the visit; built from a 30-minute inactivity gap
                                     when the export has none (never null)
``ts``         ``Datetime(us, UTC)`` when (required, never null)
``event``      ``String``            the raw event name exactly as exported
``event_type`` ``String``            the canonical e-commerce step, one of
                                     :data:`EVENT_TYPES` (GA4's e-commerce vocabulary)
``product_id`` ``String``            product / item / SKU, null when not applicable
``category``   ``String``            product category, null when unknown
``brand``      ``String``            product brand, null when unknown
``price``      ``Float64``           unit price, null when unknown
``quantity``   ``Int64``             units, null when unknown
``order_id``   ``String``            order / transaction / invoice id, null when unknown
============== ===================== ==================================================

Every other input column (device, country, channel, ...) is kept after these, with its own
dtype, as a *property* usable in filters and breakdowns. Missing optional columns are null,
never invented.

Row order: :func:`core.load_events` returns the rows in the file's order (sorting a 10M-row
export would cost as much as reading it, issue 14); stored datasets
(:meth:`core.store.DatasetStore.put`) are sorted by ``user_id`` then ``ts`` (then the original
row order), once, when they are saved. No computation may rely on either order for its
answer: the per-user engines group rows by entity themselves (``core._grouping``), taking the
sorted fast path when the rows already are grouped, and give the same results on any order
(ties in time keep the row order in both). Everything per user or per session stays
partitionable by user.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from core.errors import SchemaError

#: Canonical e-commerce steps, in funnel order (GA4's e-commerce event names) plus ``other``.
EVENT_TYPES: Final[tuple[str, ...]] = (
    "page_view",
    "search",
    "view_item",
    "add_to_wishlist",
    "add_to_cart",
    "remove_from_cart",
    "begin_checkout",
    "purchase",
    "other",
)

#: The default purchase funnel, built from the canonical steps present in a dataset.
DEFAULT_FUNNEL: Final[tuple[str, ...]] = ("view_item", "add_to_cart", "begin_checkout", "purchase")

UTC_US: Final = pl.Datetime("us", "UTC")

#: The canonical columns and their dtypes, in order.
CANONICAL_SCHEMA: Final[dict[str, pl.DataType]] = {
    "user_id": pl.String(),
    "session_id": pl.String(),
    "ts": UTC_US,
    "event": pl.String(),
    "event_type": pl.String(),
    "product_id": pl.String(),
    "category": pl.String(),
    "brand": pl.String(),
    "price": pl.Float64(),
    "quantity": pl.Int64(),
    "order_id": pl.String(),
}

CANONICAL_COLUMNS: Final[tuple[str, ...]] = tuple(CANONICAL_SCHEMA)
REQUIRED_COLUMNS: Final[tuple[str, ...]] = ("user_id", "session_id", "ts", "event", "event_type")
OPTIONAL_COLUMNS: Final[tuple[str, ...]] = tuple(
    c for c in CANONICAL_COLUMNS if c not in REQUIRED_COLUMNS
)


def empty_events(extra: dict[str, pl.DataType] | None = None) -> pl.DataFrame:
    """Return an empty canonical event table.

    Parameters
    ----------
    extra : dict, optional
        Extra property columns and their dtypes, appended after the canonical ones.

    Returns
    -------
    pl.DataFrame
        Zero rows, canonical schema.
    """
    schema = dict(CANONICAL_SCHEMA)
    schema.update(extra or {})
    return pl.DataFrame(schema=schema)


def property_columns(schema: pl.Schema | dict[str, pl.DataType]) -> list[str]:
    """Names of the non-canonical (property) columns of a table, in table order."""
    return [c for c in schema if c not in CANONICAL_SCHEMA]


def conform(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame | pl.LazyFrame:
    """Cast and order a frame's columns to the canonical schema.

    Canonical columns that are missing are added as nulls; extra columns are kept after the
    canonical ones. ``event_type`` values outside :data:`EVENT_TYPES` become ``"other"``.

    Parameters
    ----------
    frame : pl.DataFrame or pl.LazyFrame
        A table holding at least ``user_id``, ``ts`` and ``event``.

    Returns
    -------
    pl.DataFrame or pl.LazyFrame
        Same kind as the input, canonical column order and dtypes.
    """
    names = frame.collect_schema().names()
    exprs = []
    for col, dtype in CANONICAL_SCHEMA.items():
        if col in names:
            exprs.append(pl.col(col).cast(dtype, strict=False))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(col))
    extras = [c for c in names if c not in CANONICAL_SCHEMA]
    out = frame.select(*exprs, *extras)
    if (
        isinstance(out, pl.DataFrame)
        and out["event_type"].null_count() == 0
        and out["event_type"].unique().is_in(EVENT_TYPES).all()
    ):  # (the loader's are): checking the few distinct values beats rewriting every row
        return out
    return out.with_columns(
        pl.when(pl.col("event_type").is_in(EVENT_TYPES))
        .then(pl.col("event_type"))
        .otherwise(pl.lit("other"))
        .alias("event_type")
    )


def check_events(frame: pl.DataFrame | pl.LazyFrame) -> None:
    """Raise :class:`core.errors.SchemaError` unless ``frame`` has the canonical columns.

    Parameters
    ----------
    frame : pl.DataFrame or pl.LazyFrame
        The table to check.

    Raises
    ------
    SchemaError
        Names the missing columns and those that are present.
    """
    names = frame.collect_schema().names()
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise SchemaError(
            f"events table is missing required column(s) {missing}; found {names}. "
            "Load exports with core.load_events to get the canonical table."
        )
