"""The apply journal and saved plans: what a resumed run reads back, and the checks made before any request."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
from acr_purge import purge_plan
from hypothesis import given, settings
from hypothesis import strategies as st
from inventory_builder import Build

import acrlib
from acrlib.cleanup.journal import Journal, state
from acrlib.cleanup.run import check_plan, fingerprint


def _plan():
    b = Build()
    b.manifest("app", "aa", days=90, tags=[("old", 90)])
    b.manifest("app", "bb", days=90)
    return purge_plan(b.build(), ago="30d")


def test_a_saved_plan_loads_with_its_parameters_and_a_foreign_file_is_named(tmp_path):
    plan = _plan()
    plan.save(tmp_path / "plan.parquet")
    back = acrlib.PurgePlan.load(tmp_path / "plan.parquet")
    assert back.equals(plan) and back.parameters["registries"] == plan.parameters["registries"]
    assert back.parameters["collected_at"] == plan.parameters["collected_at"]
    assert fingerprint(back) == fingerprint(plan)
    pl.DataFrame({"a": [1]}).write_parquet(tmp_path / "other.parquet")
    with pytest.raises(ValueError, match="not a saved purge plan"):
        acrlib.PurgePlan.load(tmp_path / "other.parquet")
    with pytest.raises(ValueError, match="no such plan file"):
        acrlib.PurgePlan.load(tmp_path / "missing.parquet")
    (tmp_path / "text.parquet").write_text("not parquet")
    with pytest.raises(ValueError, match="is not a Parquet file"):
        acrlib.PurgePlan.load(tmp_path / "text.parquet")


def test_a_plan_is_checked_before_anything_is_sent():
    plan = _plan()
    assert check_plan(plan, max_deletions=None, max_plan_age="24h")["registries"]
    with pytest.raises(ValueError, match="more than max_deletions"):
        check_plan(plan, max_deletions=1, max_plan_age=None)
    with pytest.raises(ValueError, match="max_deletions must be a whole number"):
        check_plan(plan, max_deletions=-1, max_plan_age=None)
    with pytest.raises(ValueError, match="invalid ago"):
        check_plan(plan, max_deletions=None, max_plan_age="soon")
    renamed = acrlib.PurgePlan.of(plan.with_columns(pl.lit("elsewhere").alias("registry")), plan.parameters)
    with pytest.raises(ValueError, match="names registries it holds no record of"):
        check_plan(renamed, max_deletions=None, max_plan_age=None)


def test_the_journal_is_appended_line_by_line_and_refuses_to_start_over_or_resume_nothing(tmp_path):
    j = Journal.open(tmp_path / "j.jsonl")
    j.write({"type": "plan", "fingerprint": "f"})
    j.write({"type": "attempt", "key": "r/a:t"})
    assert (tmp_path / "j.jsonl").read_text().count("\n") == 2, "on disk before the request is sent"
    j.close()
    with pytest.raises(ValueError, match="exists already"):
        Journal.open(tmp_path / "j.jsonl")
    with pytest.raises(ValueError, match="does not exist: nothing to resume"):
        Journal.open(tmp_path / "none.jsonl", resume=True)
    again = Journal.open(tmp_path / "j.jsonl", resume=True)
    assert state(again.records()) == {"r/a:t": {"outcome": "unknown"}}, "attempted, no outcome: checked again"
    again.close()


def test_resuming_keeps_final_outcomes_and_retries_failures_and_unknowns():
    records = [{"type": "attempt", "key": "a"}, {"type": "outcome", "key": "a", "outcome": "done"},
               {"type": "attempt", "key": "b"}, {"type": "outcome", "key": "b", "outcome": "failed"},
               {"type": "attempt", "key": "b"},
               {"type": "outcome", "key": "c", "outcome": "skipped"}, {"type": "attempt", "key": "d"}]
    got = state(records)
    assert got["a"]["outcome"] == "done" and got["c"]["outcome"] == "skipped"
    assert got["b"] == {"outcome": "unknown"} and got["d"] == {"outcome": "unknown"}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=30), st.builds(json.dumps, st.dictionaries(
    st.sampled_from(["type", "key", "outcome"]), st.one_of(st.text(max_size=5), st.integers(), st.none()),
    max_size=3))), max_size=20))
def test_a_torn_or_foreign_journal_never_raises(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("j") / "j.jsonl"
    path.write_text("\n".join(lines))
    j = Journal.open(path, resume=True) if path.exists() else None
    records = j.records()
    j.close()
    assert all(isinstance(r, dict) for r in records)
    assert all(isinstance(key, str) and isinstance(v, dict) for key, v in state(records).items())


def test_journal_times_are_utc():
    from acrlib.cleanup.journal import now

    assert dt.datetime.fromisoformat(now()).tzinfo is not None
