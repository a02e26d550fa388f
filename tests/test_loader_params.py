"""``LoadParams``: the settings of ``load_events`` as one frozen object, checked once when built;
``LoadParams(...).compute(source)`` is the same load, and the result carries its settings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fixtures_loader import ITEM_VIEWS, REES46, write

from core import LoadParams, ParameterError, load_events


def test_params_form_gives_the_same_load_and_the_result_carries_it(tmp_path):
    path = write(tmp_path, "r.csv", REES46)
    kwargs = {"session_gap": timedelta(minutes=5), "drop_stray": True}
    by_function = load_events(path, **kwargs)
    params = LoadParams(**kwargs)
    by_params = params.compute(path)
    assert by_params.events.equals(by_function.events)
    assert by_params.report.to_dict() == by_function.report.to_dict()
    assert by_function.params == params and by_params.params is params


def test_mapping_is_kept_in_order_as_pairs_and_the_settings_are_hashable(tmp_path):
    mapping = {"event_constant": "view_item", "ts_time_unit": "ms"}
    params = LoadParams(mapping=mapping, drop_stray=True)
    assert params.mapping == (("event_constant", "view_item"), ("ts_time_unit", "ms"))
    assert params.overrides == mapping and list(params.overrides) == list(mapping)
    assert hash(params) == hash(LoadParams(mapping=dict(mapping), drop_stray=True))
    assert params.replace(drop_stray=False).mapping == params.mapping  # pairs accepted back
    res = load_events(write(tmp_path, "v.csv", ITEM_VIEWS), mapping=mapping)
    assert res.params is not None and res.params.overrides == mapping
    assert LoadParams().overrides is None and LoadParams(mapping={}).overrides == {}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        # the same words load_events used before the settings object
        (
            {"session_gap": timedelta(0)},
            "`session_gap` must be a positive timedelta, got datetime.timedelta(0)",
        ),
        ({"session_gap": 30}, "`session_gap` must be a positive timedelta, got 30"),
        ({"drop_stray": "yes"}, "`drop_stray` must be True or False, got 'yes'"),
        (
            {"mapping": ["user_id"]},
            "`mapping` must be a dict of canonical column -> source column, got list",
        ),
        ({"mapping": {"ts_time_unit": "hours"}}, "`mapping['ts_time_unit']` must be one of"),
        (
            {"mapping": {"userid": "user_id"}},
            "`mapping` has unknown canonical column(s) ['userid']",
        ),
    ],
)
def test_bad_settings_are_refused_when_built_before_any_file_is_read(kwargs, message):
    with pytest.raises(ParameterError) as caught:
        LoadParams(**kwargs)
    assert str(caught.value).startswith(message)
    with pytest.raises(ParameterError) as again:  # the function refuses them the same way
        load_events("no-such-file.csv", **kwargs)
    assert str(again.value) == str(caught.value)
