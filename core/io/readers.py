"""Readers for callers that want a whole file at once: its column names, its table, its text."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from core.errors import LoadError
from core.io.expand import _cap
from core.io.raw import Source, _first_line
from core.io.scan import _is_utf8_error, collect_raw, scan_raw, transcode
from core.io.sources import _open_bytes, _read_source_bytes, _source_name, open_source


def read_columns(source: Source, *, max_expanded_bytes: int | None = None) -> list[str]:
    """The column names of a file, reading only its head where the format allows (CSV,
    Parquet); the names :func:`read_raw` and :func:`core.load_events` will see.

    Parameters
    ----------
    source : str, Path, bytes or binary file-like
    max_expanded_bytes : int, optional
        Cap on decompressed bytes (see :func:`open_source`).

    Returns
    -------
    list of str

    Raises
    ------
    LoadError
        Missing, empty, binary or malformed file, or too large an expansion.
    """
    raw = open_source(source, max_expanded_bytes=max_expanded_bytes)
    try:
        return scan_raw(raw).collect_schema().names()
    except pl.exceptions.PolarsError as e:
        if raw.kind != "parquet" and _is_utf8_error(e):
            return scan_raw(transcode(raw)).collect_schema().names()
        raise LoadError(
            f"{raw.name!r} could not be read as {raw.description}: {_first_line(e)}",
            code="malformed",
        ) from None


def read_raw(
    source: Source, *, max_expanded_bytes: int | None = None
) -> tuple[pl.DataFrame, list[str]]:
    """Read a CSV, Parquet or JSON (Lines) file into a table of its own columns.

    Parameters
    ----------
    source : str, Path, bytes or binary file-like
        A path or an uploaded file; compression and format are recognised by content.
    max_expanded_bytes : int, optional
        Cap on decompressed bytes (see :func:`open_source`).

    Returns
    -------
    (pl.DataFrame, list of str)
        The table (CSV columns as ``String``; Parquet and JSON with their own types, nested
        fields flattened to ``parent.child``) and the warnings about what was assumed, e.g.
        a Latin-1 fallback.

    Raises
    ------
    LoadError
        Missing, empty, binary or malformed file.

    Examples
    --------
    >>> df, warnings = read_raw("orders.csv.gz")  # doctest: +SKIP
    """
    raw = open_source(source, max_expanded_bytes=max_expanded_bytes)
    df, raw = collect_raw(raw)
    return df, list(raw.warnings)


def read_text(
    source: Source, *, max_expanded_bytes: int | None = None
) -> tuple[str, str, list[str]]:
    """The decoded text of a text file (decompressed; encodings as in :func:`read_raw`).

    For inputs that are not tables, such as a file of one basket per line.

    Parameters
    ----------
    source : str, Path, bytes or binary file-like
    max_expanded_bytes : int, optional
        Cap on decompressed bytes (see :func:`open_source`).

    Returns
    -------
    (str, str, list of str)
        The text, the file name and the warnings.

    Raises
    ------
    LoadError
        Missing, empty or binary file, or a Parquet file.
    """
    cap = _cap(max_expanded_bytes)
    name = _source_name(source)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise LoadError(f"file not found: {str(path)!r}", code="not_found")
        data = path.read_bytes()
    else:
        data = _read_source_bytes(source)
    raw = _open_bytes(data, name=name, compression=None, warnings=(), sniff=False, cap=cap)
    if raw.kind == "parquet":
        raise LoadError(f"{name!r} is a Parquet file, not text", code="not_text")
    assert raw.data is not None
    text = raw.data.decode("utf-8")
    return text.lstrip("\ufeff"), raw.name, list(raw.warnings)
