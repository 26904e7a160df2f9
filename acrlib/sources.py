"""Where an inventory comes from, named by one string (the CLI's and the report's ``source``), parsed once by
:meth:`Source.of` into a :class:`Source` that the CLI, ``run_report`` and the notebooks pass on:

- ``azure``: collect from Azure with the default credential;
- ``emulator:PRESET``: start the local emulator with that preset, collect from it, stop it;
- anything else is a snapshot folder, or a root of snapshots (its latest one): a local path, or a storage URL
  (``az://CONTAINER/PATH``, ``abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH``; see :mod:`acrlib.locations`).

Each form is recognised by its prefix, in one table (:data:`KINDS`). This module is the glue between the
core and the wings, and the one place outside tests that may load the emulator, only for ``emulator:``.
"""

from __future__ import annotations

import atexit
import datetime as dt
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from . import locations, schema, snapshots
from .collection import collect
from .collection.options import check_filters
from .errors import BlobStorageError, SnapshotUnwritable, error_row
from .history import History
from .inventory import HISTORY_ERROR, Inventory

AZURE = "azure"
EMULATOR = "emulator"
SNAPSHOT = "snapshot"
EMULATOR_PREFIX = "emulator:"
SOURCE_HELP = "'azure', 'emulator:PRESET' or a snapshot folder"
DEFAULT = "azure"


@dataclass(frozen=True)
class Source:
    """A parsed source: ``kind`` is ``azure``, ``emulator`` (with ``preset``) or ``snapshot`` (with its
    ``location``, parsed once: an absolute local folder, or a folder in Blob Storage with the file system and
    credential that read it). ``str(source)`` gives the string form back."""

    kind: str
    preset: str | None = None
    location: locations.Location | None = None

    @property
    def path(self) -> Path | str | None:
        """A snapshot's folder: a local ``Path``, or its storage URL."""
        return self.location.public() if self.location is not None else None

    def __str__(self) -> str:
        if self.kind == EMULATOR:
            return EMULATOR_PREFIX + self.preset
        if self.kind == SNAPSHOT:
            return str(self.location)
        return AZURE

    @classmethod
    def of(cls, source: str | Source, *, credential=None) -> Source:
        """The source a string names (a ``Source`` is returned as is). ``ValueError`` naming the problem, without
        touching the network. ``credential``: what reads a snapshot in Blob Storage (default: the default Azure
        credential), the collection's when there is one."""
        return _parse(source, credential=credential)

    @property
    def collects(self) -> bool:
        """True for sources that collect (Azure, the emulator); False for a stored snapshot."""
        return self.kind != SNAPSHOT

    def describe(self) -> str:
        if self.kind == AZURE:
            return "Azure (default credential)"
        if self.kind == EMULATOR:
            return f"the local emulator ({self.preset} tenant)"
        return f"snapshot {self.path}"


def _azure(text: str, credential) -> Source:
    return Source(AZURE)


def _emulator(text: str, credential) -> Source:
    from .emulator.generate import PRESETS

    preset = text.removeprefix(EMULATOR_PREFIX)
    if preset not in PRESETS:
        raise ValueError(f"unknown emulator preset {preset!r} in source {text!r}; presets are {', '.join(PRESETS)}")
    return Source(EMULATOR, preset=preset)


def _snapshot(text: str, credential) -> Source:
    if locations.is_url(text):  # a malformed URL is named now, before any request
        return Source(SNAPSHOT, location=locations.Location.of(text, credential=credential))
    path = Path(text).expanduser()
    if not path.exists():
        raise ValueError(f"source {text!r} is neither 'azure', 'emulator:PRESET' nor an existing snapshot path")
    return Source(SNAPSHOT, location=locations.Location.of(path.resolve()))


# Prefix -> parser, tried in order; a string no prefix claims is a snapshot path.
KINDS = ((AZURE, _azure), (EMULATOR_PREFIX, _emulator))


def _parse(source: str | Source, *, credential=None) -> Source:
    """:meth:`Source.of`."""
    if isinstance(source, Source):
        return source
    if not isinstance(source, str) or not source:
        raise ValueError(f"source must be {SOURCE_HELP}, not {source!r}")
    for prefix, parser in KINDS:
        if source == prefix or (prefix.endswith(":") and source.startswith(prefix)):
            return parser(source, credential)
    return _snapshot(source, credential)


def describe(source: str | Source) -> str:
    return Source.of(source).describe()


def load(source: str | Source, *, subscriptions=None, registries=None, progress: bool | None = None, seed: int = 7,
         **collect_args) -> Inventory:
    """An inventory from ``source`` (see the module docstring). Filters apply to collections; a snapshot is
    returned as stored."""
    source = Source.of(source, credential=collect_args.get("credential"))
    check_filters(subscriptions, registries)  # before starting anything
    if source.kind == AZURE:
        return collect(subscriptions=subscriptions, registries=registries, progress=progress, **collect_args)
    if source.kind == EMULATOR:
        return _from_emulator(source, 0, None, seed, subscriptions=subscriptions, registries=registries,
                              progress=progress, **collect_args)[0]
    return Inventory.from_snapshot(snapshots.locate(source.location))


def load_with_history(source: str | Source, *, history: str | None = None, weeks: int = 8, subscriptions=None,
                      registries=None, progress: bool | None = None, seed: int = 7, **collect_args):
    """The latest inventory from ``source`` and the :class:`~acrlib.History` it belongs to (or None).

    - ``azure``: collect; with ``history`` (a folder or a storage URL), add the snapshot there and read every
      snapshot in it. A history that cannot be read or written costs the history, never the collection: see
      ``Inventory.history_error``.
    - ``emulator:PRESET``: collect ``weeks + 1`` weekly snapshots, the last one at the emulator's present, while
      the emulated tenant evolves (into ``history``, or a temporary folder removed at exit); when ``history``
      holds snapshots already, add one a week after the latest (a scheduled run moves the history on a week).
    - a snapshot folder or a root of snapshots: read it; the root's snapshots are the history.
    """
    source = Source.of(source, credential=collect_args.get("credential"))
    check_filters(subscriptions, registries)
    if isinstance(weeks, bool) or not isinstance(weeks, int) or weeks < 0:
        raise ValueError(f"weeks must be a whole number >= 0, not {weeks!r}")
    if history is not None:  # a malformed URL is named before any work; the collection's identity signs in
        history = locations.Location.of(history, credential=collect_args.get("credential"))
    if source.kind == AZURE:
        failure = None
        if history is not None and "previous" not in collect_args:
            try:
                collect_args["previous"] = latest_usable(history)
            except BlobStorageError as e:
                failure = e  # collect in full; the report says the history was not updated
        streamed = history is not None and failure is None and collect_args.get("out") is None
        if streamed:  # each registry's tables go into the history as it completes
            collect_args["out"] = history
        try:
            inventory = collect(subscriptions=subscriptions, registries=registries, progress=progress,
                                **collect_args)
        except SnapshotUnwritable as e:  # found before any registry was read: collect in memory instead
            failure, streamed = _history_failure(e.cause, history), False
            collect_args.pop("out")
            inventory = collect(subscriptions=subscriptions, registries=registries, progress=progress,
                                **collect_args)
        if history is None:
            return inventory, None
        return inventory, _join(inventory, history, failure, written=streamed)
    if source.kind == EMULATOR:
        if history is None:
            history = locations.Location.of(tempfile.mkdtemp(prefix="acrlib-emulator-history-"))
            atexit.register(shutil.rmtree, history.path, True)
        return _from_emulator(source, weeks, history, seed, subscriptions=subscriptions, registries=registries,
                              progress=progress, **collect_args)
    opened = snapshots.open_snapshots(source.location)  # each inventory.json read once
    inventory = Inventory.from_snapshot(opened.chosen)
    history = History.of(opened)
    _skipped(inventory, history)
    return inventory, history


def _join(inventory: Inventory, history: locations.Location, failure: BlobStorageError | None, *,
          written: bool = False) -> History | None:
    """Add ``inventory`` to ``history`` (unless it was ``written`` there as it was collected) and read it back.
    When the history cannot be read or written, the inventory is kept (the report is made from it) and
    ``inventory.history_error`` says why, in one line naming the URL."""
    if failure is None:
        try:
            if not written:
                inventory.to_parquet(history)
            return _skipped(inventory, History(history))
        except (BlobStorageError, OSError) as e:  # a refused storage account, or a local folder it cannot write
            failure = _history_failure(e, history)
    inventory.metadata[HISTORY_ERROR] = str(failure)
    try:  # a reader role can still show the trends so far
        return _skipped(inventory, History(history))
    except (BlobStorageError, OSError):  # unreadable, or no snapshot yet
        return None


def _history_failure(e: Exception, history) -> BlobStorageError:
    """A storage refusal as it is, or a local folder that cannot be written, as one line naming it."""
    if isinstance(e, BlobStorageError):
        return e
    return BlobStorageError(f"the history {history} cannot be written: {getattr(e, 'strerror', None) or e}")


def _skipped(inventory: Inventory, history: History) -> History:
    """Report the history's folders that could not be read (left out of it) as warning rows of ``inventory``'s
    ``errors`` (stage ``history``): a planted or broken folder costs itself, never the run."""
    if history.skipped:
        rows = [error_row("history", "SKIPPED_SNAPSHOT", line) for line in history.skipped]
        inventory.errors = schema.sort("errors", pl.concat([inventory.errors, schema.frame("errors", rows)]))
    return history


def latest_usable(root) -> locations.Location | None:
    """The latest snapshot under ``root`` when this acrlib can reuse its facts (same snapshot schema), else None:
    a scheduled run then collects in full once."""
    return _usable(snapshots.find(root))  # a folder not made yet holds none


def _usable(found: list[snapshots.Snapshot]) -> locations.Location | None:
    """The latest of ``found`` (snapshots.find's order) when it is of this acrlib's snapshot schema."""
    if not found or found[-1].schema_version != snapshots.SCHEMA_VERSION:
        return None
    return found[-1].location


def _from_emulator(source: Source, weeks: int, root: locations.Location | None, seed: int, *, progress,
                   **collect_args) -> tuple[Inventory, History | None]:
    """Start the emulator ``weeks`` before its present (the same tenant on every run) and let the tenant evolve
    a simulated week at a time. Into an empty ``root``: collect once a week, the last time at the present, each
    snapshot written under ``root``, each collection after the first incremental on the week before (as a
    scheduled run with a history is). Into a ``root`` that holds snapshots already (a scheduled run): evolve to a
    week after the latest of them and collect once there, adding one snapshot, so the history moves on a week
    per run. Returns the inventory and the history; a ``root`` that cannot be read or written is handled as for
    Azure (:func:`_join`)."""
    from .emulator import Emulator
    from .emulator.generate import PRESENT

    failure = None
    latest = None
    chain = "previous" not in collect_args  # each week reads only what changed since the last, as a scheduled run
    try:
        found = snapshots.find(root) if root is not None else []
        catch_up = bool(found)
        if catch_up:
            latest = found[-1].collected_at
            if "previous" not in collect_args:
                collect_args["previous"] = _usable(found)
    except BlobStorageError as e:
        failure, catch_up = e, True  # collect at the present only; the report says the history was not updated
    start = PRESENT - dt.timedelta(weeks=weeks)
    steps = weeks
    if latest is not None and latest >= PRESENT:  # a scheduled run: a week after the latest snapshot
        steps += 1 + int((latest - PRESENT) / dt.timedelta(weeks=1))
    labels = {**(collect_args.pop("metadata", None) or {}), "source": str(source)}
    with Emulator(scale=source.preset, seed=seed, now=start) as emu:
        for week in range(steps + 1):
            if week:
                emu.advance(7, seed=week)
            if catch_up and week < steps:
                continue
            inventory = collect(**emu.connection(), progress=progress if week == steps else False,
                                metadata=labels, **collect_args)
            if chain:
                collect_args["previous"] = inventory
            if root is not None and week < steps:
                try:
                    inventory.to_parquet(root)
                except (BlobStorageError, OSError) as e:
                    failure, catch_up = _history_failure(e, root), True  # skip to the last week
    return inventory, _join(inventory, root, failure) if root is not None else None
