"""Overview summary export (HTML)."""

from __future__ import annotations

import polars as pl
import streamlit as st

from core.overview import OverviewMetrics
from core.report import summary_html
from ui.links import view_url


def summary_download(ctx, metrics: OverviewMetrics, trend: pl.DataFrame,
                     mix: pl.DataFrame) -> None:
    """A button that downloads a one-page HTML summary of the Overview."""
    link = view_url()  # the full link (page + every setting), as in the copy box
    label = ", ".join(c.label() for c in ctx.filters.conditions) or "none"
    # Built only when clicked: the page embeds Plotly's JavaScript (several MB).
    st.download_button("Export one-page summary (HTML)",
                       data=lambda: summary_html(metrics, trend, mix,
                                                 dataset_name=ctx.dataset_name,
                                                 filters_label=label, link=link).encode(),
                       file_name="pathlens_summary.html", mime="text/html",
                       key="overview.summary", icon=":material/summarize:", on_click="ignore")
