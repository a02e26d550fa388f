"""Data: upload an export, check what the loader understood, fix the mapping, use the dataset."""

import streamlit as st

from ui.backend import backend_panel
from ui.cohorts import cohort_manager
from ui.ingest import (
    cached_raw_columns,
    drop_stray_requested,
    load_with_progress,
    mapping_editor,
    remove_dataset,
    spooled,
    store_dataset,
    store_error,
    stray_control,
    upload_limits,
)
from ui.shell import download_csv, page_setup, show_error

ctx = page_setup("Data", icon=":material/upload_file:")
st.caption(f"Active dataset: **{ctx.dataset_name}** (`{ctx.dataset_id}`)")
if ctx.unusable_id:
    st.button("Remove this dataset", key="data.remove", on_click=remove_dataset,
              args=(ctx.unusable_id,), icon=":material/delete:",
              help=f"Delete the damaged dataset `{ctx.unusable_id}` from this server. Uploading "
              "the same file again repairs it instead.")
if (err := store_error()) is not None:
    st.error(err, icon=":material/error:")
# Uploading is what most visits come for: its tab is first. The other tabs are drawn before
# it because the upload flow stops the script early (no file yet, a file that cannot be read).
upload_tab, cohorts_tab, engine_tab = st.tabs(
    ["Upload an export", "Saved cohorts", "Engine and lake datasets"])
with cohorts_tab:
    cohort_manager(ctx.dataset_id, ctx.dataset_name)
with engine_tab:
    backend_panel()  # engine, Spark status, lake datasets (issue 17)

with upload_tab:
    st.markdown(
        "Upload an event-log export: GA4 (BigQuery, flattened), Mixpanel, Amplitude, Segment, the "
        "Kaggle REES46 or Taobao dumps, RetailRocket, an order-line export (one row per order line), "
        "or any CSV / Parquet / JSON Lines file with a user, a time and an event column. "
        "The format is detected from the columns; you can correct the mapping below."
    )
    upload = st.file_uploader(
        "Event log", type=["csv", "tsv", "txt", "gz", "zip", "parquet", "jsonl", "json", "ndjson"],
        key="data.upload",
    )
    st.caption(upload_limits())
    if upload is None:
        st.info("No file chosen. The active dataset stays as it is; the bundled sample is the "
                "default.")
        st.stop()

    try:
        spool = spooled(upload.file_id, upload)  # on disk; never held a second time in memory
        columns = cached_raw_columns(spool)
    except Exception as e:  # noqa: BLE001 - any reading error is the file's, shown as a message
        show_error(e)
        st.stop()

    with st.expander("Column mapping (detected automatically; change it if something is wrong)",
                     expanded=False):
        st.caption("Each PathLens column and the column of your file it is read from, then what to "
                   "do when the export has no event or user column or splits the time in two. The "
                   "mapping applies to this upload only, so it is not part of the page link; once "
                   "the dataset is in use its id is.")
        try:
            mapping = mapping_editor(columns)
        except Exception as e:  # noqa: BLE001 - a header the detection cannot read: map by hand
            show_error(e)
            st.stop()

    drop_stray = drop_stray_requested()
    try:
        result = load_with_progress(spool, mapping, drop_stray)  # reading, checking, sessions
    except Exception as e:  # noqa: BLE001
        show_error(e)
        st.stop()

    report = result.report
    st.subheader("What the loader understood")
    stray_control(report)
    c = st.columns(4)
    c[0].metric("Format", report.format_label, help=report.file_kind)
    c[1].metric("Rows read", f"{report.rows_read:,}")
    c[2].metric("Rows kept", f"{report.rows_kept:,}")
    c[3].metric("Rows dropped", f"{sum(report.rows_dropped.values()):,}")
    dropped = {k: v for k, v in report.rows_dropped.items() if v}
    if dropped:
        st.markdown("**Dropped rows, by reason** (nothing is dropped silently):")
        st.table({"reason": list(dropped), "rows": [f"{v:,}" for v in dropped.values()]})
    with st.expander("Loader report", expanded=bool(report.warnings)):
        for line in report.summary_lines():
            st.markdown(f"- {line}")
    for w in report.warnings:
        if "stray event(s)" not in w:  # said above, next to the checkbox that drops them
            st.warning(w)
    events = result.events
    st.markdown(f"**Preview** ({events.height:,} events, {events['user_id'].n_unique():,} users)")
    st.dataframe(events.head(200), hide_index=True)
    download_csv(events.head(10_000), "preview.csv", key="data.dl_preview",
                 label="Download preview (first 10,000 rows)")

    if events.height == 0:
        st.error("No usable rows: nothing to analyse.")
        st.stop()
    st.button("Use this dataset", type="primary", key="data.use", on_click=store_dataset,
              args=(spool, mapping, drop_stray))
