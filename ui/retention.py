"""Cached wrapper and page helpers of the Retention page.

The result is shared between sessions with ``cache_resource`` (a
:class:`core.retention.RetentionResult` is frozen and its Polars frames are never mutated); the
key is the page's :class:`~ui.view.DataView` and the frozen :class:`RetentionParams`. The
helpers below only pick and word numbers the result already holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

import polars as pl
import streamlit as st

from core.cohorts import CohortDraft, retention_cell_members
from core.compare import ComparisonWindow
from core.filters import parse_condition
from core.fmt import MISSING, PeopleTable, fmt_count, fmt_pct
from core.funnels import FunnelStep
from core.overview import DatasetInfo
from core.retention import OTHER, RetentionParams, RetentionResult
from ui.cohorts import save_cohort_control
from ui.data import filtered_events
from ui.engine import runs_on_spark, spark_earlier, spark_events, view_members
from ui.overview import earlier_events, tile_change
from ui.view import DataView

#: The Mode control's options (plain words: a bound control writes them in the URL) and the
#: RetentionParams mode each stands for (PostHog's and Amplitude's "on" / "on or after").
MODE_OPTIONS: dict[str, str] = {"on": "on", "on or after": "unbounded"}
#: Data spans up to this long default to daily cohorts, longer ones to weekly.
DAILY_UP_TO = timedelta(days=60)


def default_period(info: DatasetInfo) -> str:
    """``"day"`` for up to 60 days of data, else ``"week"``."""
    if info.first is None or info.last is None:
        return "day"
    return "day" if info.last - info.first <= DAILY_UP_TO else "week"


def step_from(event: str | None, where: str, names: Sequence[str]) -> FunnelStep | None:
    """The start or returning definition from the page's controls.

    Parameters
    ----------
    event : str or None
        The chosen event name; ``None`` is any event.
    where : str
        Property conditions ``column:op:value`` separated by ``;`` (as on the Funnels page).
    names : sequence of str
        Every event name of the dataset (any event *with* conditions matches these).

    Raises
    ------
    ParameterError
        A condition that does not parse (the message names it and the valid operators).
    """
    conds = tuple(parse_condition(p.strip()) for p in (where or "").split(";") if p.strip())
    if event is None and not conds:
        return None
    if event is not None:
        return FunnelStep(event, where=conds)
    label = "any event where " + " and ".join(c.label() for c in conds)
    return FunnelStep(tuple(names), where=conds, label=label)


@st.cache_resource(max_entries=16, show_spinner="Computing retention…")
def cached_retention(view: DataView, params: RetentionParams) -> RetentionResult:
    """The retention table of the view's events under ``params``; on Spark for a lake dataset
    (:func:`ui.engine.runs_on_spark`)."""
    if runs_on_spark(view):
        from core.spark import compute_retention_spark  # lazy: pyspark only on Spark

        return compute_retention_spark(spark_events(view), params)
    return params.compute(filtered_events(view))


def period_name(result: RetentionResult, n: int) -> str:
    """``"week 1"``, or ``"week 1 or later"`` in the "on or after" mode."""
    text = f"{result.params.period} {n}"
    return text + " or later" if result.params.mode == "unbounded" else text


def _cohort_label(value, period: str) -> str:
    return value.strftime("%Y-%m" if period == "month" else "%Y-%m-%d")


def empty_reason(result: RetentionResult) -> str | None:
    """Why there is nothing to show (no cohort, or no period after period 0 observed yet);
    ``None`` when there is a table."""
    p = result.params
    if result.n_people == 0:
        return (f"No one did the start event ({p.label('start')}) in the data shown: pick "
                "another start event, or widen the date range and filters in the sidebar.")
    if result.cells.filter(pl.col("period") >= 1).is_empty():
        first = _cohort_label(result.people["cohort"].min(), p.period)
        end = result.data_end.strftime("%Y-%m-%d") if result.data_end else MISSING
        return (f"The data runs from the first cohort ({first}) to {end}: less than two "
                f"{p.period}s, so no one can have come back a {p.period} later yet. Pick a "
                "shorter period or widen the date range.")
    return None


def notes(result: RetentionResult, group: str) -> list[str]:
    """Caveats worth a line above the table: a single cohort, no complete period 1 yet."""
    p = result.params
    out = []
    cells = result.cells.filter(pl.col("group") == group)
    cohorts = cells.get_column("cohort").unique()
    if cohorts.len() == 1:
        size = cells.get_column("cohort_size")[0]
        out.append(f"Only one cohort ({_cohort_label(cohorts[0], p.period)}, {size:,} people): "
                   "there is nothing to compare it with. Pick a shorter period or widen the "
                   "date range to see several cohorts.")
    mean = result.mean.filter((pl.col("group") == group) & (pl.col("period") == 1))
    if mean.is_empty():
        out.append(f"No cohort has a complete {p.period} 1 yet: every share shown is marked * "
                   "and may still rise.")
    return out


def pooling_note(result: RetentionResult, group: str) -> str | None:
    """Which cohorts the pooled figures cover: a late period pools only the old cohorts, so it
    can read higher than period 1 when those retain better (a mix effect, not a rise)."""
    mean = result.mean.filter((pl.col("group") == group) & (pl.col("period") >= 1))
    if mean.height < 2:
        return None
    first, last = mean.sort("period").row(0, named=True), mean.sort("period").row(-1, named=True)
    p = result.params.period
    return (f"Pooled over complete cohorts only: {p} 1 over {first['cohorts']:,} cohorts, "
            f"{p} {last['period']} over the {last['cohorts']:,} oldest (the only ones whose "
            f"{p} {last['period']} is over). Compare rows of the triangle before reading a "
            "difference between the two as a trend.")


@dataclass(frozen=True)
class Headline:
    """One headline figure: the metric's label and value, and the sentence that explains it.

    ``period`` is the period whose pooled retention it shows (``None``: the people in cohorts;
    ``number`` its value, ``None`` when not known yet); with a comparison, ``delta`` is the
    change against the earlier window and ``help`` its earlier value or why there is none."""

    label: str
    value: str
    sentence: str
    period: int | None = None
    number: float | None = None
    delta: str | None = None
    help: str | None = None


@dataclass(frozen=True)
class EarlierRetention:
    """The same retention over cohorts that started in the earlier window, their returns
    counted up to its end (as the current cohorts' are up to the end of the current period).

    ``result`` is ``None`` when no change can be shown (``note`` says why) or the data hold
    no event there."""

    window: ComparisonWindow
    result: RetentionResult | None
    note: str = ""


@st.cache_resource(max_entries=16, show_spinner="Computing the earlier period's retention…")
def cached_earlier_retention(view: DataView, params: RetentionParams,
                             against: str) -> EarlierRetention | None:
    """:func:`cached_retention` on the view's events of the earlier window ``against``
    (``"previous"`` or ``"year"``): same settings, filters, cohorts and segments, only the
    dates shifted (on Spark: :func:`ui.engine.spark_earlier`). ``None`` when the view holds
    no event."""
    if runs_on_spark(view):
        from core.spark import compute_retention_spark  # lazy: pyspark only on Spark

        if (spark := spark_earlier(view, against)) is None:
            return None
        if spark.note or spark.empty:
            return EarlierRetention(spark.window, None, spark.note)
        return EarlierRetention(spark.window, compute_retention_spark(spark.events(), params),
                                spark.note)
    found = earlier_events(view, against)
    if found is None:
        return None
    if found.note or found.events.is_empty():
        return EarlierRetention(found.window, None, found.note)
    return EarlierRetention(found.window, params.compute(found.events), found.note)


def headlines(result: RetentionResult, group: str,
              earlier: EarlierRetention | None = None) -> list[Headline]:
    """People in cohorts, then the pooled retention of period 1 and of the last period with a
    complete cohort, each with its 95% interval and the people it is over; with ``earlier``,
    each against the same figure of the earlier window (:func:`against_earlier`)."""
    people = result.people.filter(pl.col("group") == group).height
    out = [Headline("People in cohorts", fmt_count(people),
                    f"{people:,} people did the start event ({result.params.label('start')}) "
                    "and form the cohorts.", None, people)]
    mean = result.mean.filter((pl.col("group") == group) & (pl.col("period") >= 1))
    if mean.is_empty():
        label = f"Came back in {period_name(result, 1)}"
        out.append(Headline(label, MISSING, f"{label}: not known yet (no complete cohort).", 1))
    else:
        rows = mean.sort("period").rows(named=True)
        picked = [r for r in rows if r["period"] == 1][:1]
        if rows[-1]["period"] != 1:
            picked.append(rows[-1])
        for r in picked:
            label = f"Came back in {period_name(result, r['period'])}"
            sentence = (f"{label}: {fmt_pct(r['rate'])} ({100 * r['ci_low']:.1f}–"
                        f"{fmt_pct(r['ci_high'])}) of {r['people']:,} people in complete "
                        "cohorts")
            out.append(Headline(label, fmt_pct(r["rate"]), sentence, r["period"], r["rate"]))
    if earlier is None:
        return out
    return [against_earlier(h, earlier, group) for h in out]


#: Said beside a change of the pooled group: its members are chosen per period.
OTHER_NOTE = (f" \"{OTHER}\" pools the breakdown values outside the largest groups of each "
              "period, so its values may differ between the two periods.")


def against_earlier(head: Headline, earlier: EarlierRetention, group: str) -> Headline:
    """``head`` with its change against the same figure of the earlier window (same group),
    and the earlier value and dates in its help; or, in its help, why there is no change."""
    out = _against_earlier(head, earlier, group)
    if group == OTHER and out.delta is not None:
        return replace(out, help=(out.help or "") + OTHER_NOTE)
    return out


def _against_earlier(head: Headline, earlier: EarlierRetention, group: str) -> Headline:
    w = earlier.window
    when = w.label.removeprefix("vs ")
    if earlier.note:
        return replace(head, help=earlier.note)
    before = earlier.result
    people = (before.people.filter(pl.col("group") == group).height
              if before is not None else 0)
    if people == 0:
        who = "no one" if group == "All" else f"no one of {group}"
        return replace(head, help=f"No change: {who} did the start event in the earlier "
                                  f"period, {when}.")
    if head.period is None:
        return replace(head, delta=tile_change(head.number, people, w),  # type: ignore[arg-type]
                       help=f"{people:,} people in the earlier period, {when}.")
    row = before.mean.filter((pl.col("group") == group)  # type: ignore[union-attr]
                             & (pl.col("period") == head.period))
    name = period_name(before, head.period)  # type: ignore[arg-type]
    if row.is_empty():
        return replace(head, help=f"No change: no cohort of the earlier period, {when}, has "
                                  f"a complete {name}.")
    r = row.row(0, named=True)
    delta = tile_change(head.number, r["rate"], w, rate=True) if head.number is not None else None
    return replace(head, delta=delta, help=(
        f"{fmt_pct(r['rate'])} of {r['people']:,} people in complete cohorts in the earlier "
        f"period, {when}."))


def comparison_caption(earlier: EarlierRetention) -> str:
    """What the headline changes are against, or why there are none."""
    if earlier.note:
        return earlier.note
    return (f"Changes {earlier.window.label}: the cohorts that started in that period, their "
            "returns counted up to its end, just as the cohorts above are counted up to the end "
            "of the date range.")


def cells_people_table(result: RetentionResult, group: str) -> PeopleTable:
    """The triangle as a long table for people: one row per cohort and period after 0."""
    p = result.params
    cells = result.cells.filter((pl.col("group") == group) & (pl.col("period") >= 1))
    word = p.period.capitalize()
    return PeopleTable.build({
        "Cohort": ("text", [_cohort_label(c, p.period) for c in cells["cohort"]]),
        word: ("count", cells["period"]),
        "People in cohort": ("count", cells["cohort_size"]),
        "Came back": ("count", cells["retained"]),
        "Retention": ("percent", cells["rate"]),
        "95% low": ("percent", cells["ci_low"]),
        "95% high": ("percent", cells["ci_high"]),
        "Period over": ("text", ["yes" if c else "no (may still rise)"
                                 for c in cells["complete"]]),
    })


def groups_people_table(result: RetentionResult) -> PeopleTable:
    """One row per breakdown group: its people and its pooled period-1 retention."""
    sizes = result.people.group_by("group").len()
    one = result.mean.filter(pl.col("period") == 1)
    rows = (pl.DataFrame({"group": result.groups}).join(sizes, on="group", how="left")
            .join(one, on="group", how="left"))
    return PeopleTable.build({
        "Group": ("text", rows["group"]),
        "People in cohorts": ("count", rows["len"]),
        f"Came back in {period_name(result, 1)}": ("percent", rows["rate"]),
        "95% low": ("percent", rows["ci_low"]),
        "95% high": ("percent", rows["ci_high"]),
        "Over (complete cohorts)": ("count", rows["people"]),
    })


__all__ = [
    "MODE_OPTIONS",
    "EarlierRetention",
    "Headline",
    "against_earlier",
    "cached_earlier_retention",
    "cached_retention",
    "comparison_caption",
    "cells_people_table",
    "default_period",
    "empty_reason",
    "groups_people_table",
    "headlines",
    "notes",
    "period_name",
    "pooling_note",
    "step_from",
]


def _pick(where, label: str, options: dict, key: str, help: str | None = None):
    """A selectbox over ``options`` (value -> text) whose stale state falls back to the first."""
    if st.session_state.get(key) not in options:
        st.session_state[key] = next(iter(options))
    return where.selectbox(label, list(options), key=key, format_func=options.get, help=help)


def cell_cohort_control(view: DataView, result: RetentionResult, group: str) -> None:
    """Pick a cell of the table (a cohort and a period) and save its people as a cohort."""
    p = result.params
    cells = result.cells.filter(pl.col("group") == group).sort("cohort", "period")
    if cells.is_empty():
        return
    sizes = dict(cells.filter(pl.col("period") == 0).select("cohort", "cohort_size").iter_rows())
    starts = {c.isoformat(): f"{_cohort_label(c, p.period)} ({n:,} people)"
              for c, n in sizes.items()}
    a, b, c = st.columns([2, 2, 1], vertical_alignment="bottom")
    start = _pick(a, "Cohort", starts, "retention.cell_cohort")
    chosen = next(d for d in sizes if d.isoformat() == start)
    mine = cells.filter(pl.col("cohort") == chosen)
    periods = {n: (f"{p.period} 0: the whole cohort ({r:,})" if n == 0
                   else f"{period_name(result, n)} ({r:,} came back)")
               for n, r in mine.select("period", "retained").iter_rows()}
    period = _pick(b, "Period", periods, "retention.cell_period",
                   help="Period 0 is everyone in the cohort; period N those counted as coming "
                        "back in it (as in the table).")
    by_group = group if p.breakdown is not None else None

    filters = view.filters

    def draft() -> CohortDraft:
        def find(events):
            return retention_cell_members(result, chosen, period, group=by_group, events=events,
                                          filters=filters)
        # people are users: the table names them; else the events give the users (on Spark
        # per partition, ui.engine.view_members)
        return find(None) if p.count_by == "user_id" else view_members(view, find)

    name = f"{p.period.capitalize()} of {_cohort_label(chosen, p.period)}"
    if period:
        name += f", back in {period_name(result, period)}"
    with c:
        save_cohort_control(view, draft, source="retention_cell", key="retention.cohort",
                            label="Save as a cohort", name=name)
