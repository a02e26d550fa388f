"""Overview: headline numbers against an earlier period, activity trend and event mix."""

import polars as pl
import streamlit as st

from core.overview import (
    TREND_METRICS,
    daily_trend_figure,
    event_mix_figure,
    mix_people_table,
    trend_people_table,
)
from ui.overview import (
    CURRENCIES,
    cached_overview,
    compare_control,
    overview_tiles,
    period_caption,
)
from ui.report import summary_download
from ui.shell import download_csv, page_setup
from ui.tables import show_table

ctx = page_setup("Overview", icon=":material/dashboard:")
st.caption(f"Dataset: **{ctx.dataset_name}** · filters: "
           f"{', '.join(c.label() for c in ctx.filters.conditions) or 'none'}")
c = st.columns([3, 2, 2])
metric = c[0].segmented_control(
    "Trend", list(TREND_METRICS), default="sessions", key="overview.metric", bind="query-params",
) or "sessions"
grain = c[1].segmented_control(
    "Per", ["auto", "hour", "day", "week"], default="auto", key="overview.grain",
    bind="query-params", help="auto: hours up to two days of data, days up to 120, else weeks.",
) or "auto"
currency_choice = c[2].selectbox(
    "Currency", ["auto", "none", *CURRENCIES], key="overview.currency", bind="query-params",
    help="auto: the export's currency column when it has one; none: plain numbers.")

against = compare_control("overview.compare")

view = cached_overview(ctx.view, grain, against)
m = view.metrics
if m.events == 0:
    st.info(m.reason)
    st.stop()
currency = {"auto": view.currency, "none": None}.get(currency_choice, currency_choice)
if currency_choice == "auto" and len(view.currencies_found) > 1:
    st.warning("Purchases in this data mix currencies ("
               + ", ".join(view.currencies_found) + "): revenue adds them up as they are.")

cmp = view.comparison
tiles = overview_tiles(view, currency)
for row in (tiles[:4], tiles[4:]):
    cols = st.columns(4)
    for col, (label, value, delta, help_) in zip(cols, row, strict=True):
        inverse = "inverse" if label == "Cart abandonment" else "normal"
        col.metric(label, value, delta, delta_color=inverse, help=help_ or None)
st.caption(period_caption(view))

left, right = st.columns([3, 2])
left.plotly_chart(daily_trend_figure(view.trend, metric=metric, currency=currency,
                                    comparison=cmp.window if cmp else None),
                  key="overview.trend_chart")
right.plotly_chart(event_mix_figure(view.mix), key="overview.mix_chart")

with st.expander("Trend numbers and event mix"):
    show_table(trend_people_table(view.trend, currency=currency), key="overview.trend_table")
    download_csv(view.trend, "trend.csv", key="overview.dl_trend")
    show_table(mix_people_table(view.mix), key="overview.mix_table")
    download_csv(view.mix, "event_mix.csv", key="overview.dl_mix")
summary_download(ctx, m, view.trend.select(pl.exclude("^previous_.*$")), view.mix)
