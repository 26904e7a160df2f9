"""Where an inventory comes from, named by one string (the CLI's and the report's ``source``):

- ``azure``: collect from Azure with the default credential;
- ``emulator:PRESET``: start the local emulator with that preset, collect from it, stop it;
- a path: read a snapshot (or the latest snapshot under a root of snapshots).

This is the one place outside tests that may load the emulator, and only for ``emulator:`` sources.
"""

from __future__ import annotations

import atexit
import datetime as dt
import shutil
import tempfile
from pathlib import Path

from .collection import check_filters, collect
from .inventory import META_FILE, Inventory, list_snapshots
from .trends import History

EMULATOR_PREFIX = "emulator:"


def describe(source: str) -> str:
    if source == "azure":
        return "Azure (default credential)"
    if source.startswith(EMULATOR_PREFIX):
        return f"the local emulator ({source.removeprefix(EMULATOR_PREFIX)} tenant)"
    return f"snapshot {source}"


def check(source: str) -> str:
    """Validate a source string without touching the network; returns it."""
    if not isinstance(source, str) or not source:
        raise ValueError("source must be 'azure', 'emulator:PRESET' or a snapshot path")
    if source.startswith(EMULATOR_PREFIX):
        from .emulator.tenant import PRESETS

        preset = source.removeprefix(EMULATOR_PREFIX)
        if preset not in PRESETS:
            raise ValueError(f"unknown emulator preset {preset!r} in source {source!r}; "
                             f"presets are {', '.join(PRESETS)}")
    elif source != "azure" and not Path(source).exists():
        raise ValueError(f"source {source!r} is neither 'azure', 'emulator:PRESET' nor an existing snapshot path")
    return source


def load(source: str, *, subscriptions=None, registries=None, progress: bool = True, seed: int = 7,
         **collect_args) -> Inventory:
    """An inventory from ``source`` (see the module docstring). Filters apply to collections; a snapshot is
    returned as stored."""
    check(source)
    check_filters(subscriptions, registries)  # before starting anything
    if source == "azure":
        return collect(subscriptions=subscriptions, registries=registries, progress=progress, **collect_args)
    if source.startswith(EMULATOR_PREFIX):
        return _from_emulator(source, 0, None, seed, subscriptions=subscriptions, registries=registries,
                              progress=progress, **collect_args)
    return Inventory.read_parquet(source)


def load_with_history(source: str, *, history: str | None = None, weeks: int = 8, subscriptions=None,
                      registries=None, progress: bool = True, seed: int = 7, **collect_args
                      ) -> tuple[Inventory, History | None]:
    """The latest inventory from ``source`` and the history it belongs to.

    - ``azure``: collect; with ``history`` (a folder), add the snapshot there and read every snapshot in it.
    - ``emulator:PRESET``: collect ``weeks + 1`` weekly snapshots, the last one today, while the emulated tenant
      evolves (into ``history``, or a temporary folder removed at exit).
    - a snapshot folder or a root of snapshots: read it; the root's snapshots are the history.
    """
    check(source)
    check_filters(subscriptions, registries)
    if isinstance(weeks, bool) or not isinstance(weeks, int) or weeks < 0:
        raise ValueError(f"weeks must be a whole number >= 0, not {weeks!r}")
    if source == "azure":
        inventory = collect(subscriptions=subscriptions, registries=registries, progress=progress, **collect_args)
        if not history:
            return inventory, None
        inventory.to_parquet(history)
        return inventory, History(history)
    if source.startswith(EMULATOR_PREFIX):
        root = Path(history) if history else Path(tempfile.mkdtemp(prefix="acrlib-emulator-history-"))
        if not history:
            atexit.register(shutil.rmtree, root, True)
        inventory = _from_emulator(source, weeks, root, seed, subscriptions=subscriptions, registries=registries,
                                   progress=progress, **collect_args)
        return inventory, History(root)
    path = Path(source)
    inventory = Inventory.read_parquet(path)
    root = path.parent if (path / META_FILE).exists() else path
    return inventory, History(root) if list_snapshots(root) else None


def _from_emulator(source: str, weeks: int, root: Path | None, seed: int, *, progress: bool, **collect_args
                   ) -> Inventory:
    """Start the emulator ``weeks`` before today, collect once a simulated week (each snapshot written under
    ``root`` when given) and return today's inventory."""
    from .emulator import Emulator

    start = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(weeks=weeks)
    with Emulator(scale=source.removeprefix(EMULATOR_PREFIX), seed=seed, now=start) as emu:
        for week in range(weeks + 1):
            if week:
                emu.advance(7, seed=week)
            inventory = collect(**emu.connection(), progress=progress and week == weeks, **collect_args)
            inventory.metadata["source"] = source
            if root is not None:
                inventory.to_parquet(root)
    return inventory
