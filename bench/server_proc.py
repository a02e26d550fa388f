"""A PathLens server of its own for a benchmark, and the RSS of its process tree (from /proc).

Used by ``bench/bench_server_load.py``: :func:`running_server` starts ``streamlit run app.py``
headless on a free loopback port with the given dataset store, samples the RSS of the server's
process tree every 0.5 s (:class:`RssSampler`; psutil is not a dependency) and always stops
both.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            continue
    return pids


def _status_kib(pid: int, field_name: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_mib(pid: int) -> float:
    """RSS of a process and all its descendants, MiB."""
    return sum(_status_kib(p, "VmRSS") for p in _tree(pid)) / 1024


class RssSampler(threading.Thread):
    """Samples the server tree's RSS every ``every`` seconds; keeps the peak."""

    def __init__(self, pid: int, every: float = 0.5):
        super().__init__(daemon=True, name="rss-sampler")
        self.pid, self.every = pid, every
        self.peak = 0.0
        self.samples: list[tuple[float, float]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        t0 = time.monotonic()
        while not self._halt.is_set():
            rss = tree_rss_mib(self.pid)
            self.samples.append((time.monotonic() - t0, rss))
            self.peak = max(self.peak, rss)
            self._halt.wait(self.every)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


class Server:
    def __init__(self, store_dir: Path):
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        env = dict(os.environ, PATHLENS_DATA_DIR=str(store_dir),
                   STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
        env.pop("PATHLENS_PASSWORD", None)
        self.log_path = store_dir / f"server-{self.port}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
             "--server.headless", "true", "--server.address", HOST,
             "--server.port", str(self.port), "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        self.hwm_mib = 0.0
        self.idle_mib = 0.0

    def wait_healthy(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"streamlit did not become healthy in {timeout:.0f} s")

    def stop(self) -> None:
        self.hwm_mib = _status_kib(self.proc.pid, "VmHWM") / 1024 or self.hwm_mib
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)
        self._log.close()


@contextlib.contextmanager
def running_server(store_dir: Path):
    """A server on the store with its RSS sampler; both always stopped."""
    server = Server(store_dir)
    sampler = RssSampler(server.proc.pid)
    try:
        server.wait_healthy()
        server.idle_mib = tree_rss_mib(server.proc.pid)
        sampler.start()
        yield server, sampler
    finally:
        try:
            if sampler.is_alive():
                sampler.stop()
        finally:
            server.stop()
