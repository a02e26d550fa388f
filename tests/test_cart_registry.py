"""Retrained models belong to (dataset, filters), live beside the bundled one, never replace it."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest

from core import FilterParams, ModelError, load_retrained, retrained_model_dir, save_retrained
from core.cart.model import BUNDLED_DIR, CARD_FILE, CONFIG_FILE, WEIGHTS_FILE
from core.cart.registry import (
    describe_filters,
    filters_key,
    has_retrained_model,
)
from core.dev.cart_toy import toy_events
from core.filters import Condition
from core.store import DatasetStore

MOBILE = FilterParams(conditions=(Condition("device", "eq", "mobile"),))
MARCH = FilterParams(date_from=date(2024, 3, 1), date_to=date(2024, 3, 14))


def bundled_bytes() -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in BUNDLED_DIR.iterdir()
            if p.is_file()}


@pytest.fixture(scope="module")
def trained():
    from core import train_model

    return train_model(toy_events(sessions=300, seed=4), seed=0, max_epochs=1)


def test_filters_key_is_stable_and_tells_filters_apart():
    assert filters_key(FilterParams()) == filters_key(FilterParams())
    assert filters_key(MOBILE) == filters_key(
        FilterParams(conditions=[Condition("device", "eq", "mobile")]))
    keys = {filters_key(f, seg) for f in (FilterParams(), MOBILE, MARCH)
            for seg in ("", "segments.k=4")}
    assert len(keys) == 6
    # a fixed value: the key must not depend on the process (no Python hash randomisation)
    text = '{"conditions": [], "date_from": null, "date_to": null, "seg": ""}'
    assert filters_key(FilterParams()) == hashlib.sha256(text.encode()).hexdigest()[:16]


def test_describe_filters_in_words():
    assert describe_filters(FilterParams()) == "all events"
    assert describe_filters(MARCH) == "2024-03-01 to 2024-03-14"
    assert "mobile" in describe_filters(MOBILE)


def test_a_retrained_model_is_kept_per_dataset_and_filters(tmp_path, trained):
    model, card = trained
    store = DatasetStore(tmp_path)
    ds = store.put(toy_events(sessions=300, seed=4), name="toy")
    before = bundled_bytes()
    where = save_retrained(model, card, store, ds, MOBILE)
    assert where == retrained_model_dir(store, ds, MOBILE)
    assert where.parent == store.model_dir(ds)  # deleted with the dataset
    assert {p.name for p in where.iterdir()} >= {WEIGHTS_FILE, CONFIG_FILE, CARD_FILE}
    assert not list(where.glob("*.pkl")) and not list(where.glob("*.pt"))
    assert bundled_bytes() == before  # the bundled model's files are never written
    assert has_retrained_model(store, ds, MOBILE)
    for other, seg in ((FilterParams(), ""), (MARCH, ""), (MOBILE, "segments.k=4")):
        assert not has_retrained_model(store, ds, other, seg)
        with pytest.raises(ModelError, match="no model was retrained"):
            load_retrained(store, ds, other, seg)
    again = load_retrained(store, ds, MOBILE)
    assert again.card.test_metrics == card.test_metrics
    store.delete(ds)
    assert not has_retrained_model(store, ds, MOBILE)


def test_retraining_again_replaces_only_that_model(tmp_path, trained):
    model, card = trained
    store = DatasetStore(tmp_path)
    ds = store.put(toy_events(sessions=300, seed=4), name="toy")
    save_retrained(model, card, store, ds, MOBILE)
    save_retrained(model, card, store, ds, MARCH)
    first = (retrained_model_dir(store, ds, MARCH) / CONFIG_FILE).read_bytes()
    save_retrained(model, card, store, ds, MOBILE)
    assert (retrained_model_dir(store, ds, MARCH) / CONFIG_FILE).read_bytes() == first
    leftovers = [p.name for p in store.model_dir(ds).iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_a_folder_holding_other_filters_is_refused(tmp_path, trained):
    model, card = trained
    store = DatasetStore(tmp_path)
    ds = store.put(toy_events(sessions=300, seed=4), name="toy")
    src = save_retrained(model, card, store, ds, MOBILE)
    # a hand-copied (or colliding) folder: its scope says MOBILE, the key says MARCH
    dst = retrained_model_dir(store, ds, MARCH)
    dst.mkdir(parents=True)
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    with pytest.raises(ModelError, match="other data"):
        load_retrained(store, ds, MARCH)


def test_concurrent_retrainings_of_the_same_data_leave_one_whole_model(tmp_path, trained):
    from concurrent.futures import ThreadPoolExecutor

    model, card = trained
    store = DatasetStore(tmp_path)
    ds = store.put(toy_events(sessions=300, seed=4), name="toy")
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: save_retrained(model, card, store, ds, MOBILE), range(8)))
    assert load_retrained(store, ds, MOBILE).card.test_metrics == card.test_metrics
    assert [p.name for p in store.model_dir(ds).iterdir()] == [retrained_model_dir(
        store, ds, MOBILE).name]
