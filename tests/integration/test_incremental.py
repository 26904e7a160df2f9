"""Incremental collection: after the tenant moved on a week, a collection that reuses a previous snapshot's
content-addressed facts gives the same tables as a full collection and as the emulator's truth, fetching only
the new digests; facts the previous did not read fully are fetched again; another tenant, cloud or schema is
refused."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from truth_helpers import assert_matches_truth

import acrlib
from acrlib import snapshots
from acrlib.emulator import Emulator
from acrlib.emulator.generate import PRESENT

QUIET = {"progress": False, "activity_days": 0, "deployments": False}
CONTENT = ["manifests", "tags", "references", "layers", "repositories"]


def same_tables(a: acrlib.Inventory, b: acrlib.Inventory) -> None:
    for name in CONTENT:
        assert getattr(a, name).height > 0 or name == "layers", name
        assert_frame_equal(getattr(a, name), getattr(b, name))
    assert a.errors.height == b.errors.height == 0


def new_digests(before: pl.DataFrame, after: pl.DataFrame) -> pl.DataFrame:
    key = ["registry", "repository", "digest"]
    return after.join(before.select(key), on=key, how="anti")


@pytest.fixture(scope="module")
def week(tmp_path_factory):
    """demo collected with and without layers, then a week later: incremental and full collections."""
    root = tmp_path_factory.mktemp("previous")
    with Emulator("demo", seed=11) as emu:
        plain = acrlib.collect(**emu.connection(), **QUIET)
        layered = acrlib.collect(**emu.connection(), layers=True, **QUIET)
        layered.to_parquet(root)
        emu.advance(7, seed=1)
        runs = {}
        for name, args in {"plain": {"previous": plain}, "layered": {"previous": root, "layers": True},
                           "upgrade": {"previous": plain, "layers": True}}.items():
            emu.reset_stats()
            runs[name] = (acrlib.collect(**emu.connection(), **QUIET, **args), int(emu.stats()["count"].sum()))
        emu.reset_stats()
        full = acrlib.collect(**emu.connection(), **QUIET)
        full_requests = int(emu.stats()["count"].sum())
        emu.reset_stats()
        full_layered = acrlib.collect(**emu.connection(), layers=True, **QUIET)
        full_layered_requests = int(emu.stats()["count"].sum())
        truth = emu.truth()
    return {"plain": plain, "layered": layered, "runs": runs, "full": (full, full_requests),
            "full_layered": (full_layered, full_layered_requests), "truth": truth}


def test_an_incremental_collection_equals_a_full_one_and_the_truth(week):
    full, full_requests = week["full"]
    incremental, requests = week["runs"]["plain"]
    same_tables(incremental, full)
    assert_matches_truth(incremental, week["truth"])
    assert requests < full_requests / 2, (requests, full_requests)
    new = new_digests(week["plain"].manifests, incremental.manifests)
    fetched = incremental.metadata["previous"]["fetched"]
    new_indexes = new.filter(pl.col("kind") == "index").height
    assert fetched["references"] == new_indexes > 0, "only the new indexes are read"
    assert incremental.metadata["previous"]["reused"]["references"] == (
        incremental.manifests.filter(pl.col("kind") == "index").height - new_indexes)


def test_with_layers_only_new_manifests_are_read(week):
    full, full_requests = week["full_layered"]
    incremental, requests = week["runs"]["layered"]
    same_tables(incremental, full)
    assert_matches_truth(incremental, week["truth"])
    new = new_digests(week["layered"].manifests, incremental.manifests)
    assert incremental.metadata["previous"]["fetched"]["content"] == new.height > 0
    assert requests < full_requests / 5, (requests, full_requests)


def test_a_previous_without_layers_gives_its_children_but_not_its_bytes(week):
    full, _ = week["full_layered"]
    incremental, _ = week["runs"]["upgrade"]
    same_tables(incremental, full)
    assert incremental.metadata["previous"]["fetched"]["content"] == incremental.manifests.height
    assert incremental.metadata["previous"]["reused"]["references"] > 0


def test_facts_the_previous_failed_to_read_are_read_again(tiny, tiny_truth):
    previous = acrlib.collect(**tiny.connection(), **QUIET)
    repo = previous.references["repository"][0]
    registry = previous.references.filter(pl.col("repository") == repo)["registry"][0]
    failed = previous.references.filter((pl.col("registry") == registry) & (pl.col("repository") == repo))
    # as if reading that repository's indexes had failed: their children missing, an error row saying so
    hurt = acrlib.Inventory.from_tables({
        **previous.tables(),
        "references": previous.references.join(failed, on=previous.references.columns, how="anti"),
        "errors": pl.DataFrame([{"registry": registry, "repository": repo, "stage": "references",
                                 "http_status": 503, "code": "SERVICE_UNAVAILABLE", "message": "x",
                                 "at": previous.collected_at}])}, collected_at=previous.collected_at,
        metadata=previous.metadata)
    again = acrlib.collect(**tiny.connection(), **QUIET, previous=hurt)
    assert_matches_truth(again, tiny_truth)
    indexes = previous.manifests.filter((pl.col("registry") == registry) & (pl.col("repository") == repo)
                                        & (pl.col("kind") == "index")).height
    assert again.metadata["previous"]["registries"][registry]["fetched"]["references"] == indexes > 0
    # a registry-wide failure: nothing of that registry is reused
    broken = acrlib.Inventory.from_tables({**previous.tables(), "errors": pl.DataFrame([{
        "registry": registry, "repository": None, "stage": "registry", "http_status": None, "code": "X",
        "message": "x", "at": previous.collected_at}])}, collected_at=previous.collected_at,
        metadata=previous.metadata)
    once_more = acrlib.collect(**tiny.connection(), **QUIET, previous=broken)
    assert_matches_truth(once_more, tiny_truth)
    assert once_more.metadata["previous"]["registries"][registry]["reused"] == {"references": 0, "content": 0}


def test_another_tenant_cloud_or_schema_is_refused(tiny, tmp_path):
    other = acrlib.Inventory.read_parquet(snapshots_of(tmp_path / "other", "tiny", seed=3))
    tiny.reset_stats()
    with pytest.raises(ValueError, match=r"previous snapshot is of tenant .* this collection sees tenant"):
        acrlib.collect(**tiny.connection(), **QUIET, previous=other)
    registry_requests = tiny.stats().filter(~pl.col("registry").is_in(["arm", "logs"]))
    assert registry_requests.height == 0, "refused before any registry is read"
    china = acrlib.Inventory.from_tables(other.tables(), collected_at=other.collected_at,
                                         metadata={**other.metadata, "cloud": "china"})
    tiny.reset_stats()
    with pytest.raises(ValueError, match="'china' cloud"):
        acrlib.collect(**tiny.connection(), **QUIET, previous=china)
    assert tiny.stats().height == 0, "refused before any request"
    folder = snapshots.locate(tmp_path / "other").path
    meta = json.loads((folder / snapshots.META_FILE).read_text())
    (folder / snapshots.META_FILE).write_text(json.dumps({**meta, "schema_version": 0}))
    with pytest.raises(ValueError, match="schema version 0"):
        acrlib.collect(**tiny.connection(), **QUIET, previous=tmp_path / "other")
    with pytest.raises(ValueError, match="previous: no snapshot at"):
        acrlib.collect(**tiny.connection(), **QUIET, previous=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="previous must be an Inventory or a snapshot folder"):
        acrlib.collect(**tiny.connection(), **QUIET, previous=42)


def snapshots_of(root, preset: str, seed: int):
    with Emulator(preset, seed=seed) as emu:
        return acrlib.collect(**emu.connection(), **QUIET).to_parquet(root)


def test_the_cli_takes_previous_and_the_snapshot_records_what_was_reused(tmp_path):
    def collect(*extra):
        return subprocess.run([sys.executable, "-m", "acrlib.cli", "collect", "--source", "emulator:tiny", "--out",
                               str(tmp_path / "snaps"), "--activity-days", "0", "--no-deployments", "--no-progress",
                               *extra], capture_output=True, text=True, timeout=300)

    assert collect().returncode == 0
    done = collect("--previous", str(tmp_path / "snaps"))
    assert done.returncode == 0, done.stderr
    latest = acrlib.Inventory.read_parquet(tmp_path / "snaps")
    assert len(acrlib.history(tmp_path / "snaps")) == 2
    counts = latest.metadata["previous"]
    indexes = latest.manifests.filter(pl.col("kind") == "index").height
    assert counts["reused"]["references"] > 0
    assert counts["reused"]["references"] + counts["fetched"]["references"] == indexes
    refused = collect("--previous", str(tmp_path / "nowhere"))
    assert refused.returncode == 2 and "previous: no snapshot at" in refused.stderr


def test_a_simulated_history_is_incremental_week_on_week_and_a_scheduled_run_reuses_its_latest_snapshot(tmp_path):
    first, history = acrlib.sources.load_with_history("emulator:tiny", history=tmp_path, weeks=2, layers=True,
                                                      **QUIET)
    records = [snapshots.metadata(s) for s in history.snapshots]
    assert len(records) == 3 and "previous" not in records[0], "the first week collects in full"
    for before, record in zip(history.snapshots, records[1:], strict=False):  # then each week on the one before
        assert record["previous"]["collected_at"] == before.collected_at.isoformat()
        assert record["previous"]["reused"]["content"] > 0 and record["previous"]["reused"]["references"] > 0
    with Emulator("tiny", seed=7, now=PRESENT - dt.timedelta(weeks=2)) as emu:  # the same weeks, read in full
        emu.advance(7, seed=1)
        emu.advance(7, seed=2)
        assert_matches_truth(first, emu.truth(), tables=("repositories", "manifests", "tags", "references"))
        full = acrlib.collect(**emu.connection(), layers=True, **QUIET)
    assert_frame_equal(first.layers, full.layers) and first.layers.height

    second, history = acrlib.sources.load_with_history("emulator:tiny", history=tmp_path, weeks=2, **QUIET)
    assert len(history) == 4 and second.metadata["previous"]["reused"]["references"] > 0
    assert second.metadata["previous"]["collected_at"] == first.collected_at.isoformat()
