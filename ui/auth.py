"""Optional access control: a shared password for deployments.

Set ``PATHLENS_PASSWORD`` (environment) or ``password`` under ``[pathlens]`` in
``.streamlit/secrets.toml``. When set, no page, dataset or download renders until the visitor
has entered it; when unset, the app is open (the default for local use).
"""

from __future__ import annotations

import hmac
import os

import streamlit as st


def configured_password() -> str | None:
    env = os.environ.get("PATHLENS_PASSWORD")
    if env:
        return env
    try:
        return st.secrets.get("pathlens", {}).get("password")  # type: ignore[no-any-return]
    except Exception:  # noqa: BLE001 - no secrets file
        return None


def require_password() -> None:
    """Stop the script unless access control is off or the visitor has given the password."""
    expected = configured_password()
    if not expected or st.session_state.get("auth.ok"):
        return
    st.title("PathLens")
    with st.form("auth.form"):
        given = st.text_input("Password", type="password", key="auth.password")
        ok = st.form_submit_button("Enter")
    if ok:
        if hmac.compare_digest(given.encode(), expected.encode()):
            st.session_state["auth.ok"] = True
            st.rerun()
        st.error("Wrong password.")
    st.stop()
