"""Content-addressed dataset store: uploaded event logs kept as Parquet so shared links survive.

Layout under the store's root (``PATHLENS_DATA_DIR``, default ``~/.pathlens/datasets``)::

    <id>.parquet      the canonical table, sorted by user_id then ts
    <id>.json         metadata: name, created, rows, users, the loader's report
    <id>.model/       a cart-abandonment model retrained on this dataset (optional)
    <id>.cohorts/     saved cohorts of this dataset (``core.cohorts.storage``)
    baskets/<h>.*     uploaded basket files (kept by ``ui.rules``; evicted like datasets)
    .tmp-<pid>-*      a write in progress (removed at start when its process is gone)

``<id>`` is the first 32 hex digits (128 bits) of the SHA-256 of the Parquet bytes, so the same
data gets the same id, an id can never point at different data, and ids cannot be guessed; ids
of 20 hex digits (stored before ids grew) still open. Only ids matching that pattern are turned
into paths, so an id from a link cannot reach outside the root.

Every file is written to a temporary file, flushed to disk and renamed into place (atomic on
POSIX): a crash mid-write leaves no half-written file under an id. A dataset is verified when it
is written (its footer read back, its row count compared) and on its first read in a process
(footer, row count against the metadata, columns, timestamp range); a file that fails raises
:class:`~core.errors.DatasetCorrupt`, and storing the same data again replaces it. A corrupt
sample is rebuilt from ``sample_data/events.csv.gz``.

The store has a size cap on everything under its root (Parquet, metadata, models, cohorts,
basket files); when a write takes it over the cap, the least recently used datasets and basket files
(by the metadata file's modification time, touched on every open) are evicted — never the
sample, never the dataset just written, never a dataset a session holds (:meth:`hold`).

A read-only root still serves what it holds: touching fails silently, the sample is built in a
temporary directory when the root lacks it, and writes raise :class:`~core.errors.StoreWriteError`
naming the root.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from core.cohorts.storage import COHORTS_SUFFIX, CohortStore
from core.errors import DatasetCorrupt, DatasetNotFound, StoreWriteError
from core.spark.lake import LakeDataset, LakeRegistry, scan_lake

SAMPLE_ID = "sample"
SAMPLE_CSV = Path(__file__).resolve().parent.parent / "sample_data" / "events.csv.gz"
DEFAULT_MAX_BYTES = 2 * 1024**3
ID_HEX_DIGITS = 32
_ID_RE = re.compile(r"^(?:[0-9a-f]{32}|[0-9a-f]{20}|sample)$")
BASKETS_DIR = "baskets"
#: A session's hold on a dataset lapses when it has not renewed it for this long (seconds).
HOLD_TTL_S = 12 * 3600.0
#: A temp file whose writer cannot be identified is stale after this long (seconds).
_STALE_TMP_S = 3600.0
#: Timestamps must fall in these years (Python's calendar: pages turn them into dates).
TS_YEARS = (1, 9999)
_REQUIRED = ("user_id", "ts", "event")


def default_root() -> Path:
    """The store's root: ``$PATHLENS_DATA_DIR`` or ``~/.pathlens/datasets``."""
    env = os.environ.get("PATHLENS_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".pathlens" / "datasets"


def is_valid_id(dataset_id: object) -> bool:
    """True for a well-formed id (32 or, from older links, 20 lowercase hex digits, or
    ``"sample"``)."""
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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


class DatasetStore(CohortStore):
    """A directory of canonical event tables addressed by content hash.

    Saved cohorts live beside their dataset (the :class:`~core.cohorts.storage.CohortStore`
    methods: ``save_cohort``, ``cohorts``, ``cohort``, ``cohort_members``, ``rename_cohort``,
    ``delete_cohort``).

    Parameters
    ----------
    root : path, optional
        Directory of the store (created when missing and possible). Default
        :func:`default_root`.
    max_bytes : int, default 2 GiB
        Size cap of everything under the root; least recently used datasets and basket files
        are evicted beyond it (never the sample, the dataset just written or a held one).

    Examples
    --------
    >>> store = DatasetStore("/tmp/pathlens-demo")  # doctest: +SKIP
    >>> ds_id = store.put(events, name="shop.csv")  # doctest: +SKIP
    >>> store.scan(ds_id).head().collect()  # doctest: +SKIP
    """

    def __init__(self, root: str | Path | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES):
        self.root = Path(root) if root is not None else default_root()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # read-only: what is there can still be read; writes say why they fail
        self.max_bytes = max_bytes
        self._sample_root = self.root  # moves to a temp dir when the root is read-only
        self._verified: set[str] = set()
        self._holds: dict[str, tuple[str, float]] = {}
        self._lock = threading.RLock()
        self._clean_leftovers()

    # -- paths -------------------------------------------------------------------------------
    def _check(self, dataset_id: object) -> str:
        if not is_valid_id(dataset_id):
            raise DatasetNotFound(
                f"dataset id {str(dataset_id)[:80]!r} is malformed: expected {ID_HEX_DIGITS} "
                "hex digits (from a shared link) or 'sample'"
            )
        return dataset_id  # type: ignore[return-value]

    def _dir(self, dataset_id: str) -> Path:
        return self._sample_root if dataset_id == SAMPLE_ID else self.root

    def parquet_path(self, dataset_id: str) -> Path:
        dataset_id = self._check(dataset_id)
        return self._dir(dataset_id) / f"{dataset_id}.parquet"

    def model_dir(self, dataset_id: str) -> Path:
        """Directory where a model retrained on this dataset lives (not created here)."""
        return self.root / f"{self._check(dataset_id)}.model"

    def _meta_path(self, dataset_id: str) -> Path:
        dataset_id = self._check(dataset_id)
        return self._dir(dataset_id) / f"{dataset_id}.json"

    # -- reading -----------------------------------------------------------------------------
    def exists(self, dataset_id: object) -> bool:
        """True when the id is well formed and its data is in the store (or is the sample)."""
        if not is_valid_id(dataset_id):
            return False
        if dataset_id == SAMPLE_ID:
            return True
        path = self.parquet_path(dataset_id)  # type: ignore[arg-type]
        return path.is_file() or self.lake(dataset_id) is not None

    def lake(self, dataset_id: object) -> LakeDataset | None:
        """The lake dataset registered under ``dataset_id`` (:mod:`core.spark.lake`), or None."""
        return LakeRegistry(self.root).get(dataset_id) if dataset_id != SAMPLE_ID else None

    def scan(self, dataset_id: str) -> pl.LazyFrame:
        """Lazily scan a dataset's canonical table and mark it as recently used.

        The first read of a dataset in a process verifies its file (see :meth:`verify`).

        Raises
        ------
        DatasetNotFound
            The id is malformed or unknown.
        DatasetCorrupt
            The file is damaged or holds values no page can show; remove it or upload the
            data again.
        """
        dataset_id = self._check(dataset_id)
        if dataset_id == SAMPLE_ID:
            self._ensure_sample()
        path = self.parquet_path(dataset_id)
        if not path.is_file() and (lake := self.lake(dataset_id)) is not None:
            return scan_lake(lake)  # stays in the lake; Polars scans it lazily
        if not path.is_file():
            raise DatasetNotFound(
                f"dataset {dataset_id!r} is not in the store (it may have been evicted or "
                "uploaded to another server); showing the sample instead"
            )
        if dataset_id not in self._verified:
            self.verify(dataset_id)
        self._touch(dataset_id)
        return pl.scan_parquet(path)

    def meta(self, dataset_id: str) -> DatasetMeta:
        """Metadata of a dataset.

        Raises
        ------
        DatasetNotFound
            The id is malformed or unknown.
        DatasetCorrupt
            The metadata file cannot be read.
        """
        dataset_id = self._check(dataset_id)
        if dataset_id == SAMPLE_ID:
            self._ensure_sample()
        elif not self._meta_path(dataset_id).is_file() and (lake := self.lake(dataset_id)):
            return DatasetMeta(**lake.meta())
        return self._read_meta(dataset_id)

    def _read_meta(self, dataset_id: str) -> DatasetMeta:
        path = self._meta_path(dataset_id)
        if not path.is_file():
            raise DatasetNotFound(f"dataset {dataset_id!r} is not in the store")
        try:
            return DatasetMeta(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as e:
            raise self._corrupt(dataset_id, f"its metadata file cannot be read ({e})") from e

    def verify(self, dataset_id: str) -> None:
        """Check a stored dataset can be used; remember the result for this process.

        Reads the Parquet footer (a truncated or overwritten file fails here), compares its row
        count with the metadata, checks the required columns and that every timestamp falls in
        the years :data:`TS_YEARS` (a dataset stored before the loader dropped such rows would
        break every page).

        Raises
        ------
        DatasetCorrupt
            The file fails one of the checks; the message says which and what to do.
        """
        self._verify_file(dataset_id)
        self._verify_values(dataset_id)
        self._verified.add(dataset_id)

    def _verify_file(self, dataset_id: str) -> None:
        """The file's footer reads and agrees with the metadata (checked after every write)."""
        path = self.parquet_path(dataset_id)
        meta = self._read_meta(dataset_id)
        try:
            schema = pl.read_parquet_schema(path)
            rows = pl.scan_parquet(path).select(pl.len()).collect().item()
        except Exception as e:  # noqa: BLE001 - any reading error means the file is damaged
            raise self._corrupt(dataset_id, f"its file cannot be read ({e})") from e
        if rows != meta.rows:
            raise self._corrupt(dataset_id, f"its file holds {rows:,} rows where {meta.rows:,} "
                                "were stored")
        missing = [c for c in _REQUIRED if c not in schema]
        if missing or not isinstance(schema.get("ts"), pl.Datetime):
            raise self._corrupt(dataset_id, "its file lacks the columns "
                                f"{', '.join(missing) or 'ts (as a datetime)'}")

    def _verify_values(self, dataset_id: str) -> None:
        """Every timestamp can become a Python date (pages need it)."""
        path = self.parquet_path(dataset_id)
        try:
            lo, hi = (pl.scan_parquet(path)
                      .select(pl.col("ts").dt.year().min().alias("lo"),
                              pl.col("ts").dt.year().max().alias("hi"))
                      .collect().row(0))
        except Exception as e:  # noqa: BLE001
            raise self._corrupt(dataset_id, f"its timestamps cannot be read ({e})") from e
        for year in (lo, hi):
            if year is not None and not TS_YEARS[0] <= year <= TS_YEARS[1]:
                raise self._corrupt(
                    dataset_id,
                    f"it holds timestamps in the year {year} (valid: {TS_YEARS[0]} to "
                    f"{TS_YEARS[1]}); it was stored before such rows were dropped",
                    code="dataset_timestamps_out_of_range")

    def list(self) -> list[DatasetMeta]:
        """All readable datasets, most recently used first."""
        metas = []
        for p in sorted(self._meta_files(), key=lambda p: -p.stat().st_mtime):
            if not p.with_suffix(".parquet").is_file():
                continue
            try:
                metas.append(DatasetMeta(**json.loads(p.read_text())))
            except (OSError, ValueError, TypeError):
                continue
        return metas

    # -- holds -------------------------------------------------------------------------------
    def hold(self, holder: str, dataset_id: str) -> None:
        """Keep ``dataset_id`` from eviction while ``holder`` (a session) uses it.

        One dataset per holder; the hold lapses after :data:`HOLD_TTL_S` without renewal.
        """
        with self._lock:
            self._holds[holder] = (dataset_id, time.monotonic())

    def release(self, holder: str) -> None:
        """End ``holder``'s hold (no error when it has none)."""
        with self._lock:
            self._holds.pop(holder, None)

    def held(self) -> set[str]:
        """Ids held by some session now."""
        now = time.monotonic()
        with self._lock:
            for h in [h for h, (_, t) in self._holds.items() if now - t > HOLD_TTL_S]:
                del self._holds[h]
            return {ds for ds, _ in self._holds.values()}

    # -- writing -----------------------------------------------------------------------------
    def put(self, events: pl.DataFrame, *, name: str, report: dict[str, Any] | None = None,
            dataset_id: str | None = None) -> str:
        """Store a canonical table; return its content-hash id.

        The table is sorted by ``user_id`` then ``ts`` (stable) before writing. Storing the same
        data twice returns the same id; the file is written again, which repairs a damaged copy.

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

        Raises
        ------
        StoreWriteError
            The store is read-only, the disk is full, or the written file does not read back.
        """
        # the loader returns rows in file order (issue 14): the one sort is here
        from core.loader.order import sort_events  # lazy: the loader package is heavy

        events = sort_events(events)
        buf = io.BytesIO()
        events.write_parquet(buf, compression="zstd", statistics=True, row_group_size=256_000)
        data = buf.getvalue()
        if dataset_id is None:
            dataset_id = hashlib.sha256(data).hexdigest()[:ID_HEX_DIGITS]
        meta = DatasetMeta(
            id=dataset_id,
            name=name,
            created=time.time(),
            rows=events.height,
            users=events["user_id"].n_unique() if events.height else 0,
            size_bytes=len(data),
            report=report or {},
        )
        # metadata first: a parquet file under an id always has its metadata
        self._write_file(self._meta_path(dataset_id),
                         json.dumps(meta.__dict__, default=str).encode())
        self._write_file(self.parquet_path(dataset_id), data)
        self._verified.discard(dataset_id)
        try:
            self._verify_file(dataset_id)
        except DatasetCorrupt as e:
            self._unlink(self.parquet_path(dataset_id))
            raise StoreWriteError(
                f"the dataset written to the store at {self._dir(dataset_id)} could not be read "
                f"back ({e.message}); the disk may be failing or full",
            ) from e
        self._evict(keep=dataset_id)
        return dataset_id

    def delete(self, dataset_id: str) -> None:
        """Remove a dataset, its model and its cohorts (no error when absent).

        Raises
        ------
        StoreWriteError
            The store is read-only.
        """
        for p in (self.parquet_path(dataset_id), self._meta_path(dataset_id)):
            try:
                p.unlink(missing_ok=True)
            except OSError as e:
                raise self._write_error(e, p.parent) from e
        self._verified.discard(dataset_id)
        shutil.rmtree(self.model_dir(dataset_id), ignore_errors=True)
        self._delete_cohorts(dataset_id)

    def total_bytes(self) -> int:
        """Bytes of every file under the root (datasets, models, basket files, temp files)."""
        total = 0
        for p in self.root.rglob("*"):
            try:
                if p.is_file():
                    total += p.stat().st_size
            except OSError:  # removed meanwhile
                continue
        return total

    def write_file(self, final: Path, data: bytes) -> None:
        """Write ``data`` to ``final``, a file under the root kept beside the datasets (basket
        files), as the store writes its own: temp file ``.tmp-<pid>-*`` (removed at start-up
        when its writer died), fsync, rename. The folder is created when missing.

        Raises
        ------
        StoreWriteError
            The store is read-only or the disk is full.
        """
        final = Path(final)
        if not final.resolve().is_relative_to(self.root.resolve()):
            raise ValueError(f"`final` must lie under the store's root {self.root}, got {final}")
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise self._write_error(e, final.parent) from e
        self._write_file(final, data)
        # Files kept beside the datasets count towards the cap as well: evict (never this one).
        rel = final.resolve().relative_to(self.root.resolve())
        self._evict(keep=f"{rel.parent.as_posix()}/{final.stem}" if rel.parent.parts else final.stem)

    # -- internals ---------------------------------------------------------------------------
    def _corrupt(self, dataset_id: str, why: str, *, code: str | None = None) -> DatasetCorrupt:
        what = "the bundled sample" if dataset_id == SAMPLE_ID else f"dataset `{dataset_id}`"
        return DatasetCorrupt(
            f"The stored {what} cannot be used: {why}. Remove it on the Data page, or upload "
            "the same file again to replace it.", dataset_id=dataset_id, code=code)

    def _write_error(self, e: OSError, where: Path) -> StoreWriteError:
        if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return StoreWriteError(
                f"The dataset store at {where} is read-only, so nothing can be stored; ask the "
                "administrator to make it writable or to point PATHLENS_DATA_DIR elsewhere.")
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            return StoreWriteError(
                f"The disk holding the dataset store at {where} is full; nothing was stored. "
                "Free some space or lower the store's size cap.")
        return StoreWriteError(f"Writing to the dataset store at {where} failed: "
                               f"{e.strerror or e}.")

    def _write_file(self, final: Path, data: bytes) -> None:
        """Write ``data`` to ``final`` atomically: temp file, fsync, rename."""
        tmp = final.parent / f".tmp-{os.getpid()}-{secrets.token_hex(6)}{final.suffix}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as e:
            raise self._write_error(e, final.parent) from e
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, final)
        except OSError as e:
            self._unlink(tmp)
            raise self._write_error(e, final.parent) from e
        except BaseException:
            self._unlink(tmp)
            raise

    @staticmethod
    def _unlink(path: Path) -> None:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass

    def _touch(self, dataset_id: str) -> None:
        try:
            os.utime(self._meta_path(dataset_id))
        except OSError:  # absent, or a read-only store: recency is a hint only
            pass

    def _meta_files(self) -> list[Path]:
        try:
            return [p for p in self.root.glob("*.json") if is_valid_id(p.stem)]
        except OSError:
            return []

    def _clean_leftovers(self) -> None:
        """Remove temp files of writers that died (a crash or kill mid-write)."""
        now = time.time()
        for p in [*self.root.glob(".tmp-*"), *self.root.glob(f"{BASKETS_DIR}/.tmp-*"),
                  *self.root.glob(f"*{COHORTS_SUFFIX}/.tmp-*")]:
            m = re.match(r"^\.tmp-(\d+)-", p.name)
            try:
                if m and int(m.group(1)) != os.getpid() and _pid_alive(int(m.group(1))):
                    continue
                if not m and now - p.stat().st_mtime < _STALE_TMP_S:
                    continue
                p.unlink()
            except OSError:
                continue

    def _evictable(self) -> list[tuple[float, str, list[Path]]]:
        """(last used, id, paths) of every dataset and basket file."""
        out = []
        for p in self._meta_files():
            ds = p.stem
            out.append((p, ds, [p.with_suffix(".parquet"), p, self.root / f"{ds}.model",
                                self.root / f"{ds}{COHORTS_SUFFIX}"]))
        try:
            baskets = list((self.root / BASKETS_DIR).glob("*.json"))
        except OSError:
            baskets = []
        for p in baskets:
            out.append((p, f"{BASKETS_DIR}/{p.stem}", [p.with_suffix(".parquet"), p]))
        entries = []
        for meta, key, paths in out:
            try:
                entries.append((meta.stat().st_mtime, key, paths))
            except OSError:
                continue
        return sorted(entries, key=lambda e: e[0])

    @staticmethod
    def _size(path: Path) -> int:
        try:
            if path.is_dir():
                return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
            return path.stat().st_size if path.is_file() else 0
        except OSError:
            return 0

    def _evict(self, *, keep: str) -> None:
        total = self.total_bytes()
        if total <= self.max_bytes:
            return
        protected = {keep, SAMPLE_ID} | self.held()
        for _, key, paths in self._evictable():  # least recently used first
            if total <= self.max_bytes:
                break
            if key in protected:
                continue
            size = sum(self._size(p) for p in paths)
            try:
                for p in paths:
                    if p.is_dir():
                        shutil.rmtree(p, ignore_errors=True)
                    else:
                        p.unlink(missing_ok=True)
            except OSError:
                continue
            self._verified.discard(key)
            total -= size

    def _ensure_sample(self) -> None:
        """Materialise the sample (verified) from the bundled CSV when missing or damaged."""
        if SAMPLE_ID in self._verified and self.parquet_path(SAMPLE_ID).is_file():
            return
        with self._lock:
            if self.parquet_path(SAMPLE_ID).is_file() and self._meta_path(SAMPLE_ID).is_file():
                try:
                    self.verify(SAMPLE_ID)
                    return
                except DatasetCorrupt:
                    pass  # rebuilt below
            # lazy: only a damaged sample is rebuilt here; the loader is heavy
            from core.loader import load_events

            result = load_events(SAMPLE_CSV)
            report = result.report.to_dict() if hasattr(result.report, "to_dict") else {}
            try:
                self.put(result.events, name="Bundled sample shop (generated)", report=report,
                         dataset_id=SAMPLE_ID)
            except StoreWriteError:
                if self._sample_root != self.root:
                    raise
                # a read-only store: keep the sample in a private temp dir of this process
                try:
                    self._sample_root = Path(tempfile.mkdtemp(prefix="pathlens-sample-"))
                except OSError as e:
                    raise self._write_error(e, Path(tempfile.gettempdir())) from e
                self.put(result.events, name="Bundled sample shop (generated)", report=report,
                         dataset_id=SAMPLE_ID)
