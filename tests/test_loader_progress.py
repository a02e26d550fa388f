"""``load_events(progress=...)``: the stages an upload shows (reading, checking, sessions)."""

from __future__ import annotations

import pytest
from fixtures_loader import REES46, write

from core import ParameterError, load_events


def test_progress_hears_each_stage_once_in_order(tmp_path):
    calls = []
    res = load_events(write(tmp_path, "r.csv", REES46), progress=lambda s, f: calls.append((s, f)))
    assert [s for s, _ in calls] == ["reading", "checking", "sessions", "done"]
    fractions = [f for _, f in calls]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] < 1.0
    assert res.events.height == res.report.rows_kept > 0


def test_progress_on_a_file_without_rows(tmp_path):
    calls = []
    res = load_events(
        write(tmp_path, "h.csv", "user_id,ts,event\n"), progress=lambda s, f: calls.append(s)
    )
    assert res.events.height == 0
    assert calls == ["reading", "done"]


def test_progress_must_be_callable(tmp_path):
    with pytest.raises(ParameterError, match="`progress` must be a function"):
        load_events(write(tmp_path, "r.csv", REES46), progress="yes")


def test_an_error_in_progress_is_not_swallowed(tmp_path):
    def stop(stage, fraction):
        if stage == "sessions":
            raise KeyboardInterrupt  # e.g. the page went away

    with pytest.raises(KeyboardInterrupt):
        load_events(write(tmp_path, "r.csv", REES46), progress=stop)
