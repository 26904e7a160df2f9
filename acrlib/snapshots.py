"""Snapshots: the one module that knows their layout, in a local folder or in Blob Storage (:mod:`locations`).

A snapshot is a folder ``snapshot=<UTC time>/`` holding one Parquet file per table and ``inventory.json``
(collection time, row counts and settings). A collection that streams (``collect(out=...)``, :class:`Writer`)
writes the big per-registry tables as parts instead, one file per registry in registry order:
``manifests/part-00003.parquet``; ``inventory.json`` lists them with their row counts. Many snapshots under one
root form a Hive-partitioned dataset that other engines read too, e.g. DuckDB:
``read_parquet('root/*/manifests.parquet', hive_partitioning=1)``, or ``'root/*/manifests/*.parquet'`` for parts.

Nobody ever sees half a snapshot. On a local disk it is written to a hidden temporary folder and renamed into
place; temporary folders a killed writer left behind are removed by the next write once they are an hour old.
An object store has no rename: there the tables are written under the final prefix and ``inventory.json`` last,
as the commit marker; readers list only snapshots whose marker exists, and the next write removes unmarked
prefixes older than an hour. A writer leaves a ``.writer`` record (host and process) in what it writes: what a
writer of this host left behind is removed at once when that process is gone (a killed streaming collection's
parts are cleaned by the next run, not an hour later). Either way a reader checks every table against the row
counts ``inventory.json`` records, so a missing, truncated or swapped file is an error naming it, never a
silently smaller inventory.
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
import socket
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
WRITER_FILE = ".writer"
PART_NAME = "part-{:05d}.parquet"


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

    def counts(self) -> dict[str, int]:
        """The row count of every table ``inventory.json`` records (:class:`SnapshotError` when one is not a
        row count)."""
        counts = self.record.get("tables")
        if not isinstance(counts, dict):
            raise SnapshotError(f"{self.location / META_FILE} records no table row counts")
        for name, count in counts.items():
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise SnapshotError(f"{self.location / META_FILE} records {count!r} rows for {name}: not a row "
                                    "count")
        return counts

    def labelled(self, table: str) -> bool:
        """Whether ``table`` is stored in parts, each labelled with the one registry whose rows it holds."""
        return (self.record.get("parts") or {}).get(table) is not None

    def files(self, table: str, registry: str | None = None) -> list[tuple[locations.Location, int]]:
        """The files holding ``table`` with the rows each holds, in order: its parts when the snapshot was
        streamed (with ``registry``, only that registry's), else its one file (no files for a table it does not
        record)."""
        parts = (self.record.get("parts") or {}).get(table)
        counts = self.counts()
        if parts is not None:
            listed = _part_list(self, table, parts)
            if sum(rows for _, rows, _ in listed) != counts.get(table):
                raise SnapshotError(f"{self.location / META_FILE} records {counts.get(table)!r} rows for {table} "
                                    "but its parts hold another number")
            return [(self.location / name, rows) for name, rows, label in listed
                    if registry is None or label == registry]
        return [(self.file(table), counts[table])] if table in counts else []


def _part_list(snapshot: Snapshot, table: str, parts: list) -> list[tuple[str, int, str]]:
    """A recorded list of parts, checked: each ``[name, rows, registry]`` with a part name of this table (never
    a path out of the snapshot)."""
    if not isinstance(parts, list):
        raise SnapshotError(f"{snapshot.location / META_FILE} records the parts of {table} as {type(parts).__name__}")
    out = []
    for entry in parts:
        ok = isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str) and \
            re.fullmatch(re.escape(table) + r"/part-\d{5}\.parquet", entry[0]) is not None and \
            isinstance(entry[1], int) and not isinstance(entry[1], bool) and entry[1] >= 0 and \
            isinstance(entry[2], str)
        if not ok:
            raise SnapshotError(f"{snapshot.location / META_FILE} records a part of {table} that is not one: "
                                f"{str(entry)[:120]}")
        out.append((entry[0], entry[1], entry[2]))
    return out


def folder_name(collected_at: dt.datetime) -> str:
    return PREFIX + collected_at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")


def write(root: Place, tables: dict[str, pl.DataFrame], collected_at: dt.datetime, metadata: dict, *,
          credential=None) -> Path | str:
    """Write ``tables`` as one snapshot under ``root`` (a folder, or an ``az://`` / ``abfs://`` URL); returns its
    folder (a ``Path``, or the URL). ``FileExistsError`` when a snapshot of the same collection time is there
    already; :class:`~acrlib.errors.BlobStorageError` when a storage account refuses."""
    with Writer(root, collected_at, credential=credential) as writer:
        return writer.commit(tables, metadata)


class Writer:
    """One snapshot written piece by piece: a table's part is written into :attr:`staging` as soon as it is
    known (a registry's rows, :func:`write_part`) and registered with :meth:`adopt`; :meth:`commit` writes the
    remaining tables and ``inventory.json`` and makes the snapshot appear whole; until then readers never see
    it. Used as a context manager, an exception (or a stop) before the commit removes what was written; a
    killed process leaves a folder the next writer removes. Parts may be written by this process or by others:
    :attr:`staging` is a local folder."""

    def __init__(self, root: Place, collected_at: dt.datetime, *, credential=None):
        self.root = locations.Location.of(root, credential=credential)
        self.collected_at = collected_at
        self.parts: dict[str, list[tuple[str, int, str]]] = {}
        self.committed = False
        if self.root.remote:
            self.root.check_container()
        else:
            Path(self.root.path).mkdir(parents=True, exist_ok=True)
        remove_leftovers(self.root)
        self.final = self.root / folder_name(collected_at)
        if (self.final / META_FILE).is_file() or (not self.root.remote and self.final.exists()):
            raise FileExistsError(f"a snapshot for {collected_at.isoformat()} already exists: {self.final}")
        if self.root.remote:
            self.folder = self.final
            self._staging: Path | None = None
        else:
            self.folder = self.root / f".{folder_name(collected_at)}.tmp-{uuid.uuid4().hex[:8]}"
            Path(self.folder.path).mkdir()
        (self.folder / WRITER_FILE).write_bytes(_writer_record())

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, kind, value, tb) -> None:
        if not self.committed:
            self.abort()

    @property
    def staging(self) -> Path:
        """A local folder where other processes write parts (``TABLE/part-NNNNN.parquet``) to :meth:`adopt`: the
        snapshot's own temporary folder on a local disk, a temporary folder beside it for Blob Storage."""
        if not self.root.remote:
            return Path(self.folder.path)
        if self._staging is None:
            import tempfile

            self._staging = Path(tempfile.mkdtemp(prefix="acrlib-parts-"))
        return self._staging

    @staticmethod
    def part_name(table: str, part: int) -> str:
        return f"{table}/{PART_NAME.format(part)}"

    def adopt(self, table: str, part: int, registry: str, rows: int) -> None:
        """Register a part written into :attr:`staging` (uploaded, and its local copy removed, when the snapshot
        is in Blob Storage)."""
        name = self.part_name(table, part)
        if self.root.remote:
            local = self.staging / name
            (self.folder / name).write_bytes(local.read_bytes())
            local.unlink()
        self.parts.setdefault(table, []).append((name, rows, registry))

    def frame(self, table: str, columns: list[str]) -> pl.DataFrame:
        """``columns`` of the parts of ``table`` written so far, in part order."""
        names = sorted(name for name, _, _ in self.parts.get(table, []))
        if not names:
            return schema.empty(table).select(columns)
        if self.root.remote:
            return pl.concat([pl.read_parquet(io.BytesIO((self.folder / name).read_bytes()), columns=columns)
                              for name in names])
        return pl.scan_parquet([str(self.staging / name) for name in names]).select(columns).collect()

    def commit(self, tables: dict[str, pl.DataFrame], metadata: dict) -> Path | str:
        """Write ``tables`` (each whole) and ``inventory.json``: the snapshot exists from here on. Returns its
        folder (a ``Path``, or the URL)."""
        counts = {name: df.height for name, df in tables.items()}
        parts = {table: sorted(entries) for table, entries in self.parts.items()}
        overlap = set(counts) & set(parts)
        if overlap:
            raise ValueError(f"tables {sorted(overlap)} were written as parts and whole")
        counts.update({table: sum(rows for _, rows, _ in entries) for table, entries in parts.items()})
        meta = {"collected_at": self.collected_at.isoformat(), "written_at": dt.datetime.now(dt.UTC).isoformat(),
                "schema_version": SCHEMA_VERSION, "tables": counts, **metadata}
        if parts:
            meta["parts"] = {table: [list(e) for e in entries] for table, entries in parts.items()}
        marker = json.dumps(meta, indent=2, default=str).encode()
        for name, df in tables.items():
            if self.root.remote:
                buffer = io.BytesIO()
                df.write_parquet(buffer, statistics=True)
                (self.folder / f"{name}.parquet").write_bytes(buffer.getvalue())
            else:
                df.write_parquet(Path(self.folder.path) / f"{name}.parquet", statistics=True)
        if self.root.remote:
            (self.folder / WRITER_FILE).remove()
            (self.folder / META_FILE).write_bytes(marker, content_type="application/json")
        else:
            (Path(self.folder.path) / META_FILE).write_bytes(marker)
            _commit_local(Path(self.folder.path), Path(self.final.path))
        self.committed = True
        self._drop_staging()
        return self.final.public()

    def abort(self) -> None:
        """Remove what was written (nothing is committed)."""
        with contextlib.suppress(Exception):  # failing already; the next writer removes what is left
            self.folder.remove()
        self._drop_staging()

    def _drop_staging(self) -> None:
        if self.root.remote and self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None


def write_part(staging: Path, table: str, part: int, df: pl.DataFrame) -> None:
    """Part ``part`` of ``table`` into a writer's local staging folder (what a worker process calls)."""
    path = staging / Writer.part_name(table, part)
    path.parent.mkdir(exist_ok=True)
    df.write_parquet(path, statistics=True)


def _commit_local(tmp: Path, final: Path) -> None:
    """The local commit: everything on disk, then one rename makes the snapshot appear whole."""
    (tmp / WRITER_FILE).unlink(missing_ok=True)
    for sub in tmp.iterdir():
        if sub.is_dir():
            _fsync_dir(sub)
    _fsync_dir(tmp)
    os.rename(tmp, final)
    _fsync_dir(final.parent)


def _writer_record() -> bytes:
    return json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                       "started": dt.datetime.now(dt.UTC).isoformat()}).encode()


def _writer_gone(folder: locations.Location) -> bool:
    """True when ``folder`` records a writer of this host whose process no longer exists."""
    try:
        record = json.loads((folder / WRITER_FILE).read_bytes())
        host, pid = record["host"], record["pid"]
    except (FileNotFoundError, OSError, ValueError, KeyError, TypeError, BlobStorageError):
        return False
    if host != socket.gethostname() or not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by someone else
        return False
    return False


def remove_leftovers(root: Place, older_than_s: float | None = None) -> list[str]:
    """Remove what a writer killed mid-write left behind: temporary folders on a local disk, snapshot prefixes
    without ``inventory.json`` in Blob Storage, once older than ``older_than_s`` (default ``LEFTOVER_AGE_S``, an
    hour: a younger one may be a writer still at work), or at once when their ``.writer`` record names a process
    of this host that is gone."""
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
        if _writer_gone(leftover) or (written is not None and time.time() - written > older_than_s):
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
    snapshot.counts()
    tables = {name: read_table(snapshot, name) for name in schema.TABLES}
    return tables, metadata(snapshot)


def metadata(snapshot: Snapshot) -> dict:
    """The snapshot's metadata, its own copy, without the layout's own keys."""
    meta = copy.deepcopy(snapshot.record)
    for key in ("collected_at", "written_at", "tables", "schema_version", "parts"):
        meta.pop(key, None)
    return meta


def read_table(snapshot: Snapshot, name: str, registry: str | None = None,
               keep: pl.DataFrame | None = None) -> pl.DataFrame:
    """Table ``name`` of ``snapshot``, each of its files checked; empty when the snapshot predates the table.
    With ``registry``, only that registry's rows: of a streamed snapshot only the parts holding them are read,
    of a local file only its row groups that may hold them. With ``keep`` (a frame of some of the table's
    columns), only the rows that match one of its rows, in file order: a local file is filtered as it is read,
    so that the rest is never held."""
    files = snapshot.files(name, registry=registry)
    # parts labelled with their registry hold its rows alone; a whole-table file must be filtered
    within = registry if not snapshot.labelled(name) else None
    frames = [_rows(file, name, rows, within, keep) for file, rows in files]
    if not frames:
        return schema.empty(name)
    return frames[0] if len(frames) == 1 else pl.concat(frames, rechunk=False)


def _rows(file: locations.Location, name: str, count: int, registry: str | None,
          keep: pl.DataFrame | None) -> pl.DataFrame:
    """``file`` as table ``name`` (only ``registry``'s rows, only those matching ``keep``, when given). A local
    file to be filtered is checked from its footer and filtered as it is read; others are read whole."""
    if file.remote or (registry is None and keep is None):
        return narrow(_checked(file, name, count), registry, keep)
    _check_footer(file, name, count)
    with _reading(file, count):
        df = narrow(pl.scan_parquet(file.path), registry, keep).collect(engine="streaming")
    return _conformed(file, name, df)


def narrow(frame: pl.DataFrame | pl.LazyFrame, registry: str | None = None,
           keep: pl.DataFrame | None = None) -> pl.DataFrame | pl.LazyFrame:
    """``frame`` (a table's rows, eager or lazy) with only ``registry``'s rows and only those matching one row
    of ``keep`` (a frame of some of its columns), in their order."""
    if registry is not None:
        frame = frame.filter(pl.col("registry") == registry)
    if keep is not None:
        other = keep.lazy() if isinstance(frame, pl.LazyFrame) else keep
        frame = frame.join(other, on=keep.columns, how="semi", maintain_order="left")
    return frame


@contextlib.contextmanager
def _reading(file: locations.Location, count: int):
    """Reading ``file`` of a snapshot: a file that is not there, or not Parquet, is a :class:`SnapshotError`
    naming it (polars' errors for a truncated or foreign file vary)."""
    try:
        yield
    except FileNotFoundError:
        raise SnapshotError(f"{file} is missing from the snapshot ({count:,} rows recorded)") from None
    except (SnapshotError, BlobStorageError):
        raise
    except Exception as e:
        raise SnapshotError(f"{file} cannot be read as Parquet: {e}") from None


def _check_footer(file: locations.Location, name: str, count: int) -> None:
    """A local ``file`` is there with ``count`` rows and the columns of table ``name``, read from its Parquet
    footer alone (no data)."""
    with _reading(file, count):
        columns = pl.read_parquet_schema(file.path)
        rows = pl.scan_parquet(file.path).select(pl.len()).collect().item()
    _check_shape(file, name, rows, count, list(columns))


def check_files(snapshot: Snapshot) -> None:
    """Every table file of a local ``snapshot`` is there with its recorded rows and fitting columns, read from
    the Parquet footers alone (no data): :class:`SnapshotError` naming the first that is not."""
    for name in schema.TABLES:
        for file, count in snapshot.files(name):
            _check_footer(file, name, count)


def _check_shape(file: locations.Location, name: str, rows: int, count: int, columns: list[str]) -> None:
    if rows != count:
        raise SnapshotError(f"{file} has {rows:,} rows where the snapshot recorded {count:,}: "
                            "truncated or replaced")
    # an older snapshot may lack columns added since; a file with foreign columns or without the table's key
    # is another table's file
    foreign = sorted(set(columns) - set(schema.TABLES[name]))
    keyless = [c for c in schema.KEYS[name] if c not in columns]
    if foreign or keyless:
        raise SnapshotError(f"{file} is not a {name} table (columns {foreign[:4] or keyless[:4]} do not fit): "
                            "is it another table's file?")


def _checked(file: locations.Location, name: str, count: int) -> pl.DataFrame:
    """``file`` read as table ``name``, which must hold ``count`` rows and the table's columns."""
    with _reading(file, count):
        df = _read_table(file)
    _check_shape(file, name, df.height, count, df.columns)
    return _conformed(file, name, df)


def _conformed(file: locations.Location, name: str, df: pl.DataFrame) -> pl.DataFrame:
    """``df``, read from ``file``, with the columns of table ``name``."""
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
        files = snapshot.files(table)
        if not files:
            frame = schema.empty(table).lazy()
        elif not files[0][0].remote and all(Path(f.path).exists() for f, _ in files):
            frame = pl.scan_parquet([f.path for f, _ in files])
        elif not files[0][0].remote:
            frame = schema.empty(table).lazy()
        else:
            frame = read_table(snapshot, table).lazy()
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
