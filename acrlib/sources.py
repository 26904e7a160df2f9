"""Where an inventory comes from, named by one string (the CLI's and the report's ``source``):

- ``azure``: collect from Azure with the default credential;
- ``emulator:PRESET``: start the local emulator with that preset, collect from it, stop it;
- a path: read a snapshot (or the latest snapshot under a root of snapshots).

This is the one place outside tests that may load the emulator, and only for ``emulator:`` sources.
"""

from __future__ import annotations

from pathlib import Path

from .collection import check_filters, collect
from .inventory import Inventory

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
        from .emulator import Emulator

        with Emulator(scale=source.removeprefix(EMULATOR_PREFIX), seed=seed) as emu:
            inventory = collect(**emu.connection(), subscriptions=subscriptions, registries=registries,
                                progress=progress, **collect_args)
        inventory.metadata["source"] = source
        return inventory
    return Inventory.read_parquet(source)
