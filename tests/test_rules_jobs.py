"""ui.jobs.cancel_check: a should_stop for core that sees newer reruns and closed sessions."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import ui.jobs as jobs


class Rerun(Exception):
    pass


def fake_ctx(pending: list) -> SimpleNamespace:
    def yield_check() -> None:  # Streamlit's raises RerunException / StopException
        if pending:
            raise pending.pop()

    return SimpleNamespace(session_id="s1", yield_check=yield_check)


def test_outside_a_script_run_nothing_stops(monkeypatch):
    monkeypatch.setattr(jobs, "get_script_run_ctx", lambda **_: None)
    assert jobs.cancel_check()() is False


def test_a_pending_rerun_raises_out_of_the_work(monkeypatch):
    pending: list = []
    monkeypatch.setattr(jobs, "get_script_run_ctx", lambda **_: fake_ctx(pending))
    monkeypatch.setattr(jobs.runtime, "exists", lambda: False)
    should_stop = jobs.cancel_check()
    assert should_stop() is False
    pending.append(Rerun())
    with pytest.raises(Rerun):
        should_stop()


def test_a_closed_session_stops(monkeypatch):
    active = {"s1"}
    monkeypatch.setattr(jobs, "get_script_run_ctx", lambda **_: fake_ctx([]))
    monkeypatch.setattr(jobs.runtime, "exists", lambda: True)
    monkeypatch.setattr(
        jobs.runtime,
        "get_instance",
        lambda: SimpleNamespace(is_active_session=lambda sid: sid in active),
    )
    should_stop = jobs.cancel_check()
    assert should_stop() is False
    active.clear()  # the tab closed
    assert should_stop() is True


def test_core_mining_stops_through_cancel_check(monkeypatch):
    from test_rules_budget import dense_baskets

    import core.rules.budget as rules_mod
    from core.rules import MiningCancelled, mine_rules

    active = {"s1"}
    monkeypatch.setattr(rules_mod, "_CHECK_EVERY_S", 0.0)
    monkeypatch.setattr(jobs, "get_script_run_ctx", lambda **_: fake_ctx([]))
    monkeypatch.setattr(jobs.runtime, "exists", lambda: True)
    calls = []

    def is_active(sid):
        calls.append(sid)
        if len(calls) > 5:
            active.clear()
        return sid in active

    monkeypatch.setattr(jobs.runtime, "get_instance",
                        lambda: SimpleNamespace(is_active_session=is_active))
    with pytest.raises(MiningCancelled):
        mine_rules(dense_baskets(), min_support=0.01, max_len=5, max_itemsets=None,
                   time_limit=None, should_stop=jobs.cancel_check())
    assert len(calls) == 6
