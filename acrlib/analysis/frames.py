"""Named results for analysis functions that return several frames: attribute access (``s.registries``),
plus a read-only dict-like view (``s["registries"]``, ``keys()``, ``items()``) for code written against the
dicts these functions used to return."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields

import polars as pl


class Frames:
    """Base of the small frozen dataclasses below."""

    def keys(self) -> list[str]:
        return [f.name for f in fields(self)]

    def __getitem__(self, name: str) -> pl.DataFrame:
        if name not in self.keys():
            raise KeyError(f"{type(self).__name__} has {', '.join(self.keys())}, not {name!r}")
        return getattr(self, name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def items(self) -> list[tuple[str, pl.DataFrame]]:
        return [(name, getattr(self, name)) for name in self.keys()]


@dataclass(frozen=True)
class PerRegistry(Frames):
    """One frame per registry and one per repository."""

    registries: pl.DataFrame
    repositories: pl.DataFrame


@dataclass(frozen=True)
class Copies(Frames):
    """Content stored in several registries: whole manifests, and blobs."""

    manifests: pl.DataFrame
    blobs: pl.DataFrame


@dataclass(frozen=True)
class Usage(Frames):
    """Per registry, per repository, and the images themselves."""

    registries: pl.DataFrame
    repositories: pl.DataFrame
    images: pl.DataFrame


@dataclass(frozen=True)
class InUse(Frames):
    """What runs: per registry and repository, old images still running, images from outside the tenant, and
    deployments whose tag moved or whose image is gone."""

    registries: pl.DataFrame
    repositories: pl.DataFrame
    old: pl.DataFrame
    outside: pl.DataFrame
    drift: pl.DataFrame


@dataclass(frozen=True)
class Exposure(Frames):
    """What is risky to keep: every top-level image with its findings, the running ones with fixable critical or
    high findings, the vulnerable ones nobody runs or pulls, the ones no source reports, and per registry."""

    images: pl.DataFrame
    running_fixable: pl.DataFrame
    cleanup_first: pl.DataFrame
    unscanned: pl.DataFrame
    registries: pl.DataFrame
