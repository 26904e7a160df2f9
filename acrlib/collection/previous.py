"""Incremental collection: what a previous snapshot already knows need not be fetched again.

Listings are always read in full (tags move, manifests come and go). What is content-addressed never changes
for a digest: an index's children (``references``), and what a manifest's bytes say (``subject``,
``artifact_type``, its ``layers``). Those are reused for digests the previous snapshot holds in the same
registry and repository, and read it fully: not where it logged a failure reading them, and not what it never
read (it collected without ``layers``, or a manifest its ``referrers`` rule did not read). Only new digests are
fetched. The previous snapshot must be of the same tenant, cloud and snapshot schema.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from .. import locations, schema, snapshots
from .. import media_types as mt
from ..inventory import Inventory
from .contents import DIGEST_KEY, manifests_read

# Error stages that leave a repository's (or, without a repository, the registry's) per-digest facts incomplete.
FACT_STAGES = ("references", "content")
REGISTRY_STAGES = ("registry", "assemble", "references", "content")


def load(previous) -> Inventory:
    """``previous`` as an Inventory: an Inventory, or a snapshot folder or root (its latest snapshot).
    ``ValueError`` naming the problem for anything else, or a snapshot of another schema version."""
    if isinstance(previous, Inventory):
        return previous
    if not isinstance(previous, (str, os.PathLike, locations.Location)):
        raise ValueError(f"previous must be an Inventory or a snapshot folder, not {type(previous).__name__}")
    try:
        snapshot = snapshots.locate(previous)
    except FileNotFoundError as e:
        raise ValueError(f"previous: {e}") from None
    version = snapshot.schema_version
    if version != snapshots.SCHEMA_VERSION:
        raise ValueError(f"previous snapshot {snapshot.path} has schema version {version}, this acrlib writes "
                         f"{snapshots.SCHEMA_VERSION}: collect in full once")
    return Inventory.open(snapshot)  # tables are read registry by registry (known), never all at once


def check_cloud(previous: Inventory, cloud: str) -> None:
    """Refuse a previous snapshot of another cloud (before any request)."""
    theirs = previous.metadata.get("cloud")
    if theirs is not None and theirs != cloud:
        raise ValueError(f"previous snapshot was collected in the {theirs!r} cloud, this collection is in {cloud!r}")


def check_tenant(previous: Inventory, found: list[dict]) -> None:
    """Refuse a previous snapshot of another tenant (after discovery, before any registry is read)."""
    theirs = set(previous.registries["tenant_id"].drop_nulls().to_list())
    ours = {row.get("tenant_id") for row in found if row.get("tenant_id")}
    if theirs and ours and not theirs & ours:
        raise ValueError(f"previous snapshot is of tenant {', '.join(sorted(theirs))}, this collection sees tenant "
                         f"{', '.join(sorted(ours))}: its facts cannot be reused")


@dataclass(frozen=True)
class Known:
    """What the previous snapshot knows of one registry, for the digests it read fully."""

    indexes: pl.DataFrame  # repository, digest: indexes whose children are known
    references: pl.DataFrame  # their rows of the references table
    documents: pl.DataFrame  # repository, digest, artifact_type, subject: manifests whose bytes were read
    # Their rows of the layers table, read when called with the (repository, manifest_digest) wanted (None: the
    # previous did not read layers): a registry holds only those, and only from its contents on.
    layers: Callable[[pl.DataFrame], pl.DataFrame] | None

    @staticmethod
    def nothing() -> Known:
        empty = pl.DataFrame(schema={"repository": pl.String, "digest": pl.String})
        documents = empty.with_columns(pl.lit(None, dtype=pl.String).alias("artifact_type"),
                                       pl.lit(None, dtype=pl.String).alias("subject"))
        return Known(empty, schema.empty("references"), documents, None)


def known(previous: Inventory | None, registry: str) -> Known:
    """The facts of ``registry`` in ``previous`` that need not be fetched again."""
    if previous is None:
        return Known.nothing()
    errors = previous.errors.filter(pl.col("registry") == registry)
    if errors.filter(pl.col("repository").is_null() & pl.col("stage").is_in(REGISTRY_STAGES)).height:
        return Known.nothing()  # the registry's facts were not all read
    blocked = errors.filter(pl.col("stage").is_in(FACT_STAGES)).select("repository").unique()
    manifests = previous.table("manifests", registry).join(blocked, on="repository", how="anti")
    indexes = manifests.filter(pl.col("media_type").is_in(mt.INDEX_TYPES)).select(DIGEST_KEY)
    all_references = previous.table("references", registry)
    references = all_references.join(indexes.rename({"digest": "index_digest"}), on=["repository", "index_digest"],
                                     how="semi")
    layered = bool(previous.metadata.get("layers"))
    children = all_references.select("repository", pl.col("child_digest").alias("digest"))
    read = manifests.join(manifests_read(manifests, children, layers=layered,
                                         referrers=previous.metadata.get("referrers", "artifacts")),
                          on=DIGEST_KEY, how="semi")
    documents = read.select(*DIGEST_KEY, "artifact_type", "subject")

    def layers(wanted: pl.DataFrame) -> pl.DataFrame:
        return previous.table("layers", registry, keep=wanted.join(
            documents.select("repository", pl.col("digest").alias("manifest_digest")),
            on=["repository", "manifest_digest"], how="semi"))

    return Known(indexes, references, documents, layers if layered else None)


def reuse(wanted: pl.DataFrame, have: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``wanted`` (repository, digest) split into what ``have`` knows and what must be fetched."""
    known = have.select(DIGEST_KEY)
    return wanted.join(known, on=DIGEST_KEY, how="semi"), wanted.join(known, on=DIGEST_KEY, how="anti")
