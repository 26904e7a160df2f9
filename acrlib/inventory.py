"""`Inventory`: the collected tables of a tenant at one point in time (see ``snapshots`` for them on disk)."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from . import schema, snapshots

# metadata key: why this collection could not be added to its history (set by sources, shown by the report)
HISTORY_ERROR = "history_error"


@dataclass
class Inventory:
    """Every table of one collection. Sizes are bytes; times are UTC."""

    registries: pl.DataFrame
    repositories: pl.DataFrame
    manifests: pl.DataFrame
    tags: pl.DataFrame
    references: pl.DataFrame
    layers: pl.DataFrame
    activity: pl.DataFrame
    activity_sources: pl.DataFrame
    deployments: pl.DataFrame
    deployment_sources: pl.DataFrame
    vulnerabilities: pl.DataFrame
    vulnerability_sources: pl.DataFrame
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
    def history_error(self) -> str | None:
        """Why this collection could not be added to the history it was collected for (one line naming the URL
        and what is missing), or None."""
        return self.metadata.get(HISTORY_ERROR)

    @property
    def complete(self) -> bool:
        """True when every registry was collected without an error."""
        return self.errors.height == 0 and bool((self.registries["status"] == "complete").all())

    def to_parquet(self, root: str | os.PathLike, *, credential=None) -> Path | str:
        """Write this inventory as one snapshot under ``root``: a folder, or a folder in Blob Storage
        (``az://CONTAINER/PATH``, ``abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH``; see
        :mod:`acrlib.locations` for the credentials). Returns the snapshot folder (a ``Path``, or the URL)."""
        return snapshots.write(root, self.tables(), self.collected_at, self.metadata, credential=credential)

    @classmethod
    def read_parquet(cls, path: str | os.PathLike, *, credential=None) -> Inventory:
        """Read a snapshot folder, or the latest snapshot under a root of snapshots (local or a storage URL)."""
        return cls.from_snapshot(snapshots.locate(path, credential=credential))

    @classmethod
    def from_snapshot(cls, snapshot: snapshots.Snapshot) -> Inventory:
        """Read a snapshot already found (:func:`acrlib.snapshots.find`): its record is not read again."""
        tables, meta = snapshots.read(snapshot)
        return cls.from_tables(tables, collected_at=snapshot.collected_at, metadata=meta)
