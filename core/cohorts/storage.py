"""Saved cohorts kept beside their dataset: the store side (mixed into ``DatasetStore``).

Layout under the dataset's folder of the store::

    <dataset_id>.cohorts/<cohort_id>.parquet   the members: one column ``user_id`` (the
                                               dataset's dtype), sorted, no repeats
    <dataset_id>.cohorts/<cohort_id>.json      the record: :meth:`Cohort.to_json`

Each cohort has its own record rather than one shared index file, so two sessions saving
cohorts at once can never lose each other's (there is no read-modify-write of a shared file);
listing reads the records. Files are written as the store writes datasets (temp file, fsync,
rename), the members first and the record last, so a listed cohort always has its members.
Ids are checked against :data:`COHORT_ID_RE` before they become paths. Deleting or evicting the
dataset removes its cohorts; the store's size cap counts them.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Final

import polars as pl

from core.cohorts.model import (
    COUNT_BY,
    MAX_COHORTS,
    Cohort,
    check_definition,
    check_name,
    check_source,
    cohort_id,
)
from core.errors import (
    CohortNotFound,
    DatasetCorrupt,
    DatasetNotFound,
    ParameterError,
    StoreWriteError,
)

if TYPE_CHECKING:
    from core.store import DatasetStore

#: What a cohort id looks like (anything else never becomes a path).
COHORT_ID_RE: Final = re.compile(r"^[0-9a-f]{32}$")
#: Suffix of the folder holding a dataset's cohorts.
COHORTS_SUFFIX: Final = ".cohorts"
#: Examples of unknown users named in a refusal.
_EXAMPLES: Final = 3


class CohortStore:
    """The cohort methods of :class:`core.store.DatasetStore` (a mixin: it uses the store's
    id checks, atomic writes, lock and eviction)."""

    # -- paths -------------------------------------------------------------------------------
    def cohorts_dir(self: DatasetStore, dataset_id: str) -> Path:
        """Folder of a dataset's cohorts (not created here)."""
        dataset_id = self._check(dataset_id)
        return self._dir(dataset_id) / f"{dataset_id}{COHORTS_SUFFIX}"

    def _cohort_paths(self: DatasetStore, dataset_id: str, cid: object) -> tuple[Path, Path]:
        if not isinstance(cid, str) or not COHORT_ID_RE.match(cid):
            raise CohortNotFound(
                f"cohort id {str(cid)[:80]!r} is malformed: expected 32 hex digits (from a "
                "shared link or the cohort list)"
            )
        folder = self.cohorts_dir(dataset_id)
        return folder / f"{cid}.parquet", folder / f"{cid}.json"

    # -- reading -----------------------------------------------------------------------------
    def cohorts(self: DatasetStore, dataset_id: str) -> list[Cohort]:
        """The dataset's saved cohorts, newest first (then by name).

        Records that cannot be read are left out here and listed by :meth:`damaged_cohorts`.

        Raises
        ------
        DatasetNotFound
            The dataset id is malformed or unknown.
        """
        good, _ = self._read_records(dataset_id)
        return sorted(good, key=lambda c: (-c.created.timestamp(), c.name.casefold()))

    def damaged_cohorts(self: DatasetStore, dataset_id: str) -> list[str]:
        """Ids of the dataset's cohorts whose record or members file cannot be read (so a page
        can say so and offer :meth:`delete_cohort`)."""
        _, bad = self._read_records(dataset_id)
        return sorted(bad)

    def _read_records(self: DatasetStore, dataset_id: str) -> tuple[list[Cohort], list[str]]:
        if not self.exists(dataset_id):
            self._check(dataset_id)
            raise DatasetNotFound(f"dataset {dataset_id!r} is not in the store")
        folder = self.cohorts_dir(dataset_id)
        good: list[Cohort] = []
        bad: list[str] = []
        try:
            records = sorted(p for p in folder.glob("*.json") if COHORT_ID_RE.match(p.stem))
        except OSError:
            return good, bad
        for path in records:
            try:
                c = Cohort.from_json(json.loads(path.read_text()))
            except (OSError, ValueError, TypeError, KeyError):
                bad.append(path.stem)
                continue
            if c.id != path.stem or not path.with_suffix(".parquet").is_file():
                bad.append(path.stem)
                continue
            good.append(c)
        return good, bad

    def cohort(self: DatasetStore, dataset_id: str, cohort_id: str) -> Cohort:
        """One saved cohort's record.

        Raises
        ------
        DatasetNotFound
            The dataset id is malformed or unknown.
        CohortNotFound
            The cohort id is malformed or not saved with this dataset.
        DatasetCorrupt
            Its record cannot be read (``code="cohort_corrupt"``).
        """
        if not self.exists(dataset_id):
            self._check(dataset_id)
            raise DatasetNotFound(f"dataset {dataset_id!r} is not in the store")
        members_path, record = self._cohort_paths(dataset_id, cohort_id)
        if not record.is_file():
            raise CohortNotFound(
                f"cohort {cohort_id!r} is not saved with dataset {dataset_id!r} (it may have "
                "been deleted)"
            )
        try:
            c = Cohort.from_json(json.loads(record.read_text()))
        except (OSError, ValueError, TypeError, KeyError) as e:
            raise _cohort_corrupt(dataset_id, cohort_id, f"its record cannot be read ({e})") from e
        if c.id != cohort_id or not members_path.is_file():
            raise _cohort_corrupt(dataset_id, cohort_id, "its members file is missing")
        return c

    def cohort_members(self: DatasetStore, dataset_id: str, cohort_id: str) -> pl.Series:
        """The members of a saved cohort: a ``user_id`` Series, sorted, no repeats.

        Raises
        ------
        DatasetNotFound, CohortNotFound
            As :meth:`cohort`.
        DatasetCorrupt
            The members file is damaged or disagrees with the record (``code="cohort_corrupt"``).
        """
        c = self.cohort(dataset_id, cohort_id)
        members_path, _ = self._cohort_paths(dataset_id, cohort_id)
        try:
            frame = pl.read_parquet(members_path)
        except Exception as e:  # noqa: BLE001 - any reading error means the file is damaged
            raise _cohort_corrupt(dataset_id, cohort_id, f"its members file cannot be read ({e})"
                                  ) from e
        if frame.columns != [COUNT_BY] or frame.height != c.size:
            raise _cohort_corrupt(
                dataset_id, cohort_id,
                f"its members file holds {frame.height:,} rows in columns {frame.columns} where "
                f"{c.size:,} users in `{COUNT_BY}` were saved")
        self._touch(dataset_id)
        return frame.get_column(COUNT_BY)

    # -- writing -----------------------------------------------------------------------------
    def save_cohort(self: DatasetStore, dataset_id: str, name: str, members: pl.Series, *,
                    definition: str, source: str) -> Cohort:
        """Save a group of the dataset's users as a named cohort.

        Saving the same members with the same definition again returns the cohort already
        saved (whatever ``name`` says).

        Parameters
        ----------
        dataset_id : str
            The dataset the users belong to.
        name : str
            Display name: 1 to 80 characters, no control characters, unique in the dataset
            (ignoring case).
        members : pl.Series
            The users (``user_id`` values; repeats count once). Every one must be a user of
            the dataset.
        definition : str
            What made the cohort, in words (see :mod:`core.cohorts.sources`).
        source : str
            One of :data:`core.cohorts.model.SOURCES`.

        Returns
        -------
        Cohort

        Raises
        ------
        DatasetNotFound, DatasetCorrupt
            The dataset cannot be read.
        ParameterError
            A rule is broken: the name (empty, too long, taken), the source, the definition,
            no members, null members, users not in the dataset (counted), or the dataset
            already keeps :data:`MAX_COHORTS` cohorts.
        StoreWriteError
            The store is read-only, the disk is full or the file does not read back.
        """
        definition = check_definition(definition)
        source = check_source(source)
        values = self._dataset_members(dataset_id, members)
        with self._lock:
            existing = self.cohorts(dataset_id)
            cid = cohort_id(dataset_id, values, definition)
            same = next((c for c in existing if c.id == cid), None)
            if same is not None:
                return same
            clean = check_name(name, [(c.name, c.id) for c in existing])
            if len(existing) >= MAX_COHORTS:
                raise ParameterError(
                    f"dataset {dataset_id!r} already keeps {len(existing)} cohorts, the most "
                    f"allowed ({MAX_COHORTS}); delete one on the Data page before saving {clean!r}"
                )
            c = Cohort(id=cid, name=clean, definition=definition, source=source,
                       count_by=COUNT_BY, size=values.len(), created=datetime.now(timezone.utc),
                       dataset_id=dataset_id)
            self._write_cohort(c, values)
        self._evict(keep=dataset_id)
        return c

    def rename_cohort(self: DatasetStore, dataset_id: str, cohort_id: str, name: str) -> Cohort:
        """Give a saved cohort another name (same rules as :meth:`save_cohort`).

        Raises
        ------
        DatasetNotFound, CohortNotFound, DatasetCorrupt
            As :meth:`cohort`.
        ParameterError
            The name is empty, too long or taken by another cohort of the dataset.
        StoreWriteError
            The store is read-only or the disk is full.
        """
        with self._lock:
            c = self.cohort(dataset_id, cohort_id)
            others = [(o.name, o.id) for o in self.cohorts(dataset_id) if o.id != c.id]
            renamed = Cohort(**{**c.__dict__, "name": check_name(name, others)})
            _, record = self._cohort_paths(dataset_id, cohort_id)
            self._write_file(record, json.dumps(renamed.to_json()).encode())
        return renamed

    def delete_cohort(self: DatasetStore, dataset_id: str, cohort_id: str) -> None:
        """Remove a saved cohort (no error when it is already gone).

        Raises
        ------
        CohortNotFound
            The cohort id is malformed.
        StoreWriteError
            The store is read-only.
        """
        members_path, record = self._cohort_paths(dataset_id, cohort_id)
        with self._lock:
            for p in (record, members_path):  # the record first: it is what lists the cohort
                try:
                    p.unlink(missing_ok=True)
                except OSError as e:
                    raise self._write_error(e, p.parent) from e

    def _delete_cohorts(self: DatasetStore, dataset_id: str) -> None:
        """Remove every cohort of a dataset (when the dataset goes)."""
        shutil.rmtree(self.cohorts_dir(dataset_id), ignore_errors=True)

    # -- internals ---------------------------------------------------------------------------
    def _dataset_members(self: DatasetStore, dataset_id: str, members: object) -> pl.Series:
        """``members`` as distinct, sorted values of the dataset's ``user_id`` column, or a
        :class:`ParameterError` counting what is wrong (empty, nulls, unknown users)."""
        if not isinstance(members, pl.Series):
            raise ParameterError(
                f"cohort `members` must be a polars Series of user ids, got {type(members).__name__}"
            )
        if members.len() == 0:
            raise ParameterError(
                "cohort `members` is empty: a cohort needs at least one user (the selection "
                "holds nobody; nothing was saved)")
        nulls = members.null_count()
        if nulls:
            raise ParameterError(
                f"cohort `members` holds {nulls:,} empty (null) values out of {members.len():,}; "
                "a cohort is a list of users")
        given = members.unique()
        known, dtype = self._known_users(dataset_id, given)
        cast = given.cast(dtype, strict=False).rename(COUNT_BY)
        if known.len() < given.len():
            unknown = given.filter(~cast.is_in(known.implode()).fill_null(False))
            examples = ", ".join(repr(v) for v in unknown.sort().head(_EXAMPLES).to_list())
            raise ParameterError(
                f"{unknown.len():,} of {given.len():,} users are not in this dataset "
                f"(e.g. {examples}); a cohort holds users of its own dataset only — was it "
                "made from another dataset?")
        return known.sort()

    def _known_users(self: DatasetStore, dataset_id: str,
                     given: pl.Series) -> tuple[pl.Series, pl.DataType]:
        """The distinct ``given`` values that are users of the dataset, and its user dtype. A
        catalog table of the lake is asked on Spark (no Polars code reads it)."""
        dataset_id = self._check(dataset_id)
        lake = None if self.parquet_path(dataset_id).is_file() else self.lake(dataset_id)
        if lake is not None and lake.kind == "table":
            from core.spark.lake import table_users  # lazy: pyspark, for a catalog table only

            known = table_users(lake, given).rename(COUNT_BY)
            return known, known.dtype
        lf = self.scan(dataset_id)
        dtype = lf.collect_schema()[COUNT_BY]
        cast = given.cast(dtype, strict=False).rename(COUNT_BY)
        known = (lf.select(COUNT_BY).filter(pl.col(COUNT_BY).is_in(cast.drop_nulls().implode()))
                 .unique().collect().get_column(COUNT_BY))
        return known, dtype

    def _write_cohort(self: DatasetStore, c: Cohort, values: pl.Series) -> None:
        members_path, record = self._cohort_paths(c.dataset_id, c.id)
        try:
            members_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise self._write_error(e, members_path.parent) from e
        buf = io.BytesIO()
        values.to_frame(COUNT_BY).write_parquet(buf, compression="zstd")
        self._write_file(members_path, buf.getvalue())
        try:
            rows = pl.scan_parquet(members_path).select(pl.len()).collect().item()
        except Exception:  # noqa: BLE001 - any reading error: treated as a short write below
            rows = -1
        if rows != values.len():
            self._unlink(members_path)
            raise StoreWriteError(
                f"the cohort written to the store at {members_path.parent} could not be read "
                "back; the disk may be failing or full")
        self._write_file(record, json.dumps(c.to_json()).encode())


def _cohort_corrupt(dataset_id: str, cid: str, why: str) -> DatasetCorrupt:
    return DatasetCorrupt(
        f"The saved cohort `{cid}` of dataset `{dataset_id}` cannot be used: {why}. Delete it "
        "on the Data page and save it again.", dataset_id=dataset_id, code="cohort_corrupt")
