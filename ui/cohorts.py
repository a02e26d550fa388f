"""Saved cohorts in the app: the save control every analysis page shows, and the Data page's list.

A page that can name a group of users (a funnel step's drop-outs, a Sankey node, a segment, a
rule's antecedent, the riskiest carts, a retention cell) calls :func:`save_cohort_control` with a
function that builds the :class:`core.cohorts.CohortDraft`; the members are computed only when
the user clicks Save. The Data page lists the active dataset's cohorts with
:func:`cohort_manager` (download, rename, delete, damaged ones). The sidebar's Cohorts picker
(``ui.shell``) turns chosen cohorts into ``"cohort · <name>"`` properties on every page.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

import polars as pl
import streamlit as st

from core.cohorts import MAX_NAME_CHARS, Cohort, CohortDraft, cohort_csv
from core.errors import PathLensError
from ui.data import cohorts_changed, get_store, saved_cohorts
from ui.view import DataView

#: How each source reads in a cohort's default name and in the Data page's list.
SOURCE_LABELS: Final[dict[str, str]] = {
    "funnel_dropoff": "Funnel drop-off",
    "funnel_conversion": "Funnel conversion",
    "path_node": "Paths node",
    "segment": "Segment",
    "rules_antecedent": "Basket rule",
    "cart_risk": "Risky carts",
    "retention_cell": "Retention cell",
    "manual": "Manual",
}
#: What a cohort name may not hold (link separators, control characters): replaced in
#: suggested names.
_SEPARATORS: Final = re.compile(r"[:;=\x00-\x1f\x7f]")


def _listed(dataset_id: str) -> tuple[Cohort, ...]:
    """The dataset's cohorts; none when they cannot be listed (the dataset is gone)."""
    try:
        return saved_cohorts(dataset_id)
    except PathLensError:
        return ()


def default_name(source: str, taken: list[str], suggestion: str | None = None) -> str:
    """A free cohort name: ``suggestion`` (made valid), else ``"<source label> <n>"``; a number
    is added until no cohort of ``taken`` has it (names compare ignoring case)."""
    used = {t.casefold() for t in taken}
    base = _SEPARATORS.sub(" ", suggestion or "").strip()[: MAX_NAME_CHARS - 4].strip()
    if base and base.casefold() not in used:
        return base
    base = base or SOURCE_LABELS.get(source, "Cohort")
    n = 1 if base in SOURCE_LABELS.values() else 2
    while f"{base} {n}".casefold() in used:
        n += 1
    return f"{base} {n}"


def save_cohort_control(view: DataView, draft: Callable[[], CohortDraft], *, source: str,
                        key: str, label: str = "Save these users as a cohort",
                        name: str | None = None) -> None:
    """A compact "save as cohort" form: a name (prefilled) and a Save button.

    Parameters
    ----------
    view : DataView
        The page's data key; the cohort is saved with ``view.dataset_id``.
    draft : callable
        Returns the :class:`~core.cohorts.CohortDraft` (members and definition) of what the page
        shows; called only when Save is clicked, so computing members costs nothing until then.
    source : str
        One of :data:`core.cohorts.SOURCES` (``"path_node"``, ``"segment"``...).
    key : str
        Namespace of the widget keys (``"paths.cohort"`` gives ``"paths.cohort.name"`` and
        ``"paths.cohort.save"``); unique on the page.
    label : str
        Label of the popover that holds the form.
    name : str, optional
        The name to suggest (``"Big spenders"``); default ``"<source> <n>"``. A number is added
        when a cohort has it already. The field follows the suggestion until the user edits it.
    """
    taken = [c.name for c in _listed(view.dataset_id)]
    suggested = default_name(source, taken, name)
    # Bookkeeping beside the field: the last suggestion, and the name this form last saved.
    name_key, last_key, saved_key = f"{key}.name", f"{key}._suggested", f"{key}._saved"
    current = st.session_state.get(name_key)
    if (not isinstance(current, str)
            or current in (st.session_state.get(last_key), st.session_state.get(saved_key))):
        # a fresh form, an unedited suggestion, or the name just saved: the new suggestion
        st.session_state[name_key] = suggested
    st.session_state[last_key] = suggested
    with st.popover(label, icon=":material/group_add:"):
        chosen = st.text_input("Cohort name", key=name_key, max_chars=MAX_NAME_CHARS,
                               help="Unique in this dataset; up to 80 characters, without : ; =")
        if st.button("Save cohort", key=f"{key}.save", type="primary"):
            saved = _save(view, draft, source=source, name=chosen)
            if saved is not None:
                st.session_state[saved_key] = chosen


def _save(view: DataView, draft: Callable[[], CohortDraft], *, source: str,
          name: str) -> Cohort | None:
    """Build the draft, save it, and say what happened (never raise a user-caused error).

    Returns the cohort saved (or already saved with these users), ``None`` when nothing was.
    """
    try:
        members, definition = draft()
        if members.len() == 0:
            st.warning("This selection holds no users, so there is nothing to save.",
                       icon=":material/group_off:")
            return None
        known = {c.id for c in _listed(view.dataset_id)}
        cohort = get_store().save_cohort(view.dataset_id, name, members, definition=definition,
                                         source=source)
    except PathLensError as e:
        st.error(e.message, icon=":material/error:")
        return None
    cohorts_changed()
    if cohort.id in known:
        st.info(f"These users were already saved, as the cohort **{cohort.name}** "
                f"({cohort.size:,} users); nothing new was saved.", icon=":material/info:")
        return cohort
    st.success(f"Saved the cohort **{cohort.name}**: {cohort.size:,} users. Pick it under "
               "Cohorts in the sidebar to filter or break down any page by it; manage it on the "
               "Data page.", icon=":material/check_circle:")
    return cohort


# --- the Data page's list ----------------------------------------------------------------------

def cohorts_table(cohorts: tuple[Cohort, ...]) -> pl.DataFrame:
    """One row per cohort: name, users, source, definition, created (UTC), id."""
    return pl.DataFrame(
        {
            "name": [c.name for c in cohorts],
            "users": [c.size for c in cohorts],
            "source": [SOURCE_LABELS.get(c.source, c.source) for c in cohorts],
            "definition": [c.definition for c in cohorts],
            "created (UTC)": [c.created.strftime("%Y-%m-%d %H:%M") for c in cohorts],
            "id": [c.id for c in cohorts],
        },
        schema={"name": pl.String, "users": pl.Int64, "source": pl.String,
                "definition": pl.String, "created (UTC)": pl.String, "id": pl.String},
    )


def cohort_manager(dataset_id: str, dataset_name: str) -> None:
    """The Data page's section on the active dataset's saved cohorts: the list, a CSV of each,
    rename, delete, and the damaged ones (with a button to remove them)."""
    st.subheader("Saved cohorts")
    try:
        cohorts = saved_cohorts(dataset_id)
        damaged = get_store().damaged_cohorts(dataset_id)
    except PathLensError as e:
        st.error(e.message, icon=":material/error:")
        return
    _damaged(dataset_id, damaged)
    if not cohorts:
        st.caption(f"**{dataset_name}** has no saved cohorts yet. Save users from the Funnels, "
                   "Paths, Segments, Basket rules, Cart or Retention page.")
    else:
        _cohort_list(dataset_id, dataset_name, cohorts)
    st.divider()


def _cohort_list(dataset_id: str, dataset_name: str, cohorts: tuple[Cohort, ...]) -> None:
    st.caption(f"{len(cohorts)} cohort(s) of **{dataset_name}**. Pick them under Cohorts in the "
               "sidebar to filter or break down any page by them.")
    st.dataframe(cohorts_table(cohorts).drop("id"), hide_index=True,
                 column_config={"users": st.column_config.NumberColumn(format="localized")})
    by_id = {c.id: c for c in cohorts}
    if st.session_state.get("data.cohort") not in by_id:
        st.session_state["data.cohort"] = cohorts[0].id
    cid = st.selectbox("Cohort", list(by_id), key="data.cohort",
                       format_func=lambda i: f"{by_id[i].name} ({by_id[i].size:,} users)")
    _cohort_actions(dataset_id, by_id[cid])


def _cohort_actions(dataset_id: str, cohort: Cohort) -> None:
    """Download, rename and delete one cohort."""
    rename_key = f"data.cohort_rename.{cohort.id}"
    if rename_key not in st.session_state:
        st.session_state[rename_key] = cohort.name
    c1, c2, c3, c4 = st.columns([3, 1, 1, 1], vertical_alignment="bottom")
    c1.text_input("New name", key=rename_key, max_chars=MAX_NAME_CHARS)
    # Callbacks run before the page, so the list above already shows the change; their
    # messages appear at the top of the page.
    c2.button("Rename", key="data.cohort_rename", icon=":material/edit:", on_click=_rename,
              args=(dataset_id, cohort, rename_key), width="stretch")
    c3.download_button("Download CSV", data=lambda: cohort_csv(get_store(), dataset_id, cohort.id),
                       file_name=_csv_name(cohort), mime="text/csv",
                       key="data.cohort_csv", icon=":material/download:", on_click="ignore",
                       width="stretch", help="One user_id per line.")
    with c4.popover("Delete", icon=":material/delete:", width="stretch"):
        st.markdown(f"Delete the cohort **{cohort.name}** ({cohort.size:,} users)? Pages that "
                    "use it stop doing so.")
        st.button("Delete for good", key="data.cohort_delete", type="primary", on_click=_delete,
                  args=(dataset_id, cohort.id, f"the cohort **{cohort.name}**"))


def _csv_name(cohort: Cohort) -> str:
    """``cohort_<name>.csv`` with only letters, digits, ``-`` and ``_`` (the id when none)."""
    slug = re.sub(r"[^\w-]+", "_", cohort.name, flags=re.ASCII).strip("_")
    return f"cohort_{slug or cohort.id[:8]}.csv"


def _rename(dataset_id: str, cohort: Cohort, name_key: str) -> None:
    try:
        renamed = get_store().rename_cohort(dataset_id, cohort.id,
                                            st.session_state.get(name_key, ""))
    except PathLensError as e:
        st.error(e.message, icon=":material/error:")
        return
    cohorts_changed()
    st.session_state[name_key] = renamed.name
    st.success(f"Renamed **{cohort.name}** to **{renamed.name}**.", icon=":material/check_circle:")


def _delete(dataset_id: str, cohort_id: str, what: str) -> None:
    try:
        get_store().delete_cohort(dataset_id, cohort_id)
    except PathLensError as e:
        st.error(e.message, icon=":material/error:")
        return
    cohorts_changed()
    st.success(f"Deleted {what}.", icon=":material/check_circle:")


def _damaged(dataset_id: str, damaged: list[str]) -> None:
    """Name the cohorts that cannot be read, each with a button to remove it."""
    if not damaged:
        return
    st.warning(f"{len(damaged)} saved cohort(s) of this dataset cannot be read (a damaged or "
               "half-written file) and are left out everywhere: "
               + ", ".join(f"`{d}`" for d in damaged) + ". Remove them, then save them again "
               "from their page.", icon=":material/warning:")
    for d in damaged:
        st.button(f"Remove damaged cohort {d[:8]}…", key=f"data.cohort_damaged.{d}",
                  icon=":material/delete:", on_click=_delete,
                  args=(dataset_id, d, f"the damaged cohort `{d}`"))


__all__ = ["SOURCE_LABELS", "cohort_manager", "cohorts_table", "default_name",
           "save_cohort_control"]
