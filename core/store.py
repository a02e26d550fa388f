"""Content-addressed dataset store: uploaded event logs kept as Parquet so shared links survive.

Layout under the store's root (``PATHLENS_DATA_DIR``, default ``~/.pathlens/datasets``)::

    <id>.parquet      the canonical table, sorted by user_id then ts
    <id>.json         metadata: name, created, rows, users, the loader's report
    <id>.model/       a cart-abandonment model retrained on this dataset (optional)

``<id>`` is the first 20 hex digits of the SHA-256 of the Parquet bytes, so the same data gets
the same id and an id can never point at different data. Writes go to a temporary file and are
renamed into place (atomic on POSIX). The store has a size cap; when a write takes it over the
cap, the least recently used datasets (by the metadata file's modification time, touched on every
open) are evicted. The bundled sample has the fixed id ``"sample"`` and is never evicted.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from core.errors import DatasetNotFound

SAMPLE_ID = "sample"
SAMPLE_CSV = Path(__file__).resolve().parent.parent / "sample_data" / "events.csv.gz"
DEFAULT_MAX_BYTES = 2 * 1024**3
_ID_RE = re.compile(r"^(?:[0-9a-f]{20}|sample)$")


def default_root() -> Path:
    """The store's root: ``$PATHLENS_DATA_DIR`` or ``~/.pathlens/datasets``."""
    env = os.environ.get("PATHLENS_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".pathlens" / "datasets"


def is_valid_id(dataset_id: object) -> bool:
    """True for a well-formed id (20 lowercase hex digits, or ``"sample"``)."""
    return isinstance(dataset_id, str) and bool(_ID_RE.match(dataset_id))


@dataclass(frozen=True)
class DatasetMeta:
    """What the store knows about one dataset."""

    id: str
    name: str
    created: float
    rows: int
    users: int
    size_bytes: int
    report: dict[str, Any]


class DatasetStore:
    """A directory of canonical event tables addressed by content hash.

    Parameters
    ----------
    root : path, optional
        Directory of the store (created when missing). Default :func:`default_root`.
    max_bytes : int, default 2 GiB
        Size cap of the stored Parquet files; least recently used datasets are evicted
        beyond it (never the sample, never the dataset just written).

    Examples
    --------
    >>> store = DatasetStore("/tmp/pathlens-demo")  # doctest: +SKIP
    >>> ds_id = store.put(events, name="shop.csv")  # doctest: +SKIP
    >>> store.scan(ds_id).head().collect()  # doctest: +SKIP
    """

    def __init__(self, root: str | Path | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES):
        self.root = Path(root) if root is not None else default_root()
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes

    # -- paths -------------------------------------------------------------------------------
    def _check(self, dataset_id: object) -> str:
        if not is_valid_id(dataset_id):
            raise DatasetNotFound(
                f"dataset id {str(dataset_id)[:80]!r} is malformed: expected 20 hex digits "
                "(from a shared link) or 'sample'"
            )
        return dataset_id  # type: ignore[return-value]

    def parquet_path(self, dataset_id: str) -> Path:
        return self.root / f"{self._check(dataset_id)}.parquet"

    def model_dir(self, dataset_id: str) -> Path:
        """Directory where a model retrained on this dataset lives (not created here)."""
        return self.root / f"{self._check(dataset_id)}.model"

    def _meta_path(self, dataset_id: str) -> Path:
        return self.root / f"{self._check(dataset_id)}.json"

    # -- reading -----------------------------------------------------------------------------
    def exists(self, dataset_id: object) -> bool:
        """True when the id is well formed and its data is in the store (or is the sample)."""
        if not is_valid_id(dataset_id):
            return False
        if dataset_id == SAMPLE_ID:
            return True
        return self.parquet_path(dataset_id).is_file()  # type: ignore[arg-type]

    def scan(self, dataset_id: str) -> pl.LazyFrame:
        """Lazily scan a dataset's canonical table and mark it as recently used.

        Raises
        ------
        DatasetNotFound
            The id is malformed or unknown.
        """
        if dataset_id == SAMPLE_ID:
            self._ensure_sample()
        path = self.parquet_path(dataset_id)
        if not path.is_file():
            raise DatasetNotFound(
                f"dataset {dataset_id!r} is not in the store (it may have been evicted or "
                "uploaded to another server); showing the sample instead"
            )
        self._touch(dataset_id)
        return pl.scan_parquet(path)

    def meta(self, dataset_id: str) -> DatasetMeta:
        """Metadata of a dataset.

        Raises
        ------
        DatasetNotFound
            The id is malformed or unknown.
        """
        if dataset_id == SAMPLE_ID:
            self._ensure_sample()
        path = self._meta_path(dataset_id)
        if not path.is_file():
            raise DatasetNotFound(f"dataset {dataset_id!r} is not in the store")
        return DatasetMeta(**json.loads(path.read_text()))

    def list(self) -> list[DatasetMeta]:
        """All datasets, most recently used first."""
        metas = []
        for p in sorted(self.root.glob("*.json"), key=lambda p: -p.stat().st_mtime):
            try:
                metas.append(DatasetMeta(**json.loads(p.read_text())))
            except (ValueError, TypeError):
                continue
        return metas

    # -- writing -----------------------------------------------------------------------------
    def put(self, events: pl.DataFrame, *, name: str, report: dict[str, Any] | None = None,
            dataset_id: str | None = None) -> str:
        """Store a canonical table; return its content-hash id.

        The table is sorted by ``user_id`` then ``ts`` (stable) before writing. Storing the same
        data twice returns the same id and writes nothing new.

        Parameters
        ----------
        events : pl.DataFrame
            Canonical event table.
        name : str
            Display name (usually the uploaded file's name).
        report : dict, optional
            The loader's report, kept in the metadata.
        dataset_id : str, optional
            Internal: a fixed id (only ``"sample"``).

        Returns
        -------
        str
            The dataset id.
        """
        events = events.sort(["user_id", "ts"], maintain_order=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-", suffix=".parquet")
        os.close(fd)
        try:
            events.write_parquet(tmp, compression="zstd", statistics=True, row_group_size=256_000)
            if dataset_id is None:
                h = hashlib.sha256()
                with open(tmp, "rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        h.update(chunk)
                dataset_id = h.hexdigest()[:20]
            final = self.parquet_path(dataset_id)
            if final.is_file():
                os.unlink(tmp)
            else:
                os.replace(tmp, final)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        meta = DatasetMeta(
            id=dataset_id,
            name=name,
            created=time.time(),
            rows=events.height,
            users=events["user_id"].n_unique() if events.height else 0,
            size_bytes=final.stat().st_size,
            report=report or {},
        )
        self._write_meta(meta)
        self._evict(keep=dataset_id)
        return dataset_id

    def delete(self, dataset_id: str) -> None:
        """Remove a dataset and its model (no error when absent)."""
        for p in (self.parquet_path(dataset_id), self._meta_path(dataset_id)):
            p.unlink(missing_ok=True)
        shutil.rmtree(self.model_dir(dataset_id), ignore_errors=True)

    def total_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.root.glob("*.parquet"))

    # -- internals ---------------------------------------------------------------------------
    def _write_meta(self, meta: DatasetMeta) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump(meta.__dict__, fh, default=str)
        os.replace(tmp, self._meta_path(meta.id))

    def _touch(self, dataset_id: str) -> None:
        try:
            os.utime(self._meta_path(dataset_id))
        except FileNotFoundError:
            pass

    def _evict(self, *, keep: str) -> None:
        metas = self.list()[::-1]  # least recently used first
        total = self.total_bytes()
        for m in metas:
            if total <= self.max_bytes:
                break
            if m.id in (keep, SAMPLE_ID):
                continue
            total -= m.size_bytes
            self.delete(m.id)

    def _ensure_sample(self) -> None:
        if self.parquet_path(SAMPLE_ID).is_file() and self._meta_path(SAMPLE_ID).is_file():
            return
        from core.loader import load_events

        result = load_events(SAMPLE_CSV)
        report = result.report.to_dict() if hasattr(result.report, "to_dict") else {}
        self.put(result.events, name="Bundled sample shop (generated)", report=report,
                 dataset_id=SAMPLE_ID)
