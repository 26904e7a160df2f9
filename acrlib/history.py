"""A history: every snapshot under a root (a folder or a storage URL), oldest first, read lazily. The storage
layer's reader for trends (:mod:`acrlib.analysis.trends`) and for incremental collections."""

from __future__ import annotations

import os

import polars as pl

from . import snapshots
from .inventory import Inventory


class History:
    """The snapshots under ``root``, oldest first by the collection time each records."""

    def __init__(self, root: str | os.PathLike, *, credential=None):
        self.root = snapshots.root_of(root, credential=credential)
        self.skipped: list[str] = []  # folders whose record could not be read: left out, one line each
        self._found(snapshots.find(self.root, skipped=self.skipped))

    @classmethod
    def of(cls, opened: snapshots.Opened) -> History:
        """The history of snapshots already found (no listing, no record read again)."""
        history = cls.__new__(cls)
        history.root = opened.root
        history.skipped = list(opened.skipped)
        history._found(opened.found)
        return history

    def _found(self, found: list[snapshots.Snapshot]) -> None:
        self.snapshots = found
        if not self.snapshots:
            raise FileNotFoundError(f"{self.root} holds no acrlib snapshot (write some with inv.to_parquet(root))")
        self.times = [s.collected_at for s in self.snapshots]

    def __len__(self) -> int:
        return len(self.snapshots)

    def __repr__(self) -> str:
        return f"History({self.root}, {len(self)} snapshots, {self.times[0]:%Y-%m-%d} .. {self.times[-1]:%Y-%m-%d})"

    def scan(self, table: str) -> pl.LazyFrame:
        """Every snapshot's ``table`` with a ``collected_at`` column, lazily."""
        return snapshots.scan(self.snapshots, table)

    def latest(self) -> Inventory:
        return Inventory.read_parquet(self.snapshots[-1].location)


def history(root: str | os.PathLike, *, credential=None) -> History:
    """Load every snapshot under ``root`` (lazily), a folder or a storage URL (``az://``, ``abfs://``); a
    snapshot folder stands for the root it is in."""
    return History(root, credential=credential)
