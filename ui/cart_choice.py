"""The Cart page's "Model used on this data" panel, and training a model for the data in the
background.

The page measures before it predicts (:func:`ui.cart.cached_choice`). When the bundled model
is below :data:`core.cart.choose.MIN_AUC` on the data's latest carts, or a baseline fitted on
the data beats it, a model is trained for the data in a background job
(:func:`ui.jobs.start_job`): the page stays usable and shows the bundled model's predictions
(said so) with the training's progress, which it polls; when the job has stored the model
(:func:`core.cart.registry.save_retrained`, for this dataset and these filters only), the page
reruns, measures it on the same test carts and uses the better of the two. A visitor may also
train one when the bundled model is good enough (the former "Retrain on this data" button):
the same job. A second visitor of the same data and filters joins the running job; trainings of
different data wait for each other (one at a time, so the server keeps a core for pages).
"""

from __future__ import annotations

import threading
import time

import polars as pl
import streamlit as st

from core.cart.card import ModelCard
from core.cart.choose import MIN_AUC, ModelChoice, train_for_dataset
from core.cart.evaluate import NEAR_CHANCE_AUC
from core.cart.registry import describe_filters, save_retrained
from core.fmt import PeopleTable
from ui.cart import cached_refusal
from ui.data import get_store
from ui.engine import cart_events
from ui.jobs import Job, Progress, job_for, start_job
from ui.shell import PageContext, download_csv
from ui.tables import show_table
from ui.urls import remove, url_value
from ui.view import DataView

#: The URL key of the former model picker (links made before the page chose the model itself).
LEGACY_MODEL_KEY = "cart.model"


def forget_model_link(ctx: PageContext) -> None:
    """A link from before the page chose its model names one (``cart.model``): drop it from
    the URL and say that the page now picks the model measured best on this data."""
    old = url_value(LEGACY_MODEL_KEY)
    if old is None:
        return
    remove(LEGACY_MODEL_KEY)
    ctx.notice(f"The link asks for the `{old[:40]}` cart model. The page no longer takes that "
               "choice: it measures the models on this data's latest carts and uses the best, "
               "named below.")


#: Seconds a training may take before it stops with its best epoch so far.
TRAIN_TIME_LIMIT = 600.0
#: Most epochs of a training (it stops earlier when the validation loss stops improving).
TRAIN_EPOCHS = 30
#: Seconds between two looks at a running training's progress.
PROGRESS_EVERY_S = 2.0

_one_training = threading.Lock()


def training_key(view: DataView) -> tuple[str, DataView]:
    """The background job key of the training for this view's data."""
    return ("cart.train", view)


def _training_work(view: DataView, events: pl.DataFrame):
    def work(progress: Progress) -> None:
        progress(0.0, "waiting for another training on this server to finish")
        with _one_training:
            progress(0.0, "preparing this data's carts")
            model, card = train_for_dataset(events, seed=0,
                                            max_epochs=TRAIN_EPOCHS,
                                            time_limit=TRAIN_TIME_LIMIT, progress=progress)
            scope = describe_filters(view.filters, view.seg)
            card = ModelCard(**{**card.to_dict(), "name": view.dataset_id,
                                "trained_on": f"this dataset with the filters “{scope}” "
                                              f"({card.trained_on})"})
            progress(1.0, "storing the model")
            save_retrained(model, card, get_store(), view.dataset_id, view.filters, view.seg)

    return work


def start_training(view: DataView) -> Job:
    """Train a model for the view's data in the background and store it for this dataset and
    these filters only (the running job when one is already training them)."""
    # the events are fetched here, in the page's run: the engine is a setting of the session
    return start_job(training_key(view), _training_work(view, cart_events(view)),
                     name="cart-training")


def candidates_for_people(choice: ModelChoice) -> PeopleTable:
    """The measured candidates as the page shows them, with the test carts and purchases that
    every figure rests on."""
    c = choice.candidates
    used = ["in use" if k == choice.chosen else "yes" if u else "no (baseline)"
            for k, u in zip(c["key"], c["usable"], strict=True)]
    n = c.height
    return PeopleTable.build({
        "Model": ("text", c["name"]),
        "ROC AUC": ("decimal", c["roc_auc"]),
        "95 % low": ("decimal", c["auc_low"]),
        "95 % high": ("decimal", c["auc_high"]),
        "Brier score": ("decimal", c["brier"]),
        "Usable": ("text", used),
        "Test carts": ("count", [choice.n_test_carts] * n),
        "Of them bought": ("count", [choice.n_test_purchases] * n),
        "Add-to-carts scored": ("count", [choice.n_test_prefixes] * n),
    })


def calibration_for_people(choice: ModelChoice) -> PeopleTable:
    """The chosen model's calibration on the test carts: predicted against observed."""
    c = choice.calibration
    return PeopleTable.build({
        "Predicted risk": ("text", [f"{lo:.0%}–{hi:.0%}" for lo, hi in
                                    zip(c["bin_lower"], c["bin_upper"], strict=True)]),
        "Test add-to-carts": ("count", c["n"]),
        "Mean predicted risk": ("percent", c["mean_predicted"]),
        "Share actually abandoned": ("percent", c["observed"]),
    })


def _headline(choice: ModelChoice) -> None:
    f = choice.figures()
    st.markdown(f"In use: **{choice.name}**")
    m = st.columns(3)
    m[0].metric("ROC AUC on this data", f"{f['roc_auc']:.3f}",
                help=f"95 % interval {f['auc_low']:.3f}–{f['auc_high']:.3f} (bootstrap over "
                     f"the test carts). 0.5 ranks carts like a coin toss, 1 perfectly; below "
                     f"{MIN_AUC:.2f} the bundled model is not trusted here.")
    m[1].metric("Brier score", f"{f['brier']:.3f}",
                help="Mean squared gap between the predicted risk and what happened (0 is "
                     "perfect); it also checks that the risks are honest percentages.")
    m[2].metric("Test carts", f"{choice.n_test_carts:,}",
                help=f"The latest 20 % of this data's {choice.n_carts:,} labelled carts, which "
                     "no model was fitted on.")
    st.caption(f"Every figure is measured on the latest {choice.n_test_carts:,} carts of this "
               f"data ({choice.n_test_purchases:,} of them bought; each of their "
               f"{choice.n_test_prefixes:,} add-to-carts scored), which no model was fitted on. Baselines are fitted on this data's "
               "earlier carts to compare with; they score only these test carts.")
    if f["roc_auc"] <= NEAR_CHANCE_AUC:
        st.warning(f"The {choice.name} ranks this data's carts near chance (ROC AUC "
                   f"{f['roc_auc']:.3f} on the latest {choice.n_test_carts:,} carts; 0.5 is a "
                   "coin toss): treat its risks as rough guesses.", icon=":material/warning:")


def model_panel(view: DataView, choice: ModelChoice, trained_key: str | None) -> None:
    """"Model used on this data": the model the page uses and why, every candidate's figures
    with the test carts they rest on, the chosen model's calibration, and the training for the
    data (started here when the bundled model is not good enough, with its progress)."""
    st.subheader("Model used on this data")
    if not choice.verified:
        st.warning(f"**Unverified on this data.** {choice.reason} The risks on this page are "
                   "the bundled model's, not checked on this data.", icon=":material/help:")
        return
    _headline(choice)
    st.markdown(f"**Why:** {choice.reason}")
    show_table(candidates_for_people(choice), key="cart.candidates")
    download_csv(choice.candidates.with_columns(
        pl.lit(choice.n_test_carts).alias("n_test_carts"),
        pl.lit(choice.n_test_prefixes).alias("n_test_add_to_carts"),
        pl.lit(choice.n_test_purchases).alias("n_test_bought")),
        "models_on_this_data.csv", key="cart.dl_candidates")
    with st.expander(f"Calibration on the test carts ({choice.name})"):
        st.caption("A calibrated model's mean predicted risk matches the share of carts "
                   "actually abandoned in each band.")
        show_table(calibration_for_people(choice), key="cart.calibration_table")
        download_csv(choice.calibration, "calibration.csv", key="cart.dl_calibration")
    training_panel(view, choice, trained_key)


def training_panel(view: DataView, choice: ModelChoice, trained_key: str | None) -> None:
    """The training for this data: its progress while it runs, why it failed, why it cannot
    run, or a button to train one anyway when the bundled model is good enough here."""
    job = job_for(training_key(view))
    if job is not None and not job.done:
        _progress(view)
        return
    if trained_key:
        return
    refusal = cached_refusal(view)
    if job is not None and job.error:
        st.error(f"Training a model for this data failed: {job.error}")
        if st.button("Try again", key="cart.train_again", disabled=bool(refusal)):
            start_training(view)
            st.rerun()
        return
    if job is not None:  # it ended well, yet no model is stored for this view: never loop
        st.warning("A model was trained for this data but is not in the store (was the "
                   "dataset deleted meanwhile?); the bundled model is used.")
        return
    if choice.train_recommended and refusal:
        st.info(f"A model for this data cannot be trained: {refusal}. The bundled model is "
                "used.")
    elif choice.train_recommended:
        start_training(view)
        _progress(view)
    elif st.button("Train a model on this data anyway", key="cart.retrain",
                   disabled=bool(refusal),
                   help=refusal or "Trains a model on these carts (seeded, time split) in the "
                                   "background, for this dataset and these filters only, "
                                   "and uses it if it measures better than the bundled one."):
        start_training(view)
        st.rerun()


@st.fragment(run_every=PROGRESS_EVERY_S)
def _progress(view: DataView) -> None:
    job = job_for(training_key(view))
    if job is None or job.done:
        st.rerun()  # the whole page: it measures the stored model and uses the better one
        return
    waited = time.time() - job.started
    st.progress(job.fraction, text=f"Training a model for this data in the background "
                                   f"({waited:.0f} s so far): {job.message}. The page stays "
                                   "usable; it switches to the better model when this ends.")
