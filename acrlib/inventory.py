"""`Inventory`: the collected tables of a tenant at one point in time, and their Parquet snapshots.

A snapshot is a directory ``snapshot=<UTC time>/`` holding one Parquet file per table and
``inventory.json`` (collection time and settings). Many snapshots under one root form a Hive-partitioned
dataset other engines read too, e.g. DuckDB: ``read_parquet('root/*/manifests.parquet', hive_partitioning=1)``.
Snapshots are written to a hidden temporary directory and renamed into place, so a reader never sees half a
snapshot.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from . import schema

META_FILE = "inventory.json"
SNAPSHOT_PREFIX = "snapshot="


def snapshot_name(collected_at: dt.datetime) -> str:
    return SNAPSHOT_PREFIX + collected_at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")


def snapshot_time(name: str) -> dt.datetime:
    return dt.datetime.strptime(name.removeprefix(SNAPSHOT_PREFIX), "%Y%m%dT%H%M%S%fZ").replace(tzinfo=dt.UTC)


@dataclass
class Inventory:
    """Every table of one collection. Sizes are bytes; times are UTC."""

    registries: pl.DataFrame
    repositories: pl.DataFrame
    manifests: pl.DataFrame
    tags: pl.DataFrame
    references: pl.DataFrame
    layers: pl.DataFrame
    errors: pl.DataFrame
    collected_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        for name in schema.TABLES:
            df = getattr(self, name)
            if df.schema != schema.schema(name):
                setattr(self, name, schema.conform(name, df))

    def __repr__(self) -> str:
        counts = ", ".join(f"{name}={getattr(self, name).height}" for name in schema.TABLES)
        return f"Inventory({self.collected_at:%Y-%m-%d %H:%M:%S}Z, {counts})"

    def tables(self) -> dict[str, pl.DataFrame]:
        return {name: getattr(self, name) for name in schema.TABLES}

    @classmethod
    def from_tables(cls, tables: dict[str, pl.DataFrame], collected_at: dt.datetime | None = None,
                    metadata: dict | None = None) -> Inventory:
        """Build an inventory from frames (absent tables are empty; columns are conformed to the schema)."""
        unknown = set(tables) - set(schema.TABLES)
        if unknown:
            raise ValueError(f"unknown tables {sorted(unknown)}; tables are {list(schema.TABLES)}")
        frames = {name: schema.conform(name, tables[name]) if name in tables else schema.empty(name)
                  for name in schema.TABLES}
        return cls(**frames, collected_at=collected_at or dt.datetime.now(dt.UTC), metadata=dict(metadata or {}))

    @property
    def complete(self) -> bool:
        """True when every registry was collected without an error."""
        return self.errors.height == 0 and bool((self.registries["status"] == "complete").all())

    def to_parquet(self, root: str | os.PathLike) -> Path:
        """Write this inventory as one snapshot under ``root``; returns the snapshot directory."""
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        final = root / snapshot_name(self.collected_at)
        if final.exists():
            raise FileExistsError(f"a snapshot for {self.collected_at.isoformat()} already exists: {final}")
        tmp = root / f".{final.name}.tmp-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            for name, df in self.tables().items():
                df.write_parquet(tmp / f"{name}.parquet", statistics=True)
            meta = {"collected_at": self.collected_at.isoformat(), "schema_version": 1,
                    "tables": {name: getattr(self, name).height for name in schema.TABLES}, **self.metadata}
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2, default=str))
            _fsync_dir(tmp)
            os.rename(tmp, final)
            _fsync_dir(root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    @classmethod
    def read_parquet(cls, path: str | os.PathLike) -> Inventory:
        """Read a snapshot directory, or the latest snapshot under a root of snapshots."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no snapshot at {path}")
        if not (path / META_FILE).exists():
            snapshots = list_snapshots(path)
            if not snapshots:
                raise FileNotFoundError(f"{path} holds no acrlib snapshot ({META_FILE} or {SNAPSHOT_PREFIX}* folders)")
            path = snapshots[-1]
        meta = json.loads((path / META_FILE).read_text())
        tables = {}
        for name in schema.TABLES:
            file = path / f"{name}.parquet"
            tables[name] = pl.read_parquet(file) if file.exists() else schema.empty(name)
        collected_at = dt.datetime.fromisoformat(meta.pop("collected_at"))
        meta.pop("tables", None)
        meta.pop("schema_version", None)
        return cls.from_tables(tables, collected_at=collected_at, metadata=meta)


def list_snapshots(root: str | os.PathLike) -> list[Path]:
    """Complete snapshot directories under ``root``, oldest first (temporary ones are ignored)."""
    root = Path(root)
    return sorted(p for p in root.glob(f"{SNAPSHOT_PREFIX}*") if p.is_dir() and (p / META_FILE).exists())


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
