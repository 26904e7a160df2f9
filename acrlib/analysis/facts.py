"""Facts about manifests that several analyses share: which are index children, which are untagged, and the
bytes each adds on its own."""

from __future__ import annotations

import polars as pl

from ..inventory import Inventory

KEY = ["registry", "repository"]


_CACHE = "_manifest_facts"  # on the inventory: (manifests, references, facts)


def manifest_facts(inv: Inventory) -> pl.DataFrame:
    """Manifests with ``is_child`` (an index references it), ``untagged`` (no tag, not a child, not a
    referrer) and ``own_bytes``: the bytes a manifest adds on its own (an index's ``imageSize`` minus its
    children's, so that summing ``own_bytes`` counts every child once).

    Kept on the inventory until its manifests or references are replaced: summary, storage, reclaimable and
    unused all need it, and the report and the what-if panel call them together (on ``large`` each call
    cost 0.1-0.2 s)."""
    cached = inv.__dict__.get(_CACHE)
    if cached is not None and cached[0] is inv.manifests and cached[1] is inv.references:
        return cached[2]
    facts = _facts(inv)
    inv.__dict__[_CACHE] = (inv.manifests, inv.references, facts)
    return facts


def forget(inv: Inventory) -> None:
    """Drop what :func:`manifest_facts` keeps on ``inv`` (a benchmark times the analyses cold)."""
    inv.__dict__.pop(_CACHE, None)


def _facts(inv: Inventory) -> pl.DataFrame:
    """:func:`manifest_facts`, computed: what the references say is gathered per digest first, so the manifests
    are joined once."""
    refs = inv.references.select(*KEY, "index_digest", "child_digest")
    child_sizes = (refs.join(inv.manifests.select(*KEY, pl.col("digest").alias("child_digest"),
                                                  pl.col("size_bytes").alias("child_size")),
                             on=[*KEY, "child_digest"], how="left")
                   .group_by(*KEY, pl.col("index_digest").alias("digest"))
                   .agg(pl.col("child_size").sum().alias("children_bytes"), pl.lit(False).alias("is_child")))
    children = refs.select(*KEY, pl.col("child_digest").alias("digest")).unique().with_columns(
        pl.lit(None, dtype=pl.Int64).alias("children_bytes"), pl.lit(True).alias("is_child"))
    per_digest = (pl.concat([child_sizes, children], how="vertical_relaxed")
                  .group_by(*KEY, "digest").agg(pl.col("children_bytes").sum(), pl.col("is_child").any()))
    return (
        inv.manifests.join(per_digest, on=[*KEY, "digest"], how="left")
        .with_columns(
            pl.col("is_child").fill_null(False),
            (pl.col("size_bytes") - pl.col("children_bytes").fill_null(0)).alias("own_bytes"),
        )
        .with_columns(
            ((pl.col("tags").list.len() == 0) & ~pl.col("is_child") & pl.col("subject").is_null()).alias("untagged")
        )
    )
