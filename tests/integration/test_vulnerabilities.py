"""Defender for Cloud's findings, read through Resource Graph and ARM from the emulator (both shapes, scanning off),
equal to its truth; the stock Resource Graph client reads the same security rows."""

from __future__ import annotations

import polars as pl
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions
from polars.testing import assert_frame_equal

import acrlib
from acrlib.collection import defender
from acrlib.emulator import Emulator, Faults

QUIET = {"progress": False, "activity_days": 0, "deployments": False}


def test_the_stock_resource_graph_client_reads_the_security_rows_of_both_shapes(tiny):
    client = ResourceGraphClient(tiny.credential(), base_url=tiny.arm_endpoint, connection_verify=tiny.ca_path)
    shapes = {}
    for name, query in (("current", defender.CURRENT_QUERY), ("legacy", defender.LEGACY_QUERY)):
        rows, token = [], None
        while True:
            page = client.resources(QueryRequest(query=query, options=QueryRequestOptions(top=7, skip_token=token)))
            rows += page.data
            token = page.skip_token
            if not token:
                break
        shapes[name] = rows
    assert shapes["current"] and shapes["legacy"], "tiny has a subscription of each shape"
    assert {r["type"] for r in shapes["current"]} == {"microsoft.security/assessments"}
    assert all(isinstance(r["properties"]["additionalData"]["CvesDetails"], str) for r in shapes["current"])
    assert all(defender.LEGACY_ASSESSMENT in r["id"] for r in shapes["legacy"])
    found, per = defender.findings(shapes["current"], legacy=False)
    assert found and all(p["bad"] == 0 for p in per.values())


def test_defender_findings_equal_the_truth(tiny, tiny_truth):
    inv = acrlib.collect(**tiny.connection(), **QUIET)  # vulnerabilities: on by default
    assert_frame_equal(inv.vulnerabilities, tiny_truth["vulnerabilities"])
    assert_frame_equal(inv.vulnerability_sources.drop("message"), tiny_truth["vulnerability_sources"].drop("message"))
    v = inv.vulnerabilities
    assert set(v["source"]) == {"defender", "defender-legacy"}
    assert v.filter(pl.col("registry").is_null()).height > 0, "an image of a registry outside the tenant"
    known = inv.manifests.select("registry", "repository", "digest")
    gone = v.filter(pl.col("registry").is_not_null()).join(known, on=["registry", "repository", "digest"],
                                                           how="anti")
    assert gone.height > 0, "a digest deleted since it was scanned"
    assert inv.errors.height == 0


def test_a_subscription_with_scanning_off_says_what_to_enable(demo):
    inv = acrlib.collect(**demo.connection(), **QUIET)
    truth = demo.truth()
    assert_frame_equal(inv.vulnerabilities, truth["vulnerabilities"])
    status = dict(inv.vulnerability_sources.select("subscription_id", "status").iter_rows())
    assert sorted(status.values()) == ["ok", "ok", "scanning-off"]
    off = inv.vulnerability_sources.filter(pl.col("status") == "scanning-off").row(0, named=True)
    assert off["rows"] == 0 and "Defender for Containers" in off["message"]


def _exact(emu) -> acrlib.Inventory:
    """A collection of ``emu`` whose findings equal its truth and whose status rows equal the truth's."""
    inv = acrlib.collect(**emu.connection(), **QUIET)
    truth = emu.truth()
    assert_frame_equal(inv.vulnerabilities, truth["vulnerabilities"])
    assert_frame_equal(inv.vulnerability_sources.drop("message"), truth["vulnerability_sources"].drop("message"))
    return inv


def test_past_a_page_of_security_rows_and_a_subscription_the_identity_cannot_read():
    with Emulator("tiny", seed=7, faults=Faults(defender={"contosodevacr": "denied"}, defender_images=1000)) as emu:
        emu.reset_stats()
        inv = _exact(emu)
        graph = emu.stats().filter(pl.col("endpoint") == "resource_graph")["count"].sum()
        assert inv.vulnerabilities.height > 1000 and graph >= 5, (
            "discovery's two queries, the current shape's rows in two pages or more, the legacy query")
        denied = inv.vulnerability_sources.filter(pl.col("status") == "no-access").row(0, named=True)
        dev = emu.truth()["registries"].filter(pl.col("registry") == "contosodevacr")["subscription_id"][0]
        assert denied["subscription_id"] == dev and "Security Reader" in denied["message"]
        assert set(inv.vulnerabilities["source"]) == {"defender"}, "the legacy subscription is the denied one"


def test_a_field_renamed_upstream_is_reported_with_the_keys_found_not_read_as_nothing():
    with Emulator("tiny", seed=7, faults=Faults(defender={"contosoprodacr": "renamed"})) as emu:
        inv = _exact(emu)
        truth = emu.truth()["vulnerability_sources"].filter(pl.col("status") == "unknown-shape")
        found = inv.vulnerability_sources.filter(pl.col("status") == "unknown-shape")
        assert found.height == 1 and found["rows"][0] == 0
        assert truth["message"][0] in found["message"][0], "the message names the key that replaced CvesDetails"
        assert set(inv.vulnerabilities["source"]) == {"defender-legacy"}, "the other subscription is still read"
