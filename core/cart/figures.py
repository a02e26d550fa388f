"""Plotly figures and small tables of the cart-abandonment page (no streamlit here)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import polars as pl
from sklearn.metrics import precision_recall_curve, roc_curve

from core.cart.card import model_label
from core.cart.evaluate import Metrics
from core.cart.params import RISK_CONSTRAINTS, plain_number
from core.cart.stats import MODELS, reliability
from core.params import check_constraints

_COLORS = {"model": "#1f77b4", "logreg": "#ff7f0e", "hgb": "#2ca02c"}


def _check_threshold(threshold: float) -> float:
    t = plain_number(threshold)
    check_constraints({"threshold": t}, RISK_CONSTRAINTS)
    return float(t)


def _empty(title: str, reason: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, xaxis={"visible": False}, yaxis={"visible": False},
                      annotations=[{"text": reason, "showarrow": False}])
    return fig


def roc_figure(metrics: Metrics) -> go.Figure:
    """ROC curves of the model and both baselines on the test prefixes (abandoned = positive)."""
    if not metrics.ok:
        return _empty("ROC curve", metrics.reason)
    y = metrics.predictions["abandoned"].cast(pl.Int8).to_numpy()
    fig = go.Figure()
    for m in MODELS:
        fpr, tpr, _ = roc_curve(y, metrics.predictions[f"p_{m}"].to_numpy())
        auc = metrics.row(m)["roc_auc"]
        fig.add_scatter(x=fpr, y=tpr, mode="lines", name=f"{model_label(m)} ({auc:.3f})",
                        line={"color": _COLORS[m], "width": 3 if m == "model" else 1.5})
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance",
                    line={"dash": "dot", "color": "grey"})
    fig.update_layout(title="ROC curve (held-out carts)",
                      xaxis_title="purchased carts flagged (false-positive rate)",
                      yaxis_title="abandoned carts flagged (recall)", legend={"x": 0.4, "y": 0.05})
    return fig


def pr_figure(metrics: Metrics) -> go.Figure:
    """Precision-recall curves of the model and both baselines (abandoned = positive)."""
    if not metrics.ok:
        return _empty("Precision-recall curve", metrics.reason)
    y = metrics.predictions["abandoned"].cast(pl.Int8).to_numpy()
    fig = go.Figure()
    for m in MODELS:
        # only the thresholds that show on the plotted curve: one point per held-out cart
        # (7,856 on the sample, three curves) drew slowly in the browser on every visit
        prec, rec, _ = precision_recall_curve(y, metrics.predictions[f"p_{m}"].to_numpy(),
                                              drop_intermediate=True)
        ap = metrics.row(m)["pr_auc"]
        fig.add_scatter(x=rec, y=prec, mode="lines", name=f"{model_label(m)} ({ap:.3f})",
                        line={"color": _COLORS[m], "width": 3 if m == "model" else 1.5})
    fig.add_hline(y=float(y.mean()), line_dash="dot", line_color="grey",
                  annotation_text="abandonment rate")
    fig.update_layout(title="Precision-recall curve (held-out carts)",
                      xaxis_title="recall", yaxis_title="precision",
                      legend={"x": 0.02, "y": 0.05}, yaxis_range=[0, 1.02])
    return fig


def calibration_figure(metrics: Metrics, *, bins: int = 10) -> go.Figure:
    """Reliability diagram: mean predicted risk against the observed abandonment rate."""
    if not metrics.ok:
        return _empty("Calibration", metrics.reason)
    y = metrics.predictions["abandoned"].cast(pl.Float64).to_numpy()
    fig = go.Figure()
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                    line={"dash": "dot", "color": "grey"})
    for m in MODELS:
        r = reliability(y, metrics.predictions[f"p_{m}"].to_numpy(), bins=bins)
        fig.add_scatter(x=r["mean_predicted"], y=r["observed"], mode="lines+markers",
                        name=model_label(m), customdata=r["n"],
                        hovertemplate="predicted %{x:.2f}, observed %{y:.2f}, "
                                      "%{customdata} carts<extra></extra>",
                        line={"color": _COLORS[m], "width": 3 if m == "model" else 1.5})
    fig.update_layout(title="Calibration (held-out carts)", xaxis_title="predicted risk",
                      yaxis_title="share actually abandoned", xaxis_range=[0, 1],
                      yaxis_range=[0, 1], legend={"x": 0.02, "y": 0.98})
    return fig


def confusion_counts(metrics: Metrics, threshold: float, *, model: str = "model",
                     ) -> dict[str, float]:
    """Confusion matrix of the held-out prefixes at ``threshold`` (abandoned = positive).

    Returns
    -------
    dict
        ``tp`` (abandoned, flagged), ``fp`` (purchased, flagged), ``fn`` (abandoned, not
        flagged), ``tn`` (purchased, not flagged), and ``flagged_abandoned_value``: the cart
        value of the abandoned carts that would have been flagged.

    Raises
    ------
    ParameterError
        ``threshold`` is outside [0, 1].
    """
    t = _check_threshold(threshold)
    if not metrics.ok:
        return {"tp": 0, "fp": 0, "fn": 0, "tn": 0, "flagged_abandoned_value": 0.0}
    y = metrics.predictions["abandoned"].to_numpy()
    flagged = metrics.predictions[f"p_{model}"].to_numpy() >= t
    value = metrics.predictions["cart_value"].to_numpy()
    return {"tp": int(np.sum(flagged & y)), "fp": int(np.sum(flagged & ~y)),
            "fn": int(np.sum(~flagged & y)), "tn": int(np.sum(~flagged & ~y)),
            "flagged_abandoned_value": float(value[flagged & y].sum())}


def confusion_figure(metrics: Metrics, threshold: float) -> go.Figure:
    """Confusion matrix of the model on the held-out prefixes at ``threshold`` (heatmap)."""
    c = confusion_counts(metrics, threshold)
    if not metrics.ok:
        return _empty("Confusion matrix", metrics.reason)
    z = [[c["tp"], c["fn"]], [c["fp"], c["tn"]]]
    fig = go.Figure(go.Heatmap(
        z=z, x=["flagged at risk", "not flagged"], y=["abandoned", "purchased"],
        text=[[f"{v:,}" for v in row] for row in z], texttemplate="%{text}",
        colorscale="Blues", showscale=False))
    fig.update_layout(title=f"Confusion matrix at {float(threshold):.2f}",
                      yaxis={"autorange": "reversed"}, xaxis_title="prediction",
                      yaxis_title="what happened")
    return fig


def timeline_figure(explanation: pl.DataFrame) -> go.Figure:
    """How each event of a session moved its risk (occlusion contributions), in order."""
    events = explanation.filter((pl.col("kind") == "event") & pl.col("in_prefix"))
    if events.height == 0:
        return _empty("Session timeline", "this session has no add_to_cart to explain")
    risk = float(events["risk"][0])
    contrib = events["contribution"].fill_null(0.0).to_numpy()
    labels = [f"{i}. {lbl}" for i, lbl in zip(events["position"], events["label"], strict=True)]
    fig = go.Figure(go.Bar(
        x=contrib, y=labels, orientation="h",
        marker_color=["#d62728" if v > 0 else "#2ca02c" for v in contrib],
        customdata=events["ts"].dt.strftime("%Y-%m-%d %H:%M:%S").to_list(),
        hovertemplate="%{y}<br>%{customdata}<br>contribution %{x:+.3f}<extra></extra>"))
    fig.update_layout(
        title=f"What moved the risk (predicted risk {risk:.0%})",
        xaxis_title="contribution to the risk (red raised it, green lowered it)",
        yaxis={"autorange": "reversed"}, height=max(300, 28 * events.height + 120))
    return fig


def reasons_figure(reasons: pl.DataFrame) -> go.Figure:
    """Why one cart is at risk: each business reason's effect on its probability, in points.

    Parameters
    ----------
    reasons : pl.DataFrame
        The rows of one cart from :func:`core.explain_reasons`.

    Returns
    -------
    go.Figure
        Horizontal bars, largest effect on top; red raised the risk, green lowered it.
        Reasons without a measured effect are left out (they are listed in the table).
    """
    rows = reasons.filter(pl.col("effect_pp").is_not_null()).sort("rank")
    if rows.height == 0:
        return _empty("Why this cart is at risk", "no reason could be measured for this cart")
    effect = rows["effect_pp"].to_numpy()
    labels = [f"{name}: {value}" for name, value in
              zip(rows["name"], rows["this_cart"], strict=True)]
    fig = go.Figure(go.Bar(
        x=effect, y=labels, orientation="h",
        marker_color=["#d62728" if v > 0 else "#2ca02c" for v in effect],
        customdata=rows["reference"].to_list(),
        hovertemplate="%{y}<br>compared with %{customdata}<br>%{x:+.1f} points<extra></extra>"))
    fig.update_layout(
        title=f"Why this cart is at risk (risk {float(rows['risk'][0]):.0%})",
        xaxis_title="effect on the probability of abandonment, percentage points "
                    "(red raised it, green lowered it)",
        yaxis={"autorange": "reversed"}, height=max(300, 32 * rows.height + 120))
    return fig
