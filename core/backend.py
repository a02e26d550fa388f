"""Which engine runs the batch analyses: Polars on this machine (the default) or Spark.

``PATHLENS_BACKEND=polars`` (or unset) keeps everything embedded; ``PATHLENS_BACKEND=spark``
selects :mod:`core.spark`, which runs the same Polars functions per ``user_id`` partition on a
Spark cluster (``PATHLENS_SPARK_REMOTE=sc://...``) or ``local[N]``. This module never imports
pyspark: :func:`spark_available` only looks for it, and ``import core`` stays free of it.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Final

from core.errors import ParameterError

__all__ = ["BACKEND_ENV", "BACKENDS", "DEFAULT_BACKEND", "get_backend", "spark_available"]

BACKEND_ENV: Final = "PATHLENS_BACKEND"
BACKENDS: Final = ("polars", "spark")
DEFAULT_BACKEND: Final = "polars"


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
