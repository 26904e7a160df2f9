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
        counts = ", ".join(f"{name}={self.rows(name)}" for name in schema.TABLES)
        return f"Inventory({self.collected_at:%Y-%m-%d %H:%M:%S}Z, {counts})"

    def __getattr__(self, name: str):
        """Only reached for an attribute this inventory does not hold yet: a table of an opened snapshot
        (:meth:`open`), read on first use."""
        snapshot = self.__dict__.get("_snapshot")
        if snapshot is None or name not in schema.TABLES:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        df = snapshots.read_table(snapshot, name)
        self.__dict__[name] = df
        return df

    def tables(self) -> dict[str, pl.DataFrame]:
        return {name: getattr(self, name) for name in schema.TABLES}

    @property
    def snapshot(self) -> snapshots.Snapshot | None:
        """The snapshot this inventory reads its tables from (:meth:`open`), or None when it holds them."""
        return self.__dict__.get("_snapshot")

    def rows(self, name: str) -> int:
        """The number of rows of table ``name`` (of an opened snapshot's table not read yet: as recorded)."""
        if self.snapshot is None or self.loaded(name):
            return getattr(self, name).height
        return self.snapshot.counts().get(name, 0)

    def loaded(self, name: str) -> bool:
        """Whether table ``name`` is in memory (an opened snapshot's tables are read on first use)."""
        return name in self.__dict__

    def table(self, name: str, registry: str | None = None, keep: pl.DataFrame | None = None) -> pl.DataFrame:
        """Table ``name``, or only its rows of ``registry``: from an opened snapshot not yet read, only what
        holds that registry's rows is read (its part of a streamed snapshot). With ``keep`` (a frame of some of
        the table's columns), only the rows matching one of its rows, filtered as the files are read."""
        if self.snapshot is None or self.loaded(name):
            return snapshots.narrow(getattr(self, name), registry, keep)
        return snapshots.read_table(self.snapshot, name, registry=registry, keep=keep)

    def of_registry(self, registry: str) -> Inventory:
        """This inventory's rows of one registry, as an Inventory (of an opened snapshot, only that registry's
        parts are read): the analysis functions work registry by registry on a tenant larger than memory.
        Tables without a registry column (deployment_sources, vulnerability_sources) are kept whole."""
        tables = {name: self.table(name, registry) if "registry" in schema.TABLES[name] else getattr(self, name)
                  for name in schema.TABLES}
        return Inventory.from_tables(tables, collected_at=self.collected_at, metadata=dict(self.metadata))

    def lazy(self) -> LazyInventory:
        """Every table as a polars LazyFrame (:meth:`scan`): functions written with polars expressions alone, such
        as :func:`acrlib.summary` and :func:`acrlib.storage`, then return LazyFrames, computed by polars'
        streaming engine over the snapshot's files when collected (a snapshot larger than memory)."""
        return LazyInventory(**{name: self.scan(name) for name in schema.TABLES}, collected_at=self.collected_at,
                             metadata=dict(self.metadata))

    def scan(self, name: str) -> pl.LazyFrame:
        """Table ``name`` as a polars LazyFrame: over the snapshot's Parquet files when this inventory was opened
        from a local snapshot and has not read it (queries then run on data larger than memory), else over the
        frame in memory."""
        schema.schema(name)
        if self.snapshot is None or self.loaded(name) or self.snapshot.location.remote:
            return getattr(self, name).lazy()
        return snapshots.scan([self.snapshot], name).drop("collected_at")

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
    def open(cls, path: str | os.PathLike | snapshots.Snapshot, *, credential=None) -> Inventory:
        """An inventory of a snapshot (a folder, the latest under a root, or one already found) whose tables are
        read when first used, not now: what a streaming collection returns, and how a snapshot larger than
        memory is analysed through :meth:`scan`. The files of a local snapshot are checked at once (their row
        counts and columns, from the Parquet footers); a remote one's when each is read."""
        snapshot = path if isinstance(path, snapshots.Snapshot) else snapshots.locate(path, credential=credential)
        if not snapshot.location.remote:
            snapshots.check_files(snapshot)
        inventory = object.__new__(cls)
        inventory.__dict__.update(collected_at=snapshot.collected_at, metadata=snapshots.metadata(snapshot),
                                  _snapshot=snapshot)
        return inventory

    @classmethod
    def from_snapshot(cls, snapshot: snapshots.Snapshot) -> Inventory:
        """Read a snapshot already found (:func:`acrlib.snapshots.find`): its record is not read again."""
        tables, meta = snapshots.read(snapshot)
        return cls.from_tables(tables, collected_at=snapshot.collected_at, metadata=meta)


@dataclass(frozen=True)
class LazyInventory:
    """An inventory's tables as polars LazyFrames (see :meth:`Inventory.lazy`)."""

    registries: pl.LazyFrame
    repositories: pl.LazyFrame
    manifests: pl.LazyFrame
    tags: pl.LazyFrame
    references: pl.LazyFrame
    layers: pl.LazyFrame
    activity: pl.LazyFrame
    activity_sources: pl.LazyFrame
    deployments: pl.LazyFrame
    deployment_sources: pl.LazyFrame
    vulnerabilities: pl.LazyFrame
    vulnerability_sources: pl.LazyFrame
    errors: pl.LazyFrame
    collected_at: dt.datetime
    metadata: dict
