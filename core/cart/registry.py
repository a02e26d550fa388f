"""Where a retrained model lives: one directory per (dataset, filters), never the bundled one.

A model retrained on a dataset belongs to the data it saw: the dataset *and* the sidebar
filters (date range, property conditions, shared segmentation) that selected its events. It is
stored under the dataset's model folder of the store, in a sub-folder named by a hash of those
filters::

    <store root>/<dataset_id>.model/<filters_key>/model.safetensors
                                                  config.json
                                                  model_card.json
                                                  scope.json       (the filters, in words and as keys)

so deleting or evicting the dataset removes its models too. The bundled model
(``core/cart/bundled/``) is never written here, and retraining never changes which model a
page uses by default: that stays the bundled one unless a link asks for the retrained one.
Writes go to a temporary folder that is renamed into place, so a concurrent reader sees the
old model or the new one, never half of each.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import threading
import uuid
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from core.cart.model import BUNDLED_DIR, CONFIG_FILE, load_model, save_model
from core.errors import ModelError
from core.filters import FilterParams

if TYPE_CHECKING:
    from core.cart.card import ModelCard
    from core.cart.model import CartModel

SCOPE_FILE: Final[str] = "scope.json"
#: Serialises the final renames of the threads of one process (a Streamlit server).
_SWAP = threading.Lock()


class _Store(Protocol):
    def model_dir(self, dataset_id: str) -> Path: ...


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def filters_scope(filters: FilterParams, seg: str = "") -> dict[str, Any]:
    """The filters as plain JSON values, in a canonical order (the input of the key)."""
    return {
        "date_from": _plain(filters.date_from),
        "date_to": _plain(filters.date_to),
        "conditions": [[c.column, c.op, _plain(c.value)] for c in filters.conditions],
        "seg": seg,
    }


def filters_key(filters: FilterParams, seg: str = "") -> str:
    """A short, stable name of a set of filters: 16 hex digits of a SHA-256.

    Parameters
    ----------
    filters : FilterParams
        The sidebar filters.
    seg : str, default ""
        The shared segmentation setting (the ``seg`` URL parameter), which changes the events
        a ``segment`` condition keeps.

    Returns
    -------
    str
        The same for equal filters in any process (no Python ``hash``).

    Examples
    --------
    >>> filters_key(FilterParams()) == filters_key(FilterParams())
    True
    """
    text = json.dumps(filters_scope(filters, seg), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def describe_filters(filters: FilterParams, seg: str = "") -> str:
    """The filters in plain words ("all events", "from 2024-01-01, device = mobile")."""
    parts = []
    if filters.date_from and filters.date_to:
        parts.append(f"{filters.date_from} to {filters.date_to}")
    elif filters.date_from:
        parts.append(f"from {filters.date_from}")
    elif filters.date_to:
        parts.append(f"up to {filters.date_to}")
    parts += [c.label() for c in filters.conditions]
    if seg:
        parts.append(f"segments {seg}")
    return ", ".join(parts) if parts else "all events"


def retrained_model_dir(store: _Store, dataset_id: str, filters: FilterParams,
                        seg: str = "") -> Path:
    """The folder of the model retrained on ``dataset_id`` with exactly these filters.

    Parameters
    ----------
    store : DatasetStore
        The dataset store (its ``model_dir(dataset_id)`` is the dataset's model folder).
    dataset_id : str
        The dataset.
    filters : FilterParams
        The filters the model was (or would be) trained with.
    seg : str, default ""
        The shared segmentation setting.

    Returns
    -------
    Path
        ``<store.model_dir(dataset_id)>/<filters_key(filters, seg)>``; it may not exist.

    Raises
    ------
    ParameterError
        ``dataset_id`` is not a valid dataset id (raised by the store).
    """
    return Path(store.model_dir(dataset_id)) / filters_key(filters, seg)


def has_retrained_model(store: _Store, dataset_id: str, filters: FilterParams,
                        seg: str = "") -> bool:
    """Whether a model retrained on this dataset with exactly these filters is stored."""
    d = retrained_model_dir(store, dataset_id, filters, seg)
    return (d / CONFIG_FILE).is_file() and (d / SCOPE_FILE).is_file()


def save_retrained(model: CartModel, card: ModelCard, store: _Store, dataset_id: str,
                   filters: FilterParams, seg: str = "") -> Path:
    """Store a retrained model for (``dataset_id``, ``filters``), replacing only the previous
    model of the same dataset and filters.

    Parameters
    ----------
    model : CartModel
        The trained model.
    card : ModelCard
        Its card.
    store : DatasetStore
        The dataset store.
    dataset_id : str
        The dataset it was trained on.
    filters : FilterParams
        The filters that selected its training events.
    seg : str, default ""
        The shared segmentation setting.

    Returns
    -------
    Path
        The model's folder (:func:`retrained_model_dir`).

    Raises
    ------
    ModelError
        The folder would be the bundled model's (never overwritten).
    """
    target = retrained_model_dir(store, dataset_id, filters, seg)
    bundled = BUNDLED_DIR.resolve()
    if target.resolve() == bundled or bundled in target.resolve().parents:
        raise ModelError(f"refusing to write a retrained model into the bundled model's folder "
                         f"{BUNDLED_DIR}; the store root must be elsewhere")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
    try:
        save_model(model, card, tmp)
        scope = {"dataset_id": dataset_id, "filters_key": target.name,
                 "filters": filters_scope(filters, seg),
                 "description": describe_filters(filters, seg)}
        (tmp / SCOPE_FILE).write_text(json.dumps(scope, indent=2, sort_keys=True) + "\n")
        with _SWAP:
            _swap_in(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _swap_in(new: Path, target: Path, *, attempts: int = 3) -> None:
    """Rename ``new`` to ``target``, moving a previous ``target`` aside first. A concurrent
    writer in another process can recreate ``target`` between the two renames; then try again
    (the last writer wins, and a reader never sees a half-written folder)."""
    for _ in range(attempts):
        old = target.with_name(f".old-{target.name}-{uuid.uuid4().hex}")
        try:
            target.rename(old)
        except FileNotFoundError:
            old = None
        try:
            new.rename(target)
            return
        except OSError:
            continue
        finally:
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
    raise ModelError(f"could not store the retrained model in {target}: other retrainings of "
                     "the same data kept replacing it; try again")


def load_retrained(store: _Store, dataset_id: str, filters: FilterParams,
                   seg: str = "") -> CartModel:
    """Load the model retrained on ``dataset_id`` with exactly these filters.

    Raises
    ------
    ModelError
        There is none, its files do not match this code, or its recorded filters differ from
        ``filters`` (a hash collision or a hand-edited folder).
    """
    d = retrained_model_dir(store, dataset_id, filters, seg)
    if not (d / SCOPE_FILE).is_file():
        raise ModelError(f"no model was retrained on dataset {dataset_id!r} with the filters "
                         f"{describe_filters(filters, seg)!r}; use the bundled model or retrain")
    try:
        scope = json.loads((d / SCOPE_FILE).read_text())
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot read {d / SCOPE_FILE}: {e}") from None
    want = json.loads(json.dumps(filters_scope(filters, seg), default=str))
    if scope.get("dataset_id") != dataset_id or scope.get("filters") != want:
        raise ModelError(f"{d} holds a model for other data ({scope.get('description')!r}), "
                         f"not for {describe_filters(filters, seg)!r}")
    return load_model(d)

