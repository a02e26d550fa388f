"""Showing a table for people: the kinds of :class:`core.fmt.PeopleTable` become the grid's
column formats, so numbers sort as numbers and read as people expect (``12.3%``, ``+3.1 pp``,
``3 hr, 12 min``); a missing value shows as an en dash."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl
import streamlit as st

from core.errors import ParameterError
from core.fmt import COLUMN_KINDS, MISSING, PeopleTable

#: The NumberColumn format of each numeric kind (Streamlit 1.67: printf-style via sprintf-js,
#: or a preset). ``duration`` columns hold ``Duration`` values; "localized" shows them with the
#: browser's Intl.DurationFormat ("3 hr, 12 min", "47 sec", "250 ms") and sorts them as
#: numbers.
NUMBER_FORMATS: dict[str, str] = {
    "count": "localized",
    "number": "localized",
    "decimal": "%.3f",
    "ratio": "%.2f",
    "times": "%.2f×",
    "percent": "percent",
    "pp": "%+.1f pp",
    "money": "%,.2f",
    "pvalue": "%.3g",
    "duration": "localized",
}


def column_config(kinds: Mapping[str, str]) -> dict[str, Any]:
    """``st.dataframe``'s ``column_config`` for columns of these kinds.

    Raises
    ------
    ParameterError
        A kind that is not one of :data:`core.fmt.COLUMN_KINDS`.
    """
    config: dict[str, Any] = {}
    for name, kind in kinds.items():
        if kind == "text":
            config[name] = st.column_config.TextColumn(name)
        elif kind in NUMBER_FORMATS:
            config[name] = st.column_config.NumberColumn(name, format=NUMBER_FORMATS[kind])
        else:
            raise ParameterError(f"the kind of column {name!r} must be one of "
                                 f"{', '.join(COLUMN_KINDS)}, got {kind!r}")
    return config


def show_table(table: PeopleTable | pl.DataFrame, kinds: Mapping[str, str] | None = None, *,
               key: str | None = None, where: Any = None) -> None:
    """Show a table for people in a sortable grid (index hidden, nulls as an en dash).

    Parameters
    ----------
    table : PeopleTable or pl.DataFrame
        A :class:`PeopleTable`, or a frame together with ``kinds``.
    kinds : Mapping[str, ColumnKind], optional
        How each column reads (required with a plain frame; a PeopleTable brings its own).
    key : str, optional
        The element key.
    where : optional
        The container to draw in (a tab, a column); ``st`` by default.
    """
    if isinstance(table, PeopleTable):
        frame, kinds = table.frame, kinds or table.kinds
    else:
        frame, kinds = table, kinds or {}
        PeopleTable(frame, dict(kinds))  # checks every column has a kind that fits its type
    (where or st).dataframe(frame, hide_index=True, column_config=column_config(kinds),
                            placeholder=MISSING, key=key)
