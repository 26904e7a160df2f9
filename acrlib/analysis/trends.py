"""Trends: what changes between the snapshots of a :class:`~acrlib.History` (growth, tag churn, the projection
of when included storage runs out, cost over time). Each table scanned through :meth:`History.scan` carries a
``collected_at`` column. Sizes are bytes; rates are per day.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from .. import schema
from ..history import History
from ..inventory import Inventory
from .cost import cost
from .frames import PerRegistry

DAY_US = 86_400 * 1_000_000  # snapshot times are microseconds: two runs in one second are apart
HORIZON_DAYS = 36_500  # beyond a century a date is noise (and beyond a datetime's range)


def _with_change(df: pl.DataFrame, keys: list[str], columns: list[str]) -> pl.DataFrame:
    """Add ``<column>_change`` (since the previous snapshot; signed: a drop is negative) and
    ``days_since_previous``, per key."""
    df = df.sort([*keys, "collected_at"]).with_columns(pl.col(c).cast(pl.Int64) for c in columns)
    changes = [(pl.col(c) - pl.col(c).shift(1).over(keys)).alias(f"{c}_change") for c in columns]
    days = (pl.col("collected_at") - pl.col("collected_at").shift(1).over(keys)).dt.total_microseconds() / DAY_US
    return df.with_columns(*changes, days.alias("days_since_previous"))


def growth(h: History) -> PerRegistry:
    """Per snapshot, per registry (billed bytes, repositories, manifests, tags) and per repository (manifests,
    tags, image bytes = sum of ``imageSize``), each with its change since the previous snapshot."""
    manifests = h.scan("manifests").group_by("collected_at", "registry", "repository").agg(
        pl.len().alias("manifests"), pl.col("size_bytes").sum().alias("image_bytes"))
    tags = h.scan("tags").group_by("collected_at", "registry", "repository").agg(pl.len().alias("tags"))
    repos = (h.scan("repositories").select("collected_at", "registry", "repository")
             .join(manifests, on=["collected_at", "registry", "repository"], how="left")
             .join(tags, on=["collected_at", "registry", "repository"], how="left")
             .with_columns(pl.col("manifests", "tags", "image_bytes").fill_null(0)).collect())
    regs = (h.scan("registries").select("collected_at", "registry", pl.col("storage_used_bytes").alias("billed_bytes"),
                                        pl.col("storage_included_bytes").alias("included_bytes"), "status")
            .collect()
            .join(repos.group_by("collected_at", "registry").agg(
                pl.len().alias("repositories"), pl.col("manifests").sum(), pl.col("tags").sum()),
                on=["collected_at", "registry"], how="left")
            .with_columns(pl.col("repositories", "manifests", "tags").fill_null(0)))
    return PerRegistry(
        registries=_with_change(regs, ["registry"], ["billed_bytes", "repositories", "manifests", "tags"]),
        repositories=_with_change(repos, ["registry", "repository"], ["manifests", "tags", "image_bytes"]),
    )


def tag_churn(h: History) -> pl.DataFrame:
    """Between consecutive snapshots, per registry: tags added, removed, and moved to another digest."""
    tags = h.scan("tags").select("collected_at", "registry", "repository", "tag", "digest").collect()
    rows = []
    for before, after in zip(h.times, h.times[1:], strict=False):
        old = tags.filter(pl.col("collected_at") == before).drop("collected_at")
        new = tags.filter(pl.col("collected_at") == after).drop("collected_at")
        key = ["registry", "repository", "tag"]
        both = new.join(old, on=key, suffix="_before")
        frame = pl.concat([
            new.join(old, on=key, how="anti").group_by("registry").agg(pl.len().alias("added")),
            old.join(new, on=key, how="anti").group_by("registry").agg(pl.len().alias("removed")),
            both.filter(pl.col("digest") != pl.col("digest_before")).group_by("registry").agg(pl.len().alias("moved")),
        ], how="diagonal").group_by("registry").agg(pl.col("added", "removed", "moved").sum())
        rows.append(frame.with_columns(pl.lit(before, dtype=schema.TIME).alias("since"),
                                       pl.lit(after, dtype=schema.TIME).alias("collected_at")))
    empty = pl.DataFrame(schema={"registry": pl.String, "added": pl.UInt32, "removed": pl.UInt32,
                                 "moved": pl.UInt32, "since": schema.TIME, "collected_at": schema.TIME})
    out = pl.concat([empty, *rows], how="diagonal_relaxed") if rows else empty
    return out.with_columns(pl.col("added", "removed", "moved").fill_null(0).cast(pl.Int64)).select(
        "registry", "since", "collected_at", "added", "removed", "moved").sort("registry", "collected_at")


def projection(h: History, window_days: float = 30) -> pl.DataFrame:
    """Per registry: billed bytes now, included bytes, growth rate (least-squares bytes per day over the
    snapshots of the last ``window_days``), days until the SKU's included storage is used up at that rate
    (0 when already over; null when not growing, or when no slope can be computed: fewer than two snapshots in
    the window, or all of them at the same time), ``full_on`` and ``outlook``, the same in words."""
    regs = growth(h).registries
    latest = max(h.times)
    recent = regs.filter(pl.col("collected_at") >= latest - dt.timedelta(days=window_days),
                         pl.col("billed_bytes").is_not_null())
    days = (pl.col("collected_at") - pl.col("collected_at").min()).dt.total_microseconds() / DAY_US
    fit = recent.with_columns(days.over("registry").alias("x")).group_by("registry").agg(
        pl.len().alias("snapshots"),
        pl.when(pl.col("x").var() > 0).then(pl.cov("x", "billed_bytes") / pl.col("x").var())
        .otherwise(None).alias("bytes_per_day"),
    )
    now = regs.filter(pl.col("collected_at") == latest).select("registry", "billed_bytes", "included_bytes")
    out = now.join(fit, on="registry", how="left").with_columns(
        pl.when(pl.col("snapshots") < 2).then(None).otherwise(pl.col("bytes_per_day")).alias("bytes_per_day"))
    headroom = pl.col("included_bytes") - pl.col("billed_bytes")
    return out.with_columns(
        pl.when(headroom <= 0).then(pl.lit(0.0))
        .when(pl.col("bytes_per_day") > 0).then(headroom / pl.col("bytes_per_day"))
        .otherwise(None).alias("days_until_full"),
    ).with_columns(pl.col("bytes_per_day", "days_until_full").fill_nan(None)).with_columns(
        pl.when(pl.col("days_until_full") <= HORIZON_DAYS).then(
            pl.lit(latest, dtype=schema.TIME)
            + pl.duration(days=pl.col("days_until_full").clip(upper_bound=HORIZON_DAYS).round(0).cast(pl.Int64))
        ).alias("full_on"),
        pl.lit(window_days).alias("window_days"),
    ).with_columns(
        pl.when(pl.col("billed_bytes").is_null() | pl.col("included_bytes").is_null()).then(pl.lit("usage unknown"))
        .when(headroom <= 0).then(pl.lit("over its included storage now"))
        .when(pl.col("full_on").is_not_null()).then(pl.lit("full on ") + pl.col("full_on").dt.strftime("%Y-%m-%d"))
        .when(pl.col("bytes_per_day").is_null()).then(pl.lit("no trend yet: needs two snapshots some time apart"))
        .when(pl.col("days_until_full").is_not_null()).then(pl.lit("not within 100 years"))
        .otherwise(pl.lit("not growing")).alias("outlook"),
    ).sort("registry")


def cost_over_time(h: History, **rates) -> pl.DataFrame:
    """:func:`acrlib.cost` for every snapshot (``rates`` as there), with ``collected_at``."""
    frames = []
    for when in h.times:
        registries = h.scan("registries").filter(pl.col("collected_at") == when).drop("collected_at").collect()
        frames.append(cost(Inventory.from_tables({"registries": registries}), **rates)
                      .with_columns(pl.lit(when, dtype=schema.TIME).alias("collected_at")))
    return pl.concat(frames).sort("registry", "collected_at")


def vulnerability_trend(h: History) -> pl.DataFrame:
    """Per snapshot and registry: distinct critical and high vulnerabilities of the manifests it held then (a
    manifest's CVE once, whatever source reports it; findings on digests it no longer held left out), with their
    change since the previous snapshot. Snapshots written before acrlib
    collected vulnerabilities count as none. Needs ``collect(vulnerabilities=True)`` (or ``scan_results``)."""
    held = h.scan("manifests").select("collected_at", "registry", "repository", "digest")
    found = (h.scan("vulnerabilities").filter(pl.col("registry").is_not_null())
             .select("collected_at", "registry", "repository", "digest", "cve_id", "severity")
             .join(held, on=["collected_at", "registry", "repository", "digest"], how="semi")
             .unique(["collected_at", "registry", "repository", "digest", "cve_id"], keep="first")
             .group_by("collected_at", "registry")
             .agg((pl.col("severity") == "Critical").sum().alias("critical"),
                  (pl.col("severity") == "High").sum().alias("high")).collect())
    every = h.scan("registries").select("collected_at", "registry").collect()
    table = (every.join(found, on=["collected_at", "registry"], how="left")
             .with_columns(pl.col("critical", "high").fill_null(0)))
    return _with_change(table, ["registry"], ["critical", "high"]).sort("registry", "collected_at")
