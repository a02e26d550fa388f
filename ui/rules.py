"""Cached wrappers of the Basket rules page, and the store of uploaded basket files.

Basket files (one basket per line, order lines) are not event logs, so they do not go into the
dataset store; they are kept next to it, under ``<store root>/baskets/<id>.parquet``, named by
the hash of their content, so that a page link (``rules.file=<id>``) reopens the same baskets.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
from pathlib import Path

import polars as pl
import streamlit as st

from core.errors import DatasetNotFound
from core.filters import FilterParams
from core.rules import (
    MiningBudgetExceeded,
    RuleParams,
    RuleSet,
    mine_rules_with,
    read_baskets,
)
from ui.data import filtered_events, get_store
from ui.jobs import cancel_check

_FILE_ID = re.compile(r"^[0-9a-f]{16}$")


def baskets_dir() -> Path:
    """Where uploaded basket files are kept (created when missing)."""
    path = get_store().root / "baskets"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _path(file_id: str, suffix: str) -> Path:
    if not isinstance(file_id, str) or not _FILE_ID.match(file_id):
        raise DatasetNotFound(f"basket file id {file_id!r} is malformed (16 hex digits expected)")
    return baskets_dir() / f"{file_id}{suffix}"


def save_basket_file(content: bytes, name: str) -> str:
    """Read an uploaded basket file and keep it; returns its id (a content hash).

    Raises
    ------
    LoadError
        The file cannot be read as baskets.
    """
    file_id = hashlib.sha256(content).hexdigest()[:16]
    target = _path(file_id, ".parquet")
    if target.is_file() and _path(file_id, ".json").is_file():
        return file_id
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
    # temp file + rename: a half-written file is never visible under its id
    for suffix, write in (
        (".parquet", lambda p: load.baskets.write_parquet(p)),
        (".json", lambda p: Path(p).write_text(json.dumps(meta))),
    ):
        fd, tmp = tempfile.mkstemp(dir=baskets_dir(), suffix=".tmp")
        os.close(fd)
        write(tmp)
        os.replace(tmp, _path(file_id, suffix))
    basket_files.clear()
    return file_id


@st.cache_data(max_entries=8, show_spinner=False)
def basket_files() -> dict[str, str]:
    """id -> label (``"name · hash"``) of every stored basket file, newest first."""
    metas = sorted(baskets_dir().glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    out = {}
    for m in metas:
        try:
            meta = json.loads(m.read_text())
        except (OSError, ValueError):
            continue
        # the label is what a page link holds (bound widgets put labels in the URL): the
        # content hash in it keeps it unique and stable
        out[m.stem] = f"{meta.get('name', m.stem)} · {m.stem[:8]}"
    return out


def basket_file_meta(file_id: str) -> dict:
    """What was read from a stored basket file (format, rows dropped per reason...)."""
    path = _path(file_id, ".json")
    if not path.is_file():
        raise DatasetNotFound(f"basket file {file_id!r} is not stored on this server")
    return json.loads(path.read_text())


@st.cache_resource(max_entries=4, show_spinner="Loading baskets…")
def stored_baskets(file_id: str) -> pl.DataFrame:
    """The ``(basket_id, item)`` table of a stored basket file (shared, do not mutate)."""
    path = _path(file_id, ".parquet")
    if not path.is_file():
        raise DatasetNotFound(f"basket file {file_id!r} is not stored on this server")
    return pl.read_parquet(path)


@st.cache_data(max_entries=16, show_spinner="Mining rules…")
def cached_rules(dataset_id: str, filters: FilterParams, params: RuleParams,
                 seg: str = "") -> RuleSet:
    """Rules of a dataset's events under the sidebar filters.

    Mining is bounded (``params.max_itemsets``, the default time limit) and stops when the
    page's session closes or reruns (:func:`ui.jobs.cancel_check`); errors are not cached.
    """
    return mine_rules_with(
        filtered_events(dataset_id, filters, seg), params, should_stop=cancel_check()
    )


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
