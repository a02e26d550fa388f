"""Cached wrappers of the Cart abandonment page, and retraining a dataset's own model.

A model retrained from the page is written into the dataset store next to the data
(``store.model_dir(dataset_id)``), so a shared link to the dataset uses the same model. Models
are identified by a hashable key: ``"bundled"`` or ``"dataset:<mtime of its config>"`` (the
mtime changes on retraining, which invalidates every cached result computed with the old one).
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl
import streamlit as st

from core.cart import (
    CartModel,
    Metrics,
    evaluate,
    explain,
    load_bundled_model,
    load_model,
    save_model,
    score_carts,
    training_refusal,
)
from core.cart.card import ModelCard, model_label
from core.cart.model import CONFIG_FILE
from core.errors import ModelError
from core.filters import FilterParams
from ui.data import filtered_events, get_store
from ui.shell import download_csv

BUNDLED = "bundled"
#: Seconds a retraining from the page may take before it stops with its best epoch so far.
RETRAIN_TIME_LIMIT = 600.0


@st.cache_resource(show_spinner="Loading the model…")
def bundled_model() -> CartModel:
    """The bundled model, loaded once per process."""
    return load_bundled_model()


@st.cache_resource(max_entries=4, show_spinner="Loading the dataset's model…")
def _dataset_model(dataset_id: str, stamp: float) -> CartModel:
    return load_model(get_store().model_dir(dataset_id))


def dataset_model_key(dataset_id: str) -> str | None:
    """The key of the model stored with the dataset, or None when it has none."""
    config = get_store().model_dir(dataset_id) / CONFIG_FILE
    if not config.is_file():
        return None
    return f"dataset:{config.stat().st_mtime_ns}"


def get_model(dataset_id: str, model_key: str) -> CartModel:
    """The model a key names (``"bundled"`` or a :func:`dataset_model_key`).

    Raises
    ------
    ModelError
        The files are missing or do not match this code.
    """
    if model_key == BUNDLED:
        return bundled_model()
    if not model_key.startswith("dataset:"):
        raise ModelError(f"unknown model {model_key!r}; expected 'bundled' or a dataset model")
    return _dataset_model(dataset_id, float(model_key.split(":", 1)[1]))


@st.cache_data(max_entries=8, show_spinner="Checking the carts…")
def cached_refusal(dataset_id: str, filters: FilterParams, seg: str = "") -> str:
    """Why the filtered data cannot be trained on ("" when it can)."""
    return training_refusal(filtered_events(dataset_id, filters, seg))


@st.cache_data(max_entries=8, show_spinner="Measuring the model on the latest carts "
                                            "(and fitting both baselines)…")
def cached_evaluation(dataset_id: str, filters: FilterParams, model_key: str,
                      seg: str = "") -> Metrics:
    """Held-out figures of the model and both baselines on the filtered data."""
    return evaluate(get_model(dataset_id, model_key), filtered_events(dataset_id, filters, seg))


@st.cache_data(max_entries=8, show_spinner="Scoring every cart…")
def cached_scores(dataset_id: str, filters: FilterParams, model_key: str,
                  seg: str = "") -> pl.DataFrame:
    """Risk of every cart session of the filtered data (:func:`core.score_carts`)."""
    return score_carts(get_model(dataset_id, model_key), filtered_events(dataset_id, filters, seg))


@st.cache_data(max_entries=32, show_spinner="Explaining the session…")
def cached_explanation(dataset_id: str, filters: FilterParams, model_key: str,
                       session_id: str, seg: str = "") -> pl.DataFrame:
    """Occlusion explanation of one session (with its user's earlier sessions as history)."""
    events = filtered_events(dataset_id, filters, seg)
    own = events.filter(pl.col("session_id") == session_id)
    if own.height == 0:
        return explain(get_model(dataset_id, model_key), own)
    user = own["user_id"][0]
    end = own["ts"].max()
    history = events.filter((pl.col("user_id") == user) & (pl.col("ts") <= end)
                            & ((pl.col("session_id") == session_id)
                               | (pl.col("ts") < own["ts"].min())))
    return explain(get_model(dataset_id, model_key), history)


def retrain(dataset_id: str, filters: FilterParams,
            progress: Callable[[float, str], None], seg: str = "") -> tuple[ModelCard, Metrics]:
    """Train a model on the filtered data, store it with the dataset, and measure the
    bundled model on the same split for comparison (not cached: it writes the store).

    Raises
    ------
    ParameterError
        The data cannot be trained on (too few labelled carts...).
    """
    from core.cart import train_model

    events = filtered_events(dataset_id, filters, seg)
    model, card = train_model(events, seed=0, time_limit=RETRAIN_TIME_LIMIT, progress=progress)
    where = "all events" if filters.is_empty else "the events matching the sidebar filters"
    card = ModelCard(**{**card.to_dict(), "name": dataset_id,
                        "trained_on": f"{where} of this dataset ({card.trained_on})"})
    save_model(model, card, get_store().model_dir(dataset_id))
    comparison = cached_evaluation(dataset_id, filters, BUNDLED, seg)
    return card, comparison


def labelled(table: pl.DataFrame) -> pl.DataFrame:
    """A metrics table with display names in its ``model`` column."""
    return table.with_columns(pl.col("model").replace(
        {m: model_label(m) for m in ("model", "logreg", "hgb")}))


def retrain_panel(dataset_id: str, filters: FilterParams, seg: str = "") -> None:
    """The "Retrain on this dataset" button: refused with the reason when the data is too
    small; otherwise trains with a progress bar, stores the model with the dataset and shows
    it against the baselines and the bundled model on the same split."""
    from ui.shell import guarded

    reason = cached_refusal(dataset_id, filters, seg)
    if reason:
        st.info(f"Retraining is not possible here: {reason}.")
    if not st.button("Retrain on this dataset", key="cart.retrain", disabled=bool(reason),
                     help="Trains a model on these carts (seeded, time split) and stores it "
                          "with the dataset, so a shared link uses it."):
        return
    bar = st.progress(0.0, text="Starting…")
    done = guarded(lambda: retrain(dataset_id, filters,
                                   lambda f, msg: bar.progress(f, text=msg), seg))
    if done is None:
        return
    card, bundled = done
    rows = [{**r, "model": f"retrained: {model_label(r['model'])}"} for r in card.test_metrics]
    if bundled.ok:
        rows.append({**bundled.row("model"), "model": "bundled model"})
    st.success("Stored with the dataset; choose “this dataset's model” above to use it.")
    st.dataframe(pl.DataFrame(rows), hide_index=True)
    download_csv(pl.DataFrame(rows), "retrained_vs_bundled.csv", key="cart.dl_retrain")
