"""Retention: of the people who started in a period, how many came back 1, 2, ... periods later."""

import streamlit as st

from core.retention import (
    MAX_PERIODS,
    PERIODS,
    RetentionParams,
    retention_curves_figure,
    retention_heatmap,
)
from ui.overview import compare_control
from ui.retention import (
    MODE_OPTIONS,
    cached_earlier_retention,
    cached_retention,
    cell_cohort_control,
    cells_people_table,
    comparison_caption,
    default_period,
    empty_reason,
    groups_people_table,
    headlines,
    notes,
    pooling_note,
    step_from,
)
from ui.shell import download_csv, guarded, page_setup
from ui.tables import show_table

ctx = page_setup("Retention", icon=":material/event_repeat:")
st.caption("Do people come back? Each row is a cohort: the people whose first start event fell "
           "in that day, week or month. Each column is the share of them who did the returning "
           "event that many periods later. Semantics follow PostHog's first-time retention.")
names = list(ctx.info.event_names)
c = st.columns(2)
start = c[0].selectbox("Start event (puts people in a cohort)", names, index=None,
                       placeholder="(any event)", key="retention.start", bind="query-params",
                       help="A person's cohort is the period of their first such event.")
back = c[1].selectbox("Returning event (counts as coming back)", names, index=None,
                      placeholder="(any event)", key="retention.return", bind="query-params")
with st.expander("Property conditions on the start and returning events"):
    st.caption("Conditions as `column:op:value`, separated by `;` (e.g. `device:eq:mobile`).")
    w = st.columns(2)
    start_where = w[0].text_input("Start event where", key="retention.start_where",
                                  bind="query-params")
    back_where = w[1].text_input("Returning event where", key="retention.return_where",
                                 bind="query-params")
c = st.columns(4)
period = c[0].segmented_control("Period", list(PERIODS), default=default_period(ctx.info),
                                key="retention.period", bind="query-params",
                                help="Weeks start on Monday. Default: days for up to 60 days "
                                     "of data, else weeks.") or default_period(ctx.info)
periods = c[1].slider("Periods shown", 2, MAX_PERIODS, 8, key="retention.periods",
                      bind="query-params", help="Columns: period 0 (the cohort's own) onwards.")
mode = c[2].segmented_control(
    "Count a return", list(MODE_OPTIONS), default="on", key="retention.mode",
    bind="query-params", help="on: came back during period N. on or after: came back in "
    "period N or any later period shown (cumulative).") or "on"
columns = [p for p, v in ctx.info.properties.items() if 2 <= len(v) <= 50]
by = c[3].selectbox("Break down by", columns, index=None, placeholder="(no breakdown)",
                    key="retention.by", bind="query-params",
                    help="The value on each person's first start event.")

against = compare_control("retention.compare", default="none", container=st.columns([2, 3])[0])

params = guarded(lambda: RetentionParams(
    start=step_from(start, start_where, names), returning=step_from(back, back_where, names),
    period=period, periods=int(periods), mode=MODE_OPTIONS[mode], breakdown=by))
result = guarded(lambda: cached_retention(ctx.view, params)) if params else None
if result is None:
    st.stop()
reason = empty_reason(result)
if reason:
    st.info(reason, icon=":material/info:")
    st.stop()

group = result.groups[0]
if by:
    group = st.selectbox(f"Show {by} =", result.groups, key="retention.group",
                         bind="query-params", help="Groups are ordered by size; the smallest "
                         "beyond the tenth are pooled as Other.") or group
    show_table(groups_people_table(result), key="retention.groups_table")
for note in notes(result, group):
    st.info(note, icon=":material/info:")
earlier = (guarded(lambda: cached_earlier_retention(ctx.view, params, against))
           if against is not None else None)
heads = headlines(result, group, earlier)
for col, h in zip(st.columns(len(heads)), heads, strict=True):
    col.metric(h.label, h.value, h.delta, help=h.help)
    col.caption(h.sentence)
if earlier is not None:
    st.caption(comparison_caption(earlier))
pooled = pooling_note(result, group)
if pooled:
    st.caption(pooled)

st.plotly_chart(retention_heatmap(result, group=group), key="retention.heatmap")
end = result.data_end.strftime("%Y-%m-%d %H:%M") if result.data_end else "–"
until = ("the date range ends" if ctx.filters.date_to is not None else "the data end")
st.caption(f"\\* the {period} had not ended when {until} ({end} UTC): the share may still "
           "rise. Hover a cell for its counts.")
st.plotly_chart(retention_curves_figure(result, group=group), key="retention.curves")
st.caption("Thin lines: one cohort each (open markers: period not over). Thick line: all "
           "complete cohorts pooled, with its 95% interval.")

st.subheader("Cohorts, period by period")
show_table(cells_people_table(result, group), key="retention.table")
st.caption("Save the people of one cell as a cohort, to follow them on every page:")
cell_cohort_control(ctx.view, result, group)
d = st.columns(2)
with d[0]:
    download_csv(result.cells, "retention_cells.csv", key="retention.dl_cells",
                 label="Download the table (CSV)")
with d[1]:
    download_csv(result.people, "retention_people.csv", key="retention.dl_people",
                 label="Download the people (CSV)")
