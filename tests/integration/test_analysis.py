"""Summary, cost and posture, on the emulator's truth and on hand-built registries."""

from __future__ import annotations

import polars as pl
import pytest
from inventory_builder import NOW

import acrlib
from acrlib import Inventory


@pytest.fixture(scope="module")
def truth_inventory(tiny_truth):
    return Inventory.from_tables(tiny_truth, collected_at=NOW)


def test_summary_counts_match_the_truth(truth_inventory, tiny_truth):
    s = acrlib.summary(truth_inventory)
    m, refs = tiny_truth["manifests"], tiny_truth["references"]
    children = m.filter(pl.col("digest").is_in(refs["child_digest"].implode()))
    regs = s["registries"]
    assert regs["manifests"].sum() == m.height
    assert regs["images"].sum() == m.filter(pl.col("kind") == "image").height
    assert regs["tags"].sum() == tiny_truth["tags"].height
    # each child belongs to one index here, so "not double counted" means: every manifest except children
    assert regs["logical_bytes"].sum() == m["size_bytes"].sum() - children["size_bytes"].sum()
    untagged = m.filter((pl.col("tags").list.len() == 0) & pl.col("subject").is_null()
                        & ~pl.col("digest").is_in(refs["child_digest"].implode()))
    assert regs["untagged"].sum() == untagged.height
    assert regs.select("registry", "billed_bytes").equals(
        tiny_truth["registries"].select("registry", pl.col("storage_used_bytes").alias("billed_bytes")))
    assert s["repositories"].height == tiny_truth["repositories"].height


def test_plan_from_a_collection_equals_plan_from_the_truth(tiny, tiny_truth):
    collected = acrlib.collect(**tiny.connection(), progress=False)
    truth = Inventory.from_tables(tiny_truth, collected_at=collected.collected_at)
    args = {"ago": "60d", "keep": 2, "filters": [".*:.*"]}
    a, b = acrlib.purge_plan(collected, **args), acrlib.purge_plan(truth, **args)
    assert a.height > 0 and a.equals(b)
    s = acrlib.summary(collected, a)["registries"]
    assert s["stale_tags"].sum() == a.filter(pl.col("action") == "delete_tag").height
    deleted = a.filter(pl.col("action").is_in(["delete_manifest", "cascade"]))
    assert s["deleted_image_bytes"].sum() == deleted["size_bytes"].sum()
    freed = acrlib.reclaimable(collected, a)
    assert s.select("registry", "reclaimable_bytes").equals(freed.registries.select("registry", "reclaimable_bytes"))
    headline = acrlib.headline(collected, a)
    assert headline["stale_tags"] == s["stale_tags"].sum() and headline["errors"] == 0
    assert headline["reclaimable_bytes"] == freed.registries["reclaimable_bytes"].sum() > 0
    assert headline["reclaimable_bytes"] < s["deleted_image_bytes"].sum(), "never summed image sizes as savings"
    assert headline["reclaimable_exact"] is False, "collected without layers: an estimate, and it says so"
    assert headline["monthly_cost"] == pytest.approx(acrlib.cost(collected)["monthly"].sum())
    assert headline["security_findings"] == acrlib.posture(collected).height
    assert headline["soonest_full_on"] is None, "no history, no date"


def test_savings_count_only_storage_above_the_allowance():
    inv = registries([
        {"registry": "overacr", "sku": "Basic", "storage_used_bytes": 22 << 30, "storage_included_bytes": 10 << 30},
        {"registry": "underacr", "sku": "Premium", "storage_used_bytes": 5 << 30,
         "storage_included_bytes": 500 << 30},
    ])
    freed = pl.DataFrame({"registry": ["overacr", "underacr"], "reclaimable_bytes": [15 << 30, 4 << 30]})
    got = {r["registry"]: r for r in acrlib.savings(inv, freed, overage_per_gib_day=0.01).iter_rows(named=True)}
    # 12 GiB over the allowance: freeing 15 GiB saves those 12 only; under its allowance nothing is saved
    assert got["overacr"]["overage_gib"] == 12 and got["overacr"]["overage_after_gib"] == 0
    assert got["overacr"]["monthly_savings"] == pytest.approx(12 * 0.01 * 30)
    assert got["underacr"]["monthly_savings"] == 0
    partly = acrlib.savings(inv, freed.with_columns(pl.lit(2 << 30).alias("reclaimable_bytes")),
                            overage_per_gib_day=0.01)
    assert partly.filter(pl.col("registry") == "overacr")["monthly_savings"].item() == pytest.approx(2 * 0.01 * 30)


def registries(rows: list[dict]) -> Inventory:
    return Inventory.from_tables({"registries": pl.DataFrame(rows, infer_schema_length=None)})


def test_cost_is_base_rate_plus_overage_above_the_allowance():
    inv = registries([
        {"registry": "basicacr", "sku": "Basic", "storage_used_bytes": 22 << 30, "storage_included_bytes": 10 << 30},
        {"registry": "premiumacr", "sku": "Premium", "storage_used_bytes": 5 << 30,
         "storage_included_bytes": 500 << 30},
        {"registry": "unknownacr", "sku": "Standard", "storage_used_bytes": None, "storage_included_bytes": None},
    ])
    c = {r["registry"]: r for r in acrlib.cost(inv).iter_rows(named=True)}
    assert c["basicacr"]["overage_gib"] == 12
    assert c["basicacr"]["daily"] == pytest.approx(0.167 + 12 * 0.003)
    assert c["basicacr"]["monthly"] == pytest.approx(30 * (0.167 + 12 * 0.003))
    assert c["premiumacr"]["overage_daily"] == 0 and c["premiumacr"]["monthly"] == pytest.approx(50.01)
    assert c["unknownacr"]["base_daily"] == 0.667 and c["unknownacr"]["daily"] is None, "unknown usage, unknown cost"
    custom = acrlib.cost(inv, base_per_day={"Basic": 1.0}, overage_per_gib_day=0.01, days_per_month=31)
    row = custom.filter(pl.col("registry") == "basicacr").row(0, named=True)
    assert row["monthly"] == pytest.approx(31 * (1.0 + 12 * 0.01))
    with pytest.raises(ValueError, match="no base rate for SKU"):
        acrlib.cost(registries([{"registry": "x", "sku": "Classic"}]))


def test_posture_names_each_finding():
    inv = registries([
        {"registry": "openacr", "sku": "Standard", "admin_user_enabled": True, "public_network_access": "Enabled",
         "network_default_action": None, "anonymous_pull_enabled": True, "retention_enabled": None},
        {"registry": "lockedacr", "sku": "Premium", "admin_user_enabled": False, "public_network_access": "Enabled",
         "network_default_action": "Deny", "anonymous_pull_enabled": False, "retention_enabled": True},
        {"registry": "privateacr", "sku": "Premium", "admin_user_enabled": False,
         "public_network_access": "Disabled", "anonymous_pull_enabled": False, "retention_enabled": False},
    ])
    found = {(r["registry"], r["finding"]) for r in acrlib.posture(inv).iter_rows(named=True)}
    assert found == {("openacr", "admin user enabled"), ("openacr", "public network access"),
                     ("openacr", "anonymous pull enabled"), ("openacr", "no retention policy"),
                     ("privateacr", "no retention policy")}
    matrix = acrlib.posture_matrix(inv)
    assert matrix.height == 12 and matrix["flag"].sum() == 5
