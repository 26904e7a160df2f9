"""Facts about manifests that several analyses share: which are index children, which are untagged, and the
bytes each adds on its own."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from ..inventory import Inventory
from ..schema import REPOSITORY_KEY

# How an analysis gets the manifest facts it may need: computed on demand, or an Analysis's computed once.
Facts = Callable[[], pl.DataFrame]


def manifest_facts(inv: Inventory) -> pl.DataFrame:
    """Manifests with ``is_child`` (an index references it), ``untagged`` (no tag, not a child, not a
    referrer) and ``own_bytes``: the bytes a manifest adds on its own (an index's ``imageSize`` minus its
    children's, so that summing ``own_bytes`` counts every child once).

    Summary, storage, reclaimable and unused all need these; :class:`~acrlib.Analysis` computes them once for
    all of them. What the references say is gathered per digest first, so the manifests are joined once."""
    refs = inv.references.select(*REPOSITORY_KEY, "index_digest", "child_digest")
    child_sizes = (refs.join(inv.manifests.select(*REPOSITORY_KEY, pl.col("digest").alias("child_digest"),
                                                  pl.col("size_bytes").alias("child_size")),
                             on=[*REPOSITORY_KEY, "child_digest"], how="left")
                   .group_by(*REPOSITORY_KEY, pl.col("index_digest").alias("digest"))
                   .agg(pl.col("child_size").sum().alias("children_bytes"), pl.lit(False).alias("is_child")))
    children = refs.select(*REPOSITORY_KEY, pl.col("child_digest").alias("digest")).unique().with_columns(
        pl.lit(None, dtype=pl.Int64).alias("children_bytes"), pl.lit(True).alias("is_child"))
    per_digest = (pl.concat([child_sizes, children], how="vertical_relaxed")
                  .group_by(*REPOSITORY_KEY, "digest").agg(pl.col("children_bytes").sum(), pl.col("is_child").any()))
    return (
        inv.manifests.join(per_digest, on=[*REPOSITORY_KEY, "digest"], how="left")
        .with_columns(
            pl.col("is_child").fill_null(False),
            (pl.col("size_bytes") - pl.col("children_bytes").fill_null(0)).alias("own_bytes"),
        )
        .with_columns(
            ((pl.col("tags").list.len() == 0) & ~pl.col("is_child") & pl.col("subject").is_null()).alias("untagged")
        )
    )
