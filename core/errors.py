"""Typed errors a user can cause. Pages turn these into ``st.error``; nothing else is expected.

Each error carries a short machine-readable ``code`` (as PostHog's validation rules do) and a
message that says what is wrong, the bad value and what would be valid.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any


def is_integer(value: Any) -> bool:
    """Is ``value`` a whole number (Python or NumPy integer), and not a bool?"""
    return isinstance(value, Integral) and not isinstance(value, bool)


class PathLensError(Exception):
    """Base class of every error a user can cause with their data or settings."""

    code = "pathlens_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class LoadError(PathLensError):
    """The input file cannot be read as an event log (empty, binary, unknown format...)."""

    code = "load_error"


class SchemaError(PathLensError):
    """Required columns are missing or have the wrong type."""

    code = "schema_error"


class ParameterError(PathLensError, ValueError):
    """A parameter is out of range; the message names it, the bad value and what is valid."""

    code = "parameter_error"


class DatasetNotFound(PathLensError, KeyError):
    """A dataset id is malformed or unknown to the store."""

    code = "dataset_not_found"

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class ModelError(PathLensError):
    """A model file or config does not match what the loader expects."""

    code = "model_error"


class DatasetCorrupt(PathLensError):
    """A stored dataset's file cannot be used (truncated, damaged, or values out of range)."""

    code = "dataset_corrupt"

    def __init__(self, message: str, *, dataset_id: str, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.dataset_id = dataset_id


class StoreWriteError(PathLensError):
    """The dataset store cannot keep a file (read-only directory, full disk...)."""

    code = "store_write_error"


class CohortNotFound(PathLensError, KeyError):
    """A saved cohort's id is malformed or unknown to its dataset."""

    code = "cohort_not_found"

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message
