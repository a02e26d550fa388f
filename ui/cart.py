"""Cached wrappers of the Cart abandonment page: which model it uses on the data, and what
that model says about the carts.

The page decides honestly (issue 15): :func:`cached_choice` measures the bundled model on the
view's latest carts (:func:`core.cart.choose.choose_model`, time split, both baselines), and,
when a model was trained for the view's data (in the background, :mod:`ui.cart_choice`),
that model on the same test carts; the page uses the better one (:func:`chosen_model_key`).

A model trained from the page belongs to the dataset *and* the filters it was trained on
(:mod:`core.cart.registry`: ``<store root>/<dataset>.model/<filters key>/``); it never
replaces the bundled model's files, and only a visitor with the same dataset and filters has
it measured and, when it is better there, used. Models are identified by a hashable key:
``"bundled"`` or ``"retrained:<mtime of its config>"`` (the mtime changes on retraining,
which invalidates every cached result computed with the old one).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import polars as pl
import streamlit as st

from core.cart import (
    CartModel,
    Metrics,
    cart_status,
    evaluate,
    explain,
    load_bundled_model,
    revenue_at_risk,
    score_carts,
    training_refusal,
)
from core.cart.card import model_label
from core.cart.choose import ModelChoice, choose_model
from core.cart.model import CONFIG_FILE
from core.cart.reasons import ReasonContext, explain_reasons, reason_context
from core.cart.registry import has_retrained_model, load_retrained, retrained_model_dir
from core.cohorts.sources import riskiest_cart_members
from core.errors import ModelError, PathLensError
from core.fmt import PeopleTable
from core.sessions import DEFAULT_SESSION_GAP
from ui.cohorts import save_cohort_control
from ui.data import get_store
from ui.engine import cart_events
from ui.shell import download_csv
from ui.view import DataView

BUNDLED = "bundled"
#: The page's default recovery window, in days.
DEFAULT_WINDOW_DAYS = 7


@st.cache_resource(show_spinner="Loading the model…")
def bundled_model() -> CartModel:
    """The bundled model, loaded once per process."""
    return load_bundled_model()


@st.cache_resource(max_entries=4, show_spinner="Loading the retrained model…")
def _retrained_model(view: DataView, stamp: int) -> CartModel:
    return load_retrained(get_store(), view.dataset_id, view.filters, view.seg)


def retrained_model_key(view: DataView) -> str | None:
    """The key of the model retrained on this dataset with exactly these filters and segments,
    or None."""
    store = get_store()
    if not has_retrained_model(store, view.dataset_id, view.filters, view.seg):
        return None
    config = retrained_model_dir(store, view.dataset_id, view.filters, view.seg) / CONFIG_FILE
    try:
        return f"retrained:{config.stat().st_mtime_ns}"
    except OSError:  # replaced by a concurrent retraining between the two checks
        return None


def get_model(view: DataView, model_key: str) -> CartModel:
    """The model a key names (``"bundled"`` or the view's :func:`retrained_model_key`).

    Raises
    ------
    ModelError
        The files are missing or do not match this code.
    """
    if model_key == BUNDLED:
        return bundled_model()
    if not model_key.startswith("retrained:"):
        raise ModelError(f"unknown model {model_key!r}; expected 'bundled' or a retrained model")
    return _retrained_model(view, int(model_key.split(":", 1)[1]))


@st.cache_data(max_entries=8, show_spinner="Checking the carts…")
def cached_refusal(view: DataView) -> str:
    """Why the view's data cannot be trained on ("" when it can)."""
    return training_refusal(cart_events(view))


@st.cache_resource(max_entries=4, show_spinner="Measuring the models on this data's latest "
                                                "carts (and fitting both baselines)…")
def cached_choice(view: DataView, trained_key: str | None) -> ModelChoice:
    """Which model the page uses on the view's data (:func:`core.cart.choose.choose_model`,
    nothing trained here): the bundled model measured on the latest carts, beside both
    baselines and, with ``trained_key`` (:func:`retrained_model_key`), the model trained for
    this view's data. A resource (read only): the choice holds the models themselves."""
    trained = get_model(view, trained_key) if trained_key else None
    return choose_model(cart_events(view), bundled=bundled_model(), train=False,
                        trained=trained)


def chosen_model_key(choice: ModelChoice, trained_key: str | None) -> str:
    """The model key of the choice's model (the other cached wrappers take it)."""
    return trained_key if trained_key and choice.chosen == "dataset" else BUNDLED


@st.cache_data(max_entries=8, show_spinner="Measuring the model on the latest carts "
                                            "(and fitting both baselines)…")
def cached_evaluation(view: DataView, model_key: str) -> Metrics:
    """Held-out figures of the model and both baselines on the view's data."""
    return evaluate(get_model(view, model_key), cart_events(view))


def chosen_metrics(view: DataView, choice: ModelChoice, model_key: str) -> Metrics | None:
    """Held-out figures of the chosen model with both baselines (curves, confusion): the
    choice's own for the bundled model; measured on the same split for a trained one."""
    if model_key == BUNDLED:
        return choice.metrics
    return cached_evaluation(view, model_key)


@st.cache_data(max_entries=8, show_spinner="Scoring every cart…")
def cached_scores(view: DataView, model_key: str) -> pl.DataFrame:
    """Risk of every cart session of the view's data (:func:`core.score_carts`)."""
    return score_carts(get_model(view, model_key), cart_events(view))


@st.cache_data(max_entries=32, show_spinner="Explaining the session…")
def cached_explanation(view: DataView, model_key: str, session_id: str) -> pl.DataFrame:
    """Occlusion explanation of one session (with its user's earlier sessions as history)."""
    events = cart_events(view)
    own = events.filter(pl.col("session_id") == session_id)
    if own.height == 0:
        return explain(get_model(view, model_key), own)
    user = own["user_id"][0]
    end = own["ts"].max()
    history = events.filter((pl.col("user_id") == user) & (pl.col("ts") <= end)
                            & ((pl.col("session_id") == session_id)
                               | (pl.col("ts") < own["ts"].min())))
    return explain(get_model(view, model_key), history)


@st.cache_data(max_entries=16, show_spinner=False)
def cached_status(view: DataView, model_key: str, window_days: int) -> pl.DataFrame:
    """:func:`cached_scores` with each cart's status (:func:`core.cart_status`): open carts
    are idle for more than the session gap and at most ``window_days`` days."""
    scores = cached_scores(view, model_key)
    return cart_status(scores, recovery_window=timedelta(days=window_days),
                       session_gap=DEFAULT_SESSION_GAP)


@st.cache_resource(max_entries=2, show_spinner="Taking the typical cart of this data…")
def _reason_context(view: DataView, model_key: str) -> ReasonContext:
    # shared by every cart's explanation (prepares and encodes every cart: seconds on the
    # sample); a resource, not data, so the prepared table is not copied on each use. Read only.
    return reason_context(get_model(view, model_key), cart_events(view))


@st.cache_data(max_entries=32, show_spinner="Explaining the cart…")
def cached_reasons(view: DataView, model_key: str, session_id: str) -> pl.DataFrame:
    """Business reasons of one cart's risk, with their effect (:func:`core.explain_reasons`);
    the typical values they are compared with are taken once per dataset, filters and model."""
    return explain_reasons(get_model(view, model_key), None, session_ids=[session_id],
                           context=_reason_context(view, model_key))


def warm_up(view: DataView) -> None:
    """Fill the caches the page's default view reads (the model choice with its held-out
    figures, the chosen model's scores at the default window, the first cart it explains and
    its timeline, the training check), so that a first visit finds them; run in the
    background after a server's first page (:func:`ui.boot.warm_up_in_background`).

    On the sample this is most of the Cart page's first visit (fitting both baselines and the
    bootstrap intervals: seconds). It never starts a training (the page does, when it is
    needed). A dataset the page cannot use is left to the page, which says why.
    """
    try:
        trained_key = retrained_model_key(view)
        choice = cached_choice(view, trained_key)
        model_key = chosen_model_key(choice, trained_key)
        status = cached_status(view, model_key, DEFAULT_WINDOW_DAYS)
        chosen_metrics(view, choice, model_key)
        for session in explainable_carts(status)[:1]:
            cached_reasons(view, model_key, session)
            cached_explanation(view, model_key, session)
        cached_refusal(view)
    except PathLensError:
        return


#: Display names of the metric columns (the CSV keeps the short names).
METRIC_NAMES = {"model": "model", "roc_auc": "ROC AUC", "pr_auc": "PR AUC",
                "brier": "Brier score", "log_loss": "log loss", "precision": "precision",
                "recall": "recall", "f1": "F1", "threshold": "threshold"}


def labelled(table: pl.DataFrame) -> pl.DataFrame:
    """A metrics table with display names in its ``model`` column."""
    return table.with_columns(pl.col("model").replace(
        {m: model_label(m) for m in ("model", "logreg", "hgb")}))


def metrics_for_people(table: pl.DataFrame) -> PeopleTable:
    """A metrics table as shown on the page: model names and metric names in words, scores
    kept as numbers shown with three decimals (the grid sorts them; the CSV download keeps
    every digit), whole numbers as counts."""
    out = labelled(table)
    out = out.rename({c: METRIC_NAMES[c] for c in out.columns if c in METRIC_NAMES})
    kinds = {c: "decimal" if t.is_float() else "count" if t.is_integer() else "text"
             for c, t in out.schema.items()}
    return PeopleTable.build({c: (k, out[c]) for c, k in kinds.items()})


def reasons_for_people(reasons: pl.DataFrame) -> PeopleTable:
    """One cart's reasons as shown on the page: words for the reason, this cart's value and
    the reference; the effect in percentage points and the risks as percentages, kept as
    numbers so the grid sorts them (the CSV download keeps the machine columns)."""
    return PeopleTable.build({
        "Rank": ("count", reasons["rank"]),
        "Reason": ("text", reasons["name"]),
        "This cart": ("text", reasons["this_cart"]),
        "Compared with": ("text", reasons["reference"]),
        "Effect on the risk": ("pp", [None if v is None else v / 100
                                      for v in reasons["effect_pp"].to_list()]),
        "Risk": ("percent", reasons["risk"]),
        "Risk were it typical": ("percent", reasons["risk_reference"]),
    })


def priced_values(status: pl.DataFrame) -> pl.DataFrame:
    """``status`` with ``cart_value`` null where the cart's value is unknown (an add or a
    removal without a price), so it shows "n/a" rather than a made-up 0.00."""
    return status.with_columns(
        pl.when(pl.col("value_known")).then(pl.col("cart_value")).alias("cart_value"))


def money(value: float, known: bool) -> str:
    """A total for a metric: the value, or "n/a" when no cart had a price."""
    return f"{value:,.2f}" if known else "n/a"


def price_note(status: pl.DataFrame) -> str:
    """Why some or all cart values are "n/a" ("" when every cart has prices)."""
    known = status["value_known"]
    if status.height == 0 or bool(known.all()):
        return ""
    if not bool(known.any()):
        return ("Cart values show n/a: the add_to_cart events of this data carry no price, so "
                "no cart has a value (if the export has a price column, map it on the Data "
                "page). Counts and risks are unaffected.")
    n = int((~known).sum())
    return (f"{n:,} of {status.height:,} carts have an add or a removal without a price: their "
            "values show n/a and count as 0 in the totals, which are therefore lower bounds.")


def reason_sentences(reasons: pl.DataFrame, *, min_points: float = 0.5) -> list[str]:
    """The reasons that moved one cart's risk by at least ``min_points``, in words (Markdown),
    the strongest raising reasons first, then the strongest lowering ones."""
    def line(r: dict, verb: str) -> str:
        return (f"**{r['name'].capitalize()}: {r['this_cart']}** {verb} the risk by "
                f"{abs(r['effect_pp']):.1f} points (compared with {r['reference']}).")

    measured = reasons.filter(pl.col("effect_pp").is_not_null())
    up = measured.filter(pl.col("effect_pp") >= min_points).sort("effect_pp", descending=True)
    down = measured.filter(pl.col("effect_pp") <= -min_points).sort("effect_pp")
    return ([line(r, "raised") for r in up.head(4).to_dicts()]
            + [line(r, "lowered") for r in down.head(3).to_dicts()])


def data_end(status: pl.DataFrame) -> str:
    """The moment the carts are looked at (the data's last event), as text."""
    row = status.row(0, named=True)
    end = row["last_event"] + timedelta(minutes=row["idle_minutes"])
    return end.strftime("%Y-%m-%d %H:%M UTC")


def recovery_summary(status: pl.DataFrame, *, threshold: float, window: int) -> bool:
    """The headline numbers of the open (recoverable) carts, and what they leave out: carts
    in progress and the abandoned-cart history. Returns whether any cart value is known."""
    known = bool(status["value_known"].any())
    valued = status.with_columns(
        pl.when(pl.col("value_known")).then("cart_value").otherwise(0.0))
    risk = revenue_at_risk(valued, threshold=threshold, status="open")
    past = revenue_at_risk(valued, threshold=threshold, status="history")
    live = int((status["status"] == "in_progress").sum())
    gap = int(DEFAULT_SESSION_GAP.total_seconds() // 60)
    m = st.columns(4)
    m[0].metric("Open carts (recoverable)", f"{risk['open_carts']:,}",
                help=f"No purchase, no event for {gap} minutes (the visit is over), last "
                     f"event within {window} days of the data's end.")
    m[1].metric("Value in open carts", money(risk["open_value"], known))
    m[2].metric("Expected to be lost", money(risk["expected_loss"], known),
                help="Sum over open carts of risk × cart value.")
    m[3].metric("Open carts flagged at risk", f"{risk['flagged_carts']:,}",
                help=f"Worth {money(risk['flagged_value'], known)}.")
    st.caption(f"Open: no purchase yet, the visit is over (no event for {gap} minutes) and the "
               f"last event is at most {window} days before the data's end "
               f"({data_end(status)}). Not counted: {live:,} carts still in progress (an event "
               f"in the last {gap} minutes) and {past['open_carts']:,} older abandoned carts "
               f"worth {money(past['open_value'], known)} (the history below).")
    if note := price_note(status):
        st.caption(note)
    return known


def carts_tables(status: pl.DataFrame, *, window: int, note: str = "",
                 below_open: Callable[[], None] | None = None) -> None:
    """The open carts, riskiest first, and the abandoned-cart history (each with a CSV).
    ``note`` is said above the open carts (e.g. that their risks are unverified);
    ``below_open`` draws what belongs under the open carts' table (saving them as a cohort)."""
    columns = {
        "p_abandon": st.column_config.ProgressColumn("risk", min_value=0.0, max_value=1.0,
                                                     format="percent"),
        "cart_value": st.column_config.NumberColumn("cart value",
                                                    help="Empty (n/a) without prices"),
        "idle_minutes": st.column_config.NumberColumn("idle (min)", format="%.0f"),
        "session_start": st.column_config.DatetimeColumn("visit started (UTC)",
                                                         format="YYYY-MM-DD HH:mm"),
        "last_event": st.column_config.DatetimeColumn("last event (UTC)",
                                                      format="YYYY-MM-DD HH:mm"),
        "prediction_time": st.column_config.DatetimeColumn("predicted at (UTC)",
                                                           format="YYYY-MM-DD HH:mm"),
        "session_id": st.column_config.TextColumn("visit"),
        "user_id": st.column_config.TextColumn("user")}
    shown = priced_values(status).drop("open", "purchased", "value_known")
    st.subheader("Open carts, riskiest first")
    if note:
        st.warning(note, icon=":material/help:")
    open_carts = shown.filter(pl.col("status") == "open").drop("status")
    st.dataframe(open_carts, hide_index=True, column_config=columns)
    download_csv(open_carts, "open_carts.csv", key="cart.dl_open")
    if below_open is not None:
        below_open()
    history = shown.filter(pl.col("status") == "history").drop("status")
    with st.expander(f"Abandoned-cart history: {history.height:,} carts idle for more than "
                     f"{window} days (no longer recoverable)"):
        st.dataframe(history, hide_index=True, column_config=columns)
        download_csv(history, "abandoned_cart_history.csv", key="cart.dl_history")


def riskiest_cohort_control(view: DataView, status: pl.DataFrame, threshold: float) -> None:
    """Save the users of the open carts flagged at risk (risk at least ``threshold``, the
    riskiest first) as a cohort (:func:`core.cohorts.sources.riskiest_cart_members`)."""
    flagged = int(((status["status"] == "open") & (status["p_abandon"] >= threshold)).sum())
    if flagged == 0:
        st.caption("No open cart is flagged at risk at this threshold: no cohort to save.")
        return
    save_cohort_control(
        view, lambda: riskiest_cart_members(status, flagged, status="open",
                                            filters=view.filters),
        source="cart_risk", key="cart.cohort", name="Riskiest open carts",
        label=f"Save the users of the {flagged:,} open carts flagged at risk as a cohort")


def explainable_carts(status: pl.DataFrame, *, limit: int = 300) -> list[str]:
    """Session ids of the ``limit`` riskiest carts not bought, open ones first."""
    pool = status.filter(~pl.col("purchased")).sort(
        pl.col("status") != "open", pl.col("p_abandon"), pl.col("session_id"),
        descending=[False, True, False])
    return pool["session_id"].head(limit).to_list()
