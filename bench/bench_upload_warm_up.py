"""First visit to the Cart page on an uploaded dataset (issue 14): with the background warm-up
of an uploaded dataset's default views (``ui.boot.request_dataset_warm_up``), the Cart page
finds its held-out figures, scores and first cart's reasons computed.

A fresh store holds the sample and a copy of it stored as an upload (900k events, another
id). A fresh server serves the Overview of the upload, is left to go idle, then the Cart page
of the upload is opened in a new browser context, timed as ``bench_app.py`` times pages (until
the main figure is drawn). Run it on two checkouts to compare::

    python bench/bench_upload_warm_up.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import bench_app as B  # noqa: E402
import polars as pl  # noqa: E402


def main() -> None:
    from playwright.sync_api import sync_playwright

    store = Path(tempfile.mkdtemp(prefix="pathlens-bench-upload-"))
    B.prime_store(store)
    os.environ["PATHLENS_DATA_DIR"] = str(store)
    from core.store import SAMPLE_ID, DatasetStore

    st = DatasetStore(store)
    events = st.scan(SAMPLE_ID).collect()
    ds = st.put(events.with_columns(pl.lit("copy").alias("shop")), name="my-shop.csv")
    pages = {p.name: p for p in B.PAGES}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=B.CHROMIUM, headless=True)
        server = B.Server(store)
        try:
            server.wait_healthy()
            dt, ctx, _ = B.open_page(browser, f"{server.url}/?dataset={ds}", pages["overview"])
            ctx.close()
            print(f"Overview of the upload ({events.height:,} events), first page: {dt:.2f} s")
            print(f"server idle after {server.wait_idle():.0f} s")
            dt, ctx, _ = B.open_page(browser, f"{server.url}/cart?dataset={ds}", pages["cart"])
            ctx.close()
            print(f"Cart of the upload, first visit: {dt:.2f} s")
        finally:
            server.stop()
            browser.close()


if __name__ == "__main__":
    main()
