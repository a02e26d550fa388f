"""Optional access control: a shared password for deployments, and private downloads.

Set ``PATHLENS_PASSWORD`` (environment) or ``password`` under ``[pathlens]`` in
``.streamlit/secrets.toml``. When set, no page, dataset or download renders until the visitor
has entered it; when unset, the app is open (the default for local use).

- The comparison is constant-time (:func:`hmac.compare_digest`).
- Wrong guesses are slowed down exponentially, per session and for the whole server (a guesser
  who opens a new session for every guess is slowed down too): :class:`Throttle`.
- Downloads: Streamlit serves ``/media/<id>`` to any HTTP request, with no session, and names a
  file after a hash of its content, so the file of a known table could be fetched by anyone who
  can compute that hash. :func:`protect_downloads` gives every file a random 128-bit name and
  lets a download expire :data:`DOWNLOAD_TTL_S` seconds after it was built (every click of a
  download button builds it anew).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import streamlit as st
from streamlit import runtime
from streamlit.runtime.media_file_storage import MediaFileKind, MediaFileStorageError
from streamlit.runtime.memory_media_file_storage import MemoryFile, MemoryMediaFileStorage

#: A built download is served for this long (the browser fetches it right after the click).
DOWNLOAD_TTL_S = 300.0

_FAILURES = "auth.failures"  # bookkeeping of this session's wrong guesses; not a view setting


def configured_password() -> str | None:
    env = os.environ.get("PATHLENS_PASSWORD")
    if env:
        return env
    try:
        return st.secrets.get("pathlens", {}).get("password")  # type: ignore[no-any-return]
    except Exception:  # noqa: BLE001 - no secrets file
        return None


@dataclass
class Throttle:
    """Exponential backoff for password guesses, per session and server-wide.

    Before a guess is checked, the caller waits :meth:`delay` seconds:
    ``base_s * 2 ** (n - 1)`` capped at ``cap_s``, where ``n`` is the larger of the session's
    wrong guesses and the server's wrong guesses in the last ``window_s`` seconds divided by
    ``global_step`` (so a few typos elsewhere do not slow anyone down, a guessing run does).

    Parameters
    ----------
    base_s, cap_s : float
        First delay and largest delay, in seconds.
    window_s : float
        How long a wrong guess counts server-wide.
    global_step : int
        Server-wide wrong guesses that count as one step of the backoff.
    clock, sleep : callable
        Injected for tests (defaults: :func:`time.monotonic`, :func:`time.sleep`).

    Examples
    --------
    >>> t = Throttle(sleep=lambda s: None)
    >>> [t.delay(n) for n in range(4)]
    [0.0, 1.0, 2.0, 4.0]
    """

    base_s: float = 1.0
    cap_s: float = 30.0
    window_s: float = 900.0
    global_step: int = 5
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _recent: deque[float] = field(default_factory=deque, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _recent_failures(self) -> int:
        horizon = self.clock() - self.window_s
        with self._lock:
            while self._recent and self._recent[0] < horizon:
                self._recent.popleft()
            return len(self._recent)

    def delay(self, session_failures: int) -> float:
        """Seconds to wait before checking the next guess of a session."""
        n = max(session_failures, self._recent_failures() // self.global_step)
        return 0.0 if n <= 0 else min(self.cap_s, self.base_s * 2.0 ** (n - 1))

    def record_failure(self) -> None:
        with self._lock:
            self._recent.append(self.clock())

    def check(self, given: str, expected: str, session_failures: int) -> bool:
        """Wait the backoff delay, then compare in constant time; record a wrong guess."""
        wait = self.delay(session_failures)
        if wait > 0:
            self.sleep(wait)
        # digests of equal length: the comparison time says nothing about the password's length
        ok = hmac.compare_digest(hashlib.sha256(given.encode()).digest(),
                                 hashlib.sha256(expected.encode()).digest())
        if not ok:
            self.record_failure()
        return ok


#: The server's throttle (module state: shared by every session of the process).
THROTTLE = Throttle()


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
        failures = int(st.session_state.get(_FAILURES, 0))
        if THROTTLE.check(given or "", expected, failures):
            st.session_state.pop(_FAILURES, None)
            st.session_state["auth.ok"] = True
            st.rerun()
        st.session_state[_FAILURES] = failures + 1
        wait = THROTTLE.delay(failures + 1)
        st.error("Wrong password." + (f" The next try waits {wait:.0f} s." if wait >= 1 else ""))
    st.stop()


# --- downloads -------------------------------------------------------------------------------

class PrivateMediaFileStorage(MemoryMediaFileStorage):
    """Streamlit's in-memory media store with random file names and expiring downloads."""

    ttl_s: float = DOWNLOAD_TTL_S
    clock: Callable[[], float] = staticmethod(time.monotonic)

    def _born(self) -> dict[str, float]:
        born = self.__dict__.get("_pathlens_born")
        if born is None:
            born = self.__dict__["_pathlens_born"] = {}
        return born

    def load_and_get_id(self, path_or_data, mimetype, kind, filename=None) -> str:
        data = self._read_file(path_or_data) if isinstance(path_or_data, str) else path_or_data
        file_id = secrets.token_hex(16)
        self._files_by_id[file_id] = MemoryFile(content=data, mimetype=mimetype, kind=kind,
                                                filename=filename)
        self._born()[file_id] = self.clock()
        return file_id

    def get_file(self, filename: str) -> MemoryFile:
        file = super().get_file(filename)
        file_id = os.path.splitext(filename)[0]
        born = self._born().get(file_id)
        if file.kind == MediaFileKind.DOWNLOADABLE and (
                born is None or self.clock() - born > self.ttl_s):
            self.delete_file(file_id)
            raise MediaFileStorageError(f"Download '{filename}' has expired")
        return file

    def delete_file(self, file_id: str) -> None:
        super().delete_file(file_id)
        self._born().pop(file_id, None)


def private_storage_class() -> type[PrivateMediaFileStorage]:
    """The media store class :func:`protect_downloads` installs."""
    return PrivateMediaFileStorage


def protect_downloads() -> bool:
    """Give this server's media files random, expiring names (idempotent).

    The running server holds one ``MemoryMediaFileStorage``, shared by the media manager and the
    ``/media`` route; its class is switched in place so both use the new naming. Files already
    stored (none: this runs before any page) lose nothing. Pinned Streamlit 1.67.

    Returns
    -------
    bool
        Whether the server's store is private (``False`` outside a running server).
    """
    if not runtime.exists():
        return False
    storage = runtime.get_instance().media_file_mgr._storage
    private = private_storage_class()
    if type(storage) is MemoryMediaFileStorage:
        storage.__class__ = private
    return isinstance(storage, private)
