"""Facts about manifests that several analyses share: which are index children, which are untagged, and the
bytes each adds on its own."""

from __future__ import annotations

import polars as pl

from ..inventory import Inventory

KEY = ["registry", "repository"]


def _children(inv: Inventory) -> pl.DataFrame:
    """Index children (registry, repository, digest), each once."""
    return inv.references.select("registry", "repository", pl.col("child_digest").alias("digest")).unique()


def manifest_facts(inv: Inventory) -> pl.DataFrame:
    """Manifests with ``is_child`` (an index references it), ``untagged`` (no tag, not a child, not a
    referrer) and ``own_bytes``: the bytes a manifest adds on its own (an index's ``imageSize`` minus its
    children's, so that summing ``own_bytes`` counts every child once)."""
    children = _children(inv).with_columns(pl.lit(True).alias("is_child"))
    child_sizes = (
        inv.references.join(inv.manifests.select("registry", "repository", pl.col("digest").alias("child_digest"),
                                                 pl.col("size_bytes").alias("child_size")),
                            on=["registry", "repository", "child_digest"], how="left")
        .group_by("registry", "repository", pl.col("index_digest").alias("digest"))
        .agg(pl.col("child_size").sum().alias("children_bytes"))
    )
    return (
        inv.manifests.join(children, on=[*KEY, "digest"], how="left")
        .join(child_sizes, on=[*KEY, "digest"], how="left")
        .with_columns(
            pl.col("is_child").fill_null(False),
            (pl.col("size_bytes") - pl.col("children_bytes").fill_null(0)).alias("own_bytes"),
        )
        .with_columns(
            ((pl.col("tags").list.len() == 0) & ~pl.col("is_child") & pl.col("subject").is_null()).alias("untagged")
        )
    )
