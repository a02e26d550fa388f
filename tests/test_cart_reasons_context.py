"""Issue 14 (App): the typical values a cart's reasons are compared with are taken once per
dataset, filters and model, not again for every cart a person picks on the Cart page."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from core import explain_reasons, load_bundled_model
from core.cart.model import BUNDLED_DIR, WEIGHTS_FILE
from core.cart.reasons import reason_context
from core.dev.cart_toy import toy_events
from core.filters import FilterParams
from ui.view import DataView

pytestmark = pytest.mark.skipif(not (BUNDLED_DIR / WEIGHTS_FILE).is_file(),
                                reason="the bundled model has not been trained yet")


@pytest.fixture(scope="module")
def model():
    return load_bundled_model()


@pytest.fixture(scope="module")
def toy() -> pl.DataFrame:
    return toy_events(sessions=120, seed=5)


def test_a_shared_context_gives_the_same_reasons(model, toy):
    ctx = reason_context(model, toy)
    carts = ctx.prefixes["session_id"].head(3).to_list()
    for cart in carts:
        assert_frame_equal(explain_reasons(model, None, session_ids=[cart], context=ctx),
                           explain_reasons(model, toy, session_ids=[cart]))
    assert_frame_equal(explain_reasons(model, None, context=ctx), explain_reasons(model, toy))


def test_the_cart_page_takes_the_typical_cart_once(model, toy, monkeypatch):
    import ui.cart as cart

    calls = []

    def counted(m, events):
        calls.append(events.height)
        return reason_context(m, events)

    monkeypatch.setattr(cart, "reason_context", counted)
    monkeypatch.setattr(cart, "cart_events", lambda *a, **k: toy)
    cart.cached_reasons.clear()
    cart._reason_context.clear()
    carts = reason_context(model, toy).prefixes["session_id"].head(3).to_list()
    view = DataView("toy-ds", FilterParams())
    got = [cart.cached_reasons(view, cart.BUNDLED, c) for c in carts]
    assert len(calls) == 1  # three carts explained, the typical cart taken once
    for c, r in zip(carts, got, strict=True):
        assert_frame_equal(r, explain_reasons(model, toy, session_ids=[c]))
    cart.cached_reasons.clear()
    cart._reason_context.clear()
