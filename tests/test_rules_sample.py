"""The bundles planted in the bundled sample shop must come out as the strongest rules."""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path

import polars as pl
import pytest

from core import mine_rules

ROOT = Path(__file__).resolve().parent.parent
GROUND_TRUTH = ROOT / "sample_data" / "ground_truth.json"


@pytest.fixture(scope="module")
def sample_events() -> pl.DataFrame:
    pytest.importorskip("core.loader")
    from core.store import SAMPLE_ID, DatasetStore

    # The (test session's) store builds the sample once; only the columns rules read.
    cols = ["user_id", "session_id", "event_type", "product_id", "order_id"]
    return DatasetStore().scan(SAMPLE_ID).select(cols).collect()


@pytest.fixture(scope="module")
def bundles() -> list[list[str]]:
    return [b["product_ids"] for b in json.loads(GROUND_TRUTH.read_text())["bundles"]]


def test_planted_bundle_pairs_are_the_top_rules_by_lift(sample_events, bundles):
    rs = mine_rules(sample_events, min_support=0.005, max_len=2)
    planted = {frozenset(p) for b in bundles for p in combinations(b, 2)}
    # each planted pair gives two rules (A -> B, B -> A) with the same lift
    top = rs.rules.head(2 * len(planted))
    got = {frozenset(a + c) for a, c in top.select("antecedents", "consequents").rows()}
    assert got == planted
    assert top["lift"].min() > 5  # far above independence


def test_every_anchor_leads_to_its_companions(sample_events, bundles):
    rs = mine_rules(sample_events, min_support=0.005)  # default max_len 3
    for anchor, *companions in bundles:
        together = rs.rules.filter(pl.col("antecedents") == pl.lit([anchor]))
        found = {x for c in together["consequents"].to_list() for x in c}
        assert set(companions) <= found, f"bundle of {anchor}: {found}"
    # the strongest rules of all stay inside one planted bundle
    for a, c in rs.rules.head(10).select("antecedents", "consequents").rows():
        assert any(set(a + c) <= set(b) for b in bundles), (a, c)
