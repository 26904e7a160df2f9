"""Purge plans that never delete what is pulled: protect_pulled_within, pinned rule by rule."""

from __future__ import annotations

import polars as pl
import pytest
from acr_purge import purge_plan
from inventory_builder import Build


def actions(plan: pl.DataFrame) -> dict[tuple, str]:
    return {(r["repository"], r["tag"], r["digest"][7:9] if r["digest"] else None): r["action"]
            for r in plan.iter_rows(named=True)}


def plan_of(b: Build, **kwargs) -> pl.DataFrame:
    return purge_plan(b.build(), ago="30d", protect_pulled_within="30d", **kwargs)


def test_a_manifest_pulled_by_digest_within_the_window_is_kept_with_its_tags():
    b = Build()
    b.logs()
    pulled = b.manifest("app", "p1", days=200, tags=["v1"])
    b.manifest("app", "d1", days=200, tags=["v0"])
    b.pulled("app", pulled, days=3)
    plan = plan_of(b)
    assert actions(plan) == {("app", "v1", "p1"): "keep", ("app", None, "p1"): "keep",
                             ("app", "v0", "d1"): "delete_tag", ("app", None, "d1"): "delete_manifest"}
    kept = plan.filter(pl.col("action") == "keep")["reason"]
    assert all(r == "pulled 3 days ago (2026-05-29)" for r in kept)
    assert plan.parameters["protect_pulled_within"] == "30d"


def test_a_tag_pulled_within_the_window_keeps_the_tag_and_what_it_points_at():
    b = Build()
    b.logs()
    digest = b.manifest("app", "p1", days=200, tags=["stable"])
    b.pulled("app", digest, days=10, tags=["stable"], by_tag=True)
    assert set(actions(plan_of(b)).values()) == {"keep"}


def test_a_pull_older_than_the_window_protects_nothing():
    b = Build()
    b.logs()
    digest = b.manifest("app", "p1", days=200, tags=["v1"])
    b.pulled("app", digest, days=45)
    assert set(actions(plan_of(b)).values()) == {"delete_tag", "delete_manifest"}


def test_an_index_keeps_its_children_and_a_pulled_child_keeps_its_index_and_siblings():
    b = Build()
    b.logs()
    a1, a2 = b.manifest("multi", "a1", days=200), b.manifest("multi", "a2", days=200)
    b.manifest("multi", "i1", days=200, children=[a1, a2])
    c1, c2 = b.manifest("other", "c1", days=200), b.manifest("other", "c2", days=200)
    index = b.manifest("other", "i2", days=200, children=[c1, c2])
    b.pulled("multi", a1, days=1)  # the runtime pulled one platform's image
    b.pulled("other", index, days=1)
    plan = plan_of(b)
    assert set(plan["action"]) == {"keep"}
    assert plan.height == 6
    related = plan.filter(pl.col("digest").str.contains("^sha256:(a2|i1|c1|c2)"))["reason"]
    assert all(r.startswith("related to a manifest pulled 1 day ago") for r in related)


def test_referrers_and_subjects_are_kept_together():
    b = Build()
    b.logs()
    subject = b.manifest("app", "s1", days=200)
    b.manifest("app", "r1", days=200, subject=subject, media_type="application/vnd.oci.image.manifest.v1+json")
    lonely = b.manifest("app", "s2", days=200)
    signature = b.manifest("app", "r2", days=200, subject=lonely,
                           media_type="application/vnd.oci.image.manifest.v1+json")
    b.pulled("app", subject, days=2)
    b.pulled("app", signature, days=2)  # cosign verify pulled the signature: keep what it signs
    plan = plan_of(b)
    assert set(plan["action"]) == {"keep"}, plan
    assert "cascade" not in plan["action"].to_list()


@pytest.mark.parametrize(("status", "covered", "why"), [
    ("ok", 20, "logs from 2026-05-12"), ("not-configured", None, "not-configured"),
    ("no-access", None, "no-access"), (None, None, "activity not collected"),
])
def test_without_logs_covering_the_window_nothing_is_cleaned_on_this_basis(status, covered, why):
    b = Build()
    if status is not None:
        b.logs(status, covered)
    b.manifest("app", "d1", days=200, tags=["v0"])
    b.manifest("app", "d2", days=200)
    plan = plan_of(b)
    assert set(plan["action"]) == {"skip"} and plan.height == 3
    assert set(plan["reason"]) == {f"no pull logs covering 30d ({why})"}


def test_without_the_protection_the_plan_is_acr_purges_alone():
    b = Build()
    b.logs("not-configured", None)
    digest = b.manifest("app", "p1", days=200, tags=["v1"])
    b.pulled("app", digest, days=1)
    plan = purge_plan(b.build(), ago="30d")
    assert set(plan["action"]) == {"delete_tag", "delete_manifest"}
    assert plan.parameters["protect_pulled_within"] is None


def test_a_bad_window_is_refused():
    with pytest.raises(ValueError, match="invalid ago"):
        purge_plan(Build().build(), protect_pulled_within="a month")
