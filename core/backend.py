"""Which engine runs the batch analyses: Polars on this machine (the default) or Spark.

``PATHLENS_BACKEND=polars`` (or unset) keeps everything embedded; ``PATHLENS_BACKEND=spark``
selects :mod:`core.spark`, which runs the same Polars functions per ``user_id`` partition on a
Spark cluster (``PATHLENS_SPARK_REMOTE=sc://...``) or ``local[N]``. This module never imports
pyspark: :func:`spark_available` only looks for it, and ``import core`` stays free of it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from core.errors import ParameterError
from core.spark.session import REMOTE_ENV

__all__ = [
    "BACKEND_ENV",
    "BACKENDS",
    "DEFAULT_BACKEND",
    "BackendStatus",
    "backend_status",
    "get_backend",
    "spark_available",
]

BACKEND_ENV: Final = "PATHLENS_BACKEND"
BACKENDS: Final = ("polars", "spark")
DEFAULT_BACKEND: Final = "polars"
#: Where :mod:`core.spark.session` looks for Java when ``JAVA_HOME`` is unset.
DEFAULT_JAVA_HOME: Final = "/usr/lib/jvm/java-17-openjdk-amd64"


def spark_available() -> bool:
    """True when pyspark is installed (``requirements-spark.txt``); imports nothing."""
    return importlib.util.find_spec("pyspark") is not None


def get_backend(name: str | None = None) -> str:
    """The backend in force: ``name`` when given, else ``PATHLENS_BACKEND``, else ``polars``.

    Parameters
    ----------
    name : {"polars", "spark"}, optional
        An explicit choice (the batch CLI's ``--backend``, the Data page setting).

    Returns
    -------
    str
        ``"polars"`` or ``"spark"``.

    Raises
    ------
    ParameterError
        The name is not a backend, or ``spark`` is chosen without pyspark installed.
    """
    source = "backend" if name is not None else BACKEND_ENV
    raw = name if name is not None else os.environ.get(BACKEND_ENV, DEFAULT_BACKEND)
    value = raw.strip().lower() or DEFAULT_BACKEND
    if value not in BACKENDS:
        raise ParameterError(f"`{source}` must be one of {list(BACKENDS)}, got {raw!r}")
    if value == "spark" and not spark_available():
        raise ParameterError(
            f"`{source}` is 'spark' but pyspark is not installed; install it with "
            "`pip install -r requirements-spark.txt` (and Java 17 for local mode)"
        )
    return value


@dataclass(frozen=True)
class BackendStatus:
    """What the Spark backend would need, found without importing pyspark or starting a JVM.

    Attributes
    ----------
    configured : str
        ``PATHLENS_BACKEND`` as set (``""`` when unset).
    backend : str or None
        The backend the environment selects (``None`` when ``configured`` is invalid).
    error : str or None
        Why ``configured`` is refused.
    pyspark : str or None
        The installed pyspark version.
    java : str or None
        The ``java`` executable local mode would start.
    remote : str or None
        ``PATHLENS_SPARK_REMOTE`` (a Spark Connect URL), when set.
    """

    configured: str
    backend: str | None
    error: str | None
    pyspark: str | None
    java: str | None
    remote: str | None

    @property
    def spark_ready(self) -> bool:
        """pyspark is installed and there is somewhere to run: a Connect URL or a local Java."""
        return self.pyspark is not None and (self.remote is not None or self.java is not None)

    def spark_missing(self) -> list[str]:
        """What keeps Spark from starting, in words (empty when :attr:`spark_ready`)."""
        out = []
        if self.pyspark is None:
            out.append("pyspark is not installed (pip install -r requirements-spark.txt)")
        if self.remote is None and self.java is None:
            out.append("no Java runtime for local mode (JAVA_HOME or java on PATH) and no "
                       "Spark Connect URL (PATHLENS_SPARK_REMOTE)")
        return out


def _java() -> str | None:
    home = os.environ.get("JAVA_HOME") or DEFAULT_JAVA_HOME
    candidate = Path(home) / "bin" / "java"
    return str(candidate) if candidate.is_file() else shutil.which("java")


def backend_status() -> BackendStatus:
    """The backend setting of the environment and what Spark would need (imports nothing).

    Returns
    -------
    BackendStatus
    """
    configured = os.environ.get(BACKEND_ENV, "").strip()
    try:
        backend, error = get_backend(), None
    except ParameterError as e:
        backend, error = None, e.message
    try:
        version: str | None = importlib.metadata.version("pyspark") if spark_available() else None
    except importlib.metadata.PackageNotFoundError:
        version = None
    remote = os.environ.get(REMOTE_ENV, "").strip() or None
    return BackendStatus(configured, backend, error, version, _java(), remote)
