"""What runs where: deployments read from Resource Graph, ARM, Container Insights and (only when asked) the AKS
run command, equal to the emulator's truth."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import acrlib
from acrlib.emulator import Emulator, Faults


def assert_deployments_match(inventory, truth, *, run_command: bool = False) -> None:
    got, want = inventory.deployments, truth["deployments"]
    if run_command:  # when the run command finished is the server's clock: checked apart
        seen = got.filter(pl.col("source") == "run-command")["seen_at"]
        assert seen.null_count() == 0 and seen.len() > 0
        got, want = got.drop("seen_at"), want.drop("seen_at")
    assert_frame_equal(got, want)
    assert_frame_equal(inventory.deployment_sources.drop("message"), truth["deployment_sources"].drop("message"))


def test_tiny_deployments_equal_the_truth_and_the_run_command_is_never_sent_unasked(tiny, tiny_truth):
    tiny.reset_stats()
    inventory = acrlib.collect(**tiny.connection(), progress=False)
    assert_deployments_match(inventory, tiny_truth)
    log = tiny.request_log()
    assert log.filter(pl.col("endpoint").is_in(["run_command", "command_result"])).height == 0
    assert set(log.filter(pl.col("registry") == "arm")["method"]) == {"GET", "POST"}
    assert set(log.filter((pl.col("registry") == "arm") & (pl.col("method") == "POST"))["endpoint"]) == {
        "resource_graph"}
    sources = dict(inventory.deployment_sources.select("name", "status").iter_rows())
    assert sources["aks-prod-eus"] == "pods-unknown"
    assert "app-static" not in sources, "a site that is not on containers is not a container workload"
    assert inventory.errors.height == 0
    d = inventory.deployments
    assert set(d["service"]) == {"aks", "containerapp", "containerapp-job", "aci", "appservice", "functions"}
    assert d.filter(pl.col("registry").is_null())["host"].unique().sort().to_list() == ["docker.io",
                                                                                       "mcr.microsoft.com"]
    assert d.filter(pl.col("resolved_from_tag")).height > 0 and d.filter(pl.col("source") == "arm").height > 0


def test_the_run_command_is_sent_only_when_asked_and_reads_the_pods():
    with Emulator("tiny") as emu:
        emu.reset_stats()
        inventory = acrlib.collect(**emu.connection(), progress=False, aks_run_command=True)
        truth = emu.truth(run_command=True)
        log = emu.request_log()
    posts = log.filter(pl.col("endpoint") == "run_command")
    assert posts.height == 1 and posts["method"].to_list() == ["POST"], "one cluster has no Container Insights"
    assert log.filter(pl.col("endpoint") == "command_result").height >= 2, "polled until done"
    assert_deployments_match(inventory, truth, run_command=True)
    assert dict(inventory.deployment_sources.select("name", "status").iter_rows())["aks-prod-eus"] == "ok"
    assert inventory.metadata["deployments"] == {"aks_run_command": True}


@pytest.mark.slow
def test_demo_deployments_equal_the_truth_and_an_unreadable_site_is_one_error_row(demo):
    inventory = acrlib.collect(**demo.connection(), progress=False)
    assert_deployments_match(inventory, demo.truth())
    assert dict(inventory.deployment_sources.select("name", "status").iter_rows())["app-locked"] == "no-access"
    errors = inventory.errors.filter(pl.col("stage") == "deployments")
    assert errors.select("http_status", "code").rows() == [(403, "AuthorizationFailed")]
    drift = acrlib.in_use(inventory).drift
    assert {"tag-moved", "image-missing"} <= set(drift["state"])


def test_a_purge_plan_of_the_emulated_tenant_deletes_nothing_that_runs(tiny):
    inventory = acrlib.collect(**tiny.connection(), progress=False)
    plan = acrlib.purge_plan(inventory, ago="0d", untagged=True)  # everything old enough is a candidate
    deleting = plan.filter(pl.col("action").is_in(["delete_tag", "delete_manifest", "cascade"]))
    running = inventory.deployments.filter(pl.col("registry").is_not_null(), pl.col("digest").is_not_null())
    assert deleting.join(running, on=["registry", "repository", "digest"], how="semi").height == 0
    assert plan.filter(pl.col("action") == "keep").height > 0


def test_no_deployments_means_no_workload_requests(tiny):
    tiny.reset_stats()
    inventory = acrlib.collect(**tiny.connection(), progress=False, deployments=False)
    assert not set(tiny.stats()["endpoint"]) & {"site_config", "run_command"}
    assert inventory.deployments.height == 0 and inventory.deployment_sources.height == 0
    with pytest.raises(ValueError, match="aks_run_command reads deployments"):
        acrlib.collect(**tiny.connection(), deployments=False, aks_run_command=True)


def test_a_workspace_that_refuses_container_insights_costs_its_clusters_only():
    with Emulator("tiny", faults=Faults(log_denied=("law-ops",))) as emu:
        inventory = acrlib.collect(**emu.connection(), progress=False, activity_days=0)
        truth = emu.truth()
    sources = inventory.deployment_sources.select("name", "status", "source")
    denied = sources.filter(pl.col("status") == "no-access")
    assert denied.height == 1 and denied["source"].to_list() == ["container-insights"]
    cluster = denied["name"][0]
    errors = inventory.errors.select("stage", "http_status", "code").rows()
    assert errors == [("deployments", 403, "InsufficientAccessError")]
    # everything else is exactly the truth: the other clusters, apps, jobs, container groups and sites
    want = truth["deployments"].filter(pl.col("cluster").is_null() | (pl.col("cluster") != cluster))
    assert_frame_equal(inventory.deployments, want)
    assert inventory.deployments.filter(pl.col("service") == "aks").height > 0


def test_a_deployment_of_three_replicas_that_restarted_is_one_row_per_container_named_as_in_its_pod_spec(
        tiny, tiny_truth):
    """Container Insights writes ContainerInventory.Name Docker-style and one row per replica and restart (its
    agent's formats, which the emulator writes); acrlib reads the container's own name and folds them."""
    from azure.monitor.query import LogsQueryClient

    workspace = tiny.workspaces["law-ops"]["customer_id"]  # the Container Insights of the first cluster
    logs = LogsQueryClient(tiny.credential(), endpoint=tiny.logs_endpoint, audience="https://api.loganalytics.io",
                           connection_verify=tiny.ca_path)
    raw = logs.query_workspace(workspace, "ContainerInventory | where ContainerState =~ 'Running' or "
                               "ContainerState =~ 'Failed' | project Name, ContainerHostname, ContainerID",
                               timespan=None).tables[0]
    rows = pl.DataFrame([dict(zip(raw.columns, r, strict=True)) for r in raw.rows])
    parts = rows["Name"].str.split("_")
    rows = rows.with_columns(parts.list.get(1).alias("container"), parts.list.get(3).alias("namespace"),
                             parts.list.get(5).cast(pl.Int64).alias("restart"),
                             pl.col("ContainerHostname").str.replace(r"-\d+$", "").alias("template"))
    assert rows["Name"].str.starts_with("k8s_").all(), "the agent's Docker-style names"
    per = rows.group_by("template", "container").agg(pl.col("ContainerHostname").n_unique().alias("replicas"),
                                                     pl.col("restart").max(), pl.len().alias("rows"))
    busy = per.filter((pl.col("replicas") == 3) & (pl.col("restart") > 0))
    assert busy.height > 0, "the tenant has a three-replica deployment whose containers restarted"
    template, container = busy.row(0)[:2]
    namespace = rows.filter(pl.col("template") == template)["namespace"][0]
    assert busy.row(0, named=True)["rows"] >= 6, "one ContainerInventory row per replica and restart"

    inventory = acrlib.collect(**tiny.connection(), progress=False, activity_days=0)
    aks = inventory.deployments.filter(pl.col("service") == "aks")
    assert not aks["container"].str.starts_with("k8s_").any()
    mine = aks.filter((pl.col("namespace") == namespace) & (pl.col("container") == container))
    workload = tiny_truth["deployments"].filter((pl.col("namespace") == namespace)
                                                & (pl.col("container") == container))["workload"]
    assert mine.height == 1 and mine["workload"].to_list() == workload.to_list()
    assert mine["seen_at"].item() == tiny_truth["deployments"].filter(
        (pl.col("namespace") == namespace) & (pl.col("container") == container))["seen_at"].item(), "the latest"
    assert aks.group_by("cluster", "namespace", "workload", "container", "image").len()["len"].max() == 1
