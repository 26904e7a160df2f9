"""`summary`: counts and bytes per registry and per repository."""

from __future__ import annotations

import polars as pl

from ..inventory import Inventory
from ..schema import REPOSITORY_KEY
from .facts import manifest_facts
from .frames import PerRegistry
from .risk import removed


def _plan_totals(inv: Inventory, plan: pl.DataFrame) -> pl.DataFrame:
    """Per repository: what the plan deletes, and the vulnerability findings that goes with it."""
    manifests = plan.filter(pl.col("action").is_in(["delete_manifest", "cascade"])).unique([*REPOSITORY_KEY, "digest"])
    tags = plan.filter(pl.col("action") == "delete_tag")
    return (
        tags.group_by(REPOSITORY_KEY).agg(pl.len().alias("stale_tags"))
        .join(manifests.group_by(REPOSITORY_KEY).agg(pl.len().alias("stale_manifests"),
                                                    pl.col("size_bytes").sum().alias("deleted_image_bytes")),
              on=REPOSITORY_KEY, how="full", coalesce=True)
        .join(removed(inv, plan), on=REPOSITORY_KEY, how="full", coalesce=True)
    )


def summary(inv: Inventory, plan: pl.DataFrame | None = None) -> PerRegistry:
    """Per registry and per repository (``.registries``, ``.repositories``), per row: repositories (registries
    only), manifests, images (platform images: an index child counts once), indexes, tags, untagged manifests,
    logical_bytes (``imageSize``, index children not double counted). Registries also carry billed_bytes
    (``listUsages``), included_bytes and their status.

    With a purge plan: stale_tags and stale_manifests (what it deletes), reclaimable_bytes (what deleting them
    frees, as :func:`acrlib.reclaimable` counts it: exact with layers, else an estimate) and
    deleted_image_bytes (the sum of the deleted manifests' ``imageSize``: NOT what a purge frees, since images
    share layers; shown only to compare), vulnerabilities_removed and critical_removed (the distinct findings
    of the manifests it deletes, see :func:`acrlib.exposure`). A blob freed from several repositories at once
    counts in its registry's reclaimable_bytes, not in a repository's."""
    from .storage import reclaimable_of

    facts = manifest_facts(inv)
    return summary_of(inv, plan, facts, reclaimable_of(inv, plan, lambda: facts) if plan is not None else None)


def summary_of(inv: Inventory, plan: pl.DataFrame | None, facts: pl.DataFrame,
               freed: PerRegistry | None) -> PerRegistry:
    """:func:`summary` from the manifest facts and, with a plan, what it frees (``reclaimable(inv, plan)``)."""
    per_repo = inv.repositories.select(*REPOSITORY_KEY).join(
        facts.group_by(REPOSITORY_KEY).agg(
            pl.len().alias("manifests"),
            (pl.col("kind") == "image").sum().alias("images"),
            (pl.col("kind") == "index").sum().alias("indexes"),
            pl.col("untagged").sum().alias("untagged"),
            pl.col("own_bytes").sum().alias("logical_bytes"),
        ), on=REPOSITORY_KEY, how="full", coalesce=True,
    ).join(inv.tags.group_by(REPOSITORY_KEY).agg(pl.len().alias("tags")), on=REPOSITORY_KEY, how="left")
    if plan is not None:
        per_repo = (per_repo.join(_plan_totals(inv, plan), on=REPOSITORY_KEY, how="left")
                    .join(freed.repositories.select(*REPOSITORY_KEY, "reclaimable_bytes"), on=REPOSITORY_KEY,
                          how="left"))
    counts = [c for c in per_repo.collect_schema().names() if c not in REPOSITORY_KEY]
    summed = [c for c in counts if c != "reclaimable_bytes"]
    per_repo = per_repo.with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in counts).sort(REPOSITORY_KEY)
    per_registry = (
        inv.registries.select("registry", "sku", "status", pl.col("storage_used_bytes").alias("billed_bytes"),
                              pl.col("storage_included_bytes").alias("included_bytes"))
        .join(per_repo.group_by("registry").agg(pl.len().alias("repositories"), *(pl.col(c).sum() for c in summed)),
              on="registry", how="left")
        .with_columns(pl.col(c).fill_null(0) for c in ["repositories", *summed])
    )
    if freed is not None:
        per_registry = per_registry.join(freed.registries.select("registry", "reclaimable_bytes"), on="registry",
                                         how="left").with_columns(pl.col("reclaimable_bytes").fill_null(0))
    return PerRegistry(registries=per_registry.sort("registry"), repositories=per_repo)


def collection_status(inv: Inventory) -> pl.DataFrame:
    """Per registry: status, repositories, and the number of errors by stage (never hidden in a report)."""
    errors = inv.errors.group_by("registry").agg(pl.len().alias("errors"),
                                                 pl.col("stage").unique().sort().str.join(", ").alias("stages"))
    return (inv.registries.select("registry", "status", "repository_count")
            .join(errors, on="registry", how="left").with_columns(pl.col("errors").fill_null(0)).sort("registry"))
