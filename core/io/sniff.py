"""Telling CSV from JSON and sniffing a CSV's separator and header from its first lines.

Taobao's UserBehavior.csv ships without a header row; its rows are recognised by their values
and given :data:`TAOBAO_COLUMNS`. Any other first row that looks like data is refused.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Final

from core.errors import LoadError
from core.io.encoding import _looks_binary
from core.io.raw import RawSource

_SEPARATORS: Final = (",", ";", "\t", "|")

#: Taobao UserBehavior.csv ships without a header row; its rows are recognised by their values.
TAOBAO_COLUMNS: Final = ("user_id", "item_id", "category_id", "behavior_type", "timestamp")
_TAOBAO_BEHAVIOURS: Final = {"pv", "buy", "cart", "fav"}
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_DATE_LIKE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}.*)?$")


def _head_lines(head: bytes, *, whole: bool, limit: int = 64) -> list[str]:
    text = head.decode("utf-8", errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.splitlines()
    if not whole and len(lines) > 1:
        lines = lines[:-1]  # possibly cut in the middle
    return [ln for ln in lines if ln.strip()][:limit]


def _sniff_csv_or_json(
    head: bytes, *, name: str, path: Path | None, data: bytes | None, whole: bool
) -> RawSource:
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    low = name.lower()
    if stripped[:1] == b"[" and low.endswith(".json") or stripped[:2] in (b"[{", b"[\n"):
        return RawSource(name=name, kind="json", data=data, path=path)
    if stripped[:1] == b"{":
        return RawSource(name=name, kind="jsonl", data=data, path=path)
    lines = _head_lines(head, whole=whole)
    if not lines:
        raise LoadError(
            f"{name!r} is empty (only blank lines): there is nothing to load", code="empty_file"
        )
    if _looks_binary("\n".join(lines)):
        raise LoadError(
            f"{name!r} is a binary file, not a text export; upload CSV, Parquet or JSON Lines",
            code="binary_file",
        )
    skip = 0
    forced = re.fullmatch(r'"?sep=(.)"?,*', lines[0].strip())
    if forced:  # Excel's "sep=;" first line
        skip, lines = 1, lines[1:]
        if not lines:
            raise LoadError(f"{name!r} has no header row after its 'sep=' line", code="empty_file")
    separator = forced.group(1) if forced else _sniff_separator(lines)
    header = next(csv.reader([lines[0]], delimiter=separator))
    header = [h.strip() for h in header]
    warnings: list[str] = []
    column_names: tuple[str, ...] | None = None
    has_header = True
    if _is_taobao_row(header):
        has_header, column_names = False, TAOBAO_COLUMNS
        warnings.append(
            f"{name!r} has no header row; its rows look like Taobao UserBehavior "
            f"(user, item, category, behaviour, Unix time), so the columns were "
            f"named {list(TAOBAO_COLUMNS)}"
        )
    elif _looks_like_data_row(header):
        raise LoadError(
            f"the first row of {name!r} looks like data, not column names: {header[:6]}; add a "
            "header row naming the columns (for example user_id,timestamp,event)",
            code="no_header",
        )
    return RawSource(
        name=name,
        kind="csv",
        data=data,
        path=path,
        separator=separator,
        has_header=has_header,
        column_names=column_names,
        skip_lines=skip,
        warnings=tuple(warnings),
    )


def _sniff_separator(lines: list[str]) -> str:
    """The separator giving the most columns, consistently across the first lines."""
    best, best_score = ",", (False, 1, 0.0)
    for sep in _SEPARATORS:
        try:
            rows = list(csv.reader(lines, delimiter=sep))
        except csv.Error:
            continue
        counts = [len(r) for r in rows if r]
        if not counts:
            continue
        width = counts[0]
        agree = sum(c == width for c in counts) / len(counts)
        score = (width > 1 and agree >= 0.9, width, agree)
        if score > best_score:
            best, best_score = sep, score
    return best


def _is_taobao_row(fields: list[str]) -> bool:
    return (
        len(fields) == 5
        and fields[3].lower() in _TAOBAO_BEHAVIOURS
        and all(f.isdigit() for i, f in enumerate(fields) if i != 3)
    )


def _looks_like_data_row(fields: list[str]) -> bool:
    if len(fields) < 2:
        return False
    if any(_DATE_LIKE.match(f) for f in fields):
        return True  # a column name is never a date
    return sum(bool(_NUMBER.match(f)) for f in fields) * 2 > len(fields)
