"""acrlib.collect against the emulator: every table equals the truth, with any page size and under throttling."""

from __future__ import annotations

import asyncio

import polars as pl
import pytest
from truth_helpers import assert_matches_truth

import acrlib
from acrlib import schema
from acrlib.emulator import Emulator


@pytest.fixture(scope="module")
def tiny_inventory(tiny):
    return acrlib.collect(**tiny.connection(), progress=False)


def test_tiny_equals_the_truth(tiny_inventory, tiny_truth):
    assert_matches_truth(tiny_inventory, tiny_truth)
    assert tiny_inventory.errors.height == 0
    assert set(tiny_inventory.registries["status"]) == {"complete"}
    for name, df in tiny_inventory.tables().items():
        assert df.schema == schema.schema(name), name


def test_demo_equals_the_truth(demo):
    inventory = acrlib.collect(**demo.connection(), progress=False)
    assert_matches_truth(inventory, demo.truth())
    assert inventory.manifests.height > 8_000 and set(inventory.registries["status"]) == {"complete"}
    # demo has a registry whose logs go to a workspace the identity may not query, and a site it may not read
    assert inventory.errors.select("stage", "http_status").rows() == [("activity", 403), ("deployments", 403)]


def test_small_pages_change_nothing(tiny, tiny_truth):
    inventory = acrlib.collect(**tiny.connection(), progress=False, page_size=7)
    assert_matches_truth(inventory, tiny_truth)
    # the bulk repository alone needs 150 pages of 7
    log = tiny.request_log()
    assert log.filter(pl.col("path").str.contains("n=7")).height > 150


def test_under_throttling_everything_arrives():
    # A burst of half a second's worth of ReadOps forces 429s even on the tiny tenant.
    with Emulator("tiny", seed=7, throttle=0.5) as emu:
        inventory = acrlib.collect(**emu.connection(), progress=False)
        throttled = emu.stats().filter(pl.col("status") == 429)["count"].sum()
        truth = emu.truth()
    assert throttled > 0
    assert_matches_truth(inventory, truth)
    # demo has a workspace and a site the identity may not read
    assert inventory.errors.filter(~pl.col("stage").is_in(["activity", "deployments"])).height == 0


def test_referrer_subjects_and_kinds_are_filled_from_manifest_bytes(tiny_inventory, tiny_truth):
    m = tiny_inventory.manifests
    referrers = m.filter(pl.col("subject").is_not_null())
    assert referrers.height == tiny_truth["manifests"].filter(pl.col("subject").is_not_null()).height > 0
    assert set(referrers["kind"]) == {"signature", "attestation"}
    got = m.select("digest", "kind", "subject", "artifact_type").sort("digest")
    want = tiny_truth["manifests"].select("digest", "kind", "subject", "artifact_type").sort("digest")
    assert got.equals(want)


def test_acr_purge_style_referrer_checks_read_every_untagged_oci_manifest(tiny, tiny_truth):
    tiny.reset_stats()
    acrlib.collect(**tiny.connection(), progress=False)
    artifacts_only = tiny.stats().filter(pl.col("endpoint") == "manifest_content")["count"].sum()
    tiny.reset_stats()
    inventory = acrlib.collect(**tiny.connection(), progress=False, referrers="untagged")
    every_untagged = tiny.stats().filter(pl.col("endpoint") == "manifest_content")["count"].sum()
    assert_matches_truth(inventory, tiny_truth)
    m, refs = tiny_truth["manifests"], tiny_truth["references"]
    untagged_oci = m.filter((pl.col("media_type") == "application/vnd.oci.image.manifest.v1+json")
                            & (pl.col("tags").list.len() == 0)
                            & ~pl.col("digest").is_in(refs["child_digest"].implode()))
    assert every_untagged > artifacts_only
    assert every_untagged >= untagged_oci["digest"].n_unique()


def test_collect_runs_inside_a_running_event_loop(tiny, tiny_truth):
    async def notebook_cell():  # what Jupyter does: a loop is already running in this thread
        return acrlib.collect(**tiny.connection(), progress=False)

    inventory = asyncio.run(notebook_cell())
    assert_matches_truth(inventory, tiny_truth)


def test_async_credentials_work_too(tiny, tiny_truth):
    inventory = acrlib.collect(credential=tiny.async_credential(), arm_endpoint=tiny.arm_endpoint,
                               logs_endpoint=tiny.logs_endpoint,
                               connection_verify=tiny.ca_path, progress=False)
    assert_matches_truth(inventory, tiny_truth)


def test_progress_bars_show_registries_repositories_rows_and_errors(tiny, capsys):
    acrlib.collect(**tiny.connection(), progress=True)
    err = capsys.readouterr().err
    assert "registries" in err and "repositories" in err
    assert "rows=" in err and "errors=0" in err


def test_registry_filters_by_name_and_by_regex(tiny, tiny_truth):
    names = tiny_truth["registries"]["registry"].to_list()
    by_name = acrlib.collect(**tiny.connection(), registries=[names[0].upper()], progress=False)
    assert by_name.registries["registry"].to_list() == [names[0]]
    assert_matches_truth(by_name, tiny_truth, registries=[names[0]])
    by_regex = acrlib.collect(**tiny.connection(), registries="(dev|shared)acr$", progress=False)
    assert sorted(by_regex.registries["registry"]) == sorted(n for n in names if "dev" in n or "shared" in n)


def test_subscription_scoping(tiny, tiny_truth):
    sub = tiny_truth["registries"]["subscription_id"][0]
    inventory = acrlib.collect(**tiny.connection(), subscriptions=[sub], progress=False)
    expected = tiny_truth["registries"].filter(pl.col("subscription_id") == sub)["registry"].to_list()
    assert sorted(inventory.registries["registry"]) == sorted(expected)
    assert_matches_truth(inventory, tiny_truth, registries=expected)


@pytest.mark.slow
def test_demo_under_throttling_with_smaller_pages_equals_the_truth():
    # Basic registries exhaust their 5 s burst here: the pacing path, on a tenant with >1000-manifest pages.
    with Emulator("demo", seed=5, throttle=True) as emu:
        inventory = acrlib.collect(**emu.connection(), progress=False, page_size=300)
        throttled = emu.stats().filter(pl.col("status") == 429)["count"].sum()
        truth = emu.truth()
    assert throttled > 0
    assert_matches_truth(inventory, truth)
    # demo has a workspace and a site the identity may not read
    assert inventory.errors.filter(~pl.col("stage").is_in(["activity", "deployments"])).height == 0
