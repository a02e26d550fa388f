"""Issue 14 (App): the precision-recall figure of the Cart page draws only the points of the
plotted curve, not one point per held-out cart (its browser drawing time grew with the data)."""

from __future__ import annotations

import numpy as np
import polars as pl
from sklearn.metrics import precision_recall_curve

from core.cart.evaluate import MODELS, Metrics
from core.cart.figures import pr_figure


def random_metrics(n: int, seed: int = 0) -> Metrics:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.6
    preds = {f"p_{m}": np.clip(0.6 * y + rng.normal(0.2, 0.3, n), 0, 1) for m in MODELS}
    table = pl.DataFrame({"model": list(MODELS), "roc_auc": [0.8] * 3, "pr_auc": [0.7] * 3})
    predictions = pl.DataFrame({"session_id": [f"s{i}" for i in range(n)], "cart_index": [0] * n,
                                "abandoned": y, "cart_value": [1.0] * n, **preds})
    return Metrics(table=table, predictions=predictions, n_test_sessions=n)


def test_pr_curves_keep_only_the_points_of_the_plotted_curve():
    metrics = random_metrics(4000)
    fig = pr_figure(metrics)
    y = metrics.predictions["abandoned"].to_numpy()
    curves = [t for t in fig.data if t.mode == "lines"]
    assert len(curves) == len(MODELS)
    for trace, m in zip(curves, MODELS, strict=True):
        prec, rec, _ = precision_recall_curve(y, metrics.predictions[f"p_{m}"].to_numpy())
        full = set(zip(np.round(rec, 12), np.round(prec, 12), strict=True))
        shown = list(zip(np.round(trace.x, 12), np.round(trace.y, 12), strict=True))
        assert len(shown) < len(full)  # thinned (2,958 -> 2,225 points here)
        assert set(shown) <= full  # every point drawn lies on the exact curve
        # both ends of the curve are kept (recall 1 at the lowest threshold, 0 at the top)
        assert max(trace.x) == 1.0 and min(trace.x) == 0.0
