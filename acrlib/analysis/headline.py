"""`headline`: the handful of numbers a reader needs first, each computed the honest way (savings from the
bytes a purge frees, never from summed image sizes)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from ..inventory import Inventory
from .frames import Frames
from .storage import has_layers


@dataclass(frozen=True)
class Headline(Frames):
    """The report's first numbers (sizes in bytes, money a month in the rates' currency). The plan's numbers are
    None without a plan, the trend's without two snapshots. Read as attributes, or as a read-only dict
    (``h["billed_bytes"]``, ``h.items()``)."""

    registries: int
    complete_registries: int
    errors: int
    repositories: int
    manifests: int
    images: int
    tags: int
    untagged: int
    logical_bytes: int
    billed_bytes: int
    monthly_cost: float
    overage_monthly: float
    over_allowance: int
    security_findings: int
    registries_with_findings: int
    stale_tags: int | None = None
    stale_manifests: int | None = None
    reclaimable_bytes: int | None = None
    reclaimable_exact: bool | None = None
    reclaimable_share: float | None = None
    monthly_savings: float | None = None
    soonest_full_registry: str | None = None
    soonest_full_on: dt.datetime | None = None
    running_fixable: int | None = None
    critical_findings: int | None = None
    critical_removed: int | None = None


def headline(inv: Inventory, plan: pl.DataFrame | None = None, *, rates: dict | None = None,
             history=None) -> Headline:
    """The report's first numbers, as a :class:`Headline`:

    - counts: registries, complete_registries, errors, repositories, manifests, images, tags, untagged;
    - storage: logical_bytes (sum of image sizes), billed_bytes (what the registries bill);
    - money (``rates``: :func:`acrlib.cost`'s keyword arguments; its currency, USD by default): monthly_cost,
      overage_monthly, over_allowance (registries using more storage than their SKU includes);
    - security: security_findings and registries_with_findings (:func:`acrlib.posture`);
    - with a plan: stale_tags, stale_manifests, reclaimable_bytes (what deleting the plan frees),
      reclaimable_exact (False: estimated from image sizes; collect with layers for exact bytes),
      reclaimable_share (of billed bytes, None when nothing is billed), monthly_savings (only storage above an
      allowance costs money, so this is often much less than the bytes suggest);
    - with a :class:`~acrlib.History` of two or more snapshots: soonest_full_registry and soonest_full_on, the
      first registry to run out of included storage at its recent growth (None when none is growing into it);
    - with vulnerability findings (:func:`acrlib.exposure`): running_fixable (running images with critical or
      high findings a fix exists for), critical_findings (critical CVEs of the tenant's manifests, each CVE once
      per manifest), and with a plan critical_removed (those of the manifests the plan deletes).
    """
    from .context import Analysis

    return Analysis(inv, plan, rates=rates, history=history).headline


def headline_of(a) -> Headline:
    """:func:`headline` from an :class:`~acrlib.Analysis` (its summary, costs and posture, computed once)."""
    regs = a.summary.registries
    costs, found = a.costs, a.posture
    numbers: dict = {
        "registries": regs.height,
        "complete_registries": int((regs["status"] == "complete").sum()),
        "errors": a.inv.errors.height,
    }
    for column in ("repositories", "manifests", "images", "tags", "untagged", "logical_bytes", "billed_bytes"):
        numbers[column] = int(regs[column].fill_null(0).sum())
    numbers.update(
        monthly_cost=float(costs["monthly"].fill_null(0).sum()),
        overage_monthly=float(costs["overage_monthly"].fill_null(0).sum()),
        over_allowance=int((costs["overage_gib"] > 0).sum()),
        security_findings=found.height,
        registries_with_findings=found["registry"].n_unique(),
    )
    if a.plan is not None:  # summary's reclaimable_bytes are acrlib.reclaimable's, per registry
        billed = numbers["billed_bytes"]
        total = int(regs["reclaimable_bytes"].sum())
        numbers.update(
            stale_tags=int(regs["stale_tags"].sum()),
            stale_manifests=int(regs["stale_manifests"].sum()),
            reclaimable_bytes=total,
            reclaimable_exact=has_layers(a.inv),
            reclaimable_share=total / billed if billed else None,
            monthly_savings=float(a.savings["monthly_savings"].fill_null(0).sum()),
        )
    numbers["soonest_full_registry"], numbers["soonest_full_on"] = soonest_full(a.history)
    if a.inv.vulnerability_sources.height:
        known = a.inv.vulnerabilities.filter(pl.col("registry").is_not_null() & (pl.col("severity") == "Critical"))
        numbers.update(running_fixable=a.exposure.running_fixable.height,
                       critical_findings=known.unique(["registry", "repository", "digest", "cve_id"]).height)
        if a.plan is not None:
            numbers["critical_removed"] = int(regs["critical_removed"].sum())
    return Headline(**numbers)


def soonest_full(history) -> tuple[str | None, dt.datetime | None]:
    """The registry that runs out of its included storage first at its recent growth, and when (``None, None``
    without two snapshots, or when no registry under its allowance is growing into it)."""
    if history is None or len(history) < 2:
        return None, None
    from .trends import projection

    ahead = projection(history).filter(pl.col("full_on").is_not_null(), pl.col("days_until_full") > 0)
    if ahead.height == 0:
        return None, None
    first = ahead.sort("full_on", "registry").row(0, named=True)
    return first["registry"], first["full_on"]
