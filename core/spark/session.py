"""The Spark session of the Spark backend and the shipping of ``core`` to its executors.

``PATHLENS_SPARK_REMOTE=sc://host:15002`` connects to a Spark Connect server (Databricks, EMR,
a Spark on Kubernetes deployment); without it a local session runs ``local[N]`` with
``N = PATHLENS_SPARK_CORES`` (default 2). Either way the ``core`` package is zipped once and
shipped to the cluster (``addArtifacts(..., pyfile=True)`` on Connect, ``addPyFile`` on a
classic session), so executors run exactly the Polars functions of the driver's checkout.

Settings the results depend on are fixed here: the session time zone is UTC (the canonical
``ts`` is ``Datetime(us, UTC)``) and Arrow is used for every transfer.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from core.errors import ParameterError

__all__ = ["REMOTE_ENV", "CORES_ENV", "get_session", "ship_core", "core_zip", "stop_session"]

#: Environment variable holding a Spark Connect URL (``sc://host:port/;token=...``).
REMOTE_ENV = "PATHLENS_SPARK_REMOTE"
#: Environment variable holding the number of local cores (``local[N]``) when not remote.
CORES_ENV = "PATHLENS_SPARK_CORES"
#: Shuffle partitions of the local session: small, the machines are shared.
LOCAL_SHUFFLE_PARTITIONS = 8

_SESSION: Any = None
_SHIPPED: set[int] = set()


def core_zip(directory: str | os.PathLike | None = None) -> Path:
    """Zip the ``core`` package (without caches) for the executors; returns the zip's path."""
    root = Path(__file__).resolve().parents[1]
    out = Path(directory or tempfile.mkdtemp(prefix="pathlens-core-")) / "pathlens_core.zip"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                zf.write(path, Path("core") / path.relative_to(root))
    return out


def _cores() -> int:
    raw = os.environ.get(CORES_ENV, "2")
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise ParameterError(f"{CORES_ENV} must be a positive integer, got {raw!r}")
    return n


def _local_session(cores: int) -> Any:
    from pyspark.sql import SparkSession  # lazy: only the Spark backend imports pyspark

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if "JAVA_HOME" not in os.environ and Path("/usr/lib/jvm/java-17-openjdk-amd64").exists():
        os.environ["JAVA_HOME"] = "/usr/lib/jvm/java-17-openjdk-amd64"
    return (
        SparkSession.builder.master(f"local[{cores}]")
        .appName("pathlens")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(LOCAL_SHUFFLE_PARTITIONS))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "100000")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", os.environ.get("PATHLENS_SPARK_DRIVER_MEMORY", "4g"))
        .config("spark.python.worker.reuse", "true")
        .getOrCreate()
    )


def _remote_session(url: str) -> Any:
    from pyspark.sql import SparkSession  # lazy: only the Spark backend imports pyspark

    if not url.startswith("sc://"):
        raise ParameterError(
            f"{REMOTE_ENV} must be a Spark Connect URL starting with 'sc://', got {url!r}"
        )
    _check_reachable(url)
    spark = SparkSession.builder.remote(url).getOrCreate()
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    return spark


def _check_reachable(url: str, timeout_s: float = 5.0) -> None:
    """Fail at once when nothing listens at the URL's host and port: the Connect client would
    otherwise retry for minutes before saying so. Skipped behind a proxy (gRPC goes through it).
    """
    if any(os.environ.get(v) for v in ("grpc_proxy", "https_proxy", "HTTPS_PROXY")):
        return
    address = url[len("sc://"):].split("/", 1)[0]
    host, _, port = address.rpartition(":") if ":" in address else (address, "", "15002")
    if not port.isdigit():
        raise ParameterError(f"{REMOTE_ENV} is {url!r}: the port {port!r} is not a number")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as e:
        raise ParameterError(
            f"{REMOTE_ENV} is {url!r} but nothing answers at {address or '(no host)'} ({e}); "
            "start the Spark Connect server or correct the URL"
        ) from e


def get_session() -> Any:
    """The Spark session of this process (created once), with ``core`` shipped to it.

    Returns
    -------
    pyspark.sql.SparkSession
        A Spark Connect session when ``PATHLENS_SPARK_REMOTE`` is set, else ``local[N]``.

    Raises
    ------
    ParameterError
        ``PATHLENS_SPARK_REMOTE`` is not an ``sc://`` URL, nothing answers at its host and port,
        or ``PATHLENS_SPARK_CORES`` is not a positive integer.
    """
    global _SESSION
    if _SESSION is None:
        url = os.environ.get(REMOTE_ENV, "").strip()
        _SESSION = _remote_session(url) if url else _local_session(_cores())
    ship_core(_SESSION)
    return _SESSION


def is_connect(spark: Any) -> bool:
    """True for a Spark Connect session (no ``sparkContext``)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def ship_core(spark: Any) -> None:
    """Send the ``core`` package to the executors of ``spark`` (once per session)."""
    if id(spark) in _SHIPPED:
        return
    path = core_zip()
    if is_connect(spark):
        spark.addArtifacts(str(path), pyfile=True)
    else:
        spark.sparkContext.addPyFile(str(path))
    _SHIPPED.add(id(spark))


def stop_session() -> None:
    """Stop the session this module created (tests and the batch CLI call it at exit)."""
    global _SESSION
    if _SESSION is not None:
        connect = is_connect(_SESSION)
        _SHIPPED.discard(id(_SESSION))
        _SESSION.stop()
        _SESSION = None
        if connect:  # pyspark leaves its process-wide Connect switch on after a remote
            # session stops: a later local session would then look for a Connect URL
            os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)
