"""Period comparison: the earlier window a trend or a tile is compared with (issue 18).

Every analysis that compares "now" with "before" asks :func:`comparison_window` for the
earlier window, its label in words and how much of it the data cover, and shifts an earlier
trend onto the current periods with :func:`align_earlier`; :func:`add_earlier_conversion` draws
an earlier funnel conversion trend on the current one.

Two kinds of earlier window (``against``):

``"previous"``
    The period of equal length just before: ``[start - (end - start), start)``.
``"year"``
    The same calendar dates and times one year earlier. Each instant moves to the same date
    and time one year before; 29 February moves to 28 February. The window's start moves that
    way, and so does its last instant (the exclusive end moves as "one microsecond before it,
    moved, plus one microsecond"), so a window of whole days maps onto whole days: January
    2024 onto January 2023, ``[2024-02-29, 2024-03-01)`` onto ``[2023-02-28, 2023-03-01)``.
    The earlier window can therefore be a day shorter or longer than the current one when
    either spans a 29 February.

Coverage: the data cover the earlier window ``"full"`` (up to a tolerance of 1/24 of its
length, at most one hour, so a daily export ending at 23:30 still covers its last day),
``"partial"`` (the share covered is given) or ``"none"``; ``"unknown"`` when no data span was
given. A comparison against a partly or not covered window is not comparable: tiles show no
change and say why, trends leave uncovered earlier periods empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Final, Literal

import polars as pl

from core.errors import ParameterError
from core.fmt import GRAINS

if TYPE_CHECKING:
    import plotly.graph_objects as go

Against = Literal["previous", "year"]
#: The kinds of earlier window, with how a tile's delta names them.
AGAINST: Final[dict[str, str]] = {
    "previous": "the period of equal length just before",
    "year": "the same dates a year earlier",
}
_TRUNCATE: Final[dict[str, str]] = {"hour": "1h", "day": "1d", "week": "1w"}
_TICK: Final = timedelta(microseconds=1)


def year_earlier(instant: datetime) -> datetime:
    """The same date and time one year earlier; 29 February becomes 28 February.

    Examples
    --------
    >>> year_earlier(datetime(2024, 2, 29, 10, 0)).isoformat()
    '2023-02-28T10:00:00'
    """
    try:
        return instant.replace(year=instant.year - 1)
    except ValueError:  # 29 February of a leap year
        return instant.replace(year=instant.year - 1, day=28)


def _year_earlier_end(end: datetime) -> datetime:
    # the last instant of the window moves, not the exclusive end: [.., 2024-02-29) ends on
    # 28 February and must end on 28 February a year earlier too, i.e. at 2023-03-01
    return year_earlier(end - _TICK) + _TICK


def _whole_days(start: datetime, end: datetime) -> bool:
    return (end - start) % timedelta(days=1) == timedelta(0) and start.time() == datetime.min.time()


def _span_words(length: timedelta) -> str:
    """A window length in words: ``"31 days"``, ``"1 day"``, ``"36 hours"``, ``"90 minutes"``."""
    for unit, size in (("day", timedelta(days=1)), ("hour", timedelta(hours=1)),
                       ("minute", timedelta(minutes=1))):
        if length % size == timedelta(0):
            n = length // size
            return f"{n} {unit}" + ("" if n == 1 else "s")
    hours = length / timedelta(hours=1)
    return f"{hours:.1f} hours"


def _previous_words(length: timedelta) -> str:
    """``"previous day"``, ``"previous 31 days"``."""
    words = _span_words(length)
    return "previous " + (words.removeprefix("1 ") if words.startswith("1 ") else words)


def _range_words(start: datetime, end: datetime) -> str:
    """``[start, end)`` in words: the first and last day for whole days (one date for one
    day), else both instants."""
    if _whole_days(start, end):
        last: date = (end - timedelta(days=1)).date()
        if last == start.date():
            return f"{start:%Y-%m-%d}"
        return f"{start:%Y-%m-%d} – {last:%Y-%m-%d}"
    return f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M}"


@dataclass(frozen=True)
class ComparisonWindow:
    """The current window, the earlier one it is compared with and how the data cover it.

    Attributes
    ----------
    start, end : datetime
        The current window, ``[start, end)``.
    earlier_start, earlier_end : datetime
        The earlier window, ``[earlier_start, earlier_end)``; ``earlier_end <= start``.
    against : {"previous", "year"}
    span : (first, last) or None
        The data's first and last event (``(None, None)`` for no data); ``None`` when not
        given (coverage unknown).
    """

    start: datetime
    end: datetime
    earlier_start: datetime
    earlier_end: datetime
    against: str
    span: tuple[datetime | None, datetime | None] | None = None

    def _covered_range(self, lo: datetime, hi: datetime) -> tuple[datetime, datetime] | None:
        """The part of ``[lo, hi)`` the data cover (empty: equal ends); ``None`` if unknown.
        The data cover up to 1/24 of the range (at most an hour) past their last event."""
        if self.span is None:
            return None
        first, last = self.span
        if first is None or last is None:
            return lo, lo
        a = min(max(lo, first), hi)
        return a, max(min(hi, last + _slack(hi - lo)), a)

    @property
    def covered(self) -> timedelta | None:
        """How much of the earlier window the data cover; ``None`` when unknown."""
        part = self._covered_range(self.earlier_start, self.earlier_end)
        return None if part is None else part[1] - part[0]

    @property
    def earlier_length(self) -> timedelta:
        """Length of the earlier window (a day off the current one across a 29 February)."""
        return self.earlier_end - self.earlier_start

    @property
    def covered_share(self) -> float | None:
        """Share of the earlier window the data cover (0 to 1); ``None`` when unknown."""
        if self.covered is None:
            return None
        return min(1.0, self.covered / self.earlier_length)

    @property
    def coverage(self) -> str:
        """``"full"``, ``"partial"``, ``"none"`` or ``"unknown"`` (see the module docstring)."""
        if self.covered is None:
            return "unknown"
        if self.covered <= timedelta(0):
            return "none"
        if self.earlier_length - self.covered <= _slack(self.earlier_length):
            return "full"
        return "partial"

    @property
    def comparable(self) -> bool:
        """Whether a change against the earlier window means something: the data cover it
        (fully, or the coverage is unknown because no data span was given)."""
        return self.coverage in ("full", "unknown")

    @property
    def label(self) -> str:
        """The earlier window in words: ``"vs the previous 31 days (2023-12-01 – 2023-12-31)"``
        or ``"vs the same dates a year earlier (2023-01-01 – 2023-01-31)"``."""
        dates = _range_words(self.earlier_start, self.earlier_end)
        if self.against == "year":
            return f"vs the same dates a year earlier ({dates})"
        return f"vs the {_previous_words(self.end - self.start)} ({dates})"

    @property
    def short_label(self) -> str:
        """A tile-sized label: ``"vs previous 31 days"``, ``"vs previous day"`` or ``"vs a year
        earlier"``."""
        if self.against == "year":
            return "vs a year earlier"
        return f"vs {_previous_words(self.end - self.start)}"

    @property
    def coverage_note(self) -> str:
        """What the page must say when the comparison is not comparable; ``""`` otherwise."""
        if self.coverage == "none":
            return (f"No comparison: the data hold nothing from "
                    f"{_range_words(self.earlier_start, self.earlier_end)}.")
        covered = self.covered
        if covered is not None and self.coverage == "partial":
            return (f"No change shown: the data cover only {_span_words_approx(covered)} "
                    f"of the {_span_words_approx(self.earlier_length)} of "
                    f"{_range_words(self.earlier_start, self.earlier_end)} "
                    f"({self.covered_share:.0%}), so a change would mislead.")
        return ""

    def earlier_filter(self, column: str = "ts", *, grain: str | None = None) -> pl.Expr:
        """The rows of the earlier window: ``earlier_start <= column < earlier_end``.

        With ``grain``, the rows of the earlier periods compared with the current ones, whole
        (:func:`counterpart_periods`), but never from ``start`` on: the data a trend of the
        earlier window is computed from, so that its periods are complete."""
        if grain is None:
            lo, hi = self.earlier_start, self.earlier_end
        else:
            lo, hi = _earlier_periods_range(self, grain)
        return (pl.col(column) >= lo) & (pl.col(column) < hi)

    def current_filter(self, column: str = "ts") -> pl.Expr:
        """The rows of the current window: ``start <= column < end``."""
        return (pl.col(column) >= self.start) & (pl.col(column) < self.end)


def _slack(length: timedelta) -> timedelta:
    return min(length / 24, timedelta(hours=1))


def _span_words_approx(length: timedelta) -> str:
    if length >= timedelta(days=2):
        days = length / timedelta(days=1)
        return f"{days:.0f} days" if abs(days - round(days)) < 0.05 else f"{days:.1f} days"
    hours = length / timedelta(hours=1)
    return f"{hours:.0f} hours" if abs(hours - round(hours)) < 0.05 else f"{hours:.1f} hours"


def data_span(events: pl.DataFrame | pl.LazyFrame) -> tuple[datetime | None, datetime | None]:
    """The first and last ``ts`` of an event table (``(None, None)`` when it is empty)."""
    first, last = events.lazy().select(
        pl.col("ts").min().alias("first"), pl.col("ts").max().alias("last")
    ).collect().row(0)
    return first, last


def comparison_window(
    start: datetime,
    end: datetime,
    *,
    against: Against,
    events: pl.DataFrame | pl.LazyFrame | None = None,
    span: tuple[datetime | None, datetime | None] | None = None,
) -> ComparisonWindow:
    """The earlier window ``[start, end)`` is compared with, and how the data cover it.

    Parameters
    ----------
    start, end : datetime
        The current window, ``start < end``; both time-zone aware (UTC) or both naive.
    against : {"previous", "year"}
        ``"previous"``: the period of equal length just before. ``"year"``: the same calendar
        dates and times one year earlier (29 February -> 28 February; see the module
        docstring for the rule at the end of the window).
    events : pl.DataFrame or pl.LazyFrame, optional
        The data the earlier numbers come from (property filters applied, not the date
        range); its first and last ``ts`` give the coverage.
    span : (first, last), optional
        The data's first and last event instead of ``events``.

    Returns
    -------
    ComparisonWindow
        ``covered`` is ``None`` (coverage ``"unknown"``) without ``events`` or ``span``.

    Raises
    ------
    ParameterError
        ``against`` is not one of the above, ``end`` is not after ``start``, or the two mix
        aware and naive datetimes.

    Examples
    --------
    >>> w = comparison_window(datetime(2024, 1, 1), datetime(2024, 2, 1), against="previous")
    >>> w.label
    'vs the previous 31 days (2023-12-01 – 2023-12-31)'
    """
    if against not in AGAINST:
        raise ParameterError(
            f"`against` must be one of {list(AGAINST)}, got {against!r}", code="against")
    if (start.tzinfo is None) != (end.tzinfo is None):
        raise ParameterError(
            f"`start` and `end` must both carry a time zone (UTC) or both not, got {start!r} "
            f"and {end!r}")
    if not end > start:
        raise ParameterError(f"the period must end after it starts, got {start} to {end}")
    if against == "previous":
        earlier_start, earlier_end = start - (end - start), start
    else:
        earlier_start, earlier_end = year_earlier(start), _year_earlier_end(end)
        # a window longer than a year would overlap its year-earlier twin
        earlier_end = min(earlier_end, start)
    if span is None and events is not None:
        span = data_span(events)
    return ComparisonWindow(start, end, earlier_start, earlier_end, against, span)


def counterpart_periods(window: ComparisonWindow, *, grain: str) -> pl.DataFrame:
    """Each period of the current window and the earlier period it is compared with.

    Period *i* of the current window (counted from the period holding ``start``) is compared
    with period *i* of the earlier one (counted from the period holding ``earlier_start``, or
    the period before the current window's first when the window is shorter than a period). For
    ``against="year"`` at an hourly or daily grain the earlier period is the same calendar hour
    or day a year before instead (29 February -> 28 February), so days after a 29 February
    inside either window still line up with the same date. Earlier periods are taken whole
    (the current window's first and last period may be cut; the earlier ones are not), but
    never past ``start``.

    Parameters
    ----------
    window : ComparisonWindow
    grain : {"hour", "day", "week"}
        Periods as :func:`core.overview.activity_trend` and the funnel trends cut them (UTC
        hours, days, weeks from Monday).

    Returns
    -------
    pl.DataFrame
        ``period`` (start of a current period), ``previous_start`` (start of its earlier
        period), ``previous_complete`` (the data cover the earlier period from its start to
        its end, within 1/24 of a period, and it ends by ``start``; with an unknown data span
        only the latter) and ``previous_covered`` (the data cover some of it, so a period
        without events there counts zero rather than unknown).

    Raises
    ------
    ParameterError
        ``grain`` is not one of the above.
    """
    if grain not in GRAINS:
        raise ParameterError(f"`grain` must be one of {list(GRAINS)}, got {grain!r}")
    length = GRAINS[grain]
    starts = pl.Series("s", [window.start, window.earlier_start]).dt.truncate(_TRUNCATE[grain])
    first_now, first_before = starts.to_list()
    # a window shorter than a period would otherwise be compared with its own period: the
    # earlier periods start a whole period before the current ones at least
    first_before = min(first_before, first_now - length)
    n = -(-(window.end - first_now) // length)  # periods touching [start, end)
    periods = [first_now + i * length for i in range(n)]
    if window.against == "year" and grain != "week":
        previous = [year_earlier(p) for p in periods]
    else:
        previous = [first_before + i * length for i in range(n)]
    out = pl.DataFrame({"period": pl.Series(periods, dtype=starts.dtype),
                        "previous_start": pl.Series(previous, dtype=starts.dtype)})
    ps = pl.col("previous_start")
    before_start = ps + length <= pl.lit(window.start)
    touches = ps < pl.lit(window.start)
    if window.span is None:
        return out.with_columns(previous_complete=before_start, previous_covered=touches)
    first, last = window.span
    if first is None or last is None:
        return out.with_columns(previous_complete=pl.lit(False), previous_covered=pl.lit(False))
    slack = length / 24  # the tolerance of activity_trend's complete periods
    complete = before_start & (ps >= pl.lit(first) - slack) & (ps + length <= pl.lit(last) + slack)
    covered = touches & (ps <= pl.lit(last)) & (ps + length > pl.lit(first))
    return out.with_columns(previous_complete=complete, previous_covered=covered)


def _earlier_periods_range(window: ComparisonWindow, grain: str) -> tuple[datetime, datetime]:
    """``[lo, hi)`` holding the earlier periods of :func:`counterpart_periods`, cut at start."""
    pairs = counterpart_periods(window, grain=grain)["previous_start"]
    lo, hi = pairs.min(), pairs.max() + GRAINS[grain]  # type: ignore[operator]
    return lo, min(hi, window.start)  # type: ignore[return-value]


def align_earlier(
    trend: pl.DataFrame,
    window: ComparisonWindow,
    *,
    grain: str,
    period: str = "period",
    prefix: str = "previous_",
) -> pl.DataFrame:
    """Shift a trend of the earlier window onto the periods of the current one.

    Parameters
    ----------
    trend : pl.DataFrame
        A trend computed over the earlier window's events only (``activity_trend``,
        ``conversion_over_time``...): one row per period, its start in ``period``; a boolean
        ``complete`` column, when present, is folded into ``previous_complete``.
    window : ComparisonWindow
    grain : {"hour", "day", "week"}
        The grain the trend was cut at.
    period : str
        Name of the period column.
    prefix : str
        Put before the name of every other column of ``trend``.

    Returns
    -------
    pl.DataFrame
        One row per period of the current window (:func:`counterpart_periods`), to join with
        the current trend on ``period``: ``period`` (the current period), ``previous_start``
        (the earlier period it is compared with), ``previous_complete`` (also false where the
        trend's own ``complete`` is), ``previous_covered``, then every other column of
        ``trend`` renamed ``<prefix><column>``, with the earlier period's values (null where
        the trend has no row for it: zero or unknown, ``previous_covered`` tells which). An
        earlier period that no current period maps to (29 February of the earlier year when
        the current year has none; periods past the current window's length) is not in the
        result.

    Raises
    ------
    ParameterError
        ``period`` is not a column of ``trend``, or ``grain`` is invalid.

    Examples
    --------
    >>> w = comparison_window(start, end, against="year", events=events)  # doctest: +SKIP
    >>> before = conversion_over_time(
    ...     compute_funnel(events.filter(w.earlier_filter()), steps, window=window),
    ...     interval="day")  # doctest: +SKIP
    >>> now.join(align_earlier(before, w, grain="day"), on="period")  # doctest: +SKIP
    """
    if period not in trend.columns:
        raise ParameterError(
            f"`period` must name a column of the trend, got {period!r}; columns: {trend.columns}")
    pairs = counterpart_periods(window, grain=grain)
    values = trend.rename({period: "previous_start"}).with_columns(
        pl.col("previous_start").cast(pairs.schema["previous_start"]))
    values = values.rename({"complete": "_trend_complete"} if "complete" in values.columns
                           else {})
    values = values.rename({c: prefix + c for c in values.columns
                            if c not in ("previous_start", "_trend_complete")})
    out = pairs.join(values, on="previous_start", how="left", coalesce=True)
    if "_trend_complete" in out.columns:
        out = out.with_columns(
            (pl.col("previous_complete") & pl.col("_trend_complete").fill_null(True))
            .alias("previous_complete")
        ).drop("_trend_complete")
    return out.rename({"period": period}) if period != "period" else out


def add_earlier_conversion(
    fig: go.Figure,
    earlier: pl.DataFrame,
    window: ComparisonWindow,
    *,
    grain: str,
    unit: str = "attempts",
) -> go.Figure:
    """Draw an earlier window's conversion trend on a conversion trend figure (in place).

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
        A conversion trend in percent (``core.funnels.figures.conversion_over_time_figure``).
    earlier : pl.DataFrame
        :func:`align_earlier` of a conversion trend of the earlier window
        (``conversion_by_attempt`` or ``conversion_over_time``): ``period``,
        ``previous_start``, ``previous_complete``, ``previous_entered``,
        ``previous_converted``, ``previous_conversion``.
    window : ComparisonWindow
        The window the trend was compared with: names the line in the legend.
    grain : {"hour", "day", "week"}
        The trend's grain (words the hover).
    unit : str
        What ``entered`` counts, in words (``"attempts"``, ``"users"``).

    Returns
    -------
    plotly.graph_objects.Figure
        ``fig``, with the earlier conversion at the current periods: a dashed grey line through
        the complete earlier periods, lone open grey markers for the others ("incomplete
        period": the data cover only part of it, or the conversion windows of its entries run
        past the earlier window, where its events are cut off); periods without an earlier conversion (nobody entered, or not
        covered at all) are left out. The hover names the earlier period and its counts
        (``"same day last year (2025-08-03): 18.2% (40 of 220 attempts)"``).

    Raises
    ------
    ParameterError
        ``earlier`` lacks one of the columns above, or ``grain`` is invalid.
    """
    need = ("period", "previous_start", "previous_complete", "previous_entered",
            "previous_converted", "previous_conversion")
    missing = [c for c in need if c not in earlier.columns]
    if missing:
        raise ParameterError(f"`earlier` must be align_earlier of a conversion trend; it lacks "
                             f"{missing}")
    if grain not in GRAINS:
        raise ParameterError(f"`grain` must be one of {list(GRAINS)}, got {grain!r}")
    lead = f"same {grain} last year" if window.against == "year" else "previous period"
    name = window.label.removeprefix("vs ")
    fmt = "%Y-%m-%d %H:%M" if grain == "hour" else "%Y-%m-%d"
    shown = earlier.filter(pl.col("previous_conversion").is_not_null())
    for whole in (True, False):
        part = shown.filter(pl.col("previous_complete") == whole)
        if part.is_empty():
            continue
        custom = [
            [p.strftime(fmt), f"{c:,}", f"{n:,}"]
            for p, c, n in zip(part["previous_start"].to_list(),
                               part["previous_converted"].to_list(),
                               part["previous_entered"].to_list(), strict=True)
        ]
        hover = (f"{lead} (%{{customdata[0]}}): %{{y:.1f}}% (%{{customdata[1]}} of "
                 f"%{{customdata[2]}} {unit})"
                 + ("" if whole else " (incomplete: data cover part of the period, or its "
                                     "conversion windows run past the earlier window)")
                 + "<extra></extra>")
        style = ({"mode": "lines", "line": {"color": "#9e9e9e", "dash": "dash"}, "name": name}
                 if whole else
                 {"mode": "markers", "name": f"{name}: incomplete period",
                  "marker": {"size": 8, "symbol": "circle-open", "color": "#9e9e9e"}})
        fig.add_scatter(x=part["period"].to_list(),
                        y=[100 * v for v in part["previous_conversion"].to_list()],
                        customdata=custom, hovertemplate=hover, **style)
    return fig
