"""Where each registry's tables go once it is read: kept in memory until the end (a small tenant, the
default), or written at once as parts of a snapshot (``out=``, or other processes), so that memory holds only
the registries in flight, never the tenant.

Parts are numbered by the registry's place in name order, whoever finishes first: a streamed snapshot reads
back in the same order as one assembled in memory, and the tables are identical.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import shutil
import tempfile

import polars as pl

from .. import schema, snapshots
from ..errors import BlobStorageError, SnapshotUnwritable
from ..inventory import Inventory
from . import parse
from .collector import Collector, RegistryResult
from .options import Options
from .workers import PART_TABLES, Pool, child_settings, store


class Store:
    """The registries' tables of one collection, in memory or streamed to a snapshot (``writer``)."""

    def __init__(self, opts: Options, processes: int, writer: snapshots.Writer | None, temp: str | None,
                 lanes: int | None, previous_location: str | None):
        self.opts = opts
        self.processes = processes
        self.writer = writer
        self.temp = temp  # a private root: the caller asked for an inventory in memory, not a snapshot
        self.lanes = lanes
        self.previous_location = previous_location
        self.arm_requests = 0
        self.worker_peaks: list[float] = []

    @classmethod
    def start(cls, opts: Options, registries: int, collected_at: dt.datetime) -> Store:
        """How ``registries`` registries are read and kept; a streamed snapshot's folder is created now, before
        any registry is read (an ``out`` that cannot be written fails here)."""
        processes = opts.processes(registries)
        previous_location = None
        if processes > 1 and opts.previous is not None:
            snapshot = opts.previous.snapshot
            if snapshot is None:  # an Inventory in memory: other processes cannot read it
                processes = 1
            else:
                previous_location = snapshot.location.url if snapshot.location.remote else snapshot.location.path
        streaming = opts.out is not None or processes > 1
        writer = temp = None
        if streaming:
            temp = None if opts.out is not None else tempfile.mkdtemp(prefix="acrlib-collect-")
            try:
                writer = snapshots.Writer(opts.out if temp is None else temp, collected_at)
            except (BlobStorageError, OSError) as e:
                if temp is not None:
                    shutil.rmtree(temp, ignore_errors=True)
                why = str(e) if isinstance(e, BlobStorageError) else \
                    f"{opts.out if temp is None else temp} cannot be written ({getattr(e, 'strerror', None) or e})"
                raise SnapshotUnwritable(why, e) from None
        lanes = opts.registries_at_once(streaming)
        return cls(opts, processes, writer, temp, lanes, previous_location)

    async def read(self, collector: Collector, arm, selected: list[dict], credential, progress) -> list[RegistryResult]:
        """Read every registry of ``selected``: here, ``lanes`` at a time, or in other processes."""
        jobs = list(enumerate(sorted(selected, key=lambda r: r["registry"] or "")))
        if self.processes > 1:
            pool = Pool(self.processes, child_settings(self.opts, self.previous_location), self.writer.staging,
                        self.lanes, credential, progress)

            try:
                return await pool.run(jobs, self._adopt)
            finally:
                self.arm_requests, self.worker_peaks = pool.arm_requests, pool.peaks
        slots = asyncio.Semaphore(self.lanes) if self.lanes else None

        async def one(part: int, row: dict) -> RegistryResult:
            async with slots if slots is not None else contextlib.nullcontext():
                result = await collector.registry(arm, row)
                if self.writer is not None:
                    await asyncio.to_thread(self._add, part, result)
                return result

        return list(await asyncio.gather(*(one(part, row) for part, row in jobs)))

    def _add(self, part: int, result: RegistryResult) -> None:
        """A registry read here: its parts written as a worker writes them, then registered the same way."""
        self._adopt(part, result, store(self.writer.staging, part, result))

    def _adopt(self, part: int, result: RegistryResult, parts: dict[str, int]) -> None:
        for table, rows in sorted(parts.items()):
            self.writer.adopt(table, part, result.row["registry"], rows)

    async def finish(self, results: list[RegistryResult], collected_at: dt.datetime, metadata: dict,
                     side) -> Inventory:
        """The inventory: the registries' tables with the side readings' (``side(registries, frame)``, see
        ``tenant``). Streamed, the snapshot is committed and the inventory reads it; kept in memory, it holds
        them."""
        results = sorted(results, key=lambda r: r.row["registry"] or "")
        registries = registries_table(results)
        tables = {"registries": registries}
        if self.writer is None:
            for name in PART_TABLES:
                frames = [r.tables.pop(name) for r in results if name in r.tables]
                frames = [f for f in frames if f.height]
                tables[name] = pl.concat(frames, rechunk=False) if frames else schema.empty(name)

            def frame(name: str, columns: list[str]) -> pl.DataFrame:
                return tables[name].select(columns)
        else:
            def frame(name: str, columns: list[str]) -> pl.DataFrame:
                return self.writer.frame(name, columns)

        extra, side_errors = await side(registries, frame)
        errors = [schema.frame("errors", [e for r in results for e in r.errors]), *side_errors]
        tables.update(extra)
        tables["errors"] = schema.sort("errors", schema.concat("errors", errors))
        if self.writer is None:
            return Inventory.from_tables(tables, collected_at=collected_at, metadata=metadata)
        whole = {name: schema.conform(name, df) for name, df in tables.items()}
        await asyncio.to_thread(self.writer.commit, whole, metadata)
        snapshot = snapshots.locate(self.writer.final)
        if self.temp is None:
            return Inventory.open(snapshot)
        try:
            return Inventory.from_snapshot(snapshot)
        finally:
            shutil.rmtree(self.temp, ignore_errors=True)

    def abort(self) -> None:
        """Nothing of a collection that failed or was stopped stays behind."""
        if self.writer is not None and not self.writer.committed:
            self.writer.abort()
        if self.temp is not None:
            shutil.rmtree(self.temp, ignore_errors=True)


def registries_table(results: list[RegistryResult]) -> pl.DataFrame:
    """The registries table: each registry's row with its status."""
    rows = [{**r.row, "status": r.status} for r in results]
    registries = pl.DataFrame(rows, infer_schema_length=None) if rows else schema.empty("registries")
    registries, _ = parse.parse_times("registries", registries)
    return schema.sort("registries", schema.conform("registries", registries))
