"""Overview: headline numbers, daily trend and event mix of the active dataset."""

import streamlit as st

from core.overview import daily_trend_figure, event_mix_figure
from ui.overview import cached_overview
from ui.shell import download_csv, page_setup

ctx = page_setup("Overview", icon=":material/dashboard:")
st.caption(f"Dataset: **{ctx.dataset_name}** · filters: "
           f"{', '.join(c.label() for c in ctx.filters.conditions) or 'none'}")

m, trend, mix = cached_overview(ctx.dataset_id, ctx.filters, ctx.seg)
if m.events == 0:
    st.info(m.reason)
    st.stop()


def pct(x):
    return "n/a" if x is None else f"{x:.1%}"


def money(x):
    return "n/a" if x is None else f"{x:,.2f}"


cols = st.columns(4)
cols[0].metric("Users", f"{m.users:,}")
cols[1].metric("Sessions", f"{m.sessions:,}")
cols[2].metric("Orders", f"{m.orders:,}")
cols[3].metric("Revenue", money(m.revenue))
cols = st.columns(4)
cols[0].metric("Conversion rate", pct(m.conversion_rate), help="Sessions with a purchase.")
cols[1].metric("Cart abandonment", pct(m.cart_abandonment_rate),
               help="Sessions with an add-to-cart and no purchase after it.")
cols[2].metric("Average order value", money(m.average_order_value))
cols[3].metric("Events", f"{m.events:,}",
               help=f"{m.first:%Y-%m-%d} to {m.last:%Y-%m-%d} (UTC)")

metric = st.segmented_control(
    "Trend", ["sessions", "users", "orders", "revenue", "events"], default="sessions",
    key="overview.metric", bind="query-params",
) or "sessions"
left, right = st.columns([3, 2])
left.plotly_chart(daily_trend_figure(trend, metric=metric), key="overview.trend_chart")
right.plotly_chart(event_mix_figure(mix), key="overview.mix_chart")

with st.expander("Daily numbers and event mix"):
    st.dataframe(trend, hide_index=True)
    download_csv(trend, "daily_trend.csv", key="overview.dl_trend")
    st.dataframe(mix, hide_index=True)
    download_csv(mix, "event_mix.csv", key="overview.dl_mix")

from ui.report import summary_download  # noqa: E402

summary_download(ctx, m, trend, mix)
