"""What an opened input is (:class:`RawSource`) and the names every reader shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

#: What :func:`read_raw` and :func:`core.load_events` accept.
Source = str | Path | bytes | IO[bytes]

#: Name of the 1-based data-row number column that :func:`scan_raw` can add.
ROW_COLUMN: Final = "__row"
_SNIFF_BYTES: Final = 64 * 1024
_SEPARATOR_NAMES: Final = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


@dataclass(frozen=True)
class RawSource:
    """An opened input: where its bytes are, what kind of file it is and how to parse it.

    Attributes
    ----------
    name : str
        File name shown to the user (``"upload"`` when the object has none).
    kind : str
        ``"csv"``, ``"parquet"``, ``"jsonl"`` or ``"json"``.
    data : bytes or None
        The decompressed content (UTF-8 for text) when it is held in memory.
    path : Path or None
        The file to scan lazily instead (plain files on disk only).
    separator : str
        CSV field separator.
    has_header : bool
        Whether the first CSV row holds column names.
    column_names : tuple of str or None
        Names given to a headerless CSV.
    skip_lines : int
        Lines to skip before the header (Excel's ``sep=;`` line).
    encoding : str
        Encoding the text was read in (``"utf-8"``, ``"utf-16"``, ``"windows-1252"``...).
    compression : str or None
        ``"gzip"``, ``"zip"``, ``"bz2"``, ``"xz"`` or None.
    warnings : tuple of str
        What had to be assumed while opening.
    keepalive : object or None
        The temporary file holding a decompressed expansion; it is deleted once no
        ``RawSource`` refers to it any more.
    """

    name: str
    kind: str
    data: bytes | None = None
    path: Path | None = None
    separator: str = ","
    has_header: bool = True
    column_names: tuple[str, ...] | None = None
    skip_lines: int = 0
    encoding: str = "utf-8"
    compression: str | None = None
    warnings: tuple[str, ...] = field(default=())
    keepalive: Any = field(default=None, compare=False, repr=False)

    @property
    def description(self) -> str:
        """One line for the report: ``"CSV, semicolon-separated, UTF-8, gzip"``."""
        parts = [self.kind.upper() if self.kind != "jsonl" else "JSON Lines"]
        if self.kind == "csv":
            parts.append(f"{_SEPARATOR_NAMES.get(self.separator, repr(self.separator))}-separated")
            parts.append(
                self.encoding.upper() if self.encoding.startswith("utf") else self.encoding
            )
            if not self.has_header:
                parts.append("no header row")
        if self.compression:
            parts.append(self.compression)
        return ", ".join(parts)


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
