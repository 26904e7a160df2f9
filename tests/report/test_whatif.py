"""The what-if panel of explore.ipynb: what it shows is the analysis of a plan with the sliders' rules, and
moving a slider recomputes it (ipywidgets run without a frontend here; the JupyterLab test shows them)."""

from __future__ import annotations

import polars as pl
import pytest

import acrlib
from acrlib.report import format as fmt
from acrlib.report import whatif


@pytest.fixture(scope="module")
def inv(tiny):
    return acrlib.collect(**tiny.connection(), progress=False, layers=True)


@pytest.mark.parametrize(("days", "keep", "untagged"), [(90, 3, True), (30, 0, False), (400, 10, True)])
def test_the_outcome_is_the_plan_reclaimable_and_savings(inv, days, keep, untagged):
    got = whatif.outcome(inv, stale_days=days, keep=keep, untagged=untagged)
    plan = acrlib.purge_plan(inv, ago=f"{days}d", keep=keep, untagged=untagged)
    freed = acrlib.reclaimable(inv, plan).registries
    assert got["tags_deleted"].sum() == plan.filter(pl.col("action") == "delete_tag").height
    assert got["manifests_deleted"].sum() == plan.filter(pl.col("action").is_in(["delete_manifest",
                                                                                 "cascade"])).height
    assert got.select("registry", "reclaimable_bytes").equals(freed.select("registry", "reclaimable_bytes"))
    savings = acrlib.savings(inv, freed)
    assert got["monthly_savings"].to_list() == savings["monthly_savings"].to_list()


def test_moving_a_slider_recomputes_in_place(inv):
    box = whatif.panel(inv, stale_days=90, keep=3)
    sliders = [w for row in box.children if hasattr(row, "children") for w in row.children]
    days = next(w for w in sliders if w.description == "stale days")
    shown = box.children[-1]
    before = shown.value
    expected_before = whatif.outcome(inv, stale_days=90, keep=3, untagged=True)["reclaimable_bytes"].sum()
    assert fmt.size(int(expected_before)) in before
    days.value = 10
    after = shown.value
    expected_after = whatif.outcome(inv, stale_days=10, keep=3, untagged=True)["reclaimable_bytes"].sum()
    assert after != before and fmt.size(int(expected_after)) in after and "stale after 10 days" in after
