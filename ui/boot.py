"""Work done once per server process before any page runs.

Plotly and Streamlit look some libraries up in ``sys.modules`` without importing them
(plotly's ``get_module("pandas", should_load=False)``, Streamlit's type checks). While one
session's thread is still importing pandas, the module is already in ``sys.modules``, half
initialised: a second session drawing its first figure at that moment fails with
"partially initialized module 'pandas' has no attribute 'Series'". On a freshly started server
hit by 20 sessions at once, 17 of the first Overview loads failed that way
(``bench/bench_server_load.py``). Every session therefore passes through
:func:`import_shared_libraries` before its page runs: the first imports the shared libraries
completely, the others wait for it (once per process).
"""

from __future__ import annotations

import importlib
import threading

#: Libraries that pages use through Plotly and Streamlit (numpy, Arrow, pandas, Plotly), in
#: dependency order.
SHARED_LIBRARIES = ("numpy", "pyarrow", "pandas", "polars", "plotly.graph_objects", "plotly.io")

_lock = threading.Lock()
_done = False


def import_shared_libraries() -> None:
    """Import :data:`SHARED_LIBRARIES` completely, once per process; concurrent callers wait."""
    global _done
    if _done:
        return
    with _lock:
        if not _done:
            for name in SHARED_LIBRARIES:
                importlib.import_module(name)
            _done = True
