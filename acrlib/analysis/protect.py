"""Protections a purge plan can add on top of ``acr purge``'s rules: evidence that an image is used turns its
deletion rows into ``keep`` rows, and a registry without the evidence needed turns into ``skip`` rows.

A protected manifest keeps the manifests it cannot live without or that cannot live without it: its index
parents and children (nested indexes followed) and its OCI referrers, and the subject of a protected referrer
(ACR deletes referrers with their subject); tags that point at a protected manifest are kept too. Pure polars:
a fixed point over the registry's relations."""

from __future__ import annotations

import datetime as dt

import polars as pl

from ..inventory import Inventory
from ..schema import MANIFEST_KEY

DELETING = ("delete_tag", "delete_manifest", "cascade")
MAX_DEPTH = 32  # nested indexes and referrer chains deeper than this do not occur in registries


def relations(inv: Inventory) -> pl.DataFrame:
    """Pairs (registry, repository, digest, related) in both directions: index and child, referrer and
    subject."""
    children = inv.references.select("registry", "repository", pl.col("index_digest").alias("digest"),
                                     pl.col("child_digest").alias("related"))
    referrers = inv.manifests.filter(pl.col("subject").is_not_null()).select(
        "registry", "repository", pl.col("subject").alias("digest"), pl.col("digest").alias("related"))
    edges = pl.concat([children, referrers])
    return pl.concat([edges, edges.select("registry", "repository", pl.col("related").alias("digest"),
                                          pl.col("digest").alias("related"))]).unique()


def closure(inv: Inventory, seeds: pl.DataFrame) -> pl.DataFrame:
    """``seeds`` (registry, repository, digest, reason) and every manifest related to them, each once; a
    related manifest's reason names the seed it is kept for."""
    edges = relations(inv)
    found = seeds.unique(MANIFEST_KEY, keep="first").with_columns(pl.col("reason").alias("seed"))
    frontier = found
    for _ in range(MAX_DEPTH):
        step = (frontier.join(edges, on=MANIFEST_KEY)
                .select("registry", "repository", pl.col("related").alias("digest"),
                        (pl.lit("related to a manifest ") + pl.col("seed")).alias("reason"), "seed")
                .unique(MANIFEST_KEY, keep="first").join(found, on=MANIFEST_KEY, how="anti"))
        if step.height == 0:
            break
        found = pl.concat([found, step])
        frontier = step
    return found.drop("seed")


def apply(plan: pl.DataFrame, digests: pl.DataFrame, tags: pl.DataFrame, uncovered: pl.DataFrame) -> pl.DataFrame:
    """Deletion rows of ``plan`` for a protected digest (or a protected tag, or a tag on a protected digest)
    become ``keep`` with the protection's reason; deletion rows in an ``uncovered`` registry (registry, reason)
    become ``skip``. Other rows are unchanged."""
    deleting = pl.col("action").is_in(DELETING)
    by_digest = digests.select(*MANIFEST_KEY, pl.col("reason").alias("_digest_reason"))
    by_tag = tags.select("registry", "repository", "tag", pl.col("reason").alias("_tag_reason")).unique(
        ["registry", "repository", "tag"], keep="first")
    marked = (plan.join(by_digest, on=MANIFEST_KEY, how="left")
              .join(by_tag, on=["registry", "repository", "tag"], how="left")
              .join(uncovered.select("registry", pl.col("reason").alias("_skip_reason")), on="registry", how="left"))
    protection = pl.coalesce("_tag_reason", "_digest_reason")
    return marked.with_columns(
        pl.when(deleting & pl.col("_skip_reason").is_not_null()).then(pl.lit("skip"))
        .when(deleting & protection.is_not_null()).then(pl.lit("keep"))
        .otherwise(pl.col("action")).alias("action"),
        pl.when(deleting & pl.col("_skip_reason").is_not_null()).then(pl.col("_skip_reason"))
        .when(deleting & protection.is_not_null()).then(protection)
        .otherwise(pl.col("reason")).alias("reason"),
    ).drop("_digest_reason", "_tag_reason", "_skip_reason").select(plan.columns)


def _ago(now: dt.datetime, when: pl.Expr) -> pl.Expr:
    days = ((pl.lit(now) - when).dt.total_seconds() / 86400).round(0).cast(pl.Int64)
    unit = pl.when(days == 1).then(pl.lit(" day ago (")).otherwise(pl.lit(" days ago ("))
    return days.cast(pl.String) + unit + when.dt.strftime("%Y-%m-%d") + ")"


def pulled(inv: Inventory, plan: pl.DataFrame, within: dt.timedelta, label: str, now: dt.datetime) -> pl.DataFrame:
    """Keep what was pulled within ``within`` of ``now`` (by digest, or through a tag pulled then), with its
    relations; skip every deletion in a registry whose pull logs do not reach back that far."""
    since = now - within
    sources = inv.activity_sources
    covered = sources.filter((pl.col("status") == "ok") & (pl.col("covered_from") <= since))["registry"]
    uncovered = (inv.registries.select("registry").join(sources.select("registry", "status", "covered_from"),
                                                         on="registry", how="left")
                 .filter(~pl.col("registry").is_in(covered.implode()))
                 .select("registry", pl.format("no pull logs covering {} ({})", pl.lit(label),
                                               pl.when(pl.col("status") == "ok").then(
                                                   pl.lit("logs from ") + pl.col("covered_from").dt.strftime(
                                                       "%Y-%m-%d")).otherwise(pl.col("status").fill_null(
                                                           "activity not collected"))).alias("reason")))
    recent = inv.activity.filter(pl.col("registry").is_in(covered.implode()), pl.col("last_pulled_at") >= since)
    reason = pl.lit("pulled ") + _ago(now, pl.col("last_pulled_at"))
    by_digest = recent.filter(pl.col("digest").is_not_null()).select(*MANIFEST_KEY, reason.alias("reason"))
    tags = (recent.select("registry", "repository", pl.col("tags_pulled").alias("tag"), reason.alias("reason"))
            .explode("tag").filter(pl.col("tag").is_not_null()))
    through_tags = tags.join(inv.tags.select("registry", "repository", "tag", "digest"),
                             on=["registry", "repository", "tag"]).select(*MANIFEST_KEY, "reason")
    digests = closure(inv, pl.concat([by_digest, through_tags]))
    return apply(plan, digests, tags, uncovered)


def _where() -> pl.Expr:
    """Where a deployment runs, in a few words: ``aks aks-prod-weu/payments/payments-api``."""
    place = pl.coalesce(pl.concat_str([pl.col("cluster"), pl.col("namespace"), pl.col("workload")], separator="/"),
                        pl.col("workload"))
    return pl.col("service") + " " + place


def running(inv: Inventory) -> tuple[pl.DataFrame, pl.DataFrame]:
    """What deployments use in the tenant's registries: digests (registry, repository, digest, reason: where it
    runs) and tags (registry, repository, tag, reason)."""
    ours = inv.deployments.filter(pl.col("registry").is_not_null())
    reason = pl.lit("runs in ") + _where()
    digests = ours.filter(pl.col("digest").is_not_null()).select(*MANIFEST_KEY, reason.alias("reason"))
    tags = ours.filter(pl.col("tag").is_not_null()).select("registry", "repository", "tag", reason.alias("reason"))
    # a tag a workload names keeps what it points at now too: the next restart pulls that
    through_tags = tags.join(inv.tags.select("registry", "repository", "tag", "digest"),
                             on=["registry", "repository", "tag"]).select(*MANIFEST_KEY, "reason")
    return pl.concat([digests, through_tags]).unique(MANIFEST_KEY, keep="first"), tags.unique(
        ["registry", "repository", "tag"], keep="first")


def in_use(inv: Inventory, plan: pl.DataFrame) -> pl.DataFrame:
    """Keep what a deployment runs or names (by digest, or through a tag it names), with its relations. When
    some clusters' pods are unknown (their source's status is not ``ok``), every deletion's reason says so."""
    digests, tags = running(inv)
    plan = apply(plan, closure(inv, digests), tags, pl.DataFrame(schema={"registry": pl.String, "reason": pl.String}))
    # an AKS cluster whose pods were not read (no Container Insights, a workspace that refused, rows that could
    # not be read): anything may run there
    unknown = inv.deployment_sources.filter((pl.col("service") == "aks") & (pl.col("status") != "ok"))[
        "name"].to_list()
    if unknown:
        note = (f"; the pods of {len(unknown)} AKS cluster{'s' if len(unknown) > 1 else ''} are unknown "
                f"({', '.join(sorted(unknown)[:5])}): one of them may run it")
        plan = plan.with_columns(pl.when(pl.col("action").is_in(DELETING)).then(pl.col("reason") + note)
                                 .otherwise(pl.col("reason")).alias("reason"))
    return plan


def running_deletions(inv: Inventory, plan: pl.DataFrame) -> pl.DataFrame:
    """Deletions in ``plan`` of an image a workload runs, or of a tag a deployment names: registry, repository,
    tag, digest, action, reason. A plan of :func:`acrlib.purge_plan` has none (it spares what runs)."""
    digests, tags = running(inv)
    deleting = plan.filter(pl.col("action").is_in(DELETING))
    return pl.concat([
        deleting.join(digests, on=MANIFEST_KEY, how="inner"),
        deleting.join(tags, on=["registry", "repository", "tag"], how="inner"),
    ], how="diagonal_relaxed").select("registry", "repository", "tag", "digest", "action", "reason").unique(
        maintain_order=True)

