"""Funnels: conversion through ordered steps, with windows, order modes and breakdowns."""

from pathlib import Path
from urllib.parse import parse_qsl

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from core.compare import add_earlier_conversion
from core.filters import parse_condition
from core.fmt import entity_noun
from core.funnels import TREND_DEFINITIONS, FunnelParams, FunnelStep
from core.funnels.figures import (
    breakdown_figure,
    breakdown_people_table,
    conversion_over_time_figure,
    funnel_figure,
    steps_table,
    time_to_convert_figure,
    trend_people_table,
)
from ui.funnels import (
    UNITS,
    cached_funnel,
    conversion_cohort_section,
    conversion_tile,
    count_tile,
    default_steps,
    dropped_entities,
    names_by_type,
    paths_link,
    save_dropoff_cohort,
)
from ui.overview import compare_control
from ui.shell import download_csv, guarded, page_setup
from ui.tables import show_table

ctx = page_setup("Funnels", icon=":material/filter_alt:")
st.caption("How many users (or sessions, or orders) go through the steps in order, within the "
           "conversion window. Semantics follow PostHog's funnels: see docs/funnels.md.")
events = list(ctx.info.event_names)
props = [c for c in ctx.info.properties if c not in ("event", "event_type")]
steps = st.multiselect(
    "Steps, in order (add them one by one; remove and re-add to reorder)", events,
    default=[e for e in default_steps(ctx.info, names_by_type(ctx.view))
             if e in events],
    key="funnel.steps", bind="query-params", max_selections=30,
)
c = st.columns([1, 1, 3, 2, 2])
window_n = c[0].number_input("Window", min_value=1, max_value=10_000, value=1,
                             key="funnel.window", bind="query-params")
unit = c[1].selectbox("Unit", list(UNITS), index=2, key="funnel.unit", bind="query-params")
order = c[2].segmented_control("Order", ["ordered", "strict", "unordered"], default="ordered",
                               key="funnel.order", bind="query-params",
                               help="ordered: other events may happen between steps; strict: "
                                    "they may not; unordered: steps in any order.") or "ordered"
count_by = c[3].selectbox("Count", ["user_id", "session_id", "order_id", *props],
                          key="funnel.count_by", bind="query-params",
                          help="Who converts: users, sessions, or any property.")
breakdown = c[4].selectbox("Break down by", ["(none)", *props], key="funnel.breakdown",
                           bind="query-params",
                           help="First-touch: the value on the entity's step-1 event.")
with st.expander("Step conditions and exclusions"):
    st.caption("Conditions as `column:op:value`, separated by `;` (e.g. `category:eq:phones`).")
    wheres = [st.text_input(f"Step {i + 1} ({s}) where", key=f"funnel.where{i + 1}",
                            bind="query-params") for i, s in enumerate(steps)]
    exclude = st.multiselect("Exclude entities that do any of these between the first and last "
                             "step", events, key="funnel.exclude", bind="query-params")
t = st.columns([2, 3, 4])
definition = t[0].segmented_control(
    "Trend of", ["attempts", "cohort"], default="attempts", key="funnel.trend",
    bind="query-params",
    help="attempts: " + TREND_DEFINITIONS["attempts"] + " (PostHog, Mixpanel). cohort: "
         + TREND_DEFINITIONS["cohort"] + ".") or "attempts"
interval = t[1].segmented_control(
    "Per", ["auto", "hour", "day", "week"], default="auto", key="funnel.interval",
    bind="query-params", help="auto: hours up to two days of data, days up to 120, else weeks."
) or "auto"
against = compare_control("funnel.compare", default="none", container=t[2])

if len(steps) < 2:
    st.info("Pick at least two steps: a funnel measures conversion from one step to the next.")
    st.stop()


def build() -> FunnelParams:
    built = []
    for s, w in zip(steps, wheres, strict=True):
        conds = tuple(parse_condition(p.strip()) for p in (w or "").split(";") if p.strip())
        built.append(FunnelStep(s, where=conds))
    return FunnelParams(
        steps=tuple(built), window=window_n * UNITS[unit], order=order, count_by=count_by,
        exclusions=tuple((FunnelStep(e), 1, len(built)) for e in exclude),
        breakdown=None if breakdown == "(none)" else breakdown,
    )


params = guarded(build)
view = (guarded(lambda: cached_funnel(ctx.view, params, interval, definition, against))
        if params else None)
if view is None:
    st.stop()
result = view.result
if result.reason:
    st.info(result.reason)
if result.is_empty:
    st.stop()

noun = entity_noun(count_by)
m = st.columns(4)
last = result.steps.row(-1, named=True)
tiles = (
    (f"Entered ({noun})", count_tile(result, view.earlier, "entered",
                                     f"{noun.capitalize()} with a first step; counted by "
                                     f"`{count_by}`.")),
    (f"Converted ({noun})", count_tile(result, view.earlier, "converted",
                                       f"{noun.capitalize()} who reached the last step.")),
    ("Conversion", conversion_tile(result, view.earlier, noun)),
    ("Excluded", count_tile(result, view.earlier, "excluded",
                            f"{noun.capitalize()} left out by an exclusion step.")),
)
for col, (label, (value, delta, help_)) in zip(m, tiles, strict=True):
    col.metric(label, value, delta, help=help_)
st.plotly_chart(funnel_figure(result, by_breakdown=params.breakdown is not None),
                key="funnel.chart")
show_table(steps_table(result), key="funnel.steps_table")
download_csv(result.steps, "funnel_steps.csv", key="funnel.dl_steps")

left, right = st.columns(2)
trend_fig = conversion_over_time_figure(view.over_time, definition=view.definition,
                                       interval=view.interval, entity=noun)
if view.earlier is not None and not view.over_time.is_empty():
    add_earlier_conversion(trend_fig, view.earlier.trend, view.earlier.window,
                           grain=view.interval,
                           unit="attempts" if view.definition == "attempts" else noun)
left.plotly_chart(trend_fig, key="funnel.trend_chart")
if view.earlier is not None:
    drawn = view.earlier.trend["previous_conversion"].is_not_null().any()
    left.caption((f"Dashed grey: {view.earlier.window.label.removeprefix('vs ')}, each earlier "
                  f"{view.interval} drawn at the {view.interval} it compares with. "
                  if drawn else "") + view.earlier.note)
if view.trend_note:
    left.caption(view.trend_note)
if not view.over_time.is_empty() and not view.over_time["complete"].all():
    left.caption("Dotted: periods whose conversion window had not closed when the data ends; "
                 "their conversion may still rise.")
right.plotly_chart(time_to_convert_figure(view.time_to_convert, title="Time to convert",
                                          entity=noun), key="funnel.ttc")
with st.expander("Trend numbers"):
    earlier_trend = view.earlier.trend if view.earlier is not None else None
    show_table(trend_people_table(view.over_time, interval=view.interval, earlier=earlier_trend),
               key="funnel.trend_table")
    download_csv(view.over_time if earlier_trend is None else
                 view.over_time.join(earlier_trend, on="period", how="left",
                                     maintain_order="left"),
                 "funnel_trend.csv", key="funnel.dl_trend")
if params.breakdown:
    st.subheader(f"By {params.breakdown}: 95% intervals, each value against the rest")
    st.plotly_chart(breakdown_figure(view.breakdown, overall=last["conversion_from_first"]),
                    key="funnel.bd_chart")
    show_table(breakdown_people_table(view.breakdown, name=params.breakdown),
               key="funnel.breakdown_table")
    download_csv(view.breakdown, "funnel_breakdown.csv", key="funnel.dl_bd")

st.subheader("Who dropped off")
# plain step numbers: a bound selectbox puts the option label in the URL
k = st.columns([1, 3])[0].selectbox("Dropped off at step", list(range(2, result.n_steps + 1)),
                                   key="funnel.drop_step", bind="query-params")
lost = dropped_entities(result, k)
st.caption(f"{lost.height:,} reached step {k - 1} ({result.labels[k - 2]}) but not step {k} "
           f"({result.labels[k - 1]}).")
download_csv(lost, f"dropped_at_step_{k}.csv", key="funnel.dl_lost",
             label="Download them (CSV)")
save_dropoff_cohort(ctx.view, result, k)
# Same tab (a markdown link opens a new tab: a new session that takes seconds to start).
_paths_href = paths_link(params, k)
try:
    st.page_link(str(Path(__file__).with_name("paths.py")), label="What did they do next? Open Paths",
                 icon=":material/account_tree:", query_params=parse_qsl(_paths_href.split("?", 1)[1]))
except StreamlitPageNotFoundError:  # the page runs on its own (no app navigation)
    st.markdown(f":material/account_tree: [What did they do next? Open Paths]({_paths_href})")

conversion_cohort_section(ctx.view, result, noun)
