"""Files of baskets: one basket per line, order lines, or an event log, recognised unasked.

:func:`read_baskets` (with the format and every row not used, per reason) and
:func:`load_baskets` (the baskets only) read the files people keep baskets in into the
two-column baskets table that :func:`core.rules.mine_rules` also accepts. Column names are
looked up in the one vocabulary, :data:`core.formats.BASKET_SYNONYMS`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from core.errors import LoadError
from core.formats import BASKET_SYNONYMS, normalise_name, pick_column
from core.io import TAOBAO_COLUMNS, open_source, read_raw, read_text
from core.loader import load_events
from core.rules.baskets import (
    _PLACEHOLDER_REASON,
    BASKET_COLUMNS,
    PLACEHOLDER_ITEMS,
    _is_placeholder,
    build_baskets,
)

_ID_NAMES = BASKET_SYNONYMS["basket_id"]
_ITEM_NAMES = BASKET_SYNONYMS["item"]
_CUSTOMER_NAMES = BASKET_SYNONYMS["customer"]
_DATE_NAMES = BASKET_SYNONYMS["date"]
_QUANTITY_NAMES = BASKET_SYNONYMS["quantity"]
_EVENT_NAMES = BASKET_SYNONYMS["event"]


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


def _sniff_delimiter(lines: Sequence[str]) -> str:
    counts = {d: sum(line.count(d) for line in lines) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _looks_like_events(header: Sequence[str]) -> bool:
    return pick_column(header, _EVENT_NAMES) is not None and (
        pick_column(header, _DATE_NAMES) is not None
        or any("time" in normalise_name(h) for h in header)
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
    if pick_column(header, _ITEM_NAMES) is None:
        return False
    return pick_column(header, _ID_NAMES) is not None or (
        pick_column(header, _CUSTOMER_NAMES) is not None
        and pick_column(header, _DATE_NAMES) is not None
    )


def _order_lines_from_frame(frame: pl.DataFrame, name: str, warnings: list[str]) -> BasketLoad:
    if not _is_order_header(frame.columns):
        raise LoadError(
            f"{name!r} has columns {frame.columns} but no order/transaction id and item column "
            "(e.g. order_id + product, InvoiceNo + Description); expected order lines, one "
            "basket per line, or an event log"
        )
    frame = frame.select(pl.all().cast(pl.String))
    id_col = pick_column(frame.columns, _ID_NAMES)
    item_col = pick_column(frame.columns, _ITEM_NAMES)
    assert item_col is not None
    qty_col = pick_column(frame.columns, _QUANTITY_NAMES)
    warn = list(warnings)
    if id_col is not None:
        key = pl.col(id_col).str.strip_chars()
        basket_desc = id_col
    else:
        cust = pick_column(frame.columns, _CUSTOMER_NAMES)
        date = pick_column(frame.columns, _DATE_NAMES)
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
    result = load_events(source)
    report = result.report
    dropped = [(f"loader: {k}", int(v)) for k, v in report.rows_dropped.items() if v]
    baskets, from_events = build_baskets(result.events)
    dropped.extend(from_events)
    return BasketLoad(
        baskets=baskets,
        format="events",
        rows_read=int(report.rows_read),
        rows_dropped=tuple(dropped),
        warnings=tuple(warnings) + tuple(report.warnings),
    )
