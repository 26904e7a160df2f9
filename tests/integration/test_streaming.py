"""Streaming collection (``collect(out=...)``) and worker processes (``workers=N``): the same tables as a
collection held in memory, on tiny and demo, with and without layers, with a previous snapshot and with faults;
a snapshot appears only when committed, and what a killed collection left is removed by the next one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from truth_helpers import assert_matches_truth

import acrlib
from acrlib import schema, snapshots
from acrlib.emulator import Emulator, Faults
from acrlib.emulator.generate import generate

QUIET = {"progress": False}
TINY = generate("tiny", 7)
PREMIUM, STANDARD, BASIC = (r.name for r in TINY.registries)



def settled(metadata: dict) -> dict:
    """Metadata without what the clock or the machine decides: the duration, the activity window's sub-second
    part, and the worker processes' peak memory."""
    out = {k: v for k, v in metadata.items() if k not in ("duration_s", "workers")}
    if "activity" in out:
        out["activity"] = {"days": out["activity"]["days"]}
    return out


def same(a: acrlib.Inventory, b: acrlib.Inventory) -> None:
    """Every table equal, row for row and type for type, and the metadata but for the clock."""
    for name in schema.TABLES:
        left, right = getattr(a, name), getattr(b, name)
        if name == "errors":  # when an error happened is the clock's
            left, right = left.drop("at"), right.drop("at")
        assert_frame_equal(left, right, check_row_order=True), name
    assert settled(a.metadata) == settled(b.metadata)


def streamed_parts(inventory: acrlib.Inventory) -> dict[str, list]:
    return inventory.snapshot.record.get("parts", {})


@pytest.mark.parametrize("layers", [False, True])
def test_streamed_and_in_memory_collections_are_identical_on_tiny(tiny, tiny_truth, tmp_path, layers):
    memory = acrlib.collect(**tiny.connection(), layers=layers, workers=1, **QUIET)
    streamed = acrlib.collect(**tiny.connection(), layers=layers, workers=1, out=tmp_path, **QUIET)
    assert memory.snapshot is None and streamed.snapshot is not None
    assert not any(streamed.loaded(name) for name in ("manifests", "tags", "layers"))  # read when first used
    parts = streamed_parts(streamed)
    assert {name for name, _, _ in parts["manifests"]} == {f"manifests/part-0000{i}.parquet" for i in range(3)}
    assert [label for _, _, label in parts["manifests"]] == sorted(r.name for r in TINY.registries)
    same(memory, streamed)
    assert_matches_truth(streamed, tiny_truth)
    assert (tmp_path / streamed.snapshot.path.name / "manifests").is_dir()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # nothing left of the writer
    # the parts are what other engines read: one file per registry, the Hive layout around them
    scanned = pl.scan_parquet(str(tmp_path / "*" / "manifests" / "*.parquet"), hive_partitioning=True).collect()
    assert scanned.height == memory.manifests.height


def test_worker_processes_give_the_same_tables_as_one_process(tiny, tmp_path):
    one = acrlib.collect(**tiny.connection(), workers=1, out=tmp_path / "one", **QUIET)
    two = acrlib.collect(**tiny.connection(), workers=2, out=tmp_path / "two", **QUIET)
    same(one, two)
    assert two.metadata["requests"] == one.metadata["requests"]  # every request counted, wherever it was sent
    assert two.metadata["workers"]["processes"] == 2 and len(two.metadata["workers"]["peak_rss_mb"]) == 2
    assert "workers" not in one.metadata
    # in memory, with workers: the parts make the round trip through a private folder that is then removed
    back = acrlib.collect(**tiny.connection(), workers=3, **QUIET)
    assert back.snapshot is None
    same(one, back)


def test_streamed_collection_of_demo_with_layers_and_a_previous_snapshot(tmp_path):
    with Emulator("demo", seed=11) as emu:
        first = acrlib.collect(**emu.connection(), layers=True, out=tmp_path / "history", workers=2, **QUIET)
        emu.advance(1, seed=3)
        emu.reset_stats()
        memory = acrlib.collect(**emu.connection(), layers=True, previous=first, workers=1, **QUIET)
        memory_requests = int(emu.stats()["count"].sum())
        emu.reset_stats()
        streamed = acrlib.collect(**emu.connection(), layers=True, previous=tmp_path / "history", workers=2,
                                  out=tmp_path / "history", **QUIET)
        streamed_requests = int(emu.stats()["count"].sum())
        truth = emu.truth()
    # the previous snapshot was read registry by registry: only new digests were fetched, as in memory
    assert streamed.metadata["previous"]["reused"] == memory.metadata["previous"]["reused"]
    assert streamed.metadata["previous"]["fetched"] == memory.metadata["previous"]["fetched"]
    assert streamed.metadata["previous"]["reused"]["content"] > 0
    assert streamed_requests == memory_requests
    same(memory, streamed)
    assert_matches_truth(streamed, truth)
    assert len(snapshots.find(tmp_path / "history")) == 2


def test_faults_cost_the_same_registries_streamed_or_not(tmp_path):
    garbled = sorted(TINY.registries[0].repositories)[0]
    faults = Faults(denied=(STANDARD,), garbled_times={PREMIUM: [garbled]}, hidden_manifests={BASIC: 2})
    with Emulator("tiny", seed=7, faults=faults) as emu:
        memory = acrlib.collect(**emu.connection(), workers=1, **QUIET)
        streamed = acrlib.collect(**emu.connection(), workers=2, out=tmp_path, **QUIET)
    statuses = dict(streamed.registries.select("registry", "status").iter_rows())
    assert statuses == {PREMIUM: "partial", STANDARD: "failed", BASIC: "partial"}
    assert set(streamed.errors["code"]) >= {"DENIED", "BAD_TIMESTAMP", "COUNT_MISMATCH"}
    same(memory, streamed)


def test_a_worker_that_cannot_start_costs_its_registries_each_reported(tiny, tmp_path, monkeypatch):
    # a previous snapshot that vanishes between the parent's check and the workers' start: every worker fails
    # as it opens it; every registry is then reported, none silently dropped, and no snapshot is committed
    root = tmp_path / "previous"
    acrlib.collect(**tiny.connection(), workers=1, out=root, **QUIET)
    previous = acrlib.Inventory.open(root)
    (previous.snapshot.location / "inventory.json").remove()
    inventory = acrlib.collect(**tiny.connection(), workers=2, previous=previous, **QUIET)
    assert set(inventory.registries["status"]) == {"failed"}
    errors = inventory.errors.filter(pl.col("code") == "WORKER_FAILED")
    assert sorted(errors["registry"]) == sorted(r.name for r in TINY.registries)
    assert "inventory.json" in errors["message"][0] or "snapshot" in errors["message"][0]


def test_out_that_cannot_be_written_fails_before_any_registry_is_read(tiny, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with pytest.raises(ValueError, match="is a file"):
        acrlib.collect(**tiny.connection(), out=blocked, **QUIET)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.access(locked, os.W_OK):  # root ignores the mode
        pytest.skip("this user can write any folder")
    tiny.reset_stats()
    with pytest.raises(acrlib.errors.SnapshotUnwritable, match="cannot be written"):
        acrlib.collect(**tiny.connection(), out=locked, **QUIET)
    stats = tiny.stats()
    assert set(stats["registry"]) == {"arm"}  # discovery only: no registry was asked anything


@pytest.mark.parametrize("bad", [{"workers": 0}, {"workers": True}, {"in_flight": "3"}, {"metadata": ["x"]},
                                 {"out": 3}])
def test_bad_streaming_settings_are_refused_before_any_request(bad):
    with pytest.raises(ValueError):
        acrlib.collect(credential=object(), **bad)


KILLED = """
import sys, acrlib
from acrlib.emulator import attach
conn = attach(sys.argv[1])
acrlib.collect(**conn.connection(), progress=False, out=sys.argv[2], workers=int(sys.argv[3]), in_flight=1)
"""


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_a_collection_killed_mid_stream_commits_nothing_and_the_next_run_cleans_its_parts(tmp_path, workers):
    root = tmp_path / "snapshots"
    with Emulator("demo", seed=11, latency_ms=5) as emu:
        connection = emu.write_connection_file(tmp_path / "emulator.json")
        proc = subprocess.Popen([sys.executable, "-c", KILLED, str(connection), str(root), str(workers)],
                                start_new_session=True)
        deadline = time.monotonic() + 120
        parts: list[Path] = []
        while time.monotonic() < deadline and not parts:  # wait until a registry's parts are written
            parts = list(root.glob(".snapshot=*/manifests/*.parquet")) if root.exists() else []
            time.sleep(0.05)
        assert parts, "no part was written in time"
        os.killpg(proc.pid, signal.SIGKILL)  # the process and its workers, as an OOM kill or a lost node would
        proc.wait(30)
        leftovers = [p for p in root.iterdir() if p.name.startswith(".snapshot=")]
        assert leftovers and snapshots.find(root) == []  # parts on disk, no snapshot a reader can see
        record = json.loads((leftovers[0] / ".writer").read_text())
        assert record["pid"] == proc.pid
        inventory = acrlib.collect(**emu.connection(), progress=False, out=root, workers=1)
        truth = emu.truth()
    assert [p for p in root.iterdir() if p.name.startswith(".")] == []  # the dead writer's parts are gone
    assert len(snapshots.find(root)) == 1
    assert_matches_truth(inventory, truth)


def test_a_live_writers_folder_is_left_alone(tmp_path):
    import datetime as dt

    writer = snapshots.Writer(tmp_path, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    snapshots.write_part(writer.staging, "manifests", 0, schema.empty("manifests"))
    writer.adopt("manifests", 0, "r", 0)
    assert snapshots.remove_leftovers(tmp_path) == []  # this process is alive
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_inventory_open_checks_parts_and_reads_one_registry(tiny, tmp_path):
    inventory = acrlib.collect(**tiny.connection(), out=tmp_path, workers=1, **QUIET)
    folder = inventory.snapshot.location
    premium = acrlib.Inventory.open(folder.path).table("manifests", PREMIUM)
    assert set(premium["registry"]) == {PREMIUM}
    assert premium.height == inventory.manifests.filter(pl.col("registry") == PREMIUM).height
    lazy = acrlib.Inventory.open(folder.path).scan("manifests").group_by("registry").len().collect()
    assert lazy.sort("registry").rows() == inventory.manifests.group_by("registry").len().sort("registry").rows()
    part = Path(folder.path) / "manifests" / "part-00001.parquet"
    pl.read_parquet(part).head(3).write_parquet(part)
    with pytest.raises(acrlib.errors.SnapshotError, match=r"part-00001\.parquet has 3 rows"):
        acrlib.Inventory.open(folder.path)
    record = Path(folder.path) / "inventory.json"
    meta = json.loads(record.read_text())
    meta["parts"]["manifests"][0][0] = "../../elsewhere.parquet"
    record.write_text(json.dumps(meta))
    with pytest.raises(acrlib.errors.SnapshotError, match="records a part of manifests that is not one"):
        acrlib.Inventory.read_parquet(folder.path)


def test_rows_of_one_registry_are_filtered_as_they_are_read_and_files_still_checked(tiny, tmp_path):
    inventory = acrlib.collect(**tiny.connection(), out=tmp_path / "streamed", workers=1, **QUIET)
    whole = inventory.to_parquet(tmp_path / "whole")  # one file a table: row groups, no parts
    manifests = inventory.manifests.filter(pl.col("registry") == PREMIUM)
    keep = manifests.select("repository", "digest").gather_every(3).reverse()  # its order is not the answer's
    want = manifests.join(keep, on=["repository", "digest"], how="semi", maintain_order="left")
    assert 0 < want.height < manifests.height
    for folder in (inventory.snapshot.location.path, whole):
        opened = acrlib.Inventory.open(folder)
        assert_frame_equal(opened.table("manifests", PREMIUM, keep=keep), want)
        assert_frame_equal(opened.table("manifests", PREMIUM, keep=keep.head(0)), want.head(0))
        assert not opened.loaded("manifests")
    held = acrlib.Inventory.read_parquet(whole)  # read whole into memory: the same
    assert held.loaded("manifests") and held.table("manifests", PREMIUM, keep=keep).equals(want)
    (file, _), = inventory.snapshot.files("manifests", registry=PREMIUM)
    part = Path(file.path)
    assert pl.read_parquet(part)["registry"].unique().to_list() == [PREMIUM]
    opened = acrlib.Inventory.open(inventory.snapshot.location.path)
    part.write_bytes(b"PAR1 not parquet")
    with pytest.raises(acrlib.errors.SnapshotError, match=rf"{part.name} cannot be read as Parquet"):
        opened.table("manifests", PREMIUM, keep=keep)
    part.unlink()
    with pytest.raises(acrlib.errors.SnapshotError, match=rf"{part.name} is missing from the snapshot"):
        opened.table("manifests", PREMIUM, keep=keep)


@pytest.mark.parametrize("layers", [False, True])
def test_summary_and_storage_run_lazily_over_a_snapshot_and_registry_by_registry(tiny, tmp_path, layers):
    import dataclasses

    inventory = acrlib.collect(**tiny.connection(), layers=layers, out=tmp_path, workers=1, **QUIET)
    assert [f.name for f in dataclasses.fields(acrlib.inventory.LazyInventory)][:len(schema.TABLES)] == \
        list(schema.TABLES)
    opened = acrlib.Inventory.open(tmp_path)
    lazy = opened.lazy()
    for fn in (acrlib.summary, acrlib.storage):
        want = fn(inventory)
        got = fn(lazy)
        assert isinstance(got.registries, pl.LazyFrame)
        assert_frame_equal(got.registries.collect(engine="streaming"), want.registries)
        assert_frame_equal(got.repositories.collect(engine="streaming"), want.repositories)
        per_registry = [fn(opened.of_registry(r)) for r in opened.registries["registry"]]
        assert_frame_equal(pl.concat([p.registries for p in per_registry]), want.registries)
    assert not opened.loaded("manifests")  # neither way read a whole table into memory
