"""Snapshots: the one module that knows their layout, in a local folder or in Blob Storage (:mod:`locations`).

A snapshot is a folder ``snapshot=<UTC time>/`` holding one Parquet file per table and ``inventory.json``
(collection time, row counts and settings). Many snapshots under one root form a Hive-partitioned dataset
that other engines read too, e.g. DuckDB: ``read_parquet('root/*/manifests.parquet', hive_partitioning=1)``.

Nobody ever sees half a snapshot. On a local disk it is written to a hidden temporary folder and renamed into
place; temporary folders a killed writer left behind are removed by the next write once they are an hour old.
An object store has no rename: there the tables are written under the final prefix and ``inventory.json`` last,
as the commit marker; readers list only snapshots whose marker exists, and the next write removes unmarked
prefixes older than an hour. Either way a reader checks every table against the row counts ``inventory.json``
records, so a missing, truncated or swapped file is an error naming it, never a silently smaller inventory.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import io
import json
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from . import locations, schema
from .errors import BlobStorageError, SnapshotError

META_FILE = "inventory.json"
PREFIX = "snapshot="
# The exact names acrlib gives a snapshot folder, and a local writer's temporary folder: the leftover cleanup
# deletes nothing else (a planted name such as 'snapshot=**Z' is never handed to anything that globs).
FOLDER_NAME = re.compile(r"snapshot=\d{8}T\d{12}Z")
TEMP_NAME = re.compile(r"\.snapshot=\d{8}T\d{12}Z\.tmp-[0-9a-f]{8}")
SCHEMA_VERSION = 1
LEFTOVER_AGE_S = 3600


Place = str | os.PathLike | locations.Location


@dataclass(frozen=True)
class Snapshot:
    """A complete snapshot folder, the collection time its ``inventory.json`` records, and that record (read
    once, when the snapshot is found). ``path`` is a local ``Path``, or the URL of one in Blob Storage."""

    location: locations.Location
    collected_at: dt.datetime
    record: dict = field(compare=False, repr=False)

    @classmethod
    def of(cls, location: locations.Location, record: dict) -> Snapshot:
        return cls(location, dt.datetime.fromisoformat(record["collected_at"]), record)

    @property
    def schema_version(self) -> int | None:
        return self.record.get("schema_version")

    @property
    def path(self) -> Path | str:
        return self.location.public()

    def file(self, table: str) -> locations.Location:
        return self.location / f"{table}.parquet"


def folder_name(collected_at: dt.datetime) -> str:
    return PREFIX + collected_at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")


def write(root: Place, tables: dict[str, pl.DataFrame], collected_at: dt.datetime, metadata: dict, *,
          credential=None) -> Path | str:
    """Write ``tables`` as one snapshot under ``root`` (a folder, or an ``az://`` / ``abfs://`` URL); returns its
    folder (a ``Path``, or the URL). ``FileExistsError`` when a snapshot of the same collection time is there
    already; :class:`~acrlib.errors.BlobStorageError` when a storage account refuses."""
    root = locations.Location.of(root, credential=credential)
    meta = {"collected_at": collected_at.isoformat(), "written_at": dt.datetime.now(dt.UTC).isoformat(),
            "schema_version": SCHEMA_VERSION,
            "tables": {name: df.height for name, df in tables.items()}, **metadata}
    marker = json.dumps(meta, indent=2, default=str).encode()
    if root.remote:
        return _write_remote(root, tables, collected_at, marker)
    base = Path(root.path)
    base.mkdir(parents=True, exist_ok=True)
    remove_leftovers(root)
    final = base / folder_name(collected_at)
    if final.exists():
        raise FileExistsError(f"a snapshot for {collected_at.isoformat()} already exists: {final}")
    tmp = base / f".{final.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        for name, df in tables.items():
            df.write_parquet(tmp / f"{name}.parquet", statistics=True)
        (tmp / META_FILE).write_bytes(marker)
        _fsync_dir(tmp)
        os.rename(tmp, final)
        _fsync_dir(base)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _write_remote(root: locations.Location, tables: dict[str, pl.DataFrame], collected_at: dt.datetime,
                  marker: bytes) -> str:
    """Tables under the final prefix, ``inventory.json`` last: until it exists, readers do not see the snapshot."""
    root.check_container()
    remove_leftovers(root)
    final = root / folder_name(collected_at)
    if (final / META_FILE).is_file():
        raise FileExistsError(f"a snapshot for {collected_at.isoformat()} already exists: {final}")
    try:
        for name, df in tables.items():
            buffer = io.BytesIO()
            df.write_parquet(buffer, statistics=True)
            (final / f"{name}.parquet").write_bytes(buffer.getvalue())
        (final / META_FILE).write_bytes(marker, content_type="application/json")
    except BaseException:
        with contextlib.suppress(Exception):  # the write failed already; the next write removes what is left
            final.remove()
        raise
    return final.url


def remove_leftovers(root: Place, older_than_s: float | None = None) -> list[str]:
    """Remove what a writer killed mid-write left behind once it is older than ``older_than_s``: temporary
    folders on a local disk, snapshot prefixes without ``inventory.json`` in Blob Storage (default age:
    ``LEFTOVER_AGE_S``, an hour: a younger one may be a writer still at work)."""
    root = locations.Location.of(root)
    older_than_s = LEFTOVER_AGE_S if older_than_s is None else older_than_s
    removed = []
    for name, is_dir in root.children():
        if not is_dir:
            continue
        leftover = root / name
        if root.remote:
            if not FOLDER_NAME.fullmatch(name) or (leftover / META_FILE).is_file():
                continue
        elif not TEMP_NAME.fullmatch(name):
            continue
        written = leftover.modified()
        if written is not None and time.time() - written > older_than_s:
            leftover.remove()
            removed.append(str(leftover))
    return removed


def _record(where: locations.Location) -> dict | None:
    """The ``inventory.json`` of the folder ``where``, or None when it has none (not a snapshot, or one whose
    writer has not finished); :class:`SnapshotError` naming it when it is there but unreadable. One read: on an
    object store, checking for the file first would cost a request more per snapshot."""
    record = where / META_FILE
    try:
        meta = json.loads(record.read_bytes())
        if not dt.datetime.fromisoformat(meta["collected_at"]).tzinfo:
            raise ValueError(f"collected_at {meta['collected_at']!r} has no time zone")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as e:
        raise SnapshotError(f"{record} is not a readable acrlib snapshot record: {str(e)[:200]}") from None
    return meta


def is_snapshot(path: Place) -> bool:
    return (locations.Location.of(path) / META_FILE).is_file()


def find(root: Place, *, credential=None, known: Snapshot | None = None,
         skipped: list[str] | None = None) -> list[Snapshot]:
    """Complete snapshots under ``root``, oldest first (:func:`order`) (temporary folders,
    and prefixes whose ``inventory.json`` is not written yet, are ignored). ``known``: a snapshot of this root
    whose record was read already (it is not read again). A folder whose record cannot be read (not JSON, no
    time zone, planted or broken) is left out, never the history: a line saying which and why is added to
    ``skipped`` when given."""
    root = locations.Location.of(root, credential=credential)
    found = []
    for name, is_dir in root.children():
        if not (is_dir and name.startswith(PREFIX)):
            continue
        if known is not None and (root / name).url == known.location.url:
            found.append(known)
            continue
        try:
            record = _record(root / name)
        except SnapshotError as e:
            if skipped is not None:
                skipped.append(f"{e}; skipped")
            continue
        if record is not None:
            found.append(Snapshot.of(root / name, record))
    return sorted(found, key=order)


def order(snapshot: Snapshot) -> tuple:
    """Oldest first: by the collection time to the second (the service's clock: its sub-second part is the local
    clock's), then by when the snapshot was written, so that two collections within one second of the service's
    clock (an emulated tenant's fixed present) keep the order they were made in."""
    written = snapshot.record.get("written_at")
    return snapshot.collected_at.replace(microsecond=0), written if isinstance(written, str) else "", \
        snapshot.collected_at


@dataclass(frozen=True)
class Opened:
    """What a path names, each ``inventory.json`` read once: the ``root`` of snapshots it belongs to, every
    snapshot under that root (``found``, oldest first) and the one it names (``chosen``: itself when it is a
    snapshot folder, else the root's latest)."""

    root: locations.Location
    found: list[Snapshot]
    chosen: Snapshot
    skipped: tuple[str, ...] = ()  # folders under the root whose record could not be read (see find)


def open_snapshots(path: Place, *, credential=None) -> Opened:
    """:class:`Opened` for ``path``: a snapshot folder, or a root of snapshots. ``FileNotFoundError`` when it
    holds none."""
    where = locations.Location.of(path, credential=credential)
    record = _record(where)
    skipped: list[str] = []
    if record is not None:
        chosen = Snapshot.of(where, record)
        root = where.parent
        return Opened(root, find(root, known=chosen, skipped=skipped), chosen, tuple(skipped))
    if not where.remote and not where.exists():
        raise FileNotFoundError(f"no snapshot at {where}")
    found = find(where, skipped=skipped)
    if not found:
        raise FileNotFoundError(f"{where} holds no acrlib snapshot ({META_FILE} or {PREFIX}* folders)")
    return Opened(where, found, found[-1], tuple(skipped))


def locate(path: Place, *, credential=None) -> Snapshot:
    """The snapshot at ``path``, or the latest one under ``path`` when it is a root of snapshots."""
    where = locations.Location.of(path, credential=credential)
    # is_snapshot first: a root's refusal is then named by the root's listing, as the user wrote it
    if is_snapshot(where) and (record := _record(where)) is not None:
        return Snapshot.of(where, record)
    if not where.remote and not where.exists():
        raise FileNotFoundError(f"no snapshot at {where}")
    snapshots = find(where)
    if not snapshots:
        raise FileNotFoundError(f"{where} holds no acrlib snapshot ({META_FILE} or {PREFIX}* folders)")
    return snapshots[-1]


def root_of(path: Place, *, credential=None) -> locations.Location:
    """The root of snapshots ``path`` belongs to: its parent for a snapshot folder, else itself."""
    where = locations.Location.of(path, credential=credential)
    return where.parent if is_snapshot(where) else where


def _read_table(file: locations.Location) -> pl.DataFrame:
    if not file.remote:
        return pl.read_parquet(file.path)
    return pl.read_parquet(io.BytesIO(file.read_bytes()))


def read(snapshot: Snapshot) -> tuple[dict[str, pl.DataFrame], dict]:
    """Every table of ``snapshot`` and its metadata (without the layout's own keys). Each table recorded in
    ``inventory.json`` must be there with its row count and columns (:class:`SnapshotError` naming the file);
    a table the snapshot predates is empty."""
    meta = copy.deepcopy(snapshot.record)  # the inventory's metadata is its own
    counts = meta.get("tables")
    if not isinstance(counts, dict):
        raise SnapshotError(f"{snapshot.location / META_FILE} records no table row counts")
    for name, count in counts.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise SnapshotError(f"{snapshot.location / META_FILE} records {count!r} rows for {name}: not a row count")
    tables = {}
    for name in schema.TABLES:
        file = snapshot.file(name)
        if name not in counts:
            tables[name] = schema.empty(name)
            continue
        tables[name] = _checked(file, name, counts[name])
    for key in ("collected_at", "written_at", "tables", "schema_version"):
        meta.pop(key, None)
    return tables, meta


def _checked(file: locations.Location, name: str, count: int) -> pl.DataFrame:
    """``file`` read as table ``name``, which must hold ``count`` rows and the table's columns."""
    try:
        df = _read_table(file)
    except FileNotFoundError:
        raise SnapshotError(f"{file} is missing from the snapshot ({count:,} rows recorded)") from None
    except BlobStorageError:
        raise
    except Exception as e:  # polars' errors for a truncated or foreign file vary
        raise SnapshotError(f"{file} cannot be read as Parquet: {e}") from None
    if df.height != count:
        raise SnapshotError(f"{file} has {df.height:,} rows where the snapshot recorded {count:,}: "
                            "truncated or replaced")
    # an older snapshot may lack columns added since; a file with foreign columns or without the table's key
    # is another table's file
    foreign = sorted(set(df.columns) - set(schema.TABLES[name]))
    keyless = [c for c in schema.KEYS[name] if c not in df.columns]
    if foreign or keyless:
        raise SnapshotError(f"{file} is not a {name} table (columns {foreign[:4] or keyless[:4]} do not fit): "
                            "is it another table's file?")
    try:
        return schema.conform(name, df)
    except Exception as e:  # a column of a type that cannot be the table's (polars' errors vary)
        raise SnapshotError(f"{file} has a column of the wrong type for the {name} table: "
                            f"{str(e).splitlines()[0][:200]}") from None


def scan(snapshots: list[Snapshot], table: str) -> pl.LazyFrame:
    """``table`` of every snapshot, lazily (a remote snapshot's table is read when this is called), with a
    ``collected_at`` column."""
    schema.schema(table)  # names the known tables when wrong
    frames = []
    for snapshot in snapshots:
        file = snapshot.file(table)
        if not file.remote:
            frame = pl.scan_parquet(file.path) if Path(file.path).exists() else schema.empty(table).lazy()
        else:
            counts = snapshot.record.get("tables") or {}
            frame = _checked(file, table, counts[table]).lazy() if table in counts else schema.empty(table).lazy()
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
