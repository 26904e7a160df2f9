"""unused(): images never pulled in the window, as far as each registry's logs reach; nothing is called unused
without evidence."""

from __future__ import annotations

import polars as pl
from inventory_builder import Build

import acrlib
from acrlib import Inventory


def test_never_pulled_images_are_counted_per_repository_and_registry():
    b = Build()
    b.logs(covered_days=90)
    used = b.manifest("app", "u1", days=300, tags=["v1"], size=100)
    b.manifest("app", "n1", days=300, tags=["v0"], size=200)
    child = b.manifest("multi", "c1", days=300, size=50)
    b.manifest("multi", "i1", days=300, children=[child], tags=["latest"], size=60)  # pulled through its child
    b.manifest("multi", "s1", days=300, subject=child, size=7,
               media_type="application/vnd.oci.image.manifest.v1+json")  # a referrer: not an image people pull
    b.manifest("web", "n2", days=300, size=300)
    old = b.manifest("web", "o1", days=300, size=400)
    b.pulled("app", used, days=5)
    b.pulled("multi", child, days=5)
    b.pulled("web", old, days=200)  # before the window: unused now
    result = acrlib.unused(b.build(), days=90)
    repos = {r["repository"]: r for r in result.repositories.iter_rows(named=True)}
    assert {k: (v["images"], v["pulled"], v["never_pulled"]) for k, v in repos.items()} == {
        "app": (2, 1, 1), "multi": (1, 1, 0), "web": (2, 0, 2)}
    assert repos["app"]["never_pulled_bytes"] == 200 and repos["web"]["never_pulled_bytes"] == 700
    assert repos["multi"]["never_pulled_bytes"] == 0
    registry = result.registries.row(0, named=True)
    assert (registry["images"], registry["pulled"], registry["never_pulled"]) == (5, 2, 3)
    assert registry["never_pulled_bytes"] == 900 and registry["covered_days"] == 90.0
    assert "estimate" in registry["basis"]


def test_a_registry_without_logs_has_no_unused_images_only_unknown_ones():
    with_logs, without = Build("withlogsacr"), Build("nologsacr")
    with_logs.logs(covered_days=30)
    without.logs("azure-diagnostics-mode", None)
    for b in (with_logs, without):
        b.manifest("app", "n1", days=300, tags=["v0"])
    tables = {name: pl.concat([getattr(with_logs.build(), name), getattr(without.build(), name)])
              for name in ("registries", "repositories", "manifests", "tags", "activity_sources")}
    inv = Inventory.from_tables(tables, collected_at=with_logs.build().collected_at)
    result = acrlib.unused(inv, days=90)
    rows = {r["registry"]: r for r in result.registries.iter_rows(named=True)}
    assert rows["nologsacr"]["never_pulled"] is None and rows["nologsacr"]["status"] == "azure-diagnostics-mode"
    assert rows["nologsacr"]["images"] == 1 and rows["nologsacr"]["covered_days"] is None
    assert rows["withlogsacr"]["never_pulled"] == 1 and rows["withlogsacr"]["covered_days"] == 30.0
