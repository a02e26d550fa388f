"""The shops the bundled cart model learns from: the generated sample and the real exports in
``../shared/data`` that have carts and purchase labels.

Sources are grouped by **shop** (:data:`SHOPS`): the Taobao files are one shop, so a
leave-one-source-out evaluation that holds Taobao out never trains on any Taobao user. Online
Retail is not a source: its invoice lines hold purchases only, no ``add_to_cart``, so it has no
cart to label (``bench/results_cart_transfer.md`` shows the count).

Nothing is copied into the repository: the files are read where they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
import polars as pl

from core.loader import load_events

ROOT: Final[Path] = Path(__file__).resolve().parents[2]
SAMPLE: Final[Path] = ROOT / "sample_data" / "events.csv.gz"
SHARED_DATA: Final[Path] = ROOT.parent / "shared" / "data"

#: Shop -> its files (``sample`` is ``sample_data/events.csv.gz``; the others are in
#: ``../shared/data``). Not used: ``taobao_userbehavior_2h_slice.csv``, a two-hour slice of
#: all users (PROVENANCE.md: not labels of abandonment). Its users have no history there and
#: 43 of its 5,659 cart sessions end in a purchase (sessions are cut at both ends of the
#: slice), so it would teach "every cart is abandoned" more than anything about carts.
SHOPS: Final[dict[str, tuple[str, ...]]] = {
    "sample": ("events.csv.gz",),
    "taobao": ("taobao_userbehavior_users_a.csv", "taobao_userbehavior_114_users_full.csv"),
    "rees46": ("rees46_2019oct_head.csv",),
}
#: The shop a training-only source belongs to (held out together with it); none at present.
SHOP_OF: Final[dict[str, str]] = {}
#: Users of the generated sample used for training (of 20,000): enough carts for the sample's
#: patterns without drowning the real shops, and training stays short on two cores.
SAMPLE_USERS: Final[int] = 0


def source_files(shop: str, *, shared: Path = SHARED_DATA, sample: Path = SAMPLE) -> list[Path]:
    """The files of one shop of :data:`SHOPS`."""
    return [sample] if shop == "sample" else [shared / f for f in SHOPS[shop]]


def load_shop(shop: str, *, shared: Path = SHARED_DATA, sample: Path = SAMPLE,
              sample_users: int = SAMPLE_USERS, seed: int = 0) -> pl.DataFrame:
    """Canonical events of one shop (its files concatenated; their users never overlap).

    The sample is cut to ``sample_users`` whole users drawn with ``seed``.

    Raises
    ------
    LoadError
        A file is missing or unreadable.
    """
    frames = [load_events(p).events for p in source_files(shop, shared=shared, sample=sample)]
    events = pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]
    if shop == "sample" and sample_users:
        users = events["user_id"].unique().sort()
        rng = np.random.default_rng(seed)
        keep = users.gather(np.sort(rng.choice(users.len(), size=min(sample_users, users.len()),
                                               replace=False)))
        events = events.filter(pl.col("user_id").is_in(keep.implode()))
    return events.sort(["user_id", "ts"], maintain_order=True)


def available_shops(*, shared: Path = SHARED_DATA, sample: Path = SAMPLE) -> list[str]:
    """The shops of :data:`SHOPS` whose files are all present."""
    return [s for s in SHOPS
            if all(p.is_file() for p in source_files(s, shared=shared, sample=sample))]
