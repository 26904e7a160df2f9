"""Snapshots over simulated time: growth, churn, projection and cost match the emulator's truth at each point."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

import acrlib
from acrlib.emulator import Emulator

START = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
WEEKS = 4


@pytest.fixture(scope="module")
def evolved(tmp_path_factory):
    root = tmp_path_factory.mktemp("snapshots")
    truths, inventories, summaries = [], [], []
    with Emulator("tiny", seed=7, now=START) as emu:
        for week in range(WEEKS + 1):
            if week:
                summaries.append(emu.advance(7, seed=week))
            inventory = acrlib.collect(**emu.connection(), progress=False)
            inventory.to_parquet(root)
            inventories.append(inventory)
            truths.append(emu.truth())
    return root, inventories, truths, summaries


def test_the_tenant_evolves_pushes_deletes_and_creates(evolved):
    _, inventories, truths, summaries = evolved
    assert all(s.get("pushes", 0) > 0 for s in summaries)
    assert sum(s.get("repositories created", 0) for s in summaries) > 0
    assert sum(s.get("tags deleted", 0) + s.get("manifests deleted", 0) for s in summaries) > 0
    assert truths[-1]["manifests"].height > truths[0]["manifests"].height
    # each snapshot is what the emulator held then, and its time is the emulator's clock
    for week, (inventory, truth) in enumerate(zip(inventories, truths, strict=True)):
        assert inventory.manifests.equals(truth["manifests"]) and inventory.tags.equals(truth["tags"])
        expected = START + dt.timedelta(weeks=week)
        assert expected <= inventory.collected_at < expected + dt.timedelta(minutes=5)


def test_history_reads_every_snapshot_lazily(evolved):
    root, inventories, _, _ = evolved
    h = acrlib.history(root)
    assert len(h) == WEEKS + 1 and h.times == [i.collected_at for i in inventories]
    lazy = h.scan("manifests")
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.select(pl.len()).collect().item() == sum(i.manifests.height for i in inventories)
    assert h.latest().manifests.equals(inventories[-1].manifests)
    with pytest.raises(FileNotFoundError, match="no acrlib snapshot"):
        acrlib.history(root / "nowhere")


def test_growth_matches_the_truth_at_each_point(evolved):
    root, inventories, truths, _ = evolved
    g = acrlib.growth(acrlib.history(root))
    for inventory, truth in zip(inventories, truths, strict=True):
        at = g["registries"].filter(pl.col("collected_at") == inventory.collected_at)
        want = truth["registries"].select("registry", pl.col("storage_used_bytes").alias("billed_bytes"),
                                          "repository_count").join(
            truth["manifests"].group_by("registry").len("manifests"), on="registry").join(
            truth["tags"].group_by("registry").len("tags"), on="registry")
        got = at.select("registry", "billed_bytes", pl.col("repositories").alias("repository_count"), "manifests",
                        "tags")
        assert got.sort("registry").equals(want.select(got.columns).cast(got.schema).sort("registry"))
    first = g["registries"].filter(pl.col("collected_at") == inventories[0].collected_at)
    assert first["billed_bytes_change"].null_count() == first.height
    second = g["registries"].filter(pl.col("collected_at") == inventories[1].collected_at)
    assert (second["days_since_previous"].round(2) == 7.0).all()
    repos = g["repositories"].filter(pl.col("collected_at") == inventories[-1].collected_at)
    assert repos["manifests"].sum() == truths[-1]["manifests"].height


def test_tag_churn_matches_the_truth_between_snapshots(evolved):
    root, inventories, truths, _ = evolved
    churn = acrlib.tag_churn(acrlib.history(root))
    key = ["registry", "repository", "tag"]
    for before, after, when in zip(truths, truths[1:], [i.collected_at for i in inventories[1:]], strict=False):
        for registry in after["registries"]["registry"]:
            old = before["tags"].filter(pl.col("registry") == registry)
            new = after["tags"].filter(pl.col("registry") == registry)
            moved = new.join(old, on=key, suffix="_b").filter(pl.col("digest") != pl.col("digest_b")).height
            expected = (new.join(old, on=key, how="anti").height, old.join(new, on=key, how="anti").height, moved)
            row = churn.filter((pl.col("registry") == registry) & (pl.col("collected_at") == when))
            got = (0, 0, 0) if row.height == 0 else tuple(row.select("added", "removed", "moved").row(0))
            assert got == expected, (registry, when)
    assert churn["moved"].sum() > 0 and churn["added"].sum() > 0


def test_projection_fits_the_recent_growth_and_counts_days_until_full(evolved):
    root, inventories, truths, _ = evolved
    p = acrlib.projection(acrlib.history(root), window_days=60)
    for row in p.iter_rows(named=True):
        xs = [(i.collected_at - inventories[0].collected_at).total_seconds() / 86400 for i in inventories]
        ys = [t["registries"].filter(pl.col("registry") == row["registry"])["storage_used_bytes"][0] for t in truths]
        slope = np.polyfit(xs, ys, 1)[0]
        assert row["bytes_per_day"] == pytest.approx(slope, rel=1e-6)
        headroom = row["included_bytes"] - row["billed_bytes"]
        if headroom <= 0:
            assert row["days_until_full"] == 0
        elif slope > 0:
            assert row["days_until_full"] == pytest.approx(headroom / slope, rel=1e-6)
    short = acrlib.projection(acrlib.history(root), window_days=1)
    assert short["bytes_per_day"].null_count() == short.height, "one snapshot in the window: no rate"


def test_cost_over_time_is_the_cost_of_each_snapshot(evolved):
    root, inventories, _, _ = evolved
    over_time = acrlib.cost_over_time(acrlib.history(root), overage_per_gib_day=0.01)
    for inventory in inventories:
        at = over_time.filter(pl.col("collected_at") == inventory.collected_at).drop("collected_at")
        assert at.equals(acrlib.cost(inventory, overage_per_gib_day=0.01))


def test_a_drop_in_counts_is_a_negative_change(tmp_path):
    with Emulator("tiny", seed=7, now=START) as emu:
        before = acrlib.collect(**emu.connection(), progress=False, activity_days=0, deployments=False)
        before.to_parquet(tmp_path)
        plan = acrlib.purge_plan(before, ago="0d", keep=0)
        emu.apply_deletions(plan)
        emu.advance(1 / 1440, seed=1)  # a minute on: the emulator's clock stands still, and snapshots are ordered by it
        after = acrlib.collect(**emu.connection(), progress=False, activity_days=0, deployments=False)
        after.to_parquet(tmp_path)
    g = acrlib.growth(acrlib.history(tmp_path))
    latest = g.registries.filter(pl.col("collected_at") == after.collected_at).sort("registry")
    want = (after.tags.group_by("registry").len("after")
            .join(before.tags.group_by("registry").len("before"), on="registry", how="full", coalesce=True)
            .select("registry", (pl.col("after").fill_null(0).cast(pl.Int64) - pl.col("before").cast(pl.Int64))
                    .alias("tags_change")).sort("registry"))
    assert latest.select("registry", "tags_change").equals(want)
    assert (latest["tags_change"] < 0).all() and latest["tags_change"].dtype == pl.Int64
    repos = g.repositories.filter(pl.col("collected_at") == after.collected_at)
    assert repos["manifests_change"].min() < 0 and repos["image_bytes_change"].min() < 0


def test_snapshots_within_one_second_give_a_rate_or_null_never_nan(tmp_path):
    with Emulator("tiny", seed=7, now=START) as emu:
        inventory = acrlib.collect(**emu.connection(), progress=False, activity_days=0, deployments=False)
    inventory.to_parquet(tmp_path / "same")
    later = inventory.tables()
    acrlib.Inventory.from_tables(later, collected_at=inventory.collected_at + dt.timedelta(milliseconds=300),
                                 metadata=inventory.metadata).to_parquet(tmp_path / "same")
    flat = acrlib.projection(acrlib.history(tmp_path / "same"))
    assert flat["bytes_per_day"].to_list() == [0.0] * flat.height
    assert flat["days_until_full"].is_nan().sum() == 0 and flat["full_on"].null_count() == flat.height
    assert set(flat["outlook"]) <= {"not growing", "over its included storage now"}
    # storage that grew 1 MiB in 300 ms: a steep but finite rate, and a date no later than a century away
    inventory.to_parquet(tmp_path / "grew")
    grown = inventory.registries.with_columns(pl.col("storage_used_bytes") + (1 << 20))
    acrlib.Inventory.from_tables({**later, "registries": grown},
                                 collected_at=inventory.collected_at + dt.timedelta(milliseconds=300),
                                 metadata=inventory.metadata).to_parquet(tmp_path / "grew")
    steep = acrlib.projection(acrlib.history(tmp_path / "grew"))
    assert steep["bytes_per_day"].to_list() == pytest.approx([(1 << 20) * 86400 / 0.3] * steep.height)
    assert steep["days_until_full"].is_nan().sum() == 0 and steep["full_on"].null_count() == 0
    one = acrlib.projection(acrlib.history(tmp_path / "grew"), window_days=1e-9)
    assert one["bytes_per_day"].null_count() == one.height
    assert set(one["outlook"]) <= {"no trend yet: needs two snapshots some time apart",
                                   "over its included storage now"}
