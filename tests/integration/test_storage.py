"""Layer-level storage: exact unique, exclusive and shared bytes; reclaimable bytes that the registry's usage
confirms after the deletions; fleet duplicates."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import polars as pl
import pytest
from truth_helpers import assert_matches_truth

import acrlib
from acrlib.analysis.storage import EXACT
from acrlib.emulator import Emulator
from acrlib.emulator.generate import generate

NOW = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)


def blob_sets(tenant) -> dict:
    """registry -> repository -> {blob digest: bytes}, straight from the tenant's objects."""
    out: dict = defaultdict(dict)
    for reg in tenant.registries:
        for repo in reg.repositories.values():
            blobs = {}
            for m in repo.manifests.values():
                blobs[m.digest] = len(m.body)
                if m.config is not None:
                    blobs[m.config.digest] = m.config.size
                blobs.update({layer.digest: layer.size for layer in m.layers})
            out[reg.name][repo.name] = blobs
    return out


@pytest.fixture(scope="module")
def emulated():
    with Emulator("tiny", seed=7, now=NOW) as emu:
        inventory = acrlib.collect(**emu.connection(), progress=False, layers=True)
        yield emu, inventory, emu.truth()


def test_the_layers_table_equals_the_truth(emulated):
    _, inventory, truth = emulated
    assert_matches_truth(inventory, truth, tables=("manifests", "references", "layers"))
    assert set(inventory.layers["role"]) == {"manifest", "config", "layer", "child", "subject"}
    assert inventory.metadata["layers"] is True


def test_unique_exclusive_and_shared_bytes_are_exact(emulated):
    _, inventory, _ = emulated
    expected = blob_sets(generate("tiny", 7, now=int(NOW.timestamp() * 10_000_000)))
    got = acrlib.storage(inventory)
    repos = {(r["registry"], r["repository"]): r for r in got["repositories"].iter_rows(named=True)}
    for registry, per_repo in expected.items():
        users = defaultdict(set)
        for repo, blobs in per_repo.items():
            for digest in blobs:
                users[digest].add(repo)
        for repo, blobs in per_repo.items():
            if not blobs:
                continue
            row = repos[(registry, repo)]
            assert row["unique_bytes"] == sum(blobs.values())
            assert row["exclusive_bytes"] == sum(size for d, size in blobs.items() if len(users[d]) == 1)
            assert row["shared_bytes"] == row["unique_bytes"] - row["exclusive_bytes"]
        everything = {d: s for blobs in per_repo.values() for d, s in blobs.items()}
        reg = got["registries"].filter(pl.col("registry") == registry).row(0, named=True)
        assert reg["unique_bytes"] == sum(everything.values())
        assert reg["shared_bytes"] == sum(everything[d] for d in everything if len(users[d]) > 1)
        assert reg["billed_bytes"] == reg["unique_bytes"] and reg["difference_bytes"] == 0
        assert reg["explanation"] == "billed storage equals the blobs counted"
    assert set(got["registries"]["basis"]) == {EXACT}


def test_reclaimable_bytes_are_what_the_registry_frees_once_the_plan_is_applied():
    with Emulator("tiny", seed=7, now=NOW) as emu:
        inventory = acrlib.collect(**emu.connection(), progress=False, layers=True)
        plan = acrlib.purge_plan(inventory, ago="45d", keep=2, protect_pulled_within=None)
        assert plan.filter(pl.col("action") == "cascade").height > 0, "the plan exercises ACR's referrer cascade"
        assert plan.filter(pl.col("action") == "keep").height > 0, "and spares what the tenant's workloads run"
        predicted = dict(acrlib.reclaimable(inventory, plan)["registries"].select(
            "registry", "reclaimable_bytes").iter_rows())
        before = dict(inventory.registries.select("registry", "storage_used_bytes").iter_rows())
        done = emu.apply_deletions(plan)
        after = acrlib.collect(**emu.connection(), progress=False, layers=True)
    assert done["manifests"] == plan.filter(pl.col("action").is_in(["delete_manifest", "cascade"])).height
    assert done["tags"] == plan.filter(pl.col("action") == "delete_tag").height
    usage_after = dict(after.registries.select("registry", "storage_used_bytes").iter_rows())
    for registry, freed in predicted.items():
        assert before[registry] - usage_after[registry] == freed, registry
    assert sum(predicted.values()) > 0
    naive = plan.filter(pl.col("action").is_in(["delete_manifest", "cascade"]))["size_bytes"].sum()
    assert naive > sum(predicted.values()), "summing image sizes overstates what a purge frees"
    # nothing the plan deletes is left, and nothing else is gone
    deleted = plan.filter(pl.col("action").is_in(["delete_manifest", "cascade"])).select(
        "registry", "repository", "digest")
    kept = inventory.manifests.join(deleted, on=["registry", "repository", "digest"], how="anti")
    assert after.manifests.select("registry", "repository", "digest").equals(
        kept.select("registry", "repository", "digest"))


def test_without_layers_every_function_says_it_estimates(tiny):
    inventory = acrlib.collect(**tiny.connection(), progress=False)
    plan = acrlib.purge_plan(inventory, ago="45d")
    for frame in (acrlib.storage(inventory)["registries"], acrlib.storage(inventory)["repositories"],
                  acrlib.reclaimable(inventory, plan)["registries"], acrlib.duplicates(inventory)["manifests"]):
        assert set(frame["basis"]) == {"imageSize estimate: collect with layers=True for exact bytes"}
    stored = acrlib.storage(inventory)["registries"]
    assert stored["exclusive_bytes"].null_count() == stored.height
    assert (stored["unique_bytes"] >= stored["billed_bytes"]).all(), "an estimate counts shared layers again"


def test_fleet_duplicates_find_mirrored_images_and_shared_base_layers(emulated):
    _, inventory, _ = emulated
    tenant = generate("tiny", 7, now=int(NOW.timestamp() * 10_000_000))
    where = defaultdict(set)
    for reg in tenant.registries:
        for repo in reg.repositories.values():
            for m in repo.manifests.values():
                for blob in ([m.config] if m.config else []) + m.layers:
                    where[(blob.digest, blob.size)].add(reg.name)
    expected = {d: (s, len(r)) for (d, s), r in where.items() if len(r) > 1}
    got = acrlib.duplicates(inventory)
    blobs = {r["blob_digest"]: (r["size_bytes"], r["copies"]) for r in got["blobs"].iter_rows(named=True)}
    assert blobs == expected and blobs
    assert (got["blobs"]["extra_bytes"] == got["blobs"]["size_bytes"] * (got["blobs"]["copies"] - 1)).all()
    mirrored = got["manifests"].filter(pl.col("example_repository").str.starts_with("library/"))
    assert mirrored.height > 0 and (mirrored["copies"] > 1).all()
