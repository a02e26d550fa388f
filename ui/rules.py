"""Cached wrappers of the Basket rules page, and the store of uploaded basket files.

Basket files (one basket per line, order lines) are not event logs, so they do not go into the
dataset store; they are kept next to it, under ``<store root>/baskets/<id>.parquet`` (+ ``.json``
metadata), written as the store writes its own files (atomic, fsynced, counted in its size cap).

Like datasets, basket files are private per visitor: a session lists only the files it uploaded
or opened by link (:func:`ui.data.remember` under ``"basket"``), never the whole folder. The id
is the first 32 hex digits (128 bits) of the content's SHA-256, so it cannot be guessed and a
page link (``rules.file=<id>``) is the key to a file; ids of 16 hex digits (stored before ids
grew) still open. Only ids matching that pattern become paths.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path

import polars as pl
import streamlit as st

from core.cohorts import CohortDraft, antecedent_members
from core.errors import DatasetNotFound
from core.rules import (
    MiningBudgetExceeded,
    RuleParams,
    RuleSet,
    mine_rules_with,
    read_baskets,
)
from core.store import BASKETS_DIR
from ui.cohorts import save_cohort_control
from ui.data import filtered_events, get_store, remember, remembered
from ui.engine import runs_on_spark, spark_events, view_members
from ui.jobs import cancel_check
from ui.urls import BASKET_FILE_KEY, url_value
from ui.view import DataView

FILE_ID_HEX_DIGITS = 32
_FILE_ID = re.compile(r"^(?:[0-9a-f]{32}|[0-9a-f]{16})$")
_KIND = "basket"


def baskets_dir() -> Path:
    """Where uploaded basket files are kept (made on the first write, so that a read-only store
    still serves what it holds)."""
    return get_store().root / BASKETS_DIR


def is_basket_file_id(file_id: object) -> bool:
    """Whether ``file_id`` has the shape of a basket file id (32 or, older, 16 hex digits)."""
    return isinstance(file_id, str) and bool(_FILE_ID.match(file_id))


def basket_file_path(file_id: object, suffix: str) -> Path:
    """The path of a basket file's ``.parquet`` or ``.json``; only well-formed ids get one.

    Raises
    ------
    DatasetNotFound
        ``file_id`` is not 32 (or 16) lowercase hex digits.
    """
    if not is_basket_file_id(file_id):
        raise DatasetNotFound(
            f"basket file id {str(file_id)[:60]!r} is malformed: expected "
            f"{FILE_ID_HEX_DIGITS} lowercase hex digits (16 in older links)")
    return baskets_dir() / f"{file_id}{suffix}"


def basket_file_exists(file_id: object) -> bool:
    """Whether a basket file with this id is stored (both its table and its metadata)."""
    if not is_basket_file_id(file_id):
        return False
    return all(basket_file_path(file_id, s).is_file() for s in (".parquet", ".json"))


def save_basket_file(content: bytes, name: str) -> str:
    """Read an uploaded basket file, keep it, and let this session see it; returns its id.

    Raises
    ------
    LoadError
        The file cannot be read as baskets.
    StoreWriteError
        The store is read-only or its disk is full (nothing is kept).
    """
    file_id = hashlib.sha256(content).hexdigest()[:FILE_ID_HEX_DIGITS]
    if not basket_file_exists(file_id):
        buf = io.BytesIO(content)
        buf.name = name
        load = read_baskets(buf)
        meta = {
            "name": name,
            "format": load.format,
            "rows_read": load.rows_read,
            "rows_dropped": [list(d) for d in load.rows_dropped],
            "baskets": load.n_baskets,
            "basket_column": load.basket_column,
            "item_column": load.item_column,
            "warnings": list(load.warnings),
        }
        table = io.BytesIO()
        load.baskets.write_parquet(table)
        store = get_store()
        # the table first: metadata under an id means the file is complete
        store.write_file(basket_file_path(file_id, ".parquet"), table.getvalue())
        store.write_file(basket_file_path(file_id, ".json"), json.dumps(meta).encode())
    remember(file_id, _KIND)
    return file_id


def basket_files() -> dict[str, str]:
    """id -> label (``"name · first 8 hex digits"``) of the basket files this session uploaded
    or opened by link that are still stored, most recent first (never the whole folder)."""
    out = {}
    for file_id in reversed(remembered(_KIND)):
        if not basket_file_exists(file_id):  # evicted or removed meanwhile
            continue
        try:
            name = json.loads(basket_file_path(file_id, ".json").read_text()).get("name")
        except (OSError, ValueError, AttributeError):
            name = None
        out[file_id] = f"{name or 'basket file'} · {file_id[:8]}"
    return out


def open_linked_basket_file() -> tuple[str | None, str | None]:
    """The basket file named by the link (``rules.file``), remembered for this session.

    Returns
    -------
    (file_id, problem)
        The id when the link names a stored file, else ``None``; ``problem`` says why a link's
        value opens nothing (malformed, or not on this server), else ``None``.
    """
    raw = url_value(BASKET_FILE_KEY)
    if raw is None or raw in remembered(_KIND):
        return raw, None
    if not is_basket_file_id(raw):
        return None, (f"The basket file `{raw[:60]}` in the link is malformed (a link holds the "
                      f"file's id: {FILE_ID_HEX_DIGITS} hex digits); no file was opened.")
    if not basket_file_exists(raw):
        return None, (f"The basket file `{raw}` in the link is not on this server (removed, "
                      "or evicted by the store's size cap); upload it again.")
    remember(raw, _KIND)  # a link is the key to a file: this session may now pick it
    return raw, None


def basket_file_meta(file_id: str) -> dict:
    """What was read from a stored basket file (format, rows dropped per reason...)."""
    path = basket_file_path(file_id, ".json")
    if not path.is_file():
        raise DatasetNotFound(f"basket file {file_id!r} is not stored on this server")
    return json.loads(path.read_text())


@st.cache_resource(max_entries=4, show_spinner="Loading baskets…")
def stored_baskets(file_id: str) -> pl.DataFrame:
    """The ``(basket_id, item)`` table of a stored basket file (shared, do not mutate)."""
    path = basket_file_path(file_id, ".parquet")
    if not path.is_file():
        raise DatasetNotFound(f"basket file {file_id!r} is not stored on this server")
    return pl.read_parquet(path)


@st.cache_data(max_entries=16, show_spinner="Mining rules…")
def cached_rules(view: DataView, params: RuleParams) -> RuleSet:
    """Rules of the view's events (a dataset under the sidebar filters).

    Mining is bounded (``params.max_itemsets``, the default time limit) and stops when the
    page's session closes or reruns (:func:`ui.jobs.cancel_check`); errors are not cached.
    On Spark for a lake dataset (:func:`ui.engine.runs_on_spark`): MLlib FP-growth on the
    view's events (:func:`core.spark.mine_rules_spark`), bounded by ``params.max_itemsets``.
    """
    if runs_on_spark(view):
        from core.spark import mine_rules_spark, view_frame  # lazy: pyspark only on Spark

        return mine_rules_spark(view_frame(spark_events(view)), params)
    return mine_rules_with(filtered_events(view), params, should_stop=cancel_check())


@st.cache_data(max_entries=16, show_spinner="Mining rules…")
def cached_file_rules(file_id: str, params: RuleParams) -> RuleSet:
    """Rules of a stored basket file (bounded and cancellable as :func:`cached_rules`)."""
    return mine_rules_with(stored_baskets(file_id), params, should_stop=cancel_check())


def show_mining_limit(error: MiningBudgetExceeded, *, support_key: str = "rules.support",
                      lowest: float = 0.0001) -> None:
    """Show why mining stopped and, when one was found, a button applying the suggested
    ``min_support`` to the widget ``support_key`` (its URL parameter follows)."""
    st.error(error.message, icon=":material/speed:")
    suggested = error.suggested_min_support
    if suggested is None or not lowest <= suggested <= 1.0:
        return

    def apply() -> None:
        st.session_state[support_key] = suggested

    st.button(f"Use min support {suggested:g}", key=f"{support_key}.apply", on_click=apply,
              icon=":material/auto_fix_high:")


def antecedent_cohort_control(view: DataView, rs: RuleSet, sort: str) -> None:
    """Pick a rule's left side (in the table's order) and save the users with a basket holding
    all of its items as a cohort."""
    ranked = rs.rules.sort([sort, "lift"], descending=True, maintain_order=True)
    options: dict[str, tuple[list[str], int]] = {}
    for items, n in ranked.select("antecedents", "antecedent_baskets").iter_rows():
        options.setdefault(" + ".join(items), (list(items), n))
    if not options:
        return
    if st.session_state.get("rules.cohort_antecedent") not in options:
        st.session_state["rules.cohort_antecedent"] = next(iter(options))
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    text = left.selectbox(
        "Users who bought (a rule's left side)", list(options), key="rules.cohort_antecedent",
        format_func=lambda t: f"{t} ({options[t][1]:,} baskets)",
        help="The users with at least one basket holding every one of these items.")
    items = options[text][0]

    params, filters = rs.params, view.filters

    def draft() -> CohortDraft:
        return view_members(view, lambda events: antecedent_members(
            events, items, params=params, filters=filters))

    with right:
        save_cohort_control(view, draft, source="rules_antecedent", key="rules.cohort",
                            label="Save them as a cohort", name=f"Bought {text}")
