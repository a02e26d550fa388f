"""Wide datasets (issue 19): 10,000 property columns summarise in a fixed number of queries,
the sidebar offers a bounded set of property filters and says how many it left out, and a
link's filter on a left-out property still applies."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest
from apptest import run_page
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import core.overview as overview
from core.overview import dataset_info
from core.schema import EVENT_TYPES, conform, property_columns
from ui.shell import MAX_FILTER_PROPERTIES

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _wide(n_props: int) -> pl.DataFrame:
    """2 events of 2 users and ``n_props`` text properties (``p<i>``: "a<i>" and "b<i>")."""
    base = pl.DataFrame({
        "user_id": ["u1", "u2"], "ts": [T0, T0 + timedelta(minutes=1)],
        "event": ["view_item", "add_to_cart"], "event_type": ["view_item", "add_to_cart"],
        "session_id": ["s1", "s2"],
    })
    props = pl.DataFrame({f"p{i}": [f"a{i}", f"b{i}"] for i in range(n_props)})
    return conform(pl.concat([base, props], how="horizontal"))


def _count_queries(monkeypatch) -> dict[str, int]:
    calls = {"n": 0}
    for method in ("collect", "_collect_eager"):
        original = getattr(pl.LazyFrame, method, None)
        if original is None:
            continue

        def counting(self, *args, _original=original, **kwargs):
            calls["n"] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(pl.LazyFrame, method, counting)
    return calls


def test_ten_thousand_columns_summarise_in_a_fixed_number_of_queries(monkeypatch):
    # Before: 3 queries plus one value count per property column (10,002 here; 76 s for the
    # issue's 2 x 10,000 CSV). Now: one for the counts, names and types, one per batch.
    events = _wide(10_000)
    calls = _count_queries(monkeypatch)
    info = dataset_info(events.lazy())
    assert calls["n"] <= 3, calls["n"]
    assert (info.rows, info.users) == (2, 2)
    assert info.event_types == ("view_item", "add_to_cart")
    assert len(info.properties) == 10_002  # category, brand + 10,000 properties
    # one event each: ties in text order
    assert info.properties["p0"] == ("a0", "b0") and info.properties["p9999"] == ("a9999", "b9999")
    assert info.properties["category"] == ()  # all null


def _reference_info(lf: pl.LazyFrame, max_values: int) -> overview.DatasetInfo:
    """The former one-query-per-column implementation (obviously right, slow when wide)."""
    schema = lf.collect_schema()
    head = lf.select(rows=pl.len(), users=pl.col("user_id").n_unique(),
                     first=pl.col("ts").min(), last=pl.col("ts").max()).collect().row(0, named=True)
    names = (lf.group_by("event").agg(n=pl.len()).sort(["n", "event"], descending=[True, False])
             .collect()["event"].to_list())
    present = set(lf.select(pl.col("event_type").unique()).collect()["event_type"].to_list())
    candidates = ["category", "brand", *property_columns(schema)]
    props, numeric = {}, []
    for col in ["price", "quantity", *candidates]:
        if col not in schema:
            continue
        if schema[col].is_numeric():
            numeric.append(col)
            if col in ("price", "quantity"):
                continue
        if col not in candidates:
            continue
        vc = (lf.select(pl.col(col).cast(pl.String)).drop_nulls().group_by(col).agg(n=pl.len())
              .sort(["n", col], descending=[True, False]).head(max_values + 1).collect())
        props[col] = tuple(vc[col].to_list()) if vc.height <= max_values else ()
    return overview.DatasetInfo(
        rows=head["rows"], users=head["users"], first=head["first"], last=head["last"],
        event_names=tuple(names), event_types=tuple(t for t in EVENT_TYPES if t in present),
        properties=props, numeric=tuple(numeric))


@st.composite
def _tables(draw):
    n = draw(st.integers(1, 30))
    small = st.sampled_from(["x", "y", "z", "w"])
    rows = {
        "user_id": draw(st.lists(st.sampled_from(["u1", "u2", "u3"]), min_size=n, max_size=n)),
        "ts": [T0 + timedelta(minutes=m)
               for m in draw(st.lists(st.integers(0, 10_000), min_size=n, max_size=n))],
        "event": draw(st.lists(st.sampled_from(["view_item", "purchase", "login"]),
                               min_size=n, max_size=n)),
        "category": draw(st.lists(st.none() | small, min_size=n, max_size=n)),
        "price": draw(st.lists(st.none() | st.floats(0, 100), min_size=n, max_size=n)),
        "device": draw(st.lists(st.none() | small, min_size=n, max_size=n)),
        "score": draw(st.lists(st.none() | st.integers(0, 6), min_size=n, max_size=n)),
        "many": [f"v{i}" for i in draw(st.lists(st.integers(0, 8), min_size=n, max_size=n))],
    }
    frame = pl.DataFrame(rows, schema_overrides={"category": pl.String, "device": pl.String,
                                                 "price": pl.Float64, "score": pl.Int64})
    frame = frame.with_columns(
        event_type=pl.when(pl.col("event") == "login").then(pl.lit("other"))
        .otherwise(pl.col("event")))
    return conform(frame)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=_tables(), max_values=st.integers(1, 5), batch=st.integers(1, 40))
def test_dataset_info_equals_the_per_column_reference(events, max_values, batch):
    # batch (cells per long table) small enough to split the columns over several queries
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(overview, "INFO_BATCH_CELLS", batch)
        got = dataset_info(events.lazy(), max_values=max_values)
    assert got == _reference_info(events.lazy(), max_values)


def test_max_values_must_be_positive():
    with pytest.raises(overview.ParameterError, match="max_values"):
        dataset_info(_wide(1), max_values=0)


def test_sidebar_offers_a_bounded_set_of_filters_and_a_link_keeps_a_left_out_one():
    from core.store import DatasetStore

    n = MAX_FILTER_PROPERTIES + 100
    ds = DatasetStore().put(_wide(n), name="wide.parquet", report={})
    left_out = f"p{n - 1} = b{n - 1}"  # past the cap: not offered, still valid from a link
    at = run_page("data", dataset=ds, filter=left_out)
    box = at.sidebar.multiselect(key="data:filter")
    # 2 values of each of the first MAX_FILTER_PROPERTIES properties (category and brand,
    # all null, offer none), plus the link's filter; before: 2 x n options and no note
    assert len(box.options) == 2 * MAX_FILTER_PROPERTIES + 1
    assert "p0 = a0" in box.options and f"p{MAX_FILTER_PROPERTIES} = a{MAX_FILTER_PROPERTIES}" \
        not in box.options
    assert box.value == [left_out]
    assert not at.warning, [w.value for w in at.warning]  # the filter was not "ignored"
    note = " ".join(c.value for c in at.sidebar.caption)
    assert f"{MAX_FILTER_PROPERTIES:,} of {n:,} properties" in note and "100 are left out" in note
    # a value the property does not have is still refused with a notice
    at = run_page("data", dataset=ds, filter=f"p{n - 1} = nope")
    assert any("Ignored filter" in w.value for w in at.warning)
