"""Tables for people in the grid: each kind becomes a NumberColumn format, so numbers sort as
numbers and read as people expect; nulls show as an en dash."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from core.errors import ParameterError
from core.fmt import COLUMN_KINDS
from ui.tables import NUMBER_FORMATS, column_config


def test_every_kind_has_a_column_type_and_a_format():
    config = column_config({k: k for k in COLUMN_KINDS})
    assert config["text"]["type_config"]["type"] == "text"
    formats = {k: c["type_config"]["format"] for k, c in config.items() if k != "text"}
    assert all(config[k]["type_config"]["type"] == "number" for k in formats)
    # the formats people asked for (issue 12), read by the grid (Streamlit 1.67 / sprintf-js)
    assert formats == {
        "count": "localized",    # 12,345
        "number": "localized",   # 4.123, 0.008, 12,345.6 (never 7.86e-3)
        "decimal": "%.3f",       # 0.873 (model scores)
        "ratio": "%.2f",         # lift 2.50
        "times": "%.2f×",        # 2.10×
        "percent": "percent",    # 12.3% (a fraction 0.123)
        "pp": "%+.1f pp",        # +3.1 pp (held in points)
        "money": "%,.2f",        # 1,234.50
        "pvalue": "%.3g",        # 0.042, 1.23e-5
        "duration": "localized",  # Intl.DurationFormat: 3 hr, 12 min
    }
    assert set(NUMBER_FORMATS) == set(COLUMN_KINDS) - {"text"}
    assert config["percent"]["label"] == "percent"


def test_an_unknown_kind_is_refused_with_the_column_named():
    with pytest.raises(ParameterError, match="'Lift'.*percent"):
        column_config({"Lift": "fraction"})


def _app():
    import polars as pl

    from core.fmt import PeopleTable
    from ui.tables import show_table

    table = PeopleTable.build({"Rule": ("text", ["a", "b", None]),
                               "Lift": ("ratio", [10.2, 2.5, None]),
                               "Time": ("duration", [725.0, 47.0, None])})
    show_table(table, key="t.people")
    show_table(pl.DataFrame({"Share": [0.5]}), {"Share": "percent"}, key="t.plain")


def test_show_table_sends_numbers_with_their_formats_and_a_dash_for_nulls():
    at = AppTest.from_function(_app)
    at.run()
    assert not at.exception
    people, plain = at.dataframe
    frame = people.value
    assert frame["Lift"].dtype.kind == "f" and frame["Time"].dtype.kind == "m"
    # sorted as numbers: 2.5 before 10.2
    assert frame.sort_values("Lift")["Lift"].tolist()[:2] == [2.5, 10.2]
    assert not frame.astype(str).isin(["None", "nan"]).to_numpy()[:2].any()
    config = json.loads(people.proto.columns)
    assert config["Lift"]["type_config"]["format"] == "%.2f"
    assert config["Time"]["type_config"]["format"] == "localized"
    assert config["Rule"]["type_config"]["type"] == "text"
    assert people.proto.placeholder == "–"
    assert json.loads(plain.proto.columns)["Share"]["type_config"]["format"] == "percent"
