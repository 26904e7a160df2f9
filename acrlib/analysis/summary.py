"""`summary`: counts and bytes per registry and per repository."""

from __future__ import annotations

import polars as pl

from ..inventory import Inventory
from .frames import PerRegistry

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


def _plan_totals(plan: pl.DataFrame | None, keys: list[str]) -> pl.DataFrame | None:
    if plan is None:
        return None
    manifests = plan.filter(pl.col("action").is_in(["delete_manifest", "cascade"])).unique([*KEY, "digest"])
    tags = plan.filter(pl.col("action") == "delete_tag")
    return (
        tags.group_by(keys).agg(pl.len().alias("stale_tags"))
        .join(manifests.group_by(keys).agg(pl.len().alias("stale_manifests"),
                                          pl.col("size_bytes").sum().alias("stale_bytes")),
              on=keys, how="full", coalesce=True)
    )


def summary(inv: Inventory, plan: pl.DataFrame | None = None) -> PerRegistry:
    """Per registry and per repository (``.registries``, ``.repositories``), per row: repositories (registries only),
    manifests, images (platform images: an index child counts once), indexes, tags, untagged manifests,
    logical_bytes (``imageSize``, index children not double counted), and with a purge plan stale_tags,
    stale_manifests and stale_bytes (``imageSize`` of the manifests the plan deletes; an estimate: shared
    layers are counted per image). Registries also carry billed_bytes (``listUsages``) and their status."""
    facts = manifest_facts(inv)
    per_repo = inv.repositories.select(*KEY).join(
        facts.group_by(KEY).agg(
            pl.len().alias("manifests"),
            (pl.col("kind") == "image").sum().alias("images"),
            (pl.col("kind") == "index").sum().alias("indexes"),
            pl.col("untagged").sum().alias("untagged"),
            pl.col("own_bytes").sum().alias("logical_bytes"),
        ), on=KEY, how="full", coalesce=True,
    ).join(inv.tags.group_by(KEY).agg(pl.len().alias("tags")), on=KEY, how="left")
    stale = _plan_totals(plan, KEY)
    if stale is not None:
        per_repo = per_repo.join(stale, on=KEY, how="left")
    counts = [c for c in per_repo.columns if c not in KEY]
    per_repo = per_repo.with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in counts).sort(KEY)
    per_registry = (
        inv.registries.select("registry", "sku", "status", pl.col("storage_used_bytes").alias("billed_bytes"),
                              pl.col("storage_included_bytes").alias("included_bytes"))
        .join(per_repo.group_by("registry").agg(pl.len().alias("repositories"), *(pl.col(c).sum() for c in counts)),
              on="registry", how="left")
        .with_columns(pl.col(c).fill_null(0) for c in ["repositories", *counts])
        .sort("registry")
    )
    return PerRegistry(registries=per_registry, repositories=per_repo)


def headline(inv: Inventory, plan: pl.DataFrame | None = None) -> dict[str, int]:
    """The report's headline numbers: registries, repositories, manifests, images, tags, logical and billed
    bytes, and with a plan the stale tags and bytes."""
    regs = summary(inv, plan).registries
    numbers = {
        "registries": regs.height,
        "complete registries": int((regs["status"] == "complete").sum()),
        "errors": inv.errors.height,
    }
    for column in ("repositories", "manifests", "images", "tags", "untagged", "logical_bytes", "billed_bytes",
                   "stale_tags", "stale_manifests", "stale_bytes"):
        if column in regs.columns:
            numbers[column] = int(regs[column].fill_null(0).sum())
    return numbers


def collection_status(inv: Inventory) -> pl.DataFrame:
    """Per registry: status, repositories, and the number of errors by stage (never hidden in a report)."""
    errors = inv.errors.group_by("registry").agg(pl.len().alias("errors"),
                                                 pl.col("stage").unique().sort().str.join(", ").alias("stages"))
    return (inv.registries.select("registry", "status", "repository_count")
            .join(errors, on="registry", how="left").with_columns(pl.col("errors").fill_null(0)).sort("registry"))
