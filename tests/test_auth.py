"""Access control: backoff on wrong passwords (no real sleeping), private download names, and a
running server that serves nothing of the app before login (plain HTTP on 127.0.0.1)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from streamlit.runtime.media_file_storage import MediaFileKind, MediaFileStorageError
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

import ui.auth
from ui.auth import DOWNLOAD_TTL_S, Throttle, private_storage_class

ROOT = Path(__file__).resolve().parent.parent


class FakeClock:
    """A clock that only moves when someone sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


# --- backoff ------------------------------------------------------------------------------------

def test_session_backoff_doubles_up_to_the_cap():
    clock = FakeClock()
    t = Throttle(base_s=1, cap_s=10, global_step=1000, clock=clock, sleep=clock.sleep)
    for failures in range(6):
        assert not t.check("guess", "secret", failures)
    # before guess k the session has k-1 failures: 0, 1, 2, 4, 8, then the cap 10
    assert clock.slept == [1, 2, 4, 8, 10]


def test_global_backoff_slows_a_guesser_who_opens_a_new_session_each_time():
    clock = FakeClock()
    t = Throttle(base_s=1, cap_s=30, window_s=600, global_step=5, clock=clock, sleep=clock.sleep)
    for _ in range(15):
        t.check("guess", "secret", session_failures=0)  # always a fresh session
    # guesses 1-5 wait nothing, 6-10 wait 1 s (5 recent failures = 1 step), 11-15 wait 2 s
    assert clock.slept == [1] * 5 + [2] * 5
    clock.now += 601  # the failures leave the window
    assert t.delay(0) == 0


def test_right_password_is_not_recorded_as_a_failure():
    clock = FakeClock()
    t = Throttle(global_step=1, clock=clock, sleep=clock.sleep)
    assert t.check("secret", "secret", 0)
    assert t.delay(0) == 0


def test_login_form_waits_longer_after_each_wrong_guess(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(ui.auth, "THROTTLE", Throttle(base_s=2, clock=clock, sleep=clock.sleep))
    monkeypatch.setenv("PATHLENS_PASSWORD", "s3cret")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    for _ in range(3):
        at.text_input(key="auth.password").input("wrong")
        at.button[0].click().run()
        assert not at.exception
        assert any("Wrong password" in e.value for e in at.error)
    assert clock.slept == [2, 4]  # the first guess is free, then 2 s, then 4 s
    assert "waits 8 s" in at.error[0].value
    at.text_input(key="auth.password").input("s3cret")
    at.button[0].click().run()
    assert clock.slept == [2, 4, 8]
    assert at.metric, "the Overview opens once the password is right"


# --- download names -----------------------------------------------------------------------------

def private_storage(clock: FakeClock):
    storage = MemoryMediaFileStorage("/media")
    storage.__class__ = private_storage_class()
    storage.clock = clock
    return storage


def test_streamlits_own_names_are_guessable_from_the_content():
    # Why the store is replaced: the same table gets the same name, computable by anyone.
    s = MemoryMediaFileStorage("/media")
    a = s.load_and_get_id(b"user_id\n1\n", "text/csv", MediaFileKind.DOWNLOADABLE, "x.csv")
    b = MemoryMediaFileStorage("/media").load_and_get_id(
        b"user_id\n1\n", "text/csv", MediaFileKind.DOWNLOADABLE, "x.csv")
    assert a == b


def test_download_names_are_random_and_expire():
    clock = FakeClock()
    s = private_storage(clock)
    a = s.load_and_get_id(b"user_id\n1\n", "text/csv", MediaFileKind.DOWNLOADABLE, "x.csv")
    b = s.load_and_get_id(b"user_id\n1\n", "text/csv", MediaFileKind.DOWNLOADABLE, "x.csv")
    assert a != b and re.fullmatch(r"[0-9a-f]{32}", a)
    url = s.get_url(a)
    assert url == f"/media/{a}.csv"
    assert s.get_file(f"{a}.csv").content == b"user_id\n1\n"
    clock.now += DOWNLOAD_TTL_S + 1
    with pytest.raises(MediaFileStorageError):
        s.get_file(f"{a}.csv")
    with pytest.raises(MediaFileStorageError):  # and it is gone for good
        s.get_file(f"{a}.csv")


def test_displayed_media_do_not_expire():
    clock = FakeClock()
    s = private_storage(clock)
    i = s.load_and_get_id(b"\x89PNG", "image/png", MediaFileKind.MEDIA)
    clock.now += DOWNLOAD_TTL_S * 10
    assert s.get_file(f"{i}.png").content == b"\x89PNG"


def test_the_app_installs_the_private_store(monkeypatch):
    from streamlit.runtime import Runtime

    seen = []
    original = ui.auth.protect_downloads

    def spy():
        installed = original()
        seen.append(type(Runtime.instance().media_file_mgr._storage))
        return installed

    monkeypatch.setattr(ui.auth, "protect_downloads", spy)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    assert not at.exception
    assert seen == [private_storage_class()]


# --- a real server with a password -------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def locked_server():
    port = _free_port()
    store = tempfile.mkdtemp(prefix="pathlens-auth-store-")
    env = dict(os.environ, PATHLENS_DATA_DIR=store, PATHLENS_PASSWORD="s3cret",
               STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    log = open(Path(store) / "server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
         "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("streamlit did not start: " + (Path(store) / "server.log").read_text())
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_locked_server_serves_only_the_empty_shell(locked_server):
    shell_status, shell = _get(locked_server + "/")
    assert shell_status == 200
    for path in ("/funnels?funnel.window=3", "/overview", "/paths?dataset=sample"):
        status, body = _get(locked_server + path)
        # the same static page for every path: the app's content only comes over the session's
        # websocket, after the password
        assert (status, body) == (200, shell), path
    for text in (b"PathLens", b"Entered", b"view_item", b"purchase"):
        assert text not in shell


def test_locked_server_has_no_media_to_hand_out(locked_server):
    # the name Streamlit itself would give the sample's funnel table, and a random one
    from streamlit.runtime.memory_media_file_storage import _calculate_file_id

    guess = _calculate_file_id(b"step\n", "text/csv", "funnel_steps.csv")
    for name in (f"{guess}.csv", "0" * 32 + ".csv"):
        status, _ = _get(f"{locked_server}/media/{name}")
        assert status == 404
