"""Concurrent first page loads on a fresh server: shared libraries are imported once, whole."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Eight "sessions" start at once; one imports pandas (as a page's first table would) while the
# others draw a figure, for which Plotly looks pandas up in sys.modules without importing it.
RACE = textwrap.dedent("""
    import sys, threading
    sys.path.insert(0, {root!r})
    errors = []
    boot = {boot}
    def session(i):
        try:
            if boot:
                from ui.boot import import_shared_libraries
                import_shared_libraries()
            if i == 0:
                import pandas
            from _plotly_utils.optional_imports import get_module
            for _ in range(200_000):
                pd = get_module("pandas", should_load=False)
                if pd is not None:
                    pd.Series
                    break
        except Exception as e:
            errors.append(repr(e))
    threads = [threading.Thread(target=session, args=(i,)) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    print(len(errors))
""")


def _failures(boot: bool) -> int:
    out = subprocess.run([sys.executable, "-c", RACE.format(root=str(ROOT), boot=boot)],
                         capture_output=True, text=True, timeout=120, check=True)
    return int(out.stdout.split()[-1])


def test_sessions_that_pass_through_boot_never_see_a_half_imported_pandas():
    assert _failures(boot=True) == 0


def test_the_race_is_real_without_boot():
    # the defect the boot step removes (seen on the load bench: 17 of 20 first loads failed);
    # the one importing thread itself never fails, the seven others may
    assert _failures(boot=False) > 0


def test_the_entry_point_boots_before_any_page():
    source = (ROOT / "app.py").read_text()
    assert source.index("import_shared_libraries()") < source.index("st.navigation(")
