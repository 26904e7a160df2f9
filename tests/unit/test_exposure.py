"""exposure: findings on platform images count for the index people pull and run; what runs with fixable critical
findings, what to delete first, and what no source reports."""

from __future__ import annotations

import polars as pl
from acr_purge import purge_plan
from inventory_builder import Build

import acrlib
from acrlib import Inventory, schema
from acrlib import media_types as mt


def finding(registry, repository, digest, cve, severity, fixed=None) -> dict:
    return {"registry": registry, "login_server": f"{registry}.azurecr.io", "repository": repository,
            "digest": digest, "cve_id": cve, "severity": severity, "cvss": None, "package": "openssl",
            "installed_version": "1", "fixed_version": fixed, "fix_status": "fix-available" if fixed else "no-fix",
            "published_at": None, "source": "trivy", "scanned_at": None}


def tenant():
    b = Build()
    amd = b.manifest("shop/api", "amd", media_type=mt.OCI_MANIFEST, config=mt.OCI_CONFIG)
    arm = b.manifest("shop/api", "arm", media_type=mt.OCI_MANIFEST, config=mt.OCI_CONFIG)
    index = b.manifest("shop/api", "idx", tags=["v2"], children=[amd, arm], days=5)
    old = b.manifest("shop/api", "old", tags=[], days=200)  # the tag moved away from it: untagged now
    idle = b.manifest("shop/web", "idle", tags=["v1"], days=150)
    clean = b.manifest("shop/web", "clean", tags=["v2"], days=3)
    b.runs("shop/api", tag="v2")
    b.logs()
    b.pulled("shop/web", clean, days=1)
    inv = b.build()
    rows = [finding("contosoacr", "shop/api", amd, "CVE-1", "Critical", "1.1"),  # on a platform image
            finding("contosoacr", "shop/api", arm, "CVE-1", "Critical", "1.1"),  # the same CVE: counted once
            finding("contosoacr", "shop/api", arm, "CVE-2", "High"),
            finding("contosoacr", "shop/api", old, "CVE-3", "Medium"),
            finding("contosoacr", "shop/web", idle, "CVE-4", "High", "2.0"),
            finding("contosoacr", "shop/web", "sha256:" + "9" * 64, "CVE-5", "Critical", "3.0"),  # digest gone
            finding(None, "library/nginx", "sha256:" + "8" * 64, "CVE-6", "Critical", "4.0")]  # not the tenant's
    tables = {**inv.tables(), "vulnerabilities": schema.frame("vulnerabilities", rows)}
    return Inventory.from_tables(tables, collected_at=inv.collected_at), index, old, idle, clean


def test_findings_on_platform_images_count_for_their_index_once_each():
    inv, index, old, idle, clean = tenant()
    e = acrlib.exposure(inv)
    by = {r["digest"]: r for r in e.images.iter_rows(named=True)}
    assert set(by) == {index, old, idle, clean}, "top-level images only; a gone digest has no image"
    assert (by[index]["critical"], by[index]["high"], by[index]["fixable"], by[index]["running"]) == (1, 1, 1, True)
    assert by[old]["medium"] == 1 and not by[old]["running"], "an image whose tag moved keeps its own findings"
    assert by[clean]["vulnerabilities"] == 0 and by[clean]["pulled"]


def test_running_fixable_cleanup_first_and_unscanned():
    inv, index, old, idle, clean = tenant()
    plan = purge_plan(inv, ago="30d", keep=0)
    e = acrlib.exposure(inv, plan)
    assert e.running_fixable["digest"].to_list() == [index]
    assert e.cleanup_first["digest"].to_list() == [idle, old], "worst first: the high finding, then the medium"
    assert set(e.images.filter(pl.col("deleted_by_plan"))["digest"]) == {old, idle}
    assert e.unscanned["digest"].to_list() == [clean]
    assert "Defender was not read" in e.unscanned["reason"][0]
    row = e.registries.row(0, named=True)
    assert (row["images"], row["vulnerable"], row["critical"], row["running_fixable"], row["unscanned"]) == (
        4, 3, 1, 1, 1)


def test_the_vulnerability_trend_counts_each_images_cve_once_per_snapshot(tmp_path):
    import dataclasses
    import datetime as dt

    inv = tenant()[0]
    first = dataclasses.replace(inv, collected_at=inv.collected_at - dt.timedelta(days=7))
    fewer = inv.vulnerabilities.filter(pl.col("cve_id") != "CVE-4")
    later = dataclasses.replace(inv, vulnerabilities=pl.concat([fewer, fewer]))  # two sources, the same CVEs
    for snapshot in (first, later):
        snapshot.to_parquet(tmp_path)
    trend = acrlib.vulnerability_trend(acrlib.history(tmp_path))
    assert trend.select("critical", "high", "critical_change", "high_change").rows() == [
        (2, 2, None, None), (2, 1, 0, -1)], "CVE-1 on two platform images of one index counts per image digest"


def scanned(inv: Inventory) -> Inventory:
    """``inv`` as read from a source that reported (the findings above were read, not made up)."""
    source = {"subscription_id": None, "path": "scan.json", "source": "trivy", "status": "ok",
              "rows": inv.vulnerabilities.height, "message": ""}
    return Inventory.from_tables({**inv.tables(), "vulnerability_sources": schema.frame(
        "vulnerability_sources", [source])}, collected_at=inv.collected_at)


def test_plan_rows_carry_the_findings_of_what_they_delete_and_the_summary_what_goes():
    inv, index, old, _, clean = tenant()
    unread = purge_plan(inv, ago="1d", protect_in_use=False)
    assert unread.select("critical", "high", "vulnerabilities").null_count().row(0) == (unread.height,) * 3, (
        "no source was read: unknown, not zero")
    inv = scanned(inv)
    plan = purge_plan(inv, ago="1d", protect_in_use=False)
    rows = {(r["action"], r["tag"], r["digest"]): (r["critical"], r["high"], r["vulnerabilities"])
            for r in plan.iter_rows(named=True)}
    assert rows[("delete_tag", "v2", index)] == (1, 1, 2), "a tag row: its image's findings, CVE-1 once per index"
    assert rows[("delete_manifest", None, index)] == (1, 1, 2)
    assert rows[("delete_manifest", None, old)] == (0, 0, 1)
    assert rows[("delete_manifest", None, clean)] == (0, 0, 0), "scanned, nothing found"
    per = {r["repository"]: r for r in acrlib.summary(inv, plan).repositories.iter_rows(named=True)}
    assert (per["shop/api"]["vulnerabilities_removed"], per["shop/api"]["critical_removed"]) == (4, 2), (
        "CVE-1 on each platform image, CVE-2, CVE-3: each image's CVE once")
    assert (per["shop/web"]["vulnerabilities_removed"], per["shop/web"]["critical_removed"]) == (1, 0), (
        "CVE-5 is on a digest the registry no longer holds: no deletion removes it")
    numbers = acrlib.headline(inv, plan)
    assert (numbers.critical_removed, numbers.critical_findings, numbers.running_fixable) == (2, 3, 1)
    kept = purge_plan(inv, ago="30d")  # the running index is kept: only the untagged old image goes
    assert acrlib.headline(inv, kept).critical_removed == 0
