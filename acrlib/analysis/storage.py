"""Storage as the registry bills it: each blob once per registry.

With a layers table (``collect(layers=True)``) the figures are exact: a blob is a manifest's own bytes, its
config or a layer, identified by digest. Without it, every function falls back to ``imageSize`` estimates
(shared layers counted once per image) and says so in its ``basis`` column.
"""

from __future__ import annotations

import polars as pl

from ..inventory import Inventory
from ..schema import REPOSITORY_KEY
from .facts import Facts, manifest_facts
from .frames import Copies, PerRegistry

EXACT = "layers: each blob counted once"
ESTIMATE = "imageSize estimate: collect with layers=True for exact bytes"
BLOB_ROLES = ("manifest", "config", "layer")


def has_layers(inv: Inventory) -> bool:
    layers = inv.layers
    if isinstance(layers, pl.LazyFrame):  # a lazy view of a snapshot (Inventory.lazy)
        return layers.select(pl.len()).collect().item() > 0
    return layers.height > 0


def blobs(inv: Inventory) -> pl.DataFrame:
    """Distinct (registry, repository, blob digest, size) that the repositories' manifests store."""
    return (inv.layers.filter(pl.col("role").is_in(BLOB_ROLES))
            .select(*REPOSITORY_KEY, "blob_digest", "size_bytes").unique([*REPOSITORY_KEY, "blob_digest"]))


def _explain(status: str | None, counted, billed, exact: bool = True) -> str:
    if not exact:
        return ("counted from image sizes, which count a layer shared by several images once per image: an "
                "estimate that cannot be compared with billed storage (collect with layers=True for exact bytes)")
    if counted is None or billed is None:
        return "billed usage unknown (listUsages failed)" if billed is None else "nothing counted"
    if status != "complete":
        return "collection incomplete: counted bytes miss what failed (see errors)"
    if counted == billed:
        return "billed storage equals the blobs counted"
    if billed > counted:
        return ("the registry bills blobs no listed manifest references: deleted manifests not yet garbage "
                "collected, soft-deleted artifacts, or manifests hidden from listing")
    return "billed storage lags recent pushes (ACR updates usage periodically)"


def storage(inv: Inventory) -> PerRegistry:
    """Per registry and per repository: unique_bytes (each blob once), exclusive_bytes (blobs no other
    repository of the registry uses), shared_bytes (the rest), and per registry billed_bytes (listUsages),
    difference (billed - unique) with an explanation. Falls back to ``imageSize`` estimates without layers
    (basis says so): then difference_bytes is null, since summed image sizes count shared layers many times."""
    return storage_of(inv, lambda: manifest_facts(inv))


def storage_of(inv: Inventory, facts: Facts) -> PerRegistry:
    """:func:`storage`, with the manifest facts from ``facts()`` (asked for only without layers)."""
    if not has_layers(inv):
        facts = facts()
        repos = facts.group_by(REPOSITORY_KEY).agg(pl.col("own_bytes").sum().alias("unique_bytes")).with_columns(
            pl.lit(None, dtype=pl.Int64).alias("exclusive_bytes"), pl.lit(None, dtype=pl.Int64).alias("shared_bytes"))
        regs = repos.group_by("registry").agg(pl.col("unique_bytes").sum()).with_columns(
            pl.lit(None, dtype=pl.Int64).alias("exclusive_bytes"), pl.lit(None, dtype=pl.Int64).alias("shared_bytes"))
        basis = ESTIMATE
    else:
        b = blobs(inv)
        users = b.group_by("registry", "blob_digest").agg(pl.col("repository").n_unique().alias("repositories"))
        b = b.join(users, on=["registry", "blob_digest"])
        repos = b.group_by(REPOSITORY_KEY).agg(
            pl.col("size_bytes").sum().alias("unique_bytes"),
            pl.col("size_bytes").filter(pl.col("repositories") == 1).sum().alias("exclusive_bytes"),
        ).with_columns((pl.col("unique_bytes") - pl.col("exclusive_bytes")).alias("shared_bytes"))
        per_blob = b.unique(["registry", "blob_digest"])
        regs = per_blob.group_by("registry").agg(
            pl.col("size_bytes").sum().alias("unique_bytes"),
            pl.col("size_bytes").filter(pl.col("repositories") == 1).sum().alias("exclusive_bytes"),
            pl.col("size_bytes").filter(pl.col("repositories") > 1).sum().alias("shared_bytes"),
        )
        basis = EXACT
    exact = basis == EXACT
    regs = (inv.registries.select("registry", "status", pl.col("storage_used_bytes").alias("billed_bytes"))
            .join(regs, on="registry", how="left")
            .with_columns(((pl.col("billed_bytes") - pl.col("unique_bytes")) if exact
                           else pl.lit(None, dtype=pl.Int64)).alias("difference_bytes")))
    regs = regs.with_columns(
        pl.struct("status", "unique_bytes", "billed_bytes").map_elements(
            lambda r: _explain(r["status"], r["unique_bytes"], r["billed_bytes"], exact), return_dtype=pl.String
        ).alias("explanation"),
        pl.lit(basis).alias("basis"),
    ).select("registry", "unique_bytes", "exclusive_bytes", "shared_bytes", "billed_bytes", "difference_bytes",
             "explanation", "basis", "status")
    repos = repos.with_columns(pl.lit(basis).alias("basis")).sort(REPOSITORY_KEY)
    return PerRegistry(registries=regs.sort("registry"), repositories=repos)


def _deleted(plan: pl.DataFrame) -> pl.DataFrame:
    return (plan.filter(pl.col("action").is_in(["delete_manifest", "cascade"]))
            .select(*REPOSITORY_KEY, pl.col("digest").alias("manifest_digest")).unique())


def reclaimable(inv: Inventory, plan: pl.DataFrame) -> PerRegistry:
    """Bytes a purge plan frees: blobs referenced only by manifests the plan deletes (its cascade included),
    nothing that any surviving manifest of the registry, in any repository, still needs.

    Per registry and per repository (``.registries``, ``.repositories``): manifests_deleted, blobs_freed,
    reclaimable_bytes, basis. Without layers reclaimable_bytes is an estimate from image sizes (basis says so),
    never more than the registry bills.
    A blob freed is credited to a repository when every deleted manifest using it is there; otherwise to
    ``(several repositories)``. Deleting tags alone frees nothing."""
    return reclaimable_of(inv, plan, lambda: manifest_facts(inv))


def reclaimable_of(inv: Inventory, plan: pl.DataFrame, facts: Facts) -> PerRegistry:
    """:func:`reclaimable`, with the manifest facts from ``facts()`` (asked for only when they are needed)."""
    deleted = _deleted(plan)
    if not has_layers(inv):
        if deleted.height == 0:  # nothing to weigh: no need for the facts of every manifest
            facts = pl.DataFrame(schema={**{k: pl.String for k in REPOSITORY_KEY}, "digest": pl.String,
                                         "own_bytes": pl.Int64})
        else:
            facts = facts()
        facts = facts.select(*REPOSITORY_KEY, pl.col("digest").alias("manifest_digest"), "own_bytes")
        freed = deleted.join(facts, on=[*REPOSITORY_KEY, "manifest_digest"], how="left")
        repos = freed.group_by(REPOSITORY_KEY).agg(pl.len().alias("manifests_deleted"),
                                        pl.lit(None, dtype=pl.Int64).alias("blobs_freed"),
                                        pl.col("own_bytes").sum().alias("reclaimable_bytes"))
        regs = repos.group_by("registry").agg(pl.col("manifests_deleted").sum(),
                                             pl.lit(None, dtype=pl.Int64).alias("blobs_freed"),
                                             pl.col("reclaimable_bytes").sum())
        basis = ESTIMATE
    else:
        refs = inv.layers.filter(pl.col("role").is_in(BLOB_ROLES)).select(*REPOSITORY_KEY, "manifest_digest",
                                                                          "blob_digest",
                                                                          "size_bytes")
        victims = refs.join(deleted, on=[*REPOSITORY_KEY, "manifest_digest"], how="semi")
        survivors = refs.join(deleted, on=[*REPOSITORY_KEY, "manifest_digest"], how="anti").select("registry",
                                                                                       "blob_digest").unique()
        freed = (victims.join(survivors, on=["registry", "blob_digest"], how="anti")
                 .group_by("registry", "blob_digest")
                 .agg(pl.col("size_bytes").first(), pl.col("repository").unique().alias("repositories"))
                 .with_columns(pl.when(pl.col("repositories").list.len() == 1)
                               .then(pl.col("repositories").list.first())
                               .otherwise(pl.lit("(several repositories)")).alias("repository")))
        per_repo_deleted = deleted.group_by(REPOSITORY_KEY).agg(pl.len().alias("manifests_deleted"))
        repos = (freed.group_by(REPOSITORY_KEY).agg(pl.len().alias("blobs_freed"),
                                         pl.col("size_bytes").sum().alias("reclaimable_bytes"))
                 .join(per_repo_deleted, on=REPOSITORY_KEY, how="full", coalesce=True))
        regs = (freed.group_by("registry").agg(pl.len().alias("blobs_freed"),
                                               pl.col("size_bytes").sum().alias("reclaimable_bytes"))
                .join(deleted.group_by("registry").agg(pl.len().alias("manifests_deleted")), on="registry",
                      how="full", coalesce=True))
        basis = EXACT
    columns = ["manifests_deleted", "blobs_freed", "reclaimable_bytes"]
    if basis == ESTIMATE:  # summed image sizes count shared layers many times: never more than the registry bills
        billed = inv.registries.select("registry", pl.col("storage_used_bytes").alias("_billed"))
        regs = regs.join(billed, on="registry", how="left").with_columns(
            pl.min_horizontal("reclaimable_bytes", pl.col("_billed").fill_null(pl.col("reclaimable_bytes")))
            .alias("reclaimable_bytes")).drop("_billed")
        repos = repos.join(billed, on="registry", how="left").with_columns(
            pl.min_horizontal("reclaimable_bytes", pl.col("_billed").fill_null(pl.col("reclaimable_bytes")))
            .alias("reclaimable_bytes")).drop("_billed")
    regs = (inv.registries.select("registry").join(regs, on="registry", how="left")
            .with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in columns)
            .with_columns(pl.lit(basis).alias("basis")).select("registry", *columns, "basis").sort("registry"))
    repos = (repos.with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in columns)
             .with_columns(pl.lit(basis).alias("basis")).select(*REPOSITORY_KEY, *columns, "basis")
             .sort(REPOSITORY_KEY))
    return PerRegistry(registries=regs, repositories=repos)


def duplicates(inv: Inventory) -> Copies:
    """The same content stored in several registries.

    ``manifests``: digest, registries (list), copies, size_bytes (``imageSize``), extra_bytes (what the copies
    beyond the first take), a repository where it lives. ``blobs`` (with layers, exact): blob digest, role,
    registries, copies, size_bytes, extra_bytes. Sorted by extra_bytes."""
    manifests = (inv.manifests.group_by("digest").agg(
        pl.col("registry").unique().sort().alias("registries"), pl.col("size_bytes").first(),
        pl.col("repository").first().alias("example_repository"), pl.col("kind").first())
        .with_columns(pl.col("registries").list.len().alias("copies"))
        .filter(pl.col("copies") > 1)
        .with_columns((pl.col("size_bytes") * (pl.col("copies") - 1)).alias("extra_bytes"))
        .sort("extra_bytes", "digest", descending=[True, False]))
    if has_layers(inv):
        blob_copies = (inv.layers.filter(pl.col("role").is_in(["config", "layer"]))
                       .group_by("blob_digest").agg(pl.col("registry").unique().sort().alias("registries"),
                                                    pl.col("size_bytes").first(), pl.col("role").first())
                       .with_columns(pl.col("registries").list.len().alias("copies"))
                       .filter(pl.col("copies") > 1)
                       .with_columns((pl.col("size_bytes") * (pl.col("copies") - 1)).alias("extra_bytes"))
                       .sort("extra_bytes", "blob_digest", descending=[True, False]))
        basis = EXACT
    else:
        blob_copies = pl.DataFrame(schema={"blob_digest": pl.String, "registries": pl.List(pl.String),
                                           "size_bytes": pl.Int64, "role": pl.String, "copies": pl.UInt32,
                                           "extra_bytes": pl.Int64})
        basis = ESTIMATE
    return Copies(manifests=manifests.with_columns(pl.lit(basis).alias("basis")),
                  blobs=blob_copies.with_columns(pl.lit(basis).alias("basis")))
