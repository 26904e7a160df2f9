"""What acrlib sends: about one HTTP request per page of results (token traffic included), against about four
for the stock SDK on the same listing; and nothing but reads."""

from __future__ import annotations

import polars as pl
from azure.containerregistry import ContainerRegistryClient

import acrlib

TOKEN_ENDPOINTS = ("oauth2_exchange", "oauth2_token")


def per_page(stats: pl.DataFrame) -> tuple[int, int, float]:
    """(requests, pages of results, requests per page) over registry endpoints, token traffic included."""
    registry = stats.filter(~pl.col("registry").is_in(["arm", "logs"]))
    requests = int(registry["count"].sum())
    pages = int(registry.filter(~pl.col("endpoint").is_in(TOKEN_ENDPOINTS) & (pl.col("status") == 200))["count"].sum())
    return requests, pages, requests / pages


def test_requests_per_page_within_target_and_the_stock_sdk_beside_it(demo, record_property):
    registry = demo.truth()["registries"].sort("repository_count")["registry"][-1]
    demo.reset_stats()
    acrlib.collect(**demo.connection(), registries=[registry], progress=False)
    ours = per_page(demo.stats())

    demo.reset_stats()
    with ContainerRegistryClient(demo.endpoint(registry), demo.credential(), connection_verify=demo.ca_path) as c:
        for repo in c.list_repository_names():
            c.get_repository_properties(repo)
            list(c.list_manifest_properties(repo))
            list(c.list_tag_properties(repo))
    stock = per_page(demo.stats())
    line = (f"requests per page of results on {registry}: acrlib {ours[2]:.3f} ({ours[0]} requests, {ours[1]} "
            f"pages); azure-containerregistry 1.2.0 {stock[2]:.2f} ({stock[0]} requests, {stock[1]} pages)")
    print(line)
    record_property("requests_per_page", line)
    assert ours[2] <= 1.05
    assert stock[2] >= 3.5  # 401 challenge, exchange, token, retry on every page


def test_over_the_whole_demo_tenant_too(demo):
    demo.reset_stats()
    inventory = acrlib.collect(**demo.connection(), progress=False)
    requests, pages, ratio = per_page(demo.stats())
    assert ratio <= 1.05, (requests, pages)
    assert inventory.metadata["requests"]["registries"] == requests


def test_only_reads_reach_registries_arm_and_log_analytics(demo):
    demo.reset_stats()
    acrlib.collect(**demo.connection(), progress=False, layers=True)
    log = demo.request_log()
    registry = log.filter(~pl.col("registry").is_in(["arm", "logs"]))
    writes = registry.filter(~pl.col("method").is_in(["GET", "HEAD"]))
    assert set(writes["endpoint"]) == set(TOKEN_ENDPOINTS), "the only POSTs are the token service's"
    arm = log.filter(pl.col("registry") == "arm")
    assert set(arm.filter(pl.col("method") != "GET")["endpoint"]) == {"resource_graph"}
    assert set(arm["endpoint"]) == {"resource_graph", "list_usages", "diagnostic_settings", "workspace",
                                   "site_config", "pricings"}
    logs = log.filter(pl.col("registry") == "logs")
    assert set(logs["endpoint"]) == {"logs_query"} and set(logs["method"]) == {"POST"}  # queries read
    assert set(log["method"]) <= {"GET", "HEAD", "POST"}
    assert log.height > 1000
