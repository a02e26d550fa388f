"""Safe exports: CSV downloads that a spreadsheet will not execute."""

from __future__ import annotations

import csv
import io

import polars as pl

#: Leading characters that make Excel, LibreOffice and Google Sheets evaluate a cell as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Prefix text cells that a spreadsheet would run as a formula with a single quote.

    Only text columns are touched (a negative number stays a number); nested list columns are
    joined into text first so they survive CSV.

    Parameters
    ----------
    frame : pl.DataFrame
        Any table.

    Returns
    -------
    pl.DataFrame
        Same shape; text cells starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return
        start with ``'`` instead (OWASP's recommendation for CSV injection).
    """
    exprs = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.List):
            col = col.cast(pl.List(pl.String)).list.join(", ")
            dtype = pl.String()
        if dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum)):
            c = col.cast(pl.String)
            risky = pl.any_horizontal([c.str.starts_with(p) for p in FORMULA_PREFIXES])
            exprs.append(pl.when(risky).then(pl.lit("'") + c).otherwise(c).alias(name))
        elif isinstance(dtype, (pl.Struct, pl.Object)):
            exprs.append(col.cast(pl.String, strict=False).alias(name))
        else:
            exprs.append(col.alias(name))
    return frame.select(exprs)


def neutralise_text(value: str) -> str:
    """One text value as :func:`neutralise_formulas` writes a cell: ``'`` before a formula."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def to_safe_csv(frame: pl.DataFrame) -> bytes:
    """CSV bytes (UTF-8 with BOM, so Excel reads accents) of :func:`neutralise_formulas`.

    The header row is neutralised like the cells (a column may be named after user data, e.g. a
    property or a breakdown value). It is written separately so that two columns whose names
    differ only by the added quote stay two columns.
    """
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow([neutralise_text(c) for c in frame.columns])
    body = neutralise_formulas(frame).write_csv(include_header=False)
    return b"\xef\xbb\xbf" + (header.getvalue() + body).encode("utf-8")
