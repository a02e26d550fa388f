"""Cart abandonment: which model fits this data, which carts can still be recovered, their
risk, and why."""

import polars as pl
import streamlit as st

from core.cart.figures import (
    calibration_figure,
    confusion_counts,
    confusion_figure,
    pr_figure,
    reasons_figure,
    roc_figure,
    timeline_figure,
)
from ui.cart import (
    DEFAULT_WINDOW_DAYS,
    cached_choice,
    cached_explanation,
    cached_reasons,
    cached_status,
    carts_tables,
    chosen_metrics,
    chosen_model_key,
    explainable_carts,
    get_model,
    labelled,
    metrics_for_people,
    money,
    reason_sentences,
    reasons_for_people,
    recovery_summary,
    retrained_model_key,
    riskiest_cohort_control,
)
from ui.cart_choice import forget_model_link, model_panel
from ui.shell import download_csv, guarded, page_setup
from ui.tables import show_table

ctx = page_setup("Cart abandonment", icon=":material/remove_shopping_cart:")
st.caption("At each add-to-cart, a sequence model reads the visit so far and estimates the "
           "risk that it ends without a purchase. Before showing any risk, the page measures "
           "the bundled model on the latest 20 % of this data's carts, which no model was "
           "fitted on, and trains a model for this data when the bundled one is not good "
           "enough here.")
forget_model_link(ctx)

trained_key = retrained_model_key(ctx.view)
choice = guarded(lambda: cached_choice(ctx.view, trained_key))
if choice is None:
    st.stop()
model_key = chosen_model_key(choice, trained_key)
if choice.n_carts:
    model_panel(ctx.view, choice, trained_key)
model = guarded(lambda: get_model(ctx.view, model_key))
if model is None:
    st.stop()
with st.expander(f"The card of the {choice.name}, in plain words"):
    st.markdown(model.card.summary())
    card_table = labelled(pl.DataFrame(model.card.test_metrics))
    show_table(metrics_for_people(pl.DataFrame(model.card.test_metrics)), key="cart.card_table")
    download_csv(card_table, "model_card_metrics.csv", key="cart.dl_card")

window = st.number_input(
    "Recovery window (days)", min_value=1, max_value=365, value=DEFAULT_WINDOW_DAYS, step=1,
    key="cart.window",
    bind="query-params", help="A cart is open (recoverable) when its visit is over and its "
    "last event is at most this many days before the data's end.")
status = guarded(lambda: cached_status(ctx.view, model_key, int(window)))
if status is None:
    st.stop()
if status.height == 0:
    present = ", ".join(ctx.info.event_types) or "none"
    st.info("There is nothing to predict: no session of this data (with these filters) has an "
            f"add_to_cart event, and a cart must exist before it can be abandoned. Event types "
            f"present: {present}. If carts are named differently in your export, map them on "
            "the Data page.")
    st.stop()

st.subheader(f"How well the {choice.name} predicts on this data")
metrics = guarded(lambda: chosen_metrics(ctx.view, choice, model_key))
if metrics is None and not choice.verified:
    st.info("No held-out figures on this data: see “Model used on this data” above.")
elif metrics is not None and not metrics.ok:
    st.info(f"No held-out figures: {metrics.reason}.")
elif metrics is not None:
    cols = st.columns(3)
    cols[0].plotly_chart(roc_figure(metrics), key="cart.roc")
    cols[1].plotly_chart(pr_figure(metrics), key="cart.pr")
    cols[2].plotly_chart(calibration_figure(metrics), key="cart.calibration")
    with st.expander("Precision, recall and F1 at each model's threshold"):
        show_table(metrics_for_people(metrics.table), key="cart.metrics_table")
        download_csv(labelled(metrics.table), "held_out_metrics.csv", key="cart.dl_metrics")

threshold = st.slider("Flag a cart as at risk from", 0.0, 1.0, round(model.threshold, 2),
                      step=0.01, key="cart.threshold", bind="query-params",
                      help="The model's own threshold maximises recall minus false alarms.")
known = recovery_summary(status, threshold=threshold, window=int(window))
if metrics is not None and metrics.ok:
    left, right = st.columns([2, 3])
    left.plotly_chart(confusion_figure(metrics, threshold), key="cart.confusion")
    c = confusion_counts(metrics, threshold)
    right.markdown(
        f"On the {metrics.n_test_sessions:,} held-out carts, this threshold flags "
        f"**{c['tp']:,}** add-to-carts that were indeed abandoned (worth "
        f"{money(c['flagged_abandoned_value'], known)}) and **{c['fp']:,}** that were bought "
        f"anyway; it misses **{c['fn']:,}** abandoned ones.")

unverified = "" if choice.verified else (
    "Unverified: these risks come from the bundled model, which could not be measured on this "
    "data (see “Model used on this data” above).")
carts_tables(status, window=int(window), note=unverified,
             below_open=lambda: riskiest_cohort_control(ctx.view, status, threshold))

st.subheader("Why is this cart at risk?")
session = st.selectbox("Cart (the 300 riskiest carts not bought, open ones first)",
                       explainable_carts(status), key="cart.session", bind="query-params")
if session is not None:
    reasons = guarded(lambda: cached_reasons(ctx.view, model_key, session))
    if reasons is not None:
        for sentence in reason_sentences(reasons):
            st.markdown(f"- {sentence}")
        st.plotly_chart(reasons_figure(reasons), key="cart.reasons")
        show_table(reasons_for_people(reasons), key="cart.reasons_table")
        download_csv(reasons, f"cart_{session}_reasons.csv", key="cart.dl_reasons")
    with st.expander("Technical detail: each event's contribution"):
        ex = guarded(lambda: cached_explanation(ctx.view, model_key, session))
        if ex is not None:
            st.plotly_chart(timeline_figure(ex), key="cart.timeline")
            st.dataframe(ex, hide_index=True)
            download_csv(ex, f"cart_{session}.csv", key="cart.dl_explain")
