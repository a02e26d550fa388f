"""AppTest: the Cart abandonment page on the sample, on small datasets, and retraining."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import make_events
from streamlit.testing.v1 import AppTest

from core.cart.model import BUNDLED_DIR, WEIGHTS_FILE
from core.cart.toy import toy_events
from core.store import DatasetStore

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "pages" / "cart.py")

pytestmark = pytest.mark.skipif(not (BUNDLED_DIR / WEIGHTS_FILE).is_file(),
                                reason="the bundled model has not been trained yet")


def run(**params) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=300)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest, kind: str) -> str:
    return " ".join(e.value for e in getattr(at, kind))


@pytest.fixture(scope="module")
def small_id() -> str:
    """A stored dataset with 120 cart sessions: scored, but too small to retrain on."""
    return DatasetStore().put(toy_events(sessions=120, seed=21), name="small shop")


@pytest.fixture(scope="module")
def toy_id() -> str:
    """A stored dataset with 300 cart sessions: enough to retrain (in a few seconds)."""
    return DatasetStore().put(toy_events(sessions=300, seed=22), name="toy shop")


def test_sample_page_shows_curves_open_carts_and_a_timeline():
    at = run()
    keys = {c.key for c in at.get("plotly_chart")}
    assert keys == {"cart.roc", "cart.pr", "cart.calibration", "cart.confusion", "cart.timeline"}
    assert at.selectbox(key="cart.session").value is not None
    open_value = next(m.value for m in at.metric if m.label == "Open carts")
    assert int(open_value.replace(",", "")) > 0
    assert at.button(key="cart.retrain").disabled is False
    assert "ROC AUC" in texts(at, "markdown")
    downloads = [b.proto.id for b in at.get("download_button")]
    assert any(i.endswith("cart.dl_open") for i in downloads)


def test_threshold_and_session_come_from_the_url():
    first = run()
    riskiest = first.selectbox(key="cart.session").options[1]
    at = run(**{"cart.threshold": "0.3", "cart.session": riskiest})
    assert at.slider(key="cart.threshold").value == pytest.approx(0.3)
    assert at.selectbox(key="cart.session").value == riskiest
    at.slider(key="cart.threshold").set_value(0.9).run()
    assert not at.exception


def test_invalid_url_values_never_crash():
    run(**{"cart.threshold": "lots", "cart.session": "no-such-session", "cart.model": "magic"})
    run(**{"cart.threshold": "7", "cart.model": "this dataset's model"})


def test_a_dataset_without_carts_explains_itself():
    events = make_events({"u1": [("view_item", "00:00"), ("purchase", "00:05")],
                          "u2": [("page_view", "00:00")]})
    ds = DatasetStore().put(events, name="no carts")
    at = run(dataset=ds)
    assert "nothing to predict" in texts(at, "info")
    assert len(at.get("plotly_chart")) == 0


def test_too_few_carts_refuse_retraining_with_a_reason(small_id):
    at = run(dataset=small_id)
    info = texts(at, "info")
    assert "120 labelled cart sessions" in info and "at least 200" in info
    assert at.button(key="cart.retrain").disabled is True


def test_retraining_stores_a_model_that_the_link_then_uses(toy_id):
    at = run(dataset=toy_id)
    assert at.segmented_control(key="cart.model").options == ["bundled model"]
    at.button(key="cart.retrain").click().run()
    assert not at.exception, at.exception
    assert "Stored with the dataset" in texts(at, "success")
    assert (DatasetStore().model_dir(toy_id) / "model.safetensors").is_file()
    again = run(dataset=toy_id, **{"cart.model": "this dataset's model"})
    assert again.segmented_control(key="cart.model").value == "this dataset's model"
    assert "of this dataset" in texts(again, "markdown")  # the card of the retrained model


def test_filters_that_leave_no_cart_show_the_explanation():
    at = run(where="event_type:eq:view_item")
    assert "nothing to predict" in texts(at, "info")
