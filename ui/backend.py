"""The Data page's engine panel (issue 17): which backend is active, whether Spark could run
here, and the lake datasets registered for the dataset picker.

Nothing here imports pyspark: the status comes from :func:`core.backend.backend_status`, and
Spark starts (a JVM, or a Spark Connect session when ``PATHLENS_SPARK_REMOTE`` is set) only
when the operator registers a lake dataset with the Spark engine chosen.

What a lake dataset can do is said on the panel, not implied: with the Spark engine the
pages compute on Spark (:mod:`ui.engine`), with Polars a Parquet path is scanned in place on
this server and a catalog table (readable by Spark only) cannot be opened.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from core.backend import BACKENDS, BackendStatus, backend_status
from core.errors import PathLensError
from core.spark.carts import MAX_CART_ROWS
from core.spark.lake import (
    LakeDataset,
    LakeRegistry,
    describe_lake_parquet,
    is_lake_path,
    lake_roots,
    lake_source_refusal,
    register_lake_dataset,
)
from ui.data import get_store, remember
from ui.engine import ENGINE_KEY, remember_choice
from ui.urls import DATASET_KEY, DATASET_VIEW_KEYS, set_shared, url_value

#: Widget key (and URL parameter) of the engine choice.
BACKEND_KEY = ENGINE_KEY
SOURCE_KEY = "data.lake_source"
NAME_KEY = "data.lake_name"
PICK_KEY = "data.lake_pick"
# Bookkeeping only (the outcome of the last registration, shown once); not a view setting.
_MESSAGE = "_data.lake_message"
_LABELS = {"polars": "Polars (embedded, this server)", "spark": "Spark"}
WHAT_WORKS = (
    "With the **Spark** engine, the pages open a lake dataset (a Parquet path or a catalog "
    "table) on Spark: Overview, Funnels, Paths, Retention, Segments and Basket rules compute "
    "there, comparisons with an earlier period included, with the sidebar's date range, "
    "property filters, cohorts and segments applied on the workers; only their results come "
    "back (cached like any other dataset's). Cart abandonment gathers the events of the users "
    f"with a cart from the workers (at most {MAX_CART_ROWS:,} events; the page says so when "
    "there are more) "
    "and measures, trains and scores the models here; `python -m core.batch score --backend "
    "spark` scores every cart on the cluster. Cohorts are found and checked against the "
    "dataset's users on Spark too, for a Parquet lake dataset and a catalog table alike. With "
    "**Polars**, a Parquet path is scanned in place on this server (the events left after the "
    "filters must fit in its memory) and a catalog table cannot be opened (a page says so and "
    "shows the sample)."
)


def _status_lines(status: BackendStatus) -> list[str]:
    """The facts of the environment, one line each."""
    env = (f"`PATHLENS_BACKEND={status.configured}`" if status.configured
           else "`PATHLENS_BACKEND` unset (Polars is the default)")
    spark = f"pyspark {status.pyspark} installed" if status.pyspark else "pyspark not installed"
    java = f"Java: `{status.java}`" if status.java else "no Java runtime found"
    where = (f"Spark Connect: `{status.remote}` (`PATHLENS_SPARK_REMOTE`)" if status.remote
             else "no `PATHLENS_SPARK_REMOTE`: Spark would run locally (`local[N]`)")
    return [f"Environment: {env}", f"Spark: {spark}; {java}", where]


def _engine_control(status: BackendStatus) -> str:
    """The engine radio (bound to the URL, default from the environment); the engine in force."""
    default = status.backend or "polars"
    chosen = st.radio(
        "Engine that reads lake datasets", list(BACKENDS), key=BACKEND_KEY,
        index=list(BACKENDS).index(default), horizontal=True, bind="query-params",
        # no format_func: a bound radio keeps the shown label in the URL (data.backend=spark)
        captions=["embedded, this server", "local[N], or Spark Connect when set"],
        help="Polars needs nothing more; Spark starts a JVM here (or connects to "
             "PATHLENS_SPARK_REMOTE) when a lake dataset is registered, and also reads catalog "
             "tables.",
    )
    if status.error:
        st.warning(f"{status.error}; using {_LABELS[default]}.", icon=":material/warning:")
    if chosen == "spark" and not status.spark_ready:
        st.warning("Spark cannot start here: " + "; ".join(status.spark_missing())
                   + ". Lake datasets are read with Polars.", icon=":material/warning:")
        return "polars"
    return chosen or default


def _describe(source: str, name: str | None, engine: str) -> LakeDataset:
    if engine == "spark":  # starts Spark here (pyspark is imported inside, on first use)
        return register_lake_dataset(source, name=name)
    return describe_lake_parquet(source, name=name)


def _register_form(engine: str) -> None:
    """The source box; its button registers the source with ``engine`` (a callback, so the
    sidebar's picker, drawn before this panel, already lists the new dataset)."""
    if (message := st.session_state.pop(_MESSAGE, None)) is not None:
        kind, text = message
        (st.success if kind == "success" else st.error)(
            text, icon=":material/check:" if kind == "success" else ":material/error:")
    with st.form("data.lake_form", clear_on_submit=False, border=False):
        hint = "a Parquet path (file, folder, glob, s3://...)"
        if engine == "spark":
            hint += " or a catalog table name"
        st.text_input("Lake source", key=SOURCE_KEY, placeholder=hint,
                      help="Canonical events: user_id, session_id, ts, event, event_type (what "
                           "core.load_events writes).")
        st.text_input("Name in the picker (optional)", key=NAME_KEY)
        st.form_submit_button("Register lake dataset", icon=":material/add:",
                              on_click=_register, args=(engine,))


def _register(engine: str) -> None:
    """Form callback: describe the source with ``engine``, keep it, list it in the picker."""
    source = (st.session_state.get(SOURCE_KEY) or "").strip()
    name = (st.session_state.get(NAME_KEY) or "").strip() or None
    if refusal := _refusal(source, engine):
        st.session_state[_MESSAGE] = ("error", refusal)
        return
    try:
        with st.spinner(f"Reading {source} with {_LABELS[engine]}…"):
            record = LakeRegistry(get_store().root).add(_describe(source, name, engine))
    except PathLensError as e:
        st.session_state[_MESSAGE] = ("error", e.message)
        return
    except Exception as e:  # noqa: BLE001 - Spark's own errors (JVM, Connect): said as such
        st.session_state[_MESSAGE] = (
            "error", f"{_LABELS[engine]} could not read `{source}`: "
            f"{(str(e).splitlines() or [type(e).__name__])[0][:300]}")
        return
    remember(record.id)
    st.session_state[_MESSAGE] = (
        "success", f"Registered **{record.label}**: {record.rows:,} events, {record.users:,} "
        "users. It is in the sidebar's dataset picker; or use it with the button below.")


def _refusal(source: str, engine: str) -> str:
    """Why ``source`` cannot be registered with ``engine`` before reading anything ("" if it can)."""
    if not source:
        return "Give a Parquet path or a table name to register."
    if engine == "polars" and not is_lake_path(source):
        return (f"`{source}` is not an existing Parquet path. A catalog table name needs the "
                "Spark engine.")
    return lake_source_refusal(source, lake_roots(), store_root=get_store().root)


def _pages(record: LakeDataset, engine: str) -> str:
    """Which pages work on a lake dataset with ``engine``, and where they compute."""
    if engine == "spark":
        return ("Overview, Funnels, Paths, Retention, Segments, Rules on Spark; Cart: its "
                "users' events gathered on Spark, the models here")
    if record.kind == "parquet":
        return "all (Polars on this server)"
    return "none with Polars: choose Spark"


def lake_table(records: list[LakeDataset], engine: str = "polars") -> pl.DataFrame:
    """One row per lake dataset: what it is and what works on it with ``engine``."""
    return pl.DataFrame({
        "name": [r.name for r in records],
        "source": [r.source for r in records],
        "kind": ["Parquet path" if r.kind == "parquet" else "catalog table" for r in records],
        "events": [r.rows for r in records],
        "users": [r.users for r in records],
        "read with": [r.report.get("engine", "spark") for r in records],
        "pages": [_pages(r, engine) for r in records],
        "id": [r.id for r in records],
    }, schema_overrides={"events": pl.Int64, "users": pl.Int64})  # fmt: skip


def _use(dataset_id: str) -> None:
    """Button callback: make a lake dataset the active dataset (a fresh view of it)."""
    remember(dataset_id)
    set_shared(DATASET_KEY, dataset_id)
    for param in DATASET_VIEW_KEYS:
        set_shared(param, None)


def _forget(dataset_id: str) -> None:
    """Button callback: drop a lake dataset from the registry (its files stay in the lake)."""
    if not lake_roots():  # registering is off: so is forgetting
        return
    try:
        LakeRegistry(get_store().root).remove(dataset_id)
    except PathLensError:
        return  # a read-only store: the record stays, the table still lists it
    if url_value(DATASET_KEY) == dataset_id:  # it was the active dataset: back to the sample
        set_shared(DATASET_KEY, None)


def _lake_list(records: list[LakeDataset], *, editable: bool, engine: str) -> None:
    if not records:
        st.caption("No lake dataset registered yet.")
        return
    for r in records:
        remember(r.id)  # registered by the operator for everyone: every picker may list it
    counts = st.column_config.NumberColumn(format="localized")  # 17,238, not 17238
    st.dataframe(lake_table(records, engine), hide_index=True,
                 column_config={"events": counts, "users": counts})
    labels = {r.id: r.label for r in records}
    pick = st.selectbox("Lake dataset", list(labels), key=PICK_KEY, format_func=labels.get)
    c = st.columns(2)
    c[0].button("Use it on every page", key="data.lake_use", on_click=_use, args=(pick,),
                icon=":material/check:")
    if editable:  # forgetting is registering's undo: the same permission
        c[1].button("Forget it", key="data.lake_forget", on_click=_forget, args=(pick,),
                    icon=":material/delete:", help="Removes the registration only; the lake's "
                    "files are never touched.")


def backend_panel() -> None:
    """The engine panel of the Data page: status, engine choice, lake datasets."""
    status = backend_status()
    registry = LakeRegistry(get_store().root)
    chosen = st.session_state.get(BACKEND_KEY) or url_value(BACKEND_KEY)
    active = chosen if chosen in _LABELS else status.backend or "polars"
    active = active if active == "polars" or status.spark_ready else "polars"
    title = (f"Backend: {_LABELS[active]} · lake datasets" if active == "polars" else
             "Backend: Spark · pages compute on Spark for lake datasets")
    with st.expander(title, expanded=bool(registry.all()) or status.error is not None):
        for line in _status_lines(status):
            st.markdown(f"- {line}")
        engine = _engine_control(status)
        remember_choice(engine)  # the session's other pages compute with it
        st.caption(WHAT_WORKS)
        editable = bool(lake_roots())  # the operator's choice: a shared server reads no
        if editable:                   # path a visitor names unless it allows it
            _register_form(engine)
        else:
            st.info(lake_source_refusal("", (), store_root=get_store().root),
                    icon=":material/lock:")
        _lake_list(registry.all(), editable=editable, engine=engine)  # after the form: lists one just added
