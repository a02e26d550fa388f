"""The background warm-up fills exactly the caches the Cart and Segments pages' default views
read (issue 14: ui.cart.warm_up, ui.boot.warm_up_default_views).

A server runs it in the background after its first page (ui.boot), so that the first visit to
the Cart page does not fit both baselines on the spot. The page is then run with every engine
it calls replaced by one that fails: it only shows its figures if each cache key the warm-up
filled is the one the page asks for (dataset and filters, model, default window, first cart).
"""

from __future__ import annotations

import ui.cart
from core.store import SAMPLE_ID
from tests.apptest import run_page
from ui.view import DataView

ENGINES = ("choose_model", "evaluate", "score_carts", "explain_reasons", "explain",
           "training_refusal", "reason_context")


def test_a_first_visit_after_the_warm_up_computes_nothing(monkeypatch):
    ui.cart.warm_up(DataView(SAMPLE_ID))

    def recomputed(*args, **kwargs):
        raise AssertionError("the page recomputed what the warm-up should have cached")

    for name in ENGINES:
        monkeypatch.setattr(ui.cart, name, recomputed)
    at = run_page("cart")  # asserts that no exception is shown
    assert not at.error, [e.value for e in at.error]
    assert [m.label for m in at.metric][:2] == ["ROC AUC on this data", "Brier score"]
    assert "Open carts (recoverable)" in [m.label for m in at.metric]
    # ROC, precision-recall, calibration, confusion, the cart's reasons and its timeline
    assert len(at.get("plotly_chart")) == 6


def test_a_dataset_the_page_cannot_use_is_left_to_the_page():
    # an unknown dataset: the store refuses it; the warm-up neither raises nor caches anything
    ui.cart.warm_up(DataView("0123456789abcdef0123456789abcdef"))



def test_the_segments_default_view_is_warmed_too(monkeypatch):
    import ui.segments
    from ui.boot import warm_up_default_views

    warm_up_default_views(DataView(SAMPLE_ID))

    def recomputed(*args, **kwargs):
        raise AssertionError("the page recomputed what the warm-up should have cached")

    for name in ("fit", "user_features_partition", "feature_availability"):
        monkeypatch.setattr(ui.segments, name, recomputed)
    at = run_page("segments")
    assert not at.error, [e.value for e in at.error]
    assert [m.label for m in at.metric][:2] == ["Users", "Segments"]
