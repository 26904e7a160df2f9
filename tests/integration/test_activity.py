"""Pull activity from the registries' event logs, collected exactly, or with every gap an error row."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from truth_helpers import assert_matches_truth

import acrlib
from acrlib.emulator import Emulator, Faults


def assert_activity_matches(inventory, truth) -> None:
    assert_frame_equal(inventory.activity, truth["activity"])
    assert_frame_equal(inventory.activity_sources.drop("message"), truth["activity_sources"].drop("message"))


def statuses(inventory) -> dict[str, str]:
    return dict(inventory.activity_sources.select("registry", "status").iter_rows())


def test_tiny_activity_equals_the_truth(tiny, tiny_truth):
    inventory = acrlib.collect(**tiny.connection(), progress=False, deployments=False)  # only activity's queries
    assert_activity_matches(inventory, tiny_truth)
    assert statuses(inventory) == {"contosoprodacr": "ok", "contosodevacr": "ok", "contososharedacr": "not-configured"}
    a = inventory.activity
    assert a.filter(pl.col("pulls") > 0).height >= 8 and a.filter(pl.col("pulls") == 0).height > 20
    # pulls that named only a tag are counted for the digest the tag points at now
    resolved = a.filter(pl.col("resolved_from_tag")).explode("tags_pulled").join(
        inventory.tags.select("registry", "repository", pl.col("tag").alias("tags_pulled"), "digest"),
        on=["registry", "repository", "tags_pulled", "digest"], how="semi")
    assert resolved.height >= 3
    assert inventory.metadata["activity"]["days"] == 90 and inventory.metadata["requests"]["logs"] == 2


def test_demo_shows_every_kind_of_log_source_and_reports_the_workspace_it_may_not_read(demo):
    inventory = acrlib.collect(**demo.connection(), progress=False)
    truth = demo.truth()
    assert_activity_matches(inventory, truth)
    assert sorted(statuses(inventory).values()) == ["azure-diagnostics-mode", "category-disabled", "no-access",
                                                    "not-configured", "ok", "ok"]
    errors = inventory.errors.filter(pl.col("stage") == "activity")
    assert errors.select("registry", "http_status", "code").rows() == [(None, 403, "InsufficientAccessError")]
    for status, hint in [("azure-diagnostics-mode", "resource-specific"), ("category-disabled", "enable"),
                         ("not-configured", "diagnostic setting"), ("no-access", "Log Analytics Reader")]:
        message = inventory.activity_sources.filter(pl.col("status") == status)["message"][0]
        assert hint in message, (status, message)


def test_short_retention_limits_coverage(tiny):
    inventory = acrlib.collect(**tiny.connection(), progress=False)
    covered = dict(inventory.activity_sources.select("registry", "covered_from").iter_rows())
    days = {r: (inventory.collected_at - t).days for r, t in covered.items() if t is not None}
    assert days["contosodevacr"] < 20 <= 85 < days["contosoprodacr"] <= 90  # law-short keeps 20 days


def test_throttling_partial_results_and_timeouts_are_split_until_exact():
    faults = Faults(log_row_limit=60, log_timeout_rows=400, log_query_rate=(4, 1.0))
    with Emulator("tiny", faults=faults) as emu:
        inventory = acrlib.collect(**emu.connection(), progress=False, deployments=False)
        truth = emu.truth()
        stats = emu.stats().filter(pl.col("registry") == "logs")
    assert_activity_matches(inventory, truth)
    assert inventory.errors.height == 0, inventory.errors
    seen = set(stats["status"])
    assert {200, 429, 504} <= seen, stats
    assert inventory.metadata["requests"]["logs"] > 4, "split into parts"


def test_what_cannot_be_read_however_split_is_an_error_row_and_the_rest_is_exact():
    with Emulator("tiny", faults=Faults(log_row_limit=1)) as emu:
        inventory = acrlib.collect(**emu.connection(), progress=False)
        truth = emu.truth()
    gaps = inventory.errors.filter(pl.col("stage") == "activity")
    assert set(gaps["code"]) == {"PARTIAL_RESULT"}
    assert set(gaps["registry"]) == {"contosoprodacr", "contosodevacr"}
    assert all("could not be read" in m and "its pulls are missing" in m for m in gaps["message"])
    got, want = inventory.activity, truth["activity"]
    assert got.height < want.height
    assert got.join(want, on=["registry", "repository", "digest"], how="anti").height == 0, "nothing invented"
    assert_matches_truth(inventory, truth)  # every other table is unaffected


def test_a_workspace_that_refuses_the_query_is_one_error_row_and_nothing_else_changes():
    with Emulator("tiny", faults=Faults(log_denied=("law-ops",))) as emu:
        inventory = acrlib.collect(**emu.connection(), progress=False, deployments=False)
        truth = emu.truth()
    assert statuses(inventory)["contosoprodacr"] == "no-access"
    assert statuses(inventory)["contosodevacr"] == "ok"
    errors = inventory.errors
    assert errors.select("stage", "http_status", "code").rows() == [("activity", 403, "InsufficientAccessError")]
    assert set(inventory.registries["status"]) == {"complete"}
    from acrlib.cli import error_line, exit_code

    assert exit_code(inventory) == 3, "registries whole, a side reading missing: not the exit of a partial registry"
    line = error_line(errors.row(0, named=True))
    assert line.startswith("pull logs [activity] InsufficientAccessError: workspace law-ops: ")
    assert "{" not in line and "\n" not in line and "/subscriptions/" not in line
    assert_matches_truth(inventory, truth)
    dev = pl.col("registry") == "contosodevacr"
    assert inventory.activity.filter(dev).equals(truth["activity"].filter(dev))
    assert inventory.activity.filter(~dev).height == 0


def test_the_activity_follows_the_tenant_as_it_evolves():
    with Emulator("tiny", seed=3) as emu:
        emu.advance(days=7, seed=1)
        inventory = acrlib.collect(**emu.connection(), progress=False, activity_days=30)
        truth = emu.truth(activity_days=30)
    assert_activity_matches(inventory, truth)
    assert inventory.metadata["activity"]["days"] == 30


def test_no_activity_days_means_no_log_requests(tiny):
    tiny.reset_stats()
    inventory = acrlib.collect(**tiny.connection(), progress=False, activity_days=0, deployments=False)
    endpoints = set(tiny.stats()["endpoint"])
    assert not endpoints & {"diagnostic_settings", "workspace", "logs_query"}
    assert inventory.activity.height == 0 and inventory.activity_sources.height == 0
    assert "activity" not in inventory.metadata


@pytest.mark.parametrize("days", [-1, 1.5, "90", 10_000, True])
def test_bad_activity_days_are_refused_before_any_request(tiny, days):
    tiny.reset_stats()
    with pytest.raises(ValueError, match="activity_days must be a whole number"):
        acrlib.collect(**tiny.connection(), activity_days=days)
    assert tiny.stats().height == 0
