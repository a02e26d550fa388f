"""A one-page HTML summary of the Overview for people who will not open the app."""

from __future__ import annotations

import html
from datetime import datetime, timezone

import polars as pl

from core.overview import OverviewMetrics, daily_trend_figure, event_mix_figure


def _fmt(x, kind: str) -> str:
    if x is None:
        return "n/a"
    return {"pct": f"{x:.1%}", "money": f"{x:,.2f}", "int": f"{x:,}"}[kind]


def summary_html(metrics: OverviewMetrics, trend: pl.DataFrame, mix: pl.DataFrame, *,
                 dataset_name: str, filters_label: str = "none", link: str | None = None) -> str:
    """Render a self-contained HTML page with the key numbers and the two Overview charts.

    Parameters
    ----------
    metrics : OverviewMetrics
        From :func:`core.overview.overview_metrics`.
    trend, mix : pl.DataFrame
        From :func:`core.overview.daily_trend` and :func:`core.overview.event_mix`.
    dataset_name : str
        Shown in the heading.
    filters_label : str
        The filters in words.
    link : str, optional
        URL of the live view.

    Returns
    -------
    str
        A full HTML document (Plotly's JavaScript is embedded, so it works offline).
    """
    rows = [
        ("Users", _fmt(metrics.users, "int")),
        ("Sessions", _fmt(metrics.sessions, "int")),
        ("Orders", _fmt(metrics.orders, "int")),
        ("Revenue", _fmt(metrics.revenue, "money")),
        ("Conversion rate (sessions with a purchase)", _fmt(metrics.conversion_rate, "pct")),
        ("Cart abandonment rate", _fmt(metrics.cart_abandonment_rate, "pct")),
        ("Average order value", _fmt(metrics.average_order_value, "money")),
        ("Events", _fmt(metrics.events, "int")),
    ]
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    span = (f"{metrics.first:%Y-%m-%d} to {metrics.last:%Y-%m-%d} (UTC)"
            if metrics.first and metrics.last else "")
    charts = (
        daily_trend_figure(trend).to_html(full_html=False, include_plotlyjs=True)
        + event_mix_figure(mix).to_html(full_html=False, include_plotlyjs=False)
    )
    link_html = f'<p><a href="{html.escape(link)}">Open the live view</a></p>' if link else ""
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>PathLens summary: {html.escape(dataset_name)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#222}}
table{{border-collapse:collapse}}th,td{{padding:4px 12px;border-bottom:1px solid #ddd;
text-align:left}}td{{text-align:right;font-variant-numeric:tabular-nums}}</style></head>
<body><h1>PathLens summary</h1>
<p><b>Dataset:</b> {html.escape(dataset_name)} · <b>Filters:</b> {html.escape(filters_label)}
· {span}</p>{link_html}<table>{table}</table>{charts}
<p style="color:#888">Generated {made} by PathLens.</p></body></html>"""
