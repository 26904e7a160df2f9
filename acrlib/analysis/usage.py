"""What is used: images pulled (from the registries' event logs, the ``activity`` tables), images that run (the
``deployments`` tables), and, conversely, images never pulled, with the bytes they hold. The two agree: an image
seen running is never called unused."""

from __future__ import annotations

import datetime as dt

import polars as pl

from ..inventory import Inventory
from ..schema import MANIFEST_KEY
from .facts import Facts, manifest_facts
from .frames import InUse, Usage
from .protect import closure, running
from .storage import reclaimable_of

# What people pull: images, multi-arch indexes and charts; signatures and other referrers come with them.
PULLED_KINDS = ("image", "index", "helm")


def images(inv: Inventory) -> pl.DataFrame:
    """Top-level manifests people pull: not an index's child, not an OCI referrer, of a pulled kind."""
    children = inv.references.select("registry", "repository", pl.col("child_digest").alias("digest"))
    return (inv.manifests.filter(pl.col("kind").is_in(PULLED_KINDS), pl.col("subject").is_null())
            .select(*MANIFEST_KEY, "kind", "tags", "size_bytes", "last_updated_at")
            .join(children, on=MANIFEST_KEY, how="anti"))


def pulled_since(inv: Inventory, since: dt.datetime) -> pl.DataFrame:
    """Manifests pulled since ``since`` (registry, repository, digest, reason), with the manifests related to
    them (index parents and children, referrers): pulling an index pulls its children."""
    recent = inv.activity.filter(pl.col("pulls") > 0, pl.col("last_pulled_at") >= since,
                                 pl.col("digest").is_not_null())
    return closure(inv, recent.select(*MANIFEST_KEY, pl.lit("pulled").alias("reason")))


def unused(inv: Inventory, days: int = 90, now: dt.datetime | None = None) -> Usage:
    """Images never pulled in the last ``days`` (as far back as each registry's pull logs reach) and not seen in
    use by a deployment, per registry and
    per repository: images, pulled, never_pulled, never_pulled_bytes (what deleting the never-pulled images, with
    their index children and referrers, would free: exact with ``layers``, else an ``imageSize`` estimate, as
    ``basis`` says), last_pulled_at; per registry also the log ``status``, ``covered_from`` and
    ``covered_days`` (how much of the window the logs cover). ``.images``: every image (registry, repository,
    digest, kind, tags, size_bytes, last_updated_at, pulled: true, false, or null where the registry has no
    usable logs). Registries without usable logs have null counts: nothing is called unused without evidence.
    Needs ``collect(activity_days=...)``.
    """
    return unused_of(inv, days, now, lambda: manifest_facts(inv))


def unused_of(inv: Inventory, days: int, now: dt.datetime | None, facts: Facts) -> Usage:
    """:func:`unused`, with the manifest facts from ``facts()`` (asked for only when they are needed)."""
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"days must be a whole number >= 1, not {days!r}")
    now = now or inv.collected_at
    window_start = now - dt.timedelta(days=days)
    sources = inv.registries.select("registry").join(
        inv.activity_sources.select("registry", "status", "covered_from"), on="registry", how="left")
    covered = sources.filter((pl.col("status") == "ok") & pl.col("covered_from").is_not_null())["registry"]
    digests, _ = running(inv)  # what runs is used, whatever the logs say
    used = pl.concat([pulled_since(inv, window_start), closure(inv, digests)]).unique(MANIFEST_KEY, keep="first")
    top = images(inv)
    flagged = (top.join(used.select(*MANIFEST_KEY, pl.lit(True).alias("pulled")), on=MANIFEST_KEY, how="left")
               .with_columns(pl.col("pulled").fill_null(False),
                             pl.col("registry").is_in(covered.implode()).alias("covered")))
    never = flagged.filter(pl.col("covered") & ~pl.col("pulled"))
    # what deleting them frees: the never-pulled images with their children and referrers, nothing pulled
    gone = closure(inv, never.select(*MANIFEST_KEY, pl.lit("never pulled").alias("reason"))).join(
        used, on=MANIFEST_KEY, how="anti")
    freed = reclaimable_of(inv, gone.select(*MANIFEST_KEY, pl.lit("delete_manifest").alias("action")), facts)
    last = inv.activity.group_by("registry", "repository").agg(pl.col("last_pulled_at").max())

    def counts(keys: list[str]) -> pl.DataFrame:
        return flagged.group_by(keys).agg(
            pl.len().cast(pl.Int64).alias("images"),
            pl.when(pl.col("covered").all()).then(pl.col("pulled").sum().cast(pl.Int64)).alias("pulled"),
            pl.when(pl.col("covered").all()).then((~pl.col("pulled")).sum().cast(pl.Int64)).alias("never_pulled"))

    repositories = (counts(["registry", "repository"])
                    .join(freed.repositories.select("registry", "repository",
                                                    pl.col("reclaimable_bytes").alias("never_pulled_bytes"), "basis"),
                          on=["registry", "repository"], how="left")
                    .join(last, on=["registry", "repository"], how="left")
                    .with_columns(pl.when(pl.col("never_pulled").is_not_null())
                                  .then(pl.col("never_pulled_bytes").fill_null(0)).alias("never_pulled_bytes"))
                    .sort("registry", "repository"))
    registries = (sources.join(counts(["registry"]), on="registry", how="left")
                  .join(freed.registries.select("registry", pl.col("reclaimable_bytes").alias("never_pulled_bytes"),
                                                "basis"), on="registry", how="left")
                  .with_columns(
                      pl.col("images").fill_null(0),
                      pl.when(pl.col("registry").is_in(covered.implode())).then(pl.col("never_pulled_bytes"))
                      .alias("never_pulled_bytes"),
                      pl.when(pl.col("registry").is_in(covered.implode())).then(
                          ((pl.lit(now) - pl.max_horizontal(pl.col("covered_from"), pl.lit(window_start)))
                           .dt.total_seconds() / 86400).round(1)).alias("covered_days"))
                  .select("registry", "status", "covered_from", "covered_days", "images", "pulled", "never_pulled",
                          "never_pulled_bytes", "basis")
                  .sort("registry"))
    listed = flagged.select(*MANIFEST_KEY, "kind", "tags", "size_bytes", "last_updated_at",
                            pl.when(pl.col("covered")).then(pl.col("pulled")).alias("pulled")).sort(MANIFEST_KEY)
    return Usage(registries=registries, repositories=repositories, images=listed)


def in_use(inv: Inventory, older_than_days: int = 90, now: dt.datetime | None = None) -> InUse:
    """What runs, from the ``deployments`` table (``collect(deployments=True)``):

    - ``registries`` and ``repositories``: images in use (distinct digests of the tenant's registries) per service,
      and the workloads using them;
    - ``old``: images in use pushed more than ``older_than_days`` ago (created_at, age_days, where they run);
    - ``outside``: images from registries outside the tenant (host, repository, tag, services, workloads);
    - ``drift``: deployments whose tag moved since (``tag-moved``: what runs is not what the tag points at now),
      whose tag is gone (``tag-missing``) or whose image is gone (``image-missing``) from the registry.
    """
    if isinstance(older_than_days, bool) or not isinstance(older_than_days, int) or older_than_days < 0:
        raise ValueError(f"older_than_days must be a whole number >= 0, not {older_than_days!r}")
    now = now or inv.collected_at
    d = inv.deployments
    ours = d.filter(pl.col("registry").is_not_null())
    place = pl.coalesce(pl.concat_str([pl.col("cluster"), pl.col("namespace"), pl.col("workload")], separator="/"),
                        pl.col("workload"))
    per_repo = (ours.filter(pl.col("digest").is_not_null())
                .group_by("registry", "repository", "service")
                .agg(pl.col("digest").n_unique().cast(pl.Int64).alias("images"),
                     place.n_unique().cast(pl.Int64).alias("workloads"))
                .sort("registry", "repository", "service"))
    per_registry = (per_repo.group_by("registry", "service").agg(pl.col("images").sum(), pl.col("workloads").sum())
                    .sort("registry", "service"))
    manifests = inv.manifests.select(*MANIFEST_KEY, "created_at", "tags", "kind")
    old = (ours.filter(pl.col("digest").is_not_null()).join(manifests, on=MANIFEST_KEY)
           .filter(pl.col("created_at") < pl.lit(now) - pl.duration(days=older_than_days))
           .group_by(*MANIFEST_KEY).agg(pl.col("created_at").first(), pl.col("tags").first(),
                               (pl.col("service") + " " + place).unique().sort().alias("runs_in"))
           .with_columns(((pl.lit(now) - pl.col("created_at")).dt.total_seconds() / 86400).round(0).cast(pl.Int64)
                         .alias("age_days"))
           .sort("age_days", descending=True))
    outside = (d.filter(pl.col("registry").is_null())
               .group_by("host", "repository", "tag")
               .agg(pl.col("service").unique().sort().alias("services"),
                    place.n_unique().cast(pl.Int64).alias("workloads"))
               .sort("host", "repository", "tag"))
    current = inv.tags.select("registry", "repository", "tag", pl.col("digest").alias("tag_digest"))
    known = inv.manifests.select(*MANIFEST_KEY, pl.lit(True).alias("exists"))
    drift = (ours.join(current, on=["registry", "repository", "tag"], how="left")
             .join(known, on=MANIFEST_KEY, how="left")
             .with_columns(
                 pl.when(pl.col("digest").is_not_null() & pl.col("exists").is_null()).then(pl.lit("image-missing"))
                 .when(pl.col("tag").is_not_null() & pl.col("tag_digest").is_null()).then(pl.lit("tag-missing"))
                 .when(pl.col("tag_digest").is_not_null() & (pl.col("tag_digest") != pl.col("digest")))
                 .then(pl.lit("tag-moved")).alias("state"))
             .filter(pl.col("state").is_not_null())
             .select("state", "registry", "repository", "tag", "digest", "tag_digest", "service",
                     place.alias("where"), "image")
             .unique().sort("state", "registry", "repository", "where"))
    return InUse(registries=per_registry, repositories=per_repo, old=old, outside=outside, drift=drift)


def pushed_never_pulled(inv: Inventory) -> pl.DataFrame:
    """Images pushed within the pull logs' window and never pulled since, newest push first: registry,
    repository, digest (shortened to 19 characters), tags, pushed (UTC). Needs ``collect(activity_days=...)``."""
    return (inv.activity.filter((pl.col("pushes") > 0) & (pl.col("pulls") == 0))
            .join(inv.manifests.select("registry", "repository", "digest", "tags", "size_bytes"),
                  on=["registry", "repository", "digest"], how="inner")
            .sort("last_pushed_at", descending=True)
            .select("registry", "repository", pl.col("digest").str.slice(0, 19).alias("digest"), "tags",
                    pl.col("last_pushed_at").alias("pushed")))

