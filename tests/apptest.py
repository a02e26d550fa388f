"""Shared AppTest helpers: open a page with URL parameters, read metrics by label."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent


def run_page(name: str, *, timeout: float = 180, **params) -> AppTest:
    """Run ``pages/<name>.py`` with ``params`` as URL query parameters; assert no exception."""
    at = AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=timeout)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    return at


def metric(at: AppTest, label: str) -> str:
    """The displayed value of the metric with this label."""
    return next(m.value for m in at.metric if m.label == label)
