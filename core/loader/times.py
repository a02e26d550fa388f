"""Timestamp columns: how to read one (:class:`TimestampPlan`, decided on a sample of its
values) and reading it.

Epoch numbers (or numeric text) are read by their magnitude (:mod:`core.loader.epochs`); text
is matched against ISO 8601 and day-first / month-first layouts, the layout that reads the most
values winning, and between day-first and month-first the one whose dates span the shorter
period. Times without a zone are taken as UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Final

import polars as pl

from core.loader.epochs import _EPOCH_LIMITS, _epoch_expr, _epoch_unit_code
from core.loader.values import _NUMBER_RE, _SAMPLE, _text
from core.schema import UTC_US


@dataclass(frozen=True)
class TimestampPlan:
    """How a timestamp column is read, decided on a sample of its values.

    Attributes
    ----------
    kind : str
        ``"datetime"`` (typed, ``tz`` its zone), ``"date"``, ``"epoch"`` (numbers or numeric
        text), ``"text"`` (dates as text, ``formats``) or ``"empty"``.
    unit : str
        ``s``/``ms``/``us``/``ns`` for epochs, else ``text``, ``datetime``, ``date`` or ``""``.
    formats : tuple of (str, str)
        strptime layouts tried in turn, each with its zone kind (``aware``: the text carries
        an offset or ``Z``; ``utc``: a literal ``UTC``/``GMT``; ``naive``; ``date``).
    numeric : str or None
        ``"int"`` or ``"float"`` when the source is text holding numbers.
    warnings : tuple of str
        Assumptions the user should know about.
    """

    kind: str
    unit: str
    formats: tuple[tuple[str, str], ...] = ()
    numeric: str | None = None
    integer: bool = True
    tz: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def format(self) -> str | None:
        return " | ".join(f for f, _ in self.formats) or None

    def present(self, e: pl.Expr) -> pl.Expr:
        """Whether the source holds a value at all (blank text counts as missing)."""
        if self.kind in ("datetime", "date") or (self.kind == "epoch" and self.numeric is None):
            return e.is_not_null()
        return _text(e).is_not_null()

    def unit_code(self, e: pl.Expr, *, clean: bool = False) -> pl.Expr | None:
        """Per value, the epoch unit it is read in (0 s, 1 ms, 2 us, 3 ns); None unless the
        column holds epochs."""
        if self.kind != "epoch":
            return None
        if self.numeric is not None:
            if not clean:
                e = _text(e)
            e = e.cast(pl.Int64 if self.numeric == "int" else pl.Float64, strict=False)
        return _epoch_unit_code(e)

    def expr(self, e: pl.Expr, *, clean: bool = False) -> pl.Expr:
        """``Datetime(us, UTC)`` values, null where the source cannot be read.

        ``clean``: text sources are already stripped with blanks as null.
        """
        if (
            self.kind in ("epoch", "text")
            and not clean
            and self.unit != ""
            and (self.numeric is not None or self.kind == "text")
        ):
            e = _text(e)
        if self.kind == "datetime":
            if self.tz is None:
                return e.dt.replace_time_zone("UTC").cast(UTC_US)
            return e.dt.convert_time_zone("UTC").cast(UTC_US)
        if self.kind == "date":
            return e.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
        if self.kind == "epoch":
            if self.numeric is not None:
                e = e.cast(pl.Int64 if self.numeric == "int" else pl.Float64, strict=False)
            return _epoch_expr(e, self.unit, integer=self.integer)
        if self.kind == "text":
            return pl.coalesce([_parse_expr(e, f, k) for f, k in self.formats])
        return pl.lit(None, dtype=UTC_US)


def plan_timestamps(values: pl.Series, *, column: str = "ts") -> TimestampPlan:
    """Decide how to read a timestamp column from a sample of its values.

    Epoch numbers (or numeric text) are seconds, milliseconds, microseconds or nanoseconds by
    their magnitude; text is matched against ISO 8601 (with or without zone, ``Z`` or
    `` UTC``), ``YYYY-MM-DD HH:MM:SS``, ``YYYYMMDD`` and day-first / month-first layouts,
    choosing the layout that reads the most values, and between day-first and month-first the
    one whose dates span the shorter period. Times without a zone are taken as UTC.

    Parameters
    ----------
    values : pl.Series
        Some values of the column (the first rows of the file).
    column : str
        Its name, for warnings.

    Returns
    -------
    TimestampPlan
    """
    dtype = values.dtype
    if isinstance(dtype, pl.Datetime):
        w = (
            ()
            if dtype.time_zone
            else (f"Timestamps in {column!r} carry no time zone; read them as UTC.",)
        )
        return TimestampPlan("datetime", "datetime", tz=dtype.time_zone, warnings=w)
    if dtype == pl.Date:
        return TimestampPlan(
            "date",
            "date",
            warnings=(f"{column!r} holds dates without times; events are placed at 00:00 UTC.",),
        )
    if dtype.is_numeric():
        return _epoch_plan(values, None, column)
    text = values.cast(pl.String).str.strip_chars()
    sample = _sample(text.filter(text != ""))
    if sample.len() == 0:
        return TimestampPlan("empty", "")
    is_number = sample.str.contains(_NUMBER_RE)
    if int(is_number.sum()) * 2 >= sample.len():  # mostly numbers: epochs (others unreadable)
        sample = sample.filter(is_number)
        if bool(sample.str.contains(r"^(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$").all()):
            return TimestampPlan(
                "text",
                "text",
                formats=(("%Y%m%d", "date"),),
                warnings=(
                    f"{column!r} holds dates (YYYYMMDD) without times; events are placed at "
                    "00:00 UTC.",
                ),
            )
        numeric = "int" if bool(sample.str.contains(r"^[+-]?\d+$").all()) else "float"
        num = sample.cast(pl.Int64 if numeric == "int" else pl.Float64, strict=False)
        return _epoch_plan(num, numeric, column)
    return _text_plan(sample, column)


def parse_timestamps(values: pl.Series, *, column: str = "ts") -> tuple[pl.Series, TimestampPlan]:
    """Parse a whole timestamp column into ``Datetime(us, UTC)`` (null where unreadable).

    The same reading as :func:`load_events`, for a column already in memory.

    Parameters
    ----------
    values : pl.Series
        Timestamps as numbers, text, dates or date-times.
    column : str
        Its name, for warnings.

    Returns
    -------
    (pl.Series, TimestampPlan)
        The parsed values and how they were read.
    """
    plan = plan_timestamps(values, column=column)
    frame = pl.DataFrame({"v": values})
    out = frame.select(plan.expr(pl.col("v"))).to_series()
    if plan.kind == "text":
        failed = frame.filter(plan.present(pl.col("v")) & out.is_null())["v"]
        if failed.len():
            extra = _text_plan(failed.str.strip_chars(), column)
            new = tuple(f for f in extra.formats if f not in plan.formats)
            if new:
                plan = replace(
                    plan,
                    formats=plan.formats + new,
                    warnings=tuple(dict.fromkeys(plan.warnings + extra.warnings)),
                )
                out = frame.select(plan.expr(pl.col("v"))).to_series()
    return out.alias(values.name), plan


def _parse_expr(t: pl.Expr, fmt: str, kind: str) -> pl.Expr:
    parsed = t.str.to_datetime(fmt, time_unit="us", strict=False, cache=False)
    if kind == "aware":
        return parsed.dt.convert_time_zone("UTC").cast(UTC_US)
    return parsed.dt.replace_time_zone("UTC")


def _candidates() -> list[tuple[str, str, str]]:
    """(layout, date order, zone kind) for every text timestamp layout recognised.

    Fixed-width layouts come first: Polars parses them about six times faster than layouts
    with a variable fraction (``%.f``) or a parsed offset (``%#z``), and among layouts that
    read the same sample the first one wins.
    """
    iso_dates = [("%Y-%m-%d", "ymd"), ("%Y/%m/%d", "ymd"), ("%Y.%m.%d", "ymd")]
    other_dates = [
        ("%d/%m/%Y", "dmy"),
        ("%m/%d/%Y", "mdy"),
        ("%d.%m.%Y", "dmy"),
        ("%d-%m-%Y", "dmy"),
        ("%m-%d-%Y", "mdy"),
        ("%d/%m/%y", "dmy"),
        ("%m/%d/%y", "mdy"),
        ("%d.%m.%y", "dmy"),
        ("%d-%b-%Y", "dmy"),
        ("%d %b %Y", "dmy"),
        ("%b %d, %Y", "mdy"),
        ("%a, %d %b %Y", "dmy"),
    ]
    times = [
        "%H:%M:%S",
        "%H:%M",
        "%H:%M:%S%.3f",
        "%H:%M:%S%.6f",
        "%H:%M:%S%.f",
        "%I:%M:%S %p",
        "%I:%M %p",
        "%I:%M:%S%.f %p",
    ]
    utc_literals = [
        ("Z", "utc"),
        (" UTC", "utc"),
        (" GMT", "utc"),
        (" Z", "utc"),
        ("+00:00", "utc"),
        ("+0000", "utc"),
    ]
    iso_zones = [*utc_literals, ("", "naive"), ("%#z", "aware"), (" %#z", "aware")]
    other_zones = [(" UTC", "utc"), (" GMT", "utc"), ("", "naive"), (" %#z", "aware")]
    out = []
    for dates, seps, zones in (
        (iso_dates, ("T", " "), iso_zones),
        (other_dates, (" ",), other_zones),
    ):
        for d, order in dates:
            for sep in seps:
                for t in times:
                    for z, kind in zones:
                        out.append((f"{d}{sep}{t}{z}", order, kind))
            out.append((d, order, "date"))
    return out


_CANDIDATES: Final = _candidates()


def _sample(values: pl.Series) -> pl.Series:
    """Up to :data:`_SAMPLE` distinct values: the first ones and an even spread of the rest."""
    values = values.drop_nulls()
    n = values.len()
    if n > _SAMPLE:
        step = max(1, n // (_SAMPLE // 2))
        values = pl.concat([values.head(_SAMPLE // 2), values.gather_every(step)])
    return values.unique(maintain_order=True).head(_SAMPLE)


def _epoch_plan(num: pl.Series, numeric: str | None, column: str) -> TimestampPlan:
    finite = num.drop_nulls()
    if finite.dtype.is_float():
        finite = finite.filter(finite.is_finite())
    if finite.len() == 0:
        return TimestampPlan("empty", "")
    median = float(finite.abs().median())  # type: ignore[arg-type]
    unit = next(u for u, limit in _EPOCH_LIMITS if median < limit)
    integer = numeric == "int" or (numeric is None and num.dtype.is_integer())
    plan = TimestampPlan("epoch", unit, numeric=numeric, integer=integer)
    years = pl.select(_epoch_expr(pl.lit(finite), unit, integer=integer)).to_series().dt.year()
    year = int(years.median() or 0)  # type: ignore[arg-type]
    if not 1995 <= year <= 2100:
        plan = replace(
            plan,
            warnings=(
                f"Timestamps in {column!r} were read as Unix {unit} and fall around the year "
                f"{year}; check that the column holds Unix times.",
            ),
        )
    return plan


def _score(sample: pl.Series, candidates: list[tuple[str, str, str]]) -> list[tuple[int, Any, Any]]:
    """(values read, earliest, latest) per candidate layout, in one pass."""
    frame = pl.DataFrame({"v": sample})
    exprs = []
    for i, (fmt, _, _) in enumerate(candidates):
        p = pl.col("v").str.to_datetime(fmt, time_unit="us", strict=False, cache=False)
        exprs += [p.count().alias(f"n{i}"), p.min().alias(f"a{i}"), p.max().alias(f"b{i}")]
    row = frame.select(exprs).row(0)
    return [(row[3 * i], row[3 * i + 1], row[3 * i + 2]) for i in range(len(candidates))]


def _text_plan(sample: pl.Series, column: str) -> TimestampPlan:
    probe = sample.head(20)
    alive = [c for c, (n, _, _) in zip(_CANDIDATES, _score(probe, _CANDIDATES), strict=True) if n]
    if not alive:
        return TimestampPlan("text", "text", formats=(("%Y-%m-%d %H:%M:%S%.f", "naive"),))
    warnings: list[str] = []
    chosen: list[tuple[str, str, str]] = []
    remaining = sample
    for _ in range(3):  # mixed layouts: cover what the first layout misses, same date order
        pool = [
            c
            for c in alive
            if c not in chosen
            and (not chosen or c[1] in (chosen[0][1], "ymd") or chosen[0][1] == "ymd")
        ]
        if not pool or remaining.len() == 0:
            break
        scores = _score(remaining, pool)
        best_n = max(s[0] for s in scores)
        if best_n == 0:
            break
        top = [(c, s) for c, s in zip(pool, scores, strict=True) if s[0] == best_n]
        pick = top[0]
        orders = {c[1] for c, _ in top}
        if not chosen and {"dmy", "mdy"} <= orders:
            pick = min(top, key=lambda cs: cs[1][2] - cs[1][1])
            rival = next(cs for cs in top if cs[0][1] != pick[0][1])
            first = "day" if pick[0][1] == "dmy" else "month"
            warnings.append(
                f"Dates in {column!r} such as {remaining[0]!r} read either day-first or "
                f"month-first; chose {first}-first because the dates then span "
                f"{_days(pick[1][2] - pick[1][1])} instead of "
                f"{_days(rival[1][2] - rival[1][1])}."
            )
        chosen.append(pick[0])
        parsed = remaining.str.to_datetime(pick[0][0], time_unit="us", strict=False)
        remaining = remaining.filter(parsed.is_null())
    kinds = {k for _, _, k in chosen}
    if "naive" in kinds:
        warnings.append(f"Timestamps in {column!r} carry no time zone; read them as UTC.")
    if "date" in kinds:
        warnings.append(
            f"Some values in {column!r} are dates without times; those events are "
            "placed at 00:00 UTC."
        )
    return TimestampPlan(
        "text", "text", formats=tuple((f, k) for f, _, k in chosen), warnings=tuple(warnings)
    )


def _days(span: timedelta | None) -> str:
    if span is None:
        return "nothing"
    days = span.total_seconds() / 86400
    return f"{days:,.1f} days" if days < 100 else f"{days / 365.25:,.1f} years"
