"""Plans that never delete a running image; in_use(); unused() never calls a running image unused."""

from __future__ import annotations

import polars as pl
from acr_purge import purge_plan
from inventory_builder import Build

import acrlib


def acts(plan) -> dict[tuple, str]:
    return {(r["repository"], r["tag"], r["digest"][7:9]): r["action"] for r in plan.iter_rows(named=True)}


def test_a_running_digest_is_kept_with_its_tags_and_the_reason_says_where():
    b = Build()
    running = b.manifest("app", "r1", days=300, tags=["v1"])
    b.manifest("app", "d1", days=300, tags=["v0"])
    b.runs("app", digest=running, workload="payments-api")
    plan = purge_plan(b.build(), ago="30d")
    assert acts(plan) == {("app", "v1", "r1"): "keep", ("app", None, "r1"): "keep", ("app", "v0", "d1"): "delete_tag",
                          ("app", None, "d1"): "delete_manifest"}
    assert set(plan.filter(pl.col("action") == "keep")["reason"]) == {"runs in aks aks-prod/default/payments-api"}
    assert plan.parameters["protect_in_use"] is True


def test_a_tag_that_moved_keeps_the_tag_what_it_points_at_and_what_still_runs():
    b = Build()
    old = b.manifest("app", "o1", days=300)  # the pod started on it; `latest` moved on since
    new = b.manifest("app", "n1", days=200, tags=["latest"])
    b.manifest("app", "x1", days=300)
    b.runs("app", digest=old, tag="latest")
    plan = purge_plan(b.build(), ago="30d")
    got = acts(plan)
    assert got[("app", "latest", "n1")] == "keep" and got[("app", None, "n1")] == "keep"
    assert got[("app", None, "o1")] == "keep", "what runs stays"
    assert got[("app", None, "x1")] == "delete_manifest"
    assert new


def test_an_index_in_use_keeps_its_children_and_a_child_in_use_keeps_its_index():
    b = Build()
    c1, c2 = b.manifest("multi", "c1", days=300), b.manifest("multi", "c2", days=300)
    b.manifest("multi", "i1", days=300, children=[c1, c2])
    d1, d2 = b.manifest("other", "d1", days=300), b.manifest("other", "d2", days=300)
    index = b.manifest("other", "i2", days=300, children=[d1, d2])
    b.runs("multi", digest=c1)
    b.runs("other", digest=index)
    plan = purge_plan(b.build(), ago="30d")
    assert set(plan["action"]) == {"keep"} and plan.height == 6


def test_clusters_whose_pods_are_unknown_are_named_in_every_deletions_reason():
    b = Build()
    b.manifest("app", "d1", days=300, tags=["v0"])
    b.cluster_unknown("aks-dark")
    plan = purge_plan(b.build(), ago="30d")
    assert plan.height == 2
    assert all(r.endswith("the pods of 1 AKS cluster are unknown (aks-dark): one of them may run it")
               for r in plan["reason"])


def test_the_protection_can_be_turned_off_and_is_off_without_deployments():
    b = Build()
    running = b.manifest("app", "r1", days=300, tags=["v1"])
    b.runs("app", digest=running)
    assert set(purge_plan(b.build(), ago="30d", protect_in_use=False)["action"]) == {"delete_tag", "delete_manifest"}
    plain = Build()
    plain.manifest("app", "r1", days=300, tags=["v1"])
    assert purge_plan(plain.build(), ago="30d").parameters["protect_in_use"] is False


def test_in_use_reports_old_images_outside_images_and_drift():
    b = Build()
    old = b.manifest("app", "o1", days=400, tags=["1.0"])
    moved = b.manifest("app", "m1", days=100)
    b.manifest("app", "n1", days=5, tags=["latest"])
    b.runs("app", digest=old, tag="1.0", workload="legacy")
    b.runs("app", digest=moved, tag="latest", workload="web")
    b.runs("app", digest="sha256:" + "9" * 64, tag="gone", workload="ghost")
    b.runs("library/nginx", tag="1.27", registry=None, workload="proxy")
    result = acrlib.in_use(b.build(), older_than_days=90)
    assert result.old["digest"].to_list() == [old, moved] and result.old["age_days"].to_list() == [400, 100]
    assert result.outside.select("host", "repository", "tag").rows() == [("docker.io", "library/nginx", "1.27")]
    assert dict(result.drift.select("where", "state").iter_rows()) == {
        "aks-prod/default/ghost": "image-missing", "aks-prod/default/web": "tag-moved"}
    assert result.registries.select("service", "images").rows() == [("aks", 3)]


def test_an_image_seen_running_is_never_reported_unused():
    b = Build()
    b.logs(covered_days=90)
    running = b.manifest("app", "r1", days=300, tags=["v1"], size=100)
    b.manifest("app", "n1", days=300, tags=["v0"], size=200)
    b.runs("app", digest=running)
    result = acrlib.unused(b.build(), days=90)
    repo = result.repositories.row(0, named=True)
    assert (repo["images"], repo["pulled"], repo["never_pulled"], repo["never_pulled_bytes"]) == (2, 1, 1, 200)
