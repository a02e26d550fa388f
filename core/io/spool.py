"""Uploads copied to disk in chunks under their content hash (:func:`spool_upload`)."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from core.errors import LoadError
from core.io.expand import _unlink


@dataclass(frozen=True)
class SpooledUpload:
    """An uploaded file copied to disk under its content hash (hashable: a cache key).

    Attributes
    ----------
    path : str
        The file on disk, ``<sha256>-<name>`` under the spool folder.
    name : str
        The file's name as uploaded (shown to the user, kept in the dataset's metadata).
    digest : str
        SHA-256 of the content (hex).
    size : int
        Bytes.
    """

    path: str
    name: str
    digest: str
    size: int


def default_spool_dir() -> Path:
    """Where uploads are spooled: ``$PATHLENS_SPOOL_DIR`` or ``<temp dir>/pathlens-uploads``."""
    env = os.environ.get("PATHLENS_SPOOL_DIR")
    return Path(env) if env else Path(tempfile.gettempdir()) / "pathlens-uploads"


def spool_upload(
    stream: IO[bytes],
    name: str,
    *,
    directory: str | Path | None = None,
    chunk: int = 1 << 20,
    keep_seconds: float = 86_400.0,
) -> SpooledUpload:
    """Copy an uploaded file to disk in chunks, named by its content hash.

    The upload is read ``chunk`` bytes at a time, so it is never held a second time in memory;
    pages then read the file from disk and key their caches by the small
    :class:`SpooledUpload` instead of hashing the whole content on every rerun. The same
    content gives the same file (written once, atomically). Spooled files older than
    ``keep_seconds`` are removed on the way.

    Parameters
    ----------
    stream : binary file object
        The upload (read from its start).
    name : str
        The file's name as uploaded; its last path component is kept in the spooled name.
    directory : path, optional
        Spool folder (created when missing). Default :func:`default_spool_dir`.
    chunk : int, default 1 MiB
        Bytes read at a time.
    keep_seconds : float, default one day
        Age after which other spooled files are deleted.

    Returns
    -------
    SpooledUpload

    Raises
    ------
    LoadError
        The spool folder cannot be written (read-only or full disk).
    """
    folder = Path(directory) if directory is not None else default_spool_dir()
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(str(name)).name)[-80:] or "upload"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    except OSError as e:
        raise LoadError(
            f"The upload could not be saved to {folder}: {e.strerror or e}. "
            "Ask the administrator to free space or set PATHLENS_SPOOL_DIR.",
            code="spool",
        ) from e
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            if hasattr(stream, "seek"):
                stream.seek(0)
            while block := stream.read(chunk):
                digest.update(block)
                out.write(block)
                size += len(block)
        final = folder / f"{digest.hexdigest()}-{safe}"
        os.replace(tmp, final)
    except OSError as e:
        _unlink(tmp)
        raise LoadError(
            f"The upload could not be saved to {folder}: {e.strerror or e}. "
            "Ask the administrator to free space or set PATHLENS_SPOOL_DIR.",
            code="spool",
        ) from e
    except BaseException:
        _unlink(tmp)
        raise
    cutoff = time.time() - keep_seconds
    for old in folder.iterdir():
        try:
            if old != final and old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:
            continue
    return SpooledUpload(path=str(final), name=str(name), digest=digest.hexdigest(), size=size)
