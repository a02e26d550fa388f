"""Cancelling long work when its page is gone or has asked for something newer.

Streamlit runs a page script, and the ``@st.cache_data`` functions it calls, in the session's
script thread. When the browser sends a newer rerun (a widget changed) or the tab closes (the
session manager calls ``request_script_stop``), the ScriptRunner only notices at its next
yield point: the next ``st.*`` call. Work inside core (mining, fitting) makes no ``st.*``
call, so without help it runs to the end, for nobody.

:func:`cancel_check` returns a ``should_stop`` callable for core functions that accept one
(:func:`core.rules.mine_rules`). Each call:

1. runs the script run's own ``yield_check`` (``ScriptRunContext.yield_check``, what
   Streamlit's contended cache waits call): with a pending rerun it raises ``RerunException``
   and with a stop request ``StopException``. The exception carries the rerun's data, so the
   ScriptRunner starts the newer run exactly as at an ``st.*`` call; it leaves the cached
   function without storing a result;
2. returns True when the runtime no longer counts the session as active (its tab closed and
   it was not yet stopped), so core raises its own cancellation error.

Outside a script run (a notebook, a test calling core directly) it never stops anything.

Use it inside the cached function, never as its argument (a callable is not a cache key)::

    @st.cache_data(max_entries=16)
    def cached_rules(dataset_id, params):
        return mine_rules_with(load(dataset_id), params, should_stop=cancel_check())
"""

from __future__ import annotations

from collections.abc import Callable

from streamlit import runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx


def _never() -> bool:
    return False


def cancel_check() -> Callable[[], bool]:
    """A ``should_stop`` callable bound to the current script run (see the module docstring).

    Returns
    -------
    callable () -> bool
        Raises Streamlit's ``RerunException`` / ``StopException`` when a newer rerun or a
        stop is pending for this session; returns True when the session is no longer active;
        False otherwise. Always False outside a Streamlit script run. Safe to call often
        (a lock-free check of the pending request, and a dict lookup).
    """
    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None:
        return _never
    session_id = ctx.session_id
    yield_check = ctx.yield_check

    def should_stop() -> bool:
        yield_check()
        if runtime.exists():
            return not runtime.get_instance().is_active_session(session_id)
        return False

    return should_stop


__all__ = ["cancel_check"]
