"""`exposure`: vulnerability findings joined to every image, what runs it, when it was last pulled and whether a
purge plan deletes it. Scanners report the manifest they scanned, usually a platform image under an index: its
findings count for the index people pull (and run)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from ..inventory import Inventory
from ..schema import MANIFEST_KEY
from .frames import Exposure
from .protect import DELETING, MAX_DEPTH, closure, running
from .usage import images, pulled_since

LEVELS = ("Critical", "High", "Medium", "Low", "Unknown")
# Defender rescans images pushed or pulled within this many days; older ones may have no findings at all.
SCAN_WINDOW_DAYS = 90


def _with_ancestors(inv: Inventory, found: pl.DataFrame) -> pl.DataFrame:
    """``found`` (with registry, repository, digest) at its own manifest and again at every index above it
    (nested indexes followed): a platform image's findings count for each index that lists it."""
    parents = inv.references.select("registry", "repository", pl.col("child_digest").alias("digest"),
                                    pl.col("index_digest").alias("parent"))
    out, level = [found], found
    for _ in range(MAX_DEPTH):
        level = level.join(parents, on=MANIFEST_KEY).drop("digest").rename({"parent": "digest"}).select(found.columns)
        if level.height == 0:
            break
        out.append(level)
    return pl.concat(out)


def _to_top(inv: Inventory, found: pl.DataFrame, top: pl.DataFrame) -> pl.DataFrame:
    """``found`` moved up to the top-level images (``top``) it belongs to."""
    return _with_ancestors(inv, found).join(top.select(MANIFEST_KEY), on=MANIFEST_KEY, how="semi")


def _known(inv: Inventory) -> pl.DataFrame:
    """The findings of the tenant's own registries: registry, repository, digest, cve_id, severity,
    fix_status."""
    return inv.vulnerabilities.filter(pl.col("registry").is_not_null()).select(
        *MANIFEST_KEY, "cve_id", "severity", "fix_status")


PLAN_COUNTS = {"critical": pl.Int64(), "high": pl.Int64(), "vulnerabilities": pl.Int64()}


def plan_counts(inv: Inventory, plan: pl.DataFrame) -> pl.DataFrame:
    """``plan`` with the findings of the image each row deletes (or, for a tag, points at): ``critical``,
    ``high`` and ``vulnerabilities`` (distinct CVEs of the manifest and, for an index, of its platform images).
    0: no source reports a finding for it; null: the inventory holds no vulnerability findings at all."""
    if not inv.vulnerability_sources.height:
        return plan.with_columns(pl.lit(None, dtype=dtype).alias(name) for name, dtype in PLAN_COUNTS.items())
    counts = (_with_ancestors(inv, _known(inv)).unique([*MANIFEST_KEY, "cve_id"], keep="first")
              .group_by(MANIFEST_KEY).agg((pl.col("severity") == "Critical").sum().alias("critical"),
                                          (pl.col("severity") == "High").sum().alias("high"),
                                          pl.len().alias("vulnerabilities")))
    return (plan.join(counts, on=MANIFEST_KEY, how="left", maintain_order="left")
            .with_columns(pl.col(*PLAN_COUNTS).fill_null(0).cast(pl.Int64)))


def removed(inv: Inventory, plan: pl.DataFrame) -> pl.DataFrame:
    """Per repository (registry, repository): the findings a plan's deletions remove from the registries,
    ``vulnerabilities_removed`` and ``critical_removed`` (distinct CVEs of the manifests it deletes: an index's
    findings go only when its platform images are deleted too)."""
    deleted = plan.filter(pl.col("action").is_in(["delete_manifest", "cascade"])).select(MANIFEST_KEY).unique()
    gone = _known(inv).join(deleted, on=MANIFEST_KEY, how="semi").unique([*MANIFEST_KEY, "cve_id"])
    return gone.group_by("registry", "repository").agg(
        pl.len().alias("vulnerabilities_removed"), (pl.col("severity") == "Critical").sum().alias("critical_removed"))


def exposure(inv: Inventory, plan: pl.DataFrame | None = None, *, days: int = 90,
             now: dt.datetime | None = None) -> Exposure:
    """Per top-level image (registry, repository, digest, tags): distinct vulnerabilities by severity
    (``critical`` .. ``unknown``), ``fixable`` (critical and high ones with a fix), ``running`` (a workload runs
    it, or an image of its index), ``last_pulled_at`` and ``pulled`` (within ``days``, as far as pull logs tell),
    ``deleted_by_plan`` (with ``plan``). Then ``running_fixable`` (running, with fixable critical or high
    findings, worst first), ``cleanup_first`` (vulnerable, neither running nor pulled: delete these first),
    ``unscanned`` (no source reports a finding, with the likeliest reason) and ``registries`` (per registry:
    images, vulnerable, critical, high, fixable, running_fixable, unscanned). Needs ``collect(vulnerabilities=
    True)`` or ``scan_results``."""
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"days must be a whole number >= 1, not {days!r}")
    now = now or inv.collected_at
    top = images(inv)
    mapped = _to_top(inv, _known(inv), top).unique([*MANIFEST_KEY, "cve_id"], keep="first")
    counts = mapped.group_by(MANIFEST_KEY).agg(
        *(((pl.col("severity") == level).sum()).alias(level.lower()) for level in LEVELS),
        (pl.col("severity").is_in(["Critical", "High"]) & (pl.col("fix_status") == "fix-available")).sum()
        .alias("fixable"))
    digests, _ = running(inv)
    runs = closure(inv, digests).select(MANIFEST_KEY).unique().with_columns(pl.lit(True).alias("running"))
    pulled = pulled_since(inv, now - dt.timedelta(days=days)).select(MANIFEST_KEY).unique().with_columns(
        pl.lit(True).alias("pulled"))
    last = inv.activity.group_by(MANIFEST_KEY).agg(pl.col("last_pulled_at").max())
    deleted = (plan.filter(pl.col("action").is_in(DELETING) & pl.col("digest").is_not_null())
               .select(MANIFEST_KEY).unique() if plan is not None else pl.DataFrame(
                   schema={k: pl.String for k in MANIFEST_KEY})).with_columns(pl.lit(True).alias("deleted_by_plan"))
    level_columns = [level.lower() for level in LEVELS]
    table = (top.select(*MANIFEST_KEY, "tags", "last_updated_at")
             .join(counts, on=MANIFEST_KEY, how="left")
             .join(runs, on=MANIFEST_KEY, how="left").join(pulled, on=MANIFEST_KEY, how="left")
             .join(last, on=MANIFEST_KEY, how="left").join(deleted, on=MANIFEST_KEY, how="left")
             .with_columns(pl.col(*level_columns, "fixable").fill_null(0).cast(pl.Int64),
                           pl.col("running", "pulled", "deleted_by_plan").fill_null(False),
                           pl.any_horizontal(pl.col(c).is_not_null() for c in level_columns)
                           .alias("_scanned"))
             .with_columns(pl.sum_horizontal(*level_columns).alias("vulnerabilities"))
             .sort(MANIFEST_KEY))
    worst = ["critical", "high", "fixable"]
    running_fixable = (table.filter(pl.col("running") & (pl.col("fixable") > 0))
                       .sort(worst, descending=True).drop("_scanned"))
    cleanup_first = (table.filter((pl.col("vulnerabilities") > 0) & ~pl.col("running") & ~pl.col("pulled"))
                     .sort(["critical", "high", "vulnerabilities"], descending=True).drop("_scanned"))
    sources = inv.vulnerability_sources.filter(pl.col("subscription_id").is_not_null()).select(
        pl.col("subscription_id").str.to_lowercase(), "status")
    registry_status = (inv.registries.select("registry", pl.col("subscription_id").str.to_lowercase())
                       .join(sources, on="subscription_id", how="left").select("registry", "status"))
    window = now - dt.timedelta(days=SCAN_WINDOW_DAYS)
    reason = (pl.when(pl.col("status").is_in(["scanning-off", "no-access", "not-available"]))
              .then(pl.lit("registry scanning ") + pl.col("status") + pl.lit(" in its subscription"))
              .when(pl.col("status").is_null())
              .then(pl.lit("Defender was not read for its subscription (collect(vulnerabilities=True))"))
              .when(pl.col("last_updated_at") < window)
              .then(pl.lit(f"pushed more than {SCAN_WINDOW_DAYS} days ago: outside Defender's rescan window"))
              .otherwise(pl.lit("no finding reported (clean, or not scanned yet)")))
    unscanned = (table.filter(~pl.col("_scanned")).join(registry_status, on="registry", how="left")
                 .with_columns(reason.alias("reason"))
                 .select(*MANIFEST_KEY, "tags", "last_updated_at", "running", "reason"))
    table = table.drop("_scanned")
    per_registry = (inv.registries.select("registry")
                    .join(table.group_by("registry").agg(
                        pl.len().alias("images"), (pl.col("vulnerabilities") > 0).sum().alias("vulnerable"),
                        pl.col("critical").sum(), pl.col("high").sum(), pl.col("fixable").sum()),
                          on="registry", how="left")
                    .join(running_fixable.group_by("registry").agg(pl.len().alias("running_fixable")),
                          on="registry", how="left")
                    .join(unscanned.group_by("registry").agg(pl.len().alias("unscanned")), on="registry", how="left")
                    .with_columns(pl.col("images", "vulnerable", "critical", "high", "fixable", "running_fixable",
                                         "unscanned").fill_null(0).cast(pl.Int64))
                    .sort("registry"))
    return Exposure(images=table, running_fixable=running_fixable, cleanup_first=cleanup_first,
                    unscanned=unscanned, registries=per_registry)
