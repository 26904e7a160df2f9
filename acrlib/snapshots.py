"""Snapshots on disk: the one module that knows their folder layout.

A snapshot is a folder ``snapshot=<UTC time>/`` holding one Parquet file per table and ``inventory.json``
(collection time, row counts and settings). Many snapshots under one root form a Hive-partitioned dataset
that other engines read too, e.g. DuckDB: ``read_parquet('root/*/manifests.parquet', hive_partitioning=1)``.
A snapshot is written to a hidden temporary folder and renamed into place, so a reader never sees half of one;
temporary folders a killed writer left behind are removed by the next write once they are an hour old. A
reader checks every table against the row counts ``inventory.json`` records, so a missing, truncated or
swapped file is an error naming it, never a silently smaller inventory.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from . import schema
from .errors import SnapshotError

META_FILE = "inventory.json"
PREFIX = "snapshot="
SCHEMA_VERSION = 1
LEFTOVER_AGE_S = 3600


@dataclass(frozen=True)
class Snapshot:
    """A complete snapshot folder and the collection time its ``inventory.json`` records."""

    path: Path
    collected_at: dt.datetime

    def file(self, table: str) -> Path:
        return self.path / f"{table}.parquet"


def folder_name(collected_at: dt.datetime) -> str:
    return PREFIX + collected_at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")


def write(root: str | os.PathLike, tables: dict[str, pl.DataFrame], collected_at: dt.datetime,
          metadata: dict) -> Path:
    """Write ``tables`` as one snapshot under ``root``; returns its folder. ``FileExistsError`` when a snapshot
    of the same collection time is there already."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    remove_leftovers(root)
    final = root / folder_name(collected_at)
    if final.exists():
        raise FileExistsError(f"a snapshot for {collected_at.isoformat()} already exists: {final}")
    tmp = root / f".{final.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        for name, df in tables.items():
            df.write_parquet(tmp / f"{name}.parquet", statistics=True)
        meta = {"collected_at": collected_at.isoformat(), "schema_version": SCHEMA_VERSION,
                "tables": {name: df.height for name, df in tables.items()}, **metadata}
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, default=str))
        _fsync_dir(tmp)
        os.rename(tmp, final)
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def remove_leftovers(root: Path, older_than_s: float = LEFTOVER_AGE_S) -> list[Path]:
    """Remove temporary snapshot folders (from a writer killed mid-write) older than ``older_than_s``."""
    removed = []
    for path in root.glob(f".{PREFIX}*.tmp-*"):
        try:
            old = time.time() - path.stat().st_mtime > older_than_s
        except FileNotFoundError:
            continue
        if old and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _meta(path: Path) -> dict:
    try:
        meta = json.loads((path / META_FILE).read_text())
        dt.datetime.fromisoformat(meta["collected_at"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SnapshotError(f"{path / META_FILE} is not a readable acrlib snapshot record: {e}") from None
    return meta


def is_snapshot(path: str | os.PathLike) -> bool:
    return (Path(path) / META_FILE).is_file()


def find(root: str | os.PathLike) -> list[Snapshot]:
    """Complete snapshots under ``root``, oldest first by the collection time each records (temporary
    folders are ignored)."""
    root = Path(root)
    found = []
    for path in root.glob(f"{PREFIX}*"):
        if path.is_dir() and is_snapshot(path):
            found.append(Snapshot(path, dt.datetime.fromisoformat(_meta(path)["collected_at"])))
    return sorted(found, key=lambda s: s.collected_at)


def locate(path: str | os.PathLike) -> Snapshot:
    """The snapshot at ``path``, or the latest one under ``path`` when it is a root of snapshots."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no snapshot at {path}")
    if is_snapshot(path):
        return Snapshot(path, dt.datetime.fromisoformat(_meta(path)["collected_at"]))
    snapshots = find(path)
    if not snapshots:
        raise FileNotFoundError(f"{path} holds no acrlib snapshot ({META_FILE} or {PREFIX}* folders)")
    return snapshots[-1]


def root_of(path: str | os.PathLike) -> Path:
    """The root of snapshots ``path`` belongs to: its parent for a snapshot folder, else itself."""
    path = Path(path)
    return path.parent if is_snapshot(path) else path


def read(snapshot: Snapshot) -> tuple[dict[str, pl.DataFrame], dict]:
    """Every table of ``snapshot`` and its metadata (without the layout's own keys). Each table recorded in
    ``inventory.json`` must be there with its row count and columns (:class:`SnapshotError` naming the file);
    a table the snapshot predates is empty."""
    meta = _meta(snapshot.path)
    counts = meta.get("tables")
    if not isinstance(counts, dict):
        raise SnapshotError(f"{snapshot.path / META_FILE} records no table row counts")
    tables = {}
    for name in schema.TABLES:
        file = snapshot.file(name)
        if name not in counts:
            tables[name] = schema.empty(name)
            continue
        try:
            df = pl.read_parquet(file)
        except FileNotFoundError:
            raise SnapshotError(f"{file} is missing from the snapshot ({counts[name]:,} rows recorded)") from None
        except Exception as e:  # polars' errors for a truncated or foreign file vary
            raise SnapshotError(f"{file} cannot be read as Parquet: {e}") from None
        if df.height != counts[name]:
            raise SnapshotError(f"{file} has {df.height:,} rows where the snapshot recorded {counts[name]:,}: "
                                "truncated or replaced")
        # an older snapshot may lack columns added since; a file with foreign columns or without the table's key
        # is another table's file
        foreign = sorted(set(df.columns) - set(schema.TABLES[name]))
        keyless = [c for c in schema.KEYS[name] if c not in df.columns]
        if foreign or keyless:
            raise SnapshotError(f"{file} is not a {name} table (columns {foreign[:4] or keyless[:4]} do not fit): "
                                "is it another table's file?")
        tables[name] = df
    for key in ("collected_at", "tables", "schema_version"):
        meta.pop(key, None)
    return tables, meta


def scan(snapshots: list[Snapshot], table: str) -> pl.LazyFrame:
    """``table`` of every snapshot, lazily, with a ``collected_at`` column."""
    schema.schema(table)  # names the known tables when wrong
    frames = []
    for snapshot in snapshots:
        file = snapshot.file(table)
        frame = pl.scan_parquet(file) if file.exists() else schema.empty(table).lazy()
        frames.append(frame.with_columns(pl.lit(snapshot.collected_at, dtype=schema.TIME).alias("collected_at")))
    return pl.concat(frames, how="vertical")


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    for file in path.iterdir():
        if file.is_file():
            with open(file, "rb") as f:
                os.fsync(f.fileno())
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
