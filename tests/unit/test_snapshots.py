"""Parquet snapshots: the round trip keeps schema and rows; a write is atomic."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import time

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from inventory_builder import Build

from acrlib import Inventory, schema, snapshots


def list_snapshots(root):
    return [s.path for s in snapshots.find(root)]


@pytest.fixture(scope="module")
def inventory():
    b = Build()
    image = b.manifest("app/api", tags=["1.0", "latest"], days=3)
    b.manifest("app/api", days=40)
    b.manifest("app/api", children=[image], tags=["multi"], days=2)
    b.manifest("web", tags=["v1"], days=400, locked=True)
    inv = b.build()
    inv.metadata.update({"layers": True, "cloud": "public"})
    return inv


def test_round_trip_keeps_schema_rows_and_metadata(inventory, tmp_path):
    path = inventory.to_parquet(tmp_path)
    assert path.parent == tmp_path and path.name.startswith("snapshot=")
    back = Inventory.read_parquet(path)
    for name in schema.TABLES:
        assert back.tables()[name].schema == schema.schema(name)
        assert back.tables()[name].equals(inventory.tables()[name]), name
    assert back.collected_at == inventory.collected_at
    assert back.metadata["layers"] is True and back.metadata["cloud"] == "public"
    assert Inventory.read_parquet(tmp_path).collected_at == inventory.collected_at, "root = latest snapshot"


def test_snapshots_accumulate_and_other_engines_see_a_partitioned_dataset(inventory, tmp_path):
    inventory.to_parquet(tmp_path)
    later = Inventory.from_tables(inventory.tables(), collected_at=inventory.collected_at + dt.timedelta(days=1))
    later.to_parquet(tmp_path)
    assert len(list_snapshots(tmp_path)) == 2
    both = pl.scan_parquet(tmp_path / "snapshot=*" / "manifests.parquet", hive_partitioning=True).collect()
    assert both.height == 2 * inventory.manifests.height
    assert both["snapshot"].n_unique() == 2
    with pytest.raises(FileExistsError):
        later.to_parquet(tmp_path)


def test_a_write_killed_half_way_leaves_no_snapshot(tmp_path):
    # A big inventory written by another process, killed while the temporary folder is being filled.
    code = (
        "import datetime as dt, polars as pl, sys\n"
        "from acrlib import Inventory\n"
        "n = 6_000_000\n"
        "m = pl.DataFrame({'registry': ['r'] * n, 'repository': ['x'] * n,\n"
        "                  'digest': pl.int_range(n, eager=True).cast(pl.String)})\n"
        "inv = Inventory.from_tables({'manifests': m}, collected_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))\n"
        "print('writing', flush=True)\n"
        f"inv.to_parquet({str(tmp_path)!r})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    deadline = time.time() + 60
    while time.time() < deadline and not any(p.name.startswith(".snapshot=") for p in tmp_path.iterdir()):
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not any(p.name.startswith("snapshot=") for p in tmp_path.iterdir()), "no half-written snapshot"
    assert list_snapshots(tmp_path) == []
    with pytest.raises(FileNotFoundError, match="holds no acrlib snapshot"):
        Inventory.read_parquet(tmp_path)


class Unwritable:
    def __str__(self):
        raise RuntimeError("cannot be written")


def test_a_failed_write_cleans_up_after_itself(inventory, tmp_path):
    broken = Inventory.from_tables(inventory.tables(), collected_at=inventory.collected_at)
    broken.metadata["note"] = Unwritable()  # fails after every table is written, before the rename
    with pytest.raises(RuntimeError, match="cannot be written"):
        broken.to_parquet(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_reading_what_is_not_a_snapshot_names_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="no snapshot at"):
        Inventory.read_parquet(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="holds no acrlib snapshot"):
        Inventory.read_parquet(tmp_path)


def test_a_missing_truncated_or_swapped_table_file_is_refused_by_name(inventory, tmp_path):
    import shutil

    from acrlib.errors import SnapshotError

    path = inventory.to_parquet(tmp_path / "a")
    (path / "tags.parquet").unlink()
    with pytest.raises(SnapshotError, match=r"tags\.parquet is missing"):
        Inventory.read_parquet(path)

    path = inventory.to_parquet(tmp_path / "b")
    data = (path / "manifests.parquet").read_bytes()
    (path / "manifests.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(SnapshotError, match=r"manifests\.parquet cannot be read"):
        Inventory.read_parquet(path)

    path = inventory.to_parquet(tmp_path / "c")
    shutil.copy(path / "manifests.parquet", path / "tags.parquet")
    with pytest.raises(SnapshotError, match=r"tags\.parquet (has|is not a tags table)"):
        Inventory.read_parquet(path)

    path = inventory.to_parquet(tmp_path / "d")
    fewer = pl.read_parquet(path / "manifests.parquet").head(1)
    fewer.write_parquet(path / "manifests.parquet")
    with pytest.raises(SnapshotError, match=r"manifests\.parquet has 1 rows where the snapshot recorded 4"):
        Inventory.read_parquet(path)


def test_latest_and_history_order_come_from_the_recorded_time_not_folder_names(inventory, tmp_path):
    import json

    older = Inventory.from_tables(inventory.tables(), collected_at=inventory.collected_at - dt.timedelta(days=3))
    newer = Inventory.from_tables(inventory.tables(), collected_at=inventory.collected_at)
    a, b = older.to_parquet(tmp_path), newer.to_parquet(tmp_path)
    # a folder renamed to sort last does not make it the latest
    a.rename(tmp_path / "snapshot=99990101T000000000000Z")
    assert Inventory.read_parquet(tmp_path).collected_at == newer.collected_at
    assert [s.collected_at for s in snapshots.find(tmp_path)] == [older.collected_at, newer.collected_at]
    meta = json.loads((b / "inventory.json").read_text())
    assert meta["tables"]["manifests"] == 4


def test_leftovers_of_a_killed_writer_go_at_the_next_write_once_an_hour_old(inventory, tmp_path):
    import os
    import time as clock

    old = tmp_path / ".snapshot=20260101T000000000000Z.tmp-deadbeef"
    fresh = tmp_path / ".snapshot=20260102T000000000000Z.tmp-cafebabe"
    for folder in (old, fresh):
        folder.mkdir()
        (folder / "manifests.parquet").write_bytes(b"half")
    two_hours_ago = clock.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    inventory.to_parquet(tmp_path)
    assert not old.exists(), "an hour-old leftover is removed"
    assert fresh.exists(), "a write that may still be running is left alone"


def test_a_record_or_a_table_of_the_wrong_type_is_a_snapshot_error_naming_it(inventory, tmp_path):
    import json

    from acrlib.errors import SnapshotError

    folder = inventory.to_parquet(tmp_path)
    record = folder / snapshots.META_FILE
    meta = json.loads(record.read_text())
    meta["tables"]["manifests"] = str(meta["tables"]["manifests"])
    record.write_text(json.dumps(meta))
    with pytest.raises(SnapshotError, match=r"inventory.json records '\d+' rows for manifests"):
        Inventory.read_parquet(folder)
    meta["tables"]["manifests"] = int(meta["tables"]["manifests"])
    record.write_text(json.dumps(meta))
    wrong = inventory.manifests.with_columns(pl.col("tags").list.len().cast(pl.Int64).alias("tags"))
    wrong.write_parquet(folder / "manifests.parquet")
    with pytest.raises(SnapshotError, match=r"manifests.parquet has a column of the wrong type"):
        Inventory.read_parquet(folder)


def test_broken_folders_in_a_root_are_skipped_and_named(inventory, tmp_path):
    inventory.to_parquet(tmp_path)
    (tmp_path / "snapshot=20250101T000000000000Z").mkdir()
    (tmp_path / "snapshot=20250101T000000000000Z" / snapshots.META_FILE).write_text("not json {")
    (tmp_path / "snapshot=20250102T000000000000Z").mkdir()
    (tmp_path / "snapshot=20250102T000000000000Z" / snapshots.META_FILE).write_text(
        '{"collected_at": "2025-01-02T00:00:00"}')
    skipped: list[str] = []
    found = snapshots.find(tmp_path, skipped=skipped)
    assert [s.collected_at for s in found] == [inventory.collected_at]
    assert len(skipped) == 2 and all("skipped" in line for line in skipped)
    assert any("no time zone" in line for line in skipped)


def test_the_leftover_cleanup_deletes_only_names_of_its_own_pattern(inventory, tmp_path):
    import os

    keep = [tmp_path / ".snapshot=x.tmp-12345678", tmp_path / ".snapshot=**Z.tmp-abcdefgh", tmp_path / "data"]
    gone = tmp_path / ".snapshot=20250101T000000000000Z.tmp-0123abcd"
    for folder in [*keep, gone]:
        folder.mkdir()
        (folder / "x").write_text("x")
        os.utime(folder / "x", (time.time() - 7200, time.time() - 7200))
        os.utime(folder, (time.time() - 7200, time.time() - 7200))
    removed = snapshots.remove_leftovers(tmp_path)
    assert removed == [str(gone)] and all(folder.exists() for folder in keep)


def test_collections_within_one_second_of_the_services_clock_keep_the_order_they_were_written(tmp_path):
    import datetime as dt

    from acrlib import snapshots

    base = dt.datetime(2026, 11, 30, 0, 0, 2, tzinfo=dt.UTC)
    for micro in (900_000, 100_000):  # the second one written has the smaller local sub-second part
        snapshots.write(tmp_path, {}, base.replace(microsecond=micro), {})
    found = snapshots.find(tmp_path)
    assert [s.collected_at.microsecond for s in found] == [900_000, 100_000], "written order, not microseconds"
    assert "written_at" not in snapshots.read(found[-1])[1], "the layout's own key stays out of the metadata"


KEY_TEXT = st.one_of(st.none(), st.sampled_from(["", "a", "b", "a/b", "sha256:0", "sha256:1", "é"]))


@given(rows=st.lists(st.tuples(KEY_TEXT, KEY_TEXT, KEY_TEXT, KEY_TEXT, KEY_TEXT), max_size=40))
@settings(max_examples=80, deadline=None)
def test_tables_sort_by_their_key_with_nulls_last_whether_or_not_a_key_holds_nulls(rows):
    # schema.sort asks nulls_last only of key columns holding nulls (less memory): the order must not change
    keys = schema.KEYS["layers"]
    df = schema.conform("layers", pl.DataFrame(rows, schema=keys, orient="row"))
    want = df.sort(keys, nulls_last=True, maintain_order=True)
    assert schema.sort("layers", df).select(keys).equals(want.select(keys))
