"""Numbers for people: percentages, durations, p-values, counts and money as short text.

Every table and figure of the Funnels and Overview pages formats through these functions, so a
number reads the same everywhere. Missing values (``None``, NaN) render as an en dash, never as
``"None"`` or ``"nan"``.

Tables for people (:class:`PeopleTable`) keep their numbers as numbers, so a grid sorts them
as numbers: readable column names, values in plain units (shares as fractions, counts as
integers, durations as ``Duration``) and, per column, a :data:`ColumnKind` that says how the
column reads (the UI turns the kinds into the grid's number formats).

Also here: the deterministic colour of a breakdown value (the same value has the same colour in
every view and every run) and the time grain chosen from a data span.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Final, Literal, get_args

import polars as pl

from core.errors import ParameterError

#: What a missing value looks like in a table or a label.
MISSING: Final[str] = "–"

#: Qualitative palette (Plotly's default, colour-blind friendly enough for ten values).
PALETTE: Final[tuple[str, ...]] = (
    "#636efa",
    "#ef553b",
    "#00cc96",
    "#ab63fa",
    "#ffa15a",
    "#19d3f3",
    "#ff6692",
    "#b6e880",
    "#ff97ff",
    "#fecb52",
)

#: Time grains, finest first, with their length.
GRAINS: Final[dict[str, timedelta]] = {
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(weeks=1),
}


def _missing(x: object) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def fmt_pct(x: float | None, *, digits: int = 1, signed: bool = False) -> str:
    """A fraction as a percentage: ``0.1234 -> "12.3%"``.

    Parameters
    ----------
    x : float or None
        A fraction (0.5 is 50%).
    digits : int
        Decimals shown.
    signed : bool
        Prefix ``+`` to positive values (differences).

    Examples
    --------
    >>> fmt_pct(0.1234), fmt_pct(None), fmt_pct(0.05, signed=True)
    ('12.3%', '–', '+5.0%')
    """
    if _missing(x):
        return MISSING
    text = f"{100 * float(x):.{digits}f}%"  # type: ignore[arg-type]
    return f"+{text}" if signed and float(x) > 0 else text  # type: ignore[arg-type]


def fmt_pp(x: float | None, *, digits: int = 1) -> str:
    """A difference of two fractions in percentage points, signed: ``0.031 -> "+3.1 pp"``."""
    if _missing(x):
        return MISSING
    v = 100 * float(x)  # type: ignore[arg-type]
    return f"{'+' if v > 0 else ''}{v:.{digits}f} pp"


def fmt_duration(seconds: float | None) -> str:
    """A duration in its two largest units: ``"47 s"``, ``"12 min 5 s"``, ``"3 h 12 min"``,
    ``"2 d 4 h"``; below one second ``"0.25 s"``.

    Examples
    --------
    >>> [fmt_duration(s) for s in (47, 725, 11_520, 187_200, 0.25, None)]
    ['47 s', '12 min 5 s', '3 h 12 min', '2 d 4 h', '0.25 s', '–']
    """
    if _missing(seconds):
        return MISSING
    s = float(seconds)  # type: ignore[arg-type]
    if s < 0:
        return "-" + fmt_duration(-s)
    if s < 1 and s != 0:
        return f"{s:.2f} s"
    total = int(round(s))
    if total < 60:
        return f"{total} s"
    m, sec = divmod(total, 60)
    if m < 60:
        return f"{m} min {sec} s" if sec else f"{m} min"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(h, 24)
    return f"{d} d {h} h" if h else f"{d} d"


def fmt_pvalue(p: float | None) -> str:
    """A p-value: ``"< 0.001"`` below 0.001, else three decimals (``"0.042"``, ``"1.000"``).

    Examples
    --------
    >>> fmt_pvalue(0.0000123), fmt_pvalue(0.04217), fmt_pvalue(None)
    ('< 0.001', '0.042', '–')
    """
    if _missing(p):
        return MISSING
    v = float(p)  # type: ignore[arg-type]
    return "< 0.001" if v < 0.001 else f"{v:.3f}"


def fmt_count(n: float | None) -> str:
    """A count with thousands separators: ``12345 -> "12,345"``."""
    if _missing(n):
        return MISSING
    return f"{int(round(float(n))):,}"  # type: ignore[arg-type]


def fmt_money(x: float | None, currency: str | None = None) -> str:
    """An amount with two decimals and, when known, its currency code: ``"1,234.50 EUR"``."""
    if _missing(x):
        return MISSING
    text = f"{float(x):,.2f}"  # type: ignore[arg-type]
    return f"{text} {currency}" if currency else text


def color_for(value: object, palette: tuple[str, ...] = PALETTE) -> str:
    """The colour of a breakdown value: a hash of its text, so the same value has the same colour
    in every chart, view and run, whatever the other values are.

    Examples
    --------
    >>> color_for("mobile") == color_for("mobile")
    True
    """
    text = "(none)" if value is None else str(value)
    return palette[zlib.crc32(text.encode()) % len(palette)]


def grain_for_span(span: timedelta | None, *, max_points: int = 120) -> str:
    """The time grain that gives a readable number of periods over ``span``.

    ``"hour"`` up to two days of data, ``"day"`` up to ``max_points`` days, else ``"week"``.

    Examples
    --------
    >>> grain_for_span(timedelta(hours=3)), grain_for_span(timedelta(days=90))
    ('hour', 'day')
    """
    if span is None or span <= timedelta(days=2):
        return "hour"
    if span <= timedelta(days=max_points):
        return "day"
    return "week"


_NOUNS: Final[dict[str, str]] = {
    "user_id": "users",
    "session_id": "sessions",
    "order_id": "orders",
    "product_id": "products",
}


def entity_noun(count_by: str) -> str:
    """What a funnel counts, in words: ``"user_id" -> "users"``, ``"device" -> "device values"``."""
    return _NOUNS.get(count_by, f"{count_by} values")


def count_axis(top: float) -> dict:
    """Plotly axis settings for counts: whole numbers only (small ranges tick by one), so an
    axis never reads ``5,066.5`` users."""
    axis: dict = {"tickformat": ",d", "rangemode": "tozero"}
    if top <= 10:
        axis |= {"tick0": 0, "dtick": 1}
    return axis


# --------------------------------------------------------------------------------------------
# tables for people: numbers stay numbers, each column says how it reads
# --------------------------------------------------------------------------------------------

#: How a column of a table for people reads. ``text``: words (a null shows as an en dash);
#: ``count``: a whole number with thousands separators; ``number``: up to three decimals;
#: ``decimal``: three decimals (model scores); ``ratio``: two decimals (lift, conviction);
#: ``times``: two decimals and ``×`` (2.10× the average); ``percent``: a fraction shown as a
#: percentage; ``pp``: a difference of fractions held in percentage points (+3.1 pp);
#: ``money``: two decimals with separators; ``pvalue``: three significant digits;
#: ``duration``: a ``Duration`` rounded to its two largest units (3 h 12 min).
ColumnKind = Literal["text", "count", "number", "decimal", "ratio", "times", "percent", "pp",
                     "money", "pvalue", "duration"]

#: Every :data:`ColumnKind`.
COLUMN_KINDS: Final[tuple[str, ...]] = get_args(ColumnKind)

_DTYPE_OF_KIND: Final[dict[str, pl.DataType]] = {
    "text": pl.String(), "count": pl.Int64(), "duration": pl.Duration("ms"),
    **{k: pl.Float64() for k in ("number", "decimal", "ratio", "times", "percent", "pp", "money",
                                 "pvalue")},
}


def round_duration(seconds: float | None) -> timedelta | None:
    """``seconds`` cut to what :func:`fmt_duration` shows (its two largest units; milliseconds
    below a second), as a ``timedelta``; ``None`` for a missing value.

    The cut is monotone, so a column of these durations sorts as the exact ones do.

    Examples
    --------
    >>> round_duration(11_545), round_duration(0.25), round_duration(None)
    (datetime.timedelta(seconds=11520), datetime.timedelta(microseconds=250000), None)
    """
    if _missing(seconds):
        return None
    s = float(seconds)  # type: ignore[arg-type]
    if s < 0:
        return -round_duration(-s)  # type: ignore[operator]
    if s < 1:
        return timedelta(milliseconds=round(s * 1000))
    total = int(round(s))  # as fmt_duration: whole seconds, then the smaller units cut off
    unit = 1 if total < 3600 else 60 if total < 86_400 else 3600
    return timedelta(seconds=total // unit * unit)


def _column(kind: str, name: str, values: Sequence | pl.Series) -> pl.Series:
    dtype = _DTYPE_OF_KIND[kind]
    if kind == "duration":
        return pl.Series(name, [round_duration(v) for v in values], dtype=dtype)
    if kind == "text":
        return pl.Series(name, [None if _missing(v) else str(v) for v in values], dtype=dtype)
    if kind == "count":
        return pl.Series(name, [None if _missing(v) else int(round(float(v))) for v in values],
                         dtype=dtype)
    scale = 100.0 if kind == "pp" else 1.0
    return pl.Series(name, [None if _missing(v) else scale * float(v) for v in values],
                     dtype=dtype)


@dataclass(frozen=True)
class PeopleTable:
    """A table as people read it, with numbers kept as numbers.

    Attributes
    ----------
    frame : pl.DataFrame
        Readable column names; numeric values in plain units (shares as fractions 0-1, ``pp``
        columns in percentage points, durations as ``Duration``); nulls where a value does not
        exist (the grid shows an en dash), never the text ``"None"`` or ``"nan"``.
    kinds : Mapping[str, ColumnKind]
        How each column of ``frame`` reads, in column order.

    Examples
    --------
    >>> t = PeopleTable.build({"Step": ("text", ["view"]), "Share": ("percent", [0.5])})
    >>> t.frame.dtypes, dict(t.kinds)
    ([String, Float64], {'Step': 'text', 'Share': 'percent'})
    """

    frame: pl.DataFrame
    kinds: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        cols = list(self.frame.columns)
        if list(self.kinds) != cols:
            raise ParameterError(
                f"`kinds` must name every column of the table in order, got {list(self.kinds)} "
                f"for columns {cols}")
        for name, kind in self.kinds.items():
            if kind not in COLUMN_KINDS:
                raise ParameterError(
                    f"the kind of column {name!r} must be one of {', '.join(COLUMN_KINDS)}, "
                    f"got {kind!r}")
            dtype = self.frame.schema[name]
            want = _DTYPE_OF_KIND[kind]
            ok = (dtype == pl.String() if kind == "text" else
                  isinstance(dtype, pl.Duration) if kind == "duration" else
                  dtype.is_integer() if kind == "count" else dtype.is_numeric())
            if not ok:
                raise ParameterError(
                    f"column {name!r} of kind {kind!r} must hold {want}, got {dtype}")
        object.__setattr__(self, "kinds", MappingProxyType(dict(self.kinds)))

    @classmethod
    def build(cls, columns: Mapping[str, tuple[str, Sequence | pl.Series]]) -> PeopleTable:
        """A table from ``{name: (kind, values)}``: values are cast to the kind's type (NaN
        and ``None`` become null; ``pp`` values are fractions, stored as percentage points;
        ``duration`` values are seconds, rounded with :func:`round_duration`).

        Raises
        ------
        ParameterError
            An unknown kind.
        """
        for name, (kind, _) in columns.items():
            if kind not in COLUMN_KINDS:
                raise ParameterError(
                    f"the kind of column {name!r} must be one of {', '.join(COLUMN_KINDS)}, "
                    f"got {kind!r}")
        frame = pl.DataFrame([_column(k, n, v) for n, (k, v) in columns.items()])
        if not columns:
            frame = pl.DataFrame()
        return cls(frame, {n: k for n, (k, _) in columns.items()})

    @property
    def columns(self) -> list[str]:
        return self.frame.columns

    @property
    def height(self) -> int:
        return self.frame.height
