"""acrlib.Analysis: what the report and the what-if panel share, computed once, equal to the pure public
functions, and nothing kept on the inventory."""

from __future__ import annotations

import dataclasses

import polars as pl
from acr_purge import purge_plan
from inventory_builder import Build

import acrlib
from acrlib import media_types as mt
from acrlib.report import whatif


def _tenant() -> acrlib.Inventory:
    b = Build()
    old = b.manifest("api", days=200, tags=["v1"])
    b.manifest("api", days=150, tags=["v2"])
    b.manifest("api", days=5, tags=["v3"])
    child = b.manifest("web", days=300, media_type=mt.OCI_MANIFEST, config=mt.OCI_CONFIG)
    b.manifest("web", days=300, tags=["multi"], children=[child])
    b.manifest("web", days=250)  # untagged: spared by keep=1 (the newest untagged manifest of its repository)
    b.manifest("web", days=260)  # untagged, and deleted
    b.manifest("api", days=120, subject=old, media_type=mt.OCI_MANIFEST, config=mt.OCI_EMPTY)
    b.pulled("api", old, days=3)
    b.logs()
    b.runs("api", tag="v2")
    return b.build()


def _same(a, b) -> None:
    if isinstance(a, pl.DataFrame):
        assert a.equals(b)
    else:
        for name in a:
            assert a[name].equals(b[name]), name


def test_every_property_equals_the_public_function():
    inv = _tenant()
    plan = purge_plan(inv, ago="30d", keep=1)
    a = acrlib.Analysis(inv, plan, activity_days=60, stale_days=100)
    _same(a.summary, acrlib.summary(inv, plan))
    _same(a.freed, acrlib.reclaimable(inv, plan))
    _same(a.storage, acrlib.storage(inv))
    _same(a.usage, acrlib.unused(inv, days=60))
    _same(a.in_use, acrlib.in_use(inv, older_than_days=100))
    _same(a.costs, acrlib.cost(inv))
    _same(a.savings, acrlib.savings(inv, acrlib.reclaimable(inv, plan).registries))
    _same(a.posture, acrlib.posture(inv))
    _same(a.exposure, acrlib.exposure(inv, plan, days=60))
    assert a.headline == acrlib.headline(inv, plan)
    assert a.freed.registries["reclaimable_bytes"].sum() > 0, "the plan frees something: the test can tell"


def test_the_headline_is_a_named_result_that_reads_as_a_dict_too():
    inv = _tenant()
    h = acrlib.headline(inv, purge_plan(inv, ago="30d"))
    assert isinstance(h, acrlib.Headline) and dataclasses.is_dataclass(h)
    assert h["stale_tags"] == h.stale_tags and dict(h.items())["billed_bytes"] == h.billed_bytes
    bare = acrlib.headline(inv)
    assert bare.reclaimable_bytes is None and bare.stale_tags is None


def test_nothing_is_kept_on_the_inventory_and_a_new_plan_keeps_what_does_not_depend_on_it():
    inv = _tenant()
    before = dict(inv.__dict__)
    a = acrlib.Analysis(inv, purge_plan(inv, ago="30d"))
    a.summary, a.storage, a.usage  # noqa: B018 - computed for their side effect on the Analysis
    assert inv.__dict__.keys() == before.keys(), "analysis keeps no state on the inventory"
    b = a.with_plan(purge_plan(inv, ago="400d"))
    assert b.facts is a.facts and b.storage is a.storage and b.usage is a.usage
    assert b.freed.registries["reclaimable_bytes"].sum() == 0 < a.freed.registries["reclaimable_bytes"].sum()


def test_the_what_if_outcome_is_the_same_from_an_inventory_or_a_shared_analysis():
    inv = _tenant()
    shared = acrlib.Analysis(inv)
    for days in (10, 100, 400):
        alone = whatif.outcome(inv, stale_days=days, keep=0, untagged=True)
        assert alone.equals(whatif.outcome(shared, stale_days=days, keep=0, untagged=True))
