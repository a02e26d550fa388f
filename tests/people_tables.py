"""Checks shared by the tests of tables for people (core.fmt.PeopleTable)."""

from __future__ import annotations

import polars as pl

from core.fmt import PeopleTable

BAD_TEXT = ("None", "nan", "NaN", "inf", "null", "")


def assert_readable(table: PeopleTable | pl.DataFrame, kinds=None) -> None:
    """Numbers are numbers (so a grid sorts them as numbers), text has no "None"/"nan" cells,
    column names are words (no machine names with underscores)."""
    frame, kinds = (table.frame, table.kinds) if isinstance(table, PeopleTable) else (table, kinds)
    assert all("_" not in c for c in frame.columns), frame.columns
    for name, dtype in frame.schema.items():
        kind = kinds[name]
        if kind == "text":
            assert dtype == pl.String, (name, dtype)
            assert not frame[name].is_in(BAD_TEXT).any(), (name, frame[name].to_list())
        elif kind == "duration":
            assert isinstance(dtype, pl.Duration), (name, dtype)
        elif kind == "count":
            assert dtype.is_integer(), (name, dtype)
        else:
            assert dtype.is_float(), (name, dtype)
            assert not frame[name].is_nan().any(), name  # a missing value is null, never NaN


def grid_kinds(element) -> dict[str, str]:
    """The column types an ``st.dataframe`` element of an AppTest was sent with
    (``"number"`` or ``"text"`` per column configured by ui.tables.show_table)."""
    import json

    config = json.loads(element.proto.columns or "{}")
    return {name: c["type_config"]["type"] for name, c in config.items()
            if "type_config" in c}  # "_index" only says the index is hidden


def assert_grid_readable(element) -> None:
    """A table shown with ui.tables.show_table: every column configured, number columns
    hold numbers (or durations), text columns no "None"/"nan" cells, nulls shown as a dash."""
    frame = element.value
    kinds = grid_kinds(element)
    assert set(kinds) == set(frame.columns), (kinds, list(frame.columns))
    assert element.proto.placeholder == "–"
    assert not any("_" in str(c) for c in frame.columns), list(frame.columns)
    for name, kind in kinds.items():
        col = frame[name]
        if kind == "number":
            assert col.dtype.kind in "iufm", (name, col.dtype)
        else:
            assert not col.dropna().astype(str).isin(BAD_TEXT).any(), (name, col.tolist())
