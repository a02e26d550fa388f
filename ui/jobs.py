"""Long work: cancelling it when its page is gone, or running it in the background.

**Background jobs** (:func:`start_job`) are for work whose result outlives the page that
started it (training a model for a dataset, stored for every visitor): it runs in a daemon
thread of the server process, never in a session's script thread, so the page that started it
stays usable and another visitor's page is never blocked by it. A job is identified by a
hashable key; starting a key that is already running returns the running job (a second
visitor's click joins it instead of starting another). Pages poll :func:`job_for` (e.g. in an
``st.fragment(run_every=...)``) for its progress, and read the stored result once it is done.

**Cancelling** (:func:`cancel_check`) is for work done for one page run.

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

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from streamlit import runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core.errors import PathLensError


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


Progress = Callable[[float, str], None]

#: Finished jobs kept (their outcome is shown to the pages that poll them); the oldest go first.
MAX_FINISHED_JOBS = 32

_log = logging.getLogger(__name__)


@dataclass
class Job:
    """One piece of background work and where it stands (written by its thread only).

    Attributes
    ----------
    key : Hashable
        What it works on (at most one running job per key).
    fraction : float
        Progress in [0, 1].
    message : str
        What it is doing, in words.
    done : bool
        True once it has ended, well or not.
    error : str
        Why it failed ("" while running and after a success).
    started, finished : float
        ``time.time()`` when it started and ended (0 while running).
    """

    key: Hashable
    fraction: float = 0.0
    message: str = "starting"
    done: bool = False
    error: str = ""
    started: float = field(default_factory=time.time)
    finished: float = 0.0
    thread: threading.Thread | None = field(default=None, repr=False)

    def report(self, fraction: float, message: str) -> None:
        """The work's ``progress(fraction, message)`` callback."""
        self.fraction = min(max(float(fraction), 0.0), 1.0)
        self.message = message

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has ended (tests, shutdown); True when it has."""
        if self.thread is not None:
            self.thread.join(timeout)
        return self.done


_jobs: dict[Hashable, Job] = {}
_jobs_lock = threading.Lock()


def _run(job: Job, work: Callable[[Progress], None]) -> None:
    try:
        work(job.report)
    except PathLensError as e:
        job.error = str(e)
    except Exception as e:  # a background thread has nobody to raise to: log and report
        _log.exception("background job %r failed", job.key)
        job.error = f"an unexpected error stopped it ({type(e).__name__}: {e})"
    finally:
        job.finished = time.time()
        job.done = True


def start_job(key: Hashable, work: Callable[[Progress], None], *, name: str = "job") -> Job:
    """Run ``work(progress)`` in a background thread, unless a job with this key is running.

    Parameters
    ----------
    key : Hashable
        What the work is for; a running job with the same key is returned instead.
    work : callable
        ``work(progress)``; calls ``progress(fraction, message)`` as it goes. A
        ``PathLensError`` it raises becomes the job's ``error`` (its message); any other
        exception is logged and reported in words. Must not call ``st.*`` (no page).
    name : str
        The thread's name (``pathlens-<name>``).

    Returns
    -------
    Job
        The started job, or the one already running for ``key``.
    """
    with _jobs_lock:
        running = _jobs.get(key)
        if running is not None and not running.done:
            return running
        finished = sorted((j for j in _jobs.values() if j.done), key=lambda j: j.finished)
        for old in finished[:max(0, len(finished) - MAX_FINISHED_JOBS + 1)]:
            del _jobs[old.key]
        job = Job(key)
        job.thread = threading.Thread(target=_run, args=(job, work), daemon=True,
                                      name=f"pathlens-{name}")
        _jobs[key] = job
        job.thread.start()
    return job


def job_for(key: Hashable) -> Job | None:
    """The running or last finished job for ``key``, or None."""
    with _jobs_lock:
        return _jobs.get(key)


def running_jobs() -> list[Job]:
    """The jobs still running (tests wait for them; a page may say the machine is busy)."""
    with _jobs_lock:
        return [j for j in _jobs.values() if not j.done]


__all__ = ["Job", "cancel_check", "job_for", "running_jobs", "start_job"]
