"""AppTest: the Basket rules page on the bundled sample and on a stored basket file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from apptest import metric, run_page
from people_tables import assert_grid_readable, grid_kinds
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "pages" / "rules.py")
BUNDLES = json.loads((ROOT / "sample_data" / "ground_truth.json").read_text())["bundles"]


def rules_table(at: AppTest):
    return at.dataframe[0].value  # dataframes carry no key in AppTest: the rules come first


def together_table(at: AppTest):
    assert len(at.dataframe) == 2
    return at.dataframe[1].value


def test_tables_read_in_words_with_the_strength_first_and_no_empty_cells():
    at = run()
    table = rules_table(at)
    assert list(table.columns[:4]) == ["If a basket holds", "it also holds", "Lift", "Confidence"]
    assert not any("_" in c for c in table.columns)
    assert_grid_readable(at.dataframe[0])
    # lift sorts as a number (as text, "10.20" came before "2.50"); confidence is a fraction
    assert table["Lift"].dtype == "float64" and table["Confidence"].between(0, 1).all()
    assert list(table.sort_values("Lift")["Lift"]) == sorted(table["Lift"])
    assert grid_kinds(at.dataframe[0])["Lift"] == "number"
    together = together_table(run(**{"rules.lookup": BUNDLES[3]["anchor"]}))
    assert list(together.columns) == ["Also in the basket", "Confidence", "Lift",
                                      "Baskets with both", "Support"]
    assert together["Baskets with both"].dtype.kind == "i"


def test_default_view_finds_the_planted_bundles():
    at = run()
    table = rules_table(at)
    assert int(metric(at, "Rules").replace(",", "")) == len(table) > 0
    # the strongest rule (sorted by lift) is a planted bundle pair, named by product name
    first = set(table.iloc[0]["If a basket holds"].split(" + ")) | set(
        table.iloc[0]["it also holds"].split(" + ")
    )
    assert any(first <= {b["anchor"], *b["companions"]} for b in BUNDLES)
    assert at.selectbox(key="rules.item").value == "product_name"
    assert len(at.get("plotly_chart")) == 2
    assert at.selectbox(key="rules.sort").value == "lift"


def test_controls_from_the_url_are_used():
    at = run(**{"rules.support": "0.02", "rules.sort": "confidence", "rules.max_len": "2"})
    assert at.number_input(key="rules.support").value == pytest.approx(0.02)
    table = rules_table(at)
    assert table["Support"].min() >= 0.02
    confidence = list(table["Confidence"])
    assert confidence == sorted(confidence, reverse=True)
    assert not table["If a basket holds"].str.contains(" + ", regex=False).any()


def test_bought_together_lookup():
    anchor = BUNDLES[3]  # a two-item bundle: anchor and one companion
    names = [anchor["anchor"], *anchor["companions"]]
    at = run(**{"rules.lookup": names[0]})
    together = together_table(at)
    assert together.iloc[0]["Also in the basket"] == names[1]
    at.selectbox(key="rules.lookup").set_value(names[1]).run()
    assert not at.exception
    assert together_table(at).iloc[0]["Also in the basket"] == names[0]


def test_invalid_url_values_never_crash():
    at = run(
        **{
            "rules.support": "abc",
            "rules.basket": "week",
            "rules.max_len": "99",
            "rules.algorithm": "magic",
            "rules.lookup": "no-such-item",
            "rules.max_items": "-5",
            "rules.source": "nowhere",
        }
    )
    assert at.selectbox(key="rules.basket").value == "order"
    assert at.selectbox(key="rules.algorithm").value == "apriori"
    assert len(rules_table(at)) > 0


def test_no_rule_explains_itself_with_a_hint():
    at = run(**{"rules.support": "0.9"})
    infos = " ".join(i.value for i in at.info)
    assert "lower min_support" in infos and "% of baskets" in infos


def test_other_basket_and_item_definitions():
    at = run(
        **{
            "rules.basket": "user",
            "rules.item": "category",
            "rules.event": "add_to_cart",
            "rules.support": "0.01",
        }
    )
    assert at.selectbox(key="rules.item").value == "category"
    assert at.selectbox(key="rules.basket").value == "user"
    assert not at.error
    # one basket per user who carted something
    users = json.loads((ROOT / "sample_data" / "ground_truth.json").read_text())["users"]
    assert 0 < int(metric(at, "Baskets").replace(",", "")) <= users


def test_widget_changes_rerun_cleanly():
    at = run()
    at.number_input(key="rules.support").set_value(0.005).run()
    assert not at.exception
    at.selectbox(key="rules.algorithm").set_value("fpgrowth").run()
    assert not at.exception
    at.slider(key="rules.top").set_value(10).run()
    assert not at.exception
    assert len(rules_table(at)) > 0


def test_repeat_view_is_answered_from_cache(monkeypatch):
    import ui.rules

    calls = []
    real = ui.rules.mine_rules_with

    def counting(data, params, **kwargs):
        calls.append(params)
        return real(data, params, **kwargs)

    monkeypatch.setattr(ui.rules, "mine_rules_with", counting)
    ui.rules.cached_rules.clear()
    at = run(**{"rules.support": "0.03"})
    at.run()
    assert not at.exception
    run(**{"rules.support": "0.03"})  # a new session with the same settings
    assert len(calls) == 1


def test_basket_file_source(shared_data):
    from ui.rules import save_basket_file

    file_id = save_basket_file((shared_data / "groceries.csv").read_bytes(), "groceries.csv")
    at = run(
        **{
            "rules.source": "file",
            "rules.file": file_id,  # links hold the file's 128-bit id (the key to the file)
            "rules.support": "0.01",
            "rules.lookup": "whole milk",
        }
    )
    picker = at.selectbox(key="rules.file")
    assert picker.value == file_id and picker.options == [f"groceries.csv · {file_id[:8]}"]
    assert metric(at, "Baskets") == "9,835"
    assert "basket lines" in " ".join(c.value for c in at.caption)
    assert len(together_table(at)) > 0
    assert at.query_params["rules.file"] == file_id
    # a basket file names no users: no rule of it can be saved as a cohort, and the page says so
    assert not [w for w in at.selectbox if w.key == "rules.cohort_antecedent"]
    assert "cannot be saved as a cohort" in " ".join(c.value for c in at.caption)


def test_unknown_basket_file_in_the_link_is_not_fatal():
    at = run(**{"rules.source": "file", "rules.file": "gone.csv · 01234567"})
    assert at.button_group(key="rules.source").value == "file"
    assert any("gone.csv · 01234567" in w.value for w in at.warning)


def test_a_dataset_view_link_carries_no_basket_file():
    at = run(**{"rules.source": "dataset", "rules.file": "0" * 32})
    assert at.query_params.get("rules.file") in (None, [])


def test_runaway_settings_answer_with_a_suggestion_that_can_be_applied():
    # issue 19: these settings ran for 1,429 s and grew the server to 23 GB
    at = run(**{"rules.basket": "user", "rules.event": "view_item", "rules.max_len": "5"})
    assert len(at.error) == 1
    message = at.error[0].value
    assert "above the cap of" in message and "Suggested min_support" in message
    apply = at.button(key="rules.support.apply")
    apply.click().run()
    assert not at.exception and not at.error
    assert at.number_input(key="rules.support").value > 0.01
    assert int(metric(at, "Frequent itemsets").replace(",", "")) <= 10_000


def run(**params) -> AppTest:
    return run_page("rules", **params)
