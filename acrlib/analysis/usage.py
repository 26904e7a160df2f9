"""What is used: images pulled (from the registries' event logs, the ``activity`` tables) and, conversely, images
never pulled, with the bytes they hold."""

from __future__ import annotations

import datetime as dt

import polars as pl

from ..inventory import Inventory
from .frames import Usage
from .protect import KEY, closure
from .storage import reclaimable

# What people pull: images, multi-arch indexes and charts; signatures and other referrers come with them.
PULLED_KINDS = ("image", "index", "helm")


def images(inv: Inventory) -> pl.DataFrame:
    """Top-level manifests people pull: not an index's child, not an OCI referrer, of a pulled kind."""
    children = inv.references.select("registry", "repository", pl.col("child_digest").alias("digest"))
    return (inv.manifests.filter(pl.col("kind").is_in(PULLED_KINDS), pl.col("subject").is_null())
            .join(children, on=KEY, how="anti"))


def pulled_since(inv: Inventory, since: dt.datetime) -> pl.DataFrame:
    """Manifests pulled since ``since`` (registry, repository, digest, reason), with the manifests related to
    them (index parents and children, referrers): pulling an index pulls its children."""
    recent = inv.activity.filter(pl.col("pulls") > 0, pl.col("last_pulled_at") >= since,
                                 pl.col("digest").is_not_null())
    return closure(inv, recent.select(*KEY, pl.lit("pulled").alias("reason")))


def unused(inv: Inventory, days: int = 90, now: dt.datetime | None = None) -> Usage:
    """Images never pulled in the last ``days`` (as far back as each registry's pull logs reach), per registry and
    per repository: images, pulled, never_pulled, never_pulled_bytes (what deleting the never-pulled images, with
    their index children and referrers, would free: exact with ``layers``, else an ``imageSize`` estimate, as
    ``basis`` says), last_pulled_at; per registry also the log ``status``, ``covered_from`` and
    ``covered_days`` (how much of the window the logs cover). ``.images``: every image (registry, repository,
    digest, kind, tags, size_bytes, last_updated_at, pulled: true, false, or null where the registry has no
    usable logs). Registries without usable logs have null counts: nothing is called unused without evidence.
    Needs ``collect(activity_days=...)``.
    """
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"days must be a whole number >= 1, not {days!r}")
    now = now or inv.collected_at
    window_start = now - dt.timedelta(days=days)
    sources = inv.registries.select("registry").join(
        inv.activity_sources.select("registry", "status", "covered_from"), on="registry", how="left")
    covered = sources.filter((pl.col("status") == "ok") & pl.col("covered_from").is_not_null())["registry"]
    used = pulled_since(inv, window_start)
    top = images(inv)
    flagged = (top.join(used.select(*KEY, pl.lit(True).alias("pulled")), on=KEY, how="left")
               .with_columns(pl.col("pulled").fill_null(False),
                             pl.col("registry").is_in(covered.implode()).alias("covered")))
    never = flagged.filter(pl.col("covered") & ~pl.col("pulled"))
    # what deleting them frees: the never-pulled images with their children and referrers, nothing pulled
    gone = closure(inv, never.select(*KEY, pl.lit("never pulled").alias("reason"))).join(used, on=KEY, how="anti")
    freed = reclaimable(inv, gone.select(*KEY, pl.lit("delete_manifest").alias("action")))
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
    listed = flagged.select(*KEY, "kind", "tags", "size_bytes", "last_updated_at",
                            pl.when(pl.col("covered")).then(pl.col("pulled")).alias("pulled")).sort(KEY)
    return Usage(registries=registries, repositories=repositories, images=listed)
