import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from core.export import FORMULA_PREFIXES, neutralise_formulas, to_safe_csv


def test_formulas_are_neutralised_numbers_untouched():
    df = pl.DataFrame({"name": ["=HYPERLINK(\"x\")", "+1", "-2", "@SUM(A1)", "ok", None],
                       "n": [-1, 2, 3, 4, 5, 6],
                       "items": [["=a", "b"], ["c"], [], ["d"], ["e"], ["f"]]})
    out = neutralise_formulas(df)
    assert out["name"].to_list() == ["'=HYPERLINK(\"x\")", "'+1", "'-2", "'@SUM(A1)", "ok", None]
    assert out["n"].to_list() == [-1, 2, 3, 4, 5, 6]
    assert out["items"][0] == "'=a, b"
    assert to_safe_csv(df).startswith(b"\xef\xbb\xbf")


@given(st.lists(st.text(max_size=6), min_size=1, max_size=20))
def test_no_cell_starts_with_a_formula_prefix(values):
    out = neutralise_formulas(pl.DataFrame({"v": values}))["v"].to_list()
    for before, after in zip(values, out, strict=True):
        assert not after.startswith(FORMULA_PREFIXES)
        assert after in (before, "'" + before)


def test_header_row_is_neutralised_too():
    # A column named like a formula is as dangerous as a cell: the header row is a row.
    df = pl.DataFrame({"=cmd|' /C calc'!A0": ["x"], "'=a": ["y"], "ok": [1]})
    text = to_safe_csv(df).decode("utf-8-sig")
    header = text.splitlines()[0]
    assert header == "'=cmd|' /C calc'!A0,'=a,ok"
    # two columns that only differ by the quote prefix stay two columns
    df2 = pl.DataFrame({"=a": [1], "'=a": [2]})
    assert to_safe_csv(df2).decode("utf-8-sig").splitlines() == ["'=a,'=a", "1,2"]
