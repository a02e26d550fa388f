"""Column values as the single pass reads them: stripped text, ids, numbers.

Each helper builds a Polars expression for one source column, shaped by how that column's first
rows look (padding, ids written as floats, a currency sign or a decimal comma), so the pass over
the file cleans only what needs it.
"""

from __future__ import annotations

from typing import Final

import polars as pl

#: Distinct values (or rows) looked at to decide how a column is read.
_SAMPLE: Final = 2000  # distinct values used to recognise a timestamp format
_NUMBER_RE: Final = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_EURO: Final = r"^-?\d{1,3}(\.\d{3})*,\d+$|^-?\d+,\d+$"
_THOUSANDS: Final = r"^-?\d{1,3}(,\d{3})+(\.\d+)?$"


def _text(e: pl.Expr) -> pl.Expr:
    """Stripped text, blank -> null."""
    return e.cast(pl.String).str.strip_chars().replace("", None)


def _padded(head: pl.Series) -> bool:
    """Whether text values carry surrounding whitespace or are blank, judged on the head."""
    if head.dtype != pl.String:
        return False
    values = head.drop_nulls()
    return bool(values.len()) and bool(values.str.contains(r"^\s|\s$|^$").any())


def _float_suffix(head: pl.Series) -> bool:
    """Whether an id column is written as floats (``17850.0``), judged on its first rows."""
    if head.dtype.is_float():
        return True
    if head.dtype != pl.String:
        return False
    v = head.drop_nulls().str.strip_chars()
    v = v.filter(v != "")
    return bool(v.len()) and bool(v.str.contains(r"^-?\d+\.0$").all())


def _id_expr(e: pl.Expr, head: pl.Series) -> pl.Expr:
    """Ids as text; ``17850.0`` -> ``17850`` when the column is written as floats.

    ``e`` is already cleaned text (:func:`_text`) when the source is text.
    """
    if head.dtype.is_float():
        # whole floats become integers, others keep their decimal text
        return (
            pl.when(e == e.round(0))
            .then(e.cast(pl.Int64, strict=False).cast(pl.String))
            .otherwise(e.cast(pl.String))
        )
    t = e.cast(pl.String)
    if _float_suffix(head):
        return pl.when(t.str.contains(r"^-?\d+\.0$")).then(t.str.strip_suffix(".0")).otherwise(t)
    return t


def _needs_cleaning(head: pl.Series) -> bool:
    if head.dtype != pl.String:
        return False
    v = head.drop_nulls().str.strip_chars()
    v = v.filter(v != "")
    return bool(v.len()) and not bool(v.str.contains(_NUMBER_RE).all())


def _number_expr(e: pl.Expr, head: pl.Series) -> pl.Expr:
    """Float64 from numbers or text; text may carry a currency sign, a decimal comma
    (``3,50``, ``1.234,50``) or thousands commas (``1,234.50``) when its first rows do.
    ``e`` is already cleaned text when the source is text."""
    if head.dtype.is_numeric():
        return e.cast(pl.Float64)
    t = e
    if not _needs_cleaning(head):
        return t.cast(pl.Float64, strict=False)
    c = t.str.replace_all(r"[^\d,.\-]", "")
    cleaned = (
        pl.when(c.str.contains(_EURO))
        .then(c.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True))
        .when(c.str.contains(_THOUSANDS))
        .then(c.str.replace_all(",", "", literal=True))
        .otherwise(c)
    )
    return t.cast(pl.Float64, strict=False).fill_null(cleaned.cast(pl.Float64, strict=False))
