"""Scanning an opened input lazily, and collecting it with the encoding fallback and a plain
diagnosis of ragged lines and bad quoting."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import polars as pl

from core.errors import LoadError
from core.io.encoding import _decode
from core.io.raw import _SEPARATOR_NAMES, ROW_COLUMN, RawSource, _first_line


def scan_raw(raw: RawSource, *, row_index: bool = False) -> pl.LazyFrame:
    """A lazy frame of the file's own columns (CSV as text, Parquet/JSON with their types).

    Parameters
    ----------
    raw : RawSource
        From :func:`open_source`.
    row_index : bool, default False
        Add :data:`ROW_COLUMN` (``UInt32``), the 1-based data-row number as a spreadsheet user
        counts rows below the header.

    Returns
    -------
    pl.LazyFrame
        Nested JSON/Parquet structs are flattened into ``parent.child`` columns.
    """
    src: Any = raw.path if raw.data is None else raw.data
    if raw.kind == "csv":
        kwargs: dict[str, Any] = {}
        if raw.column_names is not None:
            kwargs["new_columns"] = list(raw.column_names)
        lf = pl.scan_csv(
            src,
            separator=raw.separator,
            has_header=raw.has_header,
            skip_lines=raw.skip_lines,
            infer_schema=False,
            with_column_names=_clean_names if raw.has_header else None,
            row_index_name=ROW_COLUMN if row_index else None,
            row_index_offset=1,
            raise_if_empty=False,
            **kwargs,
        )
        return lf
    if raw.kind == "parquet":
        lf = pl.scan_parquet(io.BytesIO(src) if isinstance(src, bytes) else src)
    else:
        try:
            if raw.kind == "jsonl":
                df = pl.read_ndjson(src, infer_schema_length=None)
            else:
                df = pl.read_json(src, infer_schema_length=None)
        except Exception as e:  # polars raises several kinds on malformed JSON
            if isinstance(e, pl.exceptions.PolarsError) and _is_utf8_error(e):
                raise  # collect_raw() transcodes and reads again
            raise LoadError(
                f"{raw.name!r} is not valid {'JSON Lines' if raw.kind == 'jsonl' else 'JSON'}: "
                f"{_first_line(e)}",
                code="bad_json",
            ) from None
        lf = df.lazy()
    lf = _flatten(lf)
    if row_index:
        lf = lf.with_row_index(ROW_COLUMN, offset=1)
    return lf


def _clean_names(names: list[str]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for i, n in enumerate(names):
        n = n.strip().lstrip("\ufeff")
        if not n:
            n = f"column_{i + 1}"
        base, k = n, 1
        while n in seen:
            k += 1
            n = f"{base}_{k}"
        seen.add(n)
        out.append(n)
    return out


def _flatten(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Unnest struct columns into ``parent.child`` names; lists of scalars become text."""
    for _ in range(8):  # nesting depth guard
        schema = lf.collect_schema()
        structs = [c for c, t in schema.items() if isinstance(t, pl.Struct)]
        if not structs:
            break
        exprs = []
        for c, t in schema.items():
            if isinstance(t, pl.Struct):
                exprs.extend(
                    pl.col(c).struct.field(f.name).alias(f"{c}.{f.name}") for f in t.fields
                )
            else:
                exprs.append(pl.col(c))
        lf = lf.select(exprs)
    schema = lf.collect_schema()
    fixes = []
    for c, t in schema.items():
        if isinstance(t, (pl.List, pl.Array)):
            inner = t.inner
            if isinstance(inner, (pl.List, pl.Array, pl.Struct)):
                fixes.append(pl.col(c).map_elements(_json_text, return_dtype=pl.String))
            else:
                fixes.append(pl.col(c).cast(pl.List(pl.String)).list.join(", "))
        elif isinstance(t, pl.Struct):
            fixes.append(pl.col(c).struct.json_encode())
        elif t == pl.Object or t == pl.Null:
            fixes.append(pl.col(c).cast(pl.String))
    return lf.with_columns(fixes) if fixes else lf


def _json_text(value: Any) -> str:
    return json.dumps(value.to_list() if hasattr(value, "to_list") else value, default=str)


def collect_raw(
    raw: RawSource,
    build: Callable[[pl.LazyFrame], pl.LazyFrame] = lambda lf: lf,
    *,
    row_index: bool = False,
) -> tuple[pl.DataFrame, RawSource]:
    """Scan ``raw``, apply ``build`` to the lazy frame and collect it.

    A CSV that turns out not to be UTF-8 beyond its first 64 KiB is transcoded and read again
    (with a warning); a CSV line with more fields than the header raises a :class:`LoadError`
    naming the line.

    Parameters
    ----------
    raw : RawSource
        From :func:`open_source`.
    build : callable, optional
        Lazy transformation applied before collecting (projection, casts).
    row_index : bool, default False
        Add :data:`ROW_COLUMN` before ``build``.

    Returns
    -------
    (pl.DataFrame, RawSource)
        The table and the source as finally read (encoding and warnings updated).

    Raises
    ------
    LoadError
        Malformed CSV (ragged lines, bad quoting) or JSON.
    """
    for attempt in range(2):
        try:
            return build(scan_raw(raw, row_index=row_index)).collect(), raw
        except pl.exceptions.PolarsError as e:
            if (
                raw.kind != "parquet"
                and attempt == 0
                and raw.encoding == "utf-8"
                and _is_utf8_error(e)
            ):
                raw = transcode(raw)
                continue
            if raw.kind == "csv" and "more fields" in str(e):
                raise LoadError(_ragged_message(raw), code="ragged_lines") from None
            if raw.kind == "csv" and (quoting := _quoting_problem(e)):
                raise LoadError(
                    f"{raw.name!r} could not be read as {raw.description}: {quoting}",
                    code="bad_quoting",
                ) from None
            if isinstance(e, (pl.exceptions.ComputeError, pl.exceptions.NoDataError)):
                raise LoadError(
                    f"{raw.name!r} could not be read as {raw.description}: {_first_line(e)}",
                    code="malformed",
                ) from None
            raise
    raise AssertionError("unreachable")


def transcode(raw: RawSource) -> RawSource:
    """Re-read a CSV whose bytes turned out not to be UTF-8 past the sniffed head."""
    data = raw.data if raw.data is not None else raw.path.read_bytes()  # type: ignore[union-attr]
    text, encoding, warnings = _decode(data, name=raw.name, full_check=True)
    utf8 = data if encoding == "utf-8" else text.encode("utf-8")
    return replace(
        raw, data=utf8, path=None, encoding=encoding, warnings=raw.warnings + tuple(warnings)
    )


def _is_utf8_error(e: BaseException) -> bool:
    return "utf-8" in str(e).lower() or "utf8" in str(e).lower()


def _quoting_problem(e: BaseException) -> str | None:
    """A plain explanation when the CSV reader failed on unbalanced double quotes."""
    m = re.search(r"could not parse `(.*?)` as dtype .*? at column '(.*?)'", str(e), re.S)
    if not m or '"' not in m.group(1):
        return None
    value = m.group(1)
    shown = value if len(value) <= 60 else value[:57] + "..."
    return (
        f"a value of column {m.group(2)!r} has unbalanced double quotes ({shown!r}); a quoted "
        'value must end with a quote, and a quote inside it must be doubled ("")'
    )


def _ragged_message(raw: RawSource) -> str:
    data = raw.data if raw.data is not None else raw.path.read_bytes()  # type: ignore[union-attr]
    text = data.decode("utf-8", errors="replace")
    reader = csv.reader(io.StringIO(text), delimiter=raw.separator)
    try:
        return _first_ragged_line(raw, reader)
    except csv.Error:  # a field beyond the csv module's size limit, a NUL byte...
        return f"{raw.name!r} has lines with more fields than its header"


def _first_ragged_line(raw: RawSource, reader: Any) -> str:
    width = None
    for lineno, row in enumerate(reader, start=1):
        if lineno <= raw.skip_lines or not row:
            continue
        if width is None:
            width = len(raw.column_names) if raw.column_names else len(row)
            if raw.has_header:
                continue
        if len(row) > width:
            return (
                f"line {reader.line_num} of {raw.name!r} has {len(row)} fields but the header "
                f"has {width} ({_SEPARATOR_NAMES.get(raw.separator, raw.separator)}-separated): "
                f"{row[:8]}; quote values that contain the separator"
            )
    return f"{raw.name!r} has lines with more fields than its header"
