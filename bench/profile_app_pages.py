"""Where a page's server-side time goes (issue 14): profile each page's script runs.

For each page, in a fresh Python process (cold imports, cold caches), the page is run through
``app.py`` with Streamlit's AppTest twice: the first run (what the first visit after a server
start pays on the server) and a second run in a new AppTest (a new session on a warm process:
the caches are shared). Prints each run's wall time and the functions of PathLens (and the
import of the heavy libraries) with the largest cumulative time of the first run. The browser's
share of the wait is measured by ``bench/bench_app.py``.

Run::

    python bench/profile_app_pages.py --pages cart paths --top 15
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = ("overview", "funnels", "paths", "segments", "rules", "cart", "data")

_CHILD = r"""
import cProfile, pstats, sys, threading, time, io
sys.path.insert(0, {root!r})
# AppTest runs the script in its own thread: profile every thread started from here on.
_profiles = []
_thread_run = threading.Thread.run
def _profiled_run(self):
    p = cProfile.Profile()
    _profiles.append(p)
    p.enable()
    try:
        _thread_run(self)
    finally:
        p.disable()
threading.Thread.run = _profiled_run
from streamlit.testing.v1 import AppTest
page = {page!r}

def run():
    at = AppTest.from_file({app!r}, default_timeout=600)
    at.switch_page(f"pages/{{page}}.py")
    t0 = time.perf_counter()
    at.run()
    dt = time.perf_counter() - t0
    if at.exception:
        raise SystemExit(f"{{page}}: exception: {{at.exception[0].value[:300]}}")
    return dt

prof = cProfile.Profile()
prof.enable()
first = run()
prof.disable()
first_profiles = list(_profiles)
second = run()
print(f"{{page}}: first run {{first:.2f}} s, second session {{second:.2f}} s")
out = io.StringIO()
stats = pstats.Stats(prof, *first_profiles, stream=out).sort_stats("cumulative")
stats.print_stats({pattern!r}, {top})
lines = [l for l in out.getvalue().splitlines() if l.strip()]
start = next(i for i, l in enumerate(lines) if l.lstrip().startswith("ncalls"))
print("\n".join(lines[start:]))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", nargs="*", default=list(PAGES))
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--pattern", default=r"(/work/main/(core|ui|pages)/|<frozen importlib._bootstrap>:\d+\(_find_and_load\))")
    args = ap.parse_args()
    store = tempfile.mkdtemp(prefix="pathlens-profile-")
    env = dict(os.environ, PATHLENS_DATA_DIR=store)
    env.pop("PATHLENS_PASSWORD", None)
    subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                    "from core.store import DatasetStore; DatasetStore()._ensure_sample()",
                    str(ROOT)], env=env, check=True)
    for page in args.pages:
        code = _CHILD.format(root=str(ROOT), app=str(ROOT / "app.py"), page=page,
                             pattern=args.pattern.replace("/work/main", str(ROOT)),
                             top=args.top)
        subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT)


if __name__ == "__main__":
    main()
