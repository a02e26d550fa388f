"""Plotly figures of a :class:`~core.segments.Segmentation`; every builder takes the result."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from core.fmt import PALETTE, fmt_count, fmt_pct
from core.segments.features import feature_label
from core.segments.result import Segmentation


def segment_colour(number: int) -> str:
    """The colour of segment ``number`` (1..k) in every chart: by number, not by a hash of
    the name, so the k segments always get k different colours (up to ten)."""
    return PALETTE[(int(number) - 1) % len(PALETTE)]


def _empty_figure(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def silhouette_figure(seg: Segmentation) -> go.Figure:
    """Silhouette score (higher is better) and inertia (the elbow) for every k tried."""
    if seg.is_empty or seg.scores.is_empty():
        return _empty_figure(seg.reason or "no k was tried")
    s = seg.scores
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=s["k"].to_list(), y=s["silhouette"].to_list(),
                             mode="lines+markers", name="silhouette"), secondary_y=False)
    fig.add_trace(go.Scatter(x=s["k"].to_list(), y=s["inertia"].to_list(),
                             mode="lines+markers", name="inertia per user",
                             line={"dash": "dot"}), secondary_y=True)
    chosen = s.filter(pl.col("chosen"))
    if chosen.height:
        fig.add_vline(x=chosen["k"][0], line_dash="dash", line_color="grey",
                      annotation_text=f"k = {chosen['k'][0]}")
    fig.update_xaxes(title_text="k (segments)", dtick=1)
    fig.update_yaxes(title_text="silhouette (higher is better)", secondary_y=False)
    fig.update_yaxes(title_text="inertia per user (elbow)", secondary_y=True)
    fig.update_layout(title="Choosing k", legend={"orientation": "h", "y": -0.25})
    return fig


def sizes_figure(seg: Segmentation) -> go.Figure:
    """Users per segment, with their share."""
    if seg.is_empty:
        return _empty_figure(seg.reason or "")
    s = seg.sizes
    labels = [f"{n}. {name}" for n, name in zip(s["segment"], s["name"], strict=True)]
    fig = go.Figure(go.Bar(
        x=s["size"].to_list(), y=labels, orientation="h",
        marker={"color": [segment_colour(n) for n in s["segment"].to_list()]},
        text=[f"{fmt_count(v)} ({fmt_pct(p)})" for v, p in zip(s["size"], s["share"],
                                                              strict=True)],
        textposition="auto", hovertemplate="%{y}: %{text} users<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title="Segment sizes", xaxis_title="users")
    return fig


def profile_figure(seg: Segmentation) -> go.Figure:
    """Heat map of each segment's feature mean relative to the overall mean.

    Colour is ``log2(ratio)`` (clipped to +-2, i.e. 4x), so twice the average and half of it
    are equally far from white; the cell text shows the ratio.
    """
    if seg.is_empty:
        return _empty_figure(seg.reason or "")
    p = seg.profile
    feats = list(dict.fromkeys(p["feature"].to_list()))
    segs = seg.sizes
    ylabels = [f"{n}. {name}" for n, name in zip(segs["segment"], segs["name"], strict=True)]
    zmat, text = [], []
    for s_no in segs["segment"].to_list():
        rows = dict(p.filter(pl.col("segment") == s_no).select("feature", "ratio").iter_rows())
        ratios = [rows.get(f) for f in feats]
        zmat.append([None if r is None else float(np.clip(np.log2(max(r, 1e-9)), -2, 2))
                     for r in ratios])
        text.append(["" if r is None else f"{r:.2f}x" for r in ratios])
    fig = go.Figure(go.Heatmap(
        z=zmat, x=[feature_label(f) for f in feats], y=ylabels, text=text,
        texttemplate="%{text}", colorscale="RdBu", zmid=0, zmin=-2, zmax=2,
        colorbar={"title": "vs overall", "tickvals": [-2, -1, 0, 1, 2],
                  "ticktext": ["1/4x", "1/2x", "1x", "2x", "4x"]},
        hovertemplate="%{y}<br>%{x}: %{text} the overall mean<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title="Segment profiles (mean relative to all users)")
    return fig


def pca_figure(seg: Segmentation) -> go.Figure:
    """2-D PCA scatter of a sample of users (at most :data:`PROJECTION_POINTS`) by segment."""
    if seg.is_empty:
        return _empty_figure(seg.reason or "")
    p = seg.projection
    fig = go.Figure()
    for s_no, name in zip(seg.sizes["segment"], seg.sizes["name"], strict=True):
        part = p.filter(pl.col("segment") == s_no)
        fig.add_trace(go.Scatter(
            x=part["pc1"].to_list(), y=part["pc2"].to_list(), mode="markers",
            name=f"{s_no}. {name}",
            marker={"size": 5, "opacity": 0.6, "color": segment_colour(s_no)},
            text=part["user_id"].to_list(),
            hovertemplate=f"user %{{text}}<br>segment {s_no}. {name}<extra></extra>"))
    var = list(seg.explained_variance) + [0.0, 0.0]
    shown = f"{p.height:,} of {seg.n_users:,} users" if p.height < seg.n_users else "all users"
    fig.update_layout(
        title=f"Users on the first two principal components ({shown})",
        legend_title_text="segment",
        xaxis_title=f"PC1 ({var[0]:.0%} of variance)",
        yaxis_title=f"PC2 ({var[1]:.0%} of variance)")
    return fig
