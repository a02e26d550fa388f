"""Cart abandonment: which carts will be abandoned, why, and a model retrained on this data."""

import polars as pl
import streamlit as st

from core.cart import revenue_at_risk
from core.cart.figures import (
    calibration_figure,
    confusion_counts,
    confusion_figure,
    pr_figure,
    roc_figure,
    timeline_figure,
)
from ui.cart import (
    BUNDLED,
    cached_evaluation,
    cached_explanation,
    cached_scores,
    dataset_model_key,
    get_model,
    labelled,
    retrain_panel,
)
from ui.shell import download_csv, guarded, page_setup

ctx = page_setup("Cart abandonment", icon=":material/remove_shopping_cart:")
st.caption("At each add-to-cart, a sequence model (GRU) reads the visit so far and estimates "
           "the risk that it ends without a purchase. Figures are measured on the latest 20 % "
           "of carts, which no model was fitted on.")

own = dataset_model_key(ctx.dataset_id)
choices = ["this dataset's model", "bundled model"] if own else ["bundled model"]
choice = st.segmented_control("Model", choices, default=choices[0], required=True,
                              key="cart.model", bind="query-params") or choices[0]
model_key = own if own and choice == choices[0] else BUNDLED
model = guarded(lambda: get_model(ctx.dataset_id, model_key))
if model is None:
    st.stop()
with st.expander("The model card, in plain words"):
    st.markdown(model.card.summary())
    card_table = labelled(pl.DataFrame(model.card.test_metrics))
    st.dataframe(card_table, hide_index=True)
    download_csv(card_table, "model_card_metrics.csv", key="cart.dl_card")

scores = guarded(lambda: cached_scores(ctx.dataset_id, ctx.filters, model_key, ctx.seg))
if scores is None:
    st.stop()
if scores.height == 0:
    present = ", ".join(ctx.info.event_types) or "none"
    st.info("There is nothing to predict: no session of this data (with these filters) has an "
            f"add_to_cart event, and a cart must exist before it can be abandoned. Event types "
            f"present: {present}. If carts are named differently in your export, map them on "
            "the Data page.")
    st.stop()

st.subheader("How well it predicts on this data")
metrics = guarded(lambda: cached_evaluation(ctx.dataset_id, ctx.filters, model_key, ctx.seg))
if metrics is not None and not metrics.ok:
    st.info(f"No held-out figures: {metrics.reason}.")
elif metrics is not None:
    st.dataframe(labelled(metrics.table), hide_index=True)
    download_csv(labelled(metrics.table), "held_out_metrics.csv", key="cart.dl_metrics")
    cols = st.columns(3)
    cols[0].plotly_chart(roc_figure(metrics), key="cart.roc")
    cols[1].plotly_chart(pr_figure(metrics), key="cart.pr")
    cols[2].plotly_chart(calibration_figure(metrics), key="cart.calibration")

threshold = st.slider("Flag a cart as at risk from", 0.0, 1.0, round(model.threshold, 2),
                      step=0.01, key="cart.threshold", bind="query-params",
                      help="The model's own threshold maximises recall minus false alarms.")
risk = revenue_at_risk(scores, threshold=threshold)
m = st.columns(4)
m[0].metric("Open carts", f"{risk['open_carts']:,}", help="No purchase after the last add.")
m[1].metric("Value in open carts", f"{risk['open_value']:,.2f}")
m[2].metric("Expected to be lost", f"{risk['expected_loss']:,.2f}",
            help="Sum over open carts of risk × cart value.")
m[3].metric("Flagged at risk", f"{risk['flagged_carts']:,}",
            help=f"Worth {risk['flagged_value']:,.2f}.")
if metrics is not None and metrics.ok:
    left, right = st.columns([2, 3])
    left.plotly_chart(confusion_figure(metrics, threshold), key="cart.confusion")
    c = confusion_counts(metrics, threshold)
    right.markdown(
        f"On the held-out carts, this threshold flags **{c['tp']:,}** carts that were indeed "
        f"abandoned (worth {c['flagged_abandoned_value']:,.2f}) and **{c['fp']:,}** that were "
        f"bought anyway; it misses **{c['fn']:,}** abandoned carts.")

st.subheader("Open carts, riskiest first")
open_carts = scores.filter(pl.col("open")).drop("open", "purchased")
st.dataframe(open_carts, hide_index=True, column_config={
    "p_abandon": st.column_config.ProgressColumn("risk", min_value=0.0, max_value=1.0,
                                                 format="percent"),
    "idle_minutes": st.column_config.NumberColumn("idle (min)", format="%.0f")})
download_csv(open_carts, "open_carts.csv", key="cart.dl_open")

st.subheader("Why is this cart at risk?")
options = scores["session_id"].head(300).to_list()
session = st.selectbox("Cart session (the 300 riskiest)", options, key="cart.session",
                       bind="query-params")
if session is not None:
    ex = guarded(lambda: cached_explanation(ctx.dataset_id, ctx.filters, model_key, session,
                                                ctx.seg))
    if ex is not None:
        st.plotly_chart(timeline_figure(ex), key="cart.timeline")
        with st.expander("Every event and context input"):
            st.dataframe(ex, hide_index=True)
            download_csv(ex, f"cart_{session}.csv", key="cart.dl_explain")

st.subheader("Retrain on this dataset")
retrain_panel(ctx.dataset_id, ctx.filters, ctx.seg)
