"""`cost`: what each registry costs per day and per month, from its SKU and billed storage.

Defaults are the worked example in Microsoft's pricing docs (USD): a daily base rate per SKU and overage
storage above the SKU's included allowance billed per GiB per day. Prices vary by region and agreement:
pass your own. Geo-replicas bill the full rate each and are not counted here.
"""

from __future__ import annotations

import polars as pl

from ..inventory import Inventory

GIB = 1 << 30
BASE_PER_DAY = {"Basic": 0.167, "Standard": 0.667, "Premium": 1.667}
OVERAGE_PER_GIB_DAY = 0.003
DAYS_PER_MONTH = 30


def cost(inv: Inventory, base_per_day: dict[str, float] | None = None,
         overage_per_gib_day: float = OVERAGE_PER_GIB_DAY, days_per_month: int = DAYS_PER_MONTH) -> pl.DataFrame:
    """Per registry: sku, billed_gib, included_gib, overage_gib, base_daily, overage_daily, daily,
    base_monthly, overage_monthly, monthly (in the rates' currency, USD by default; a month is
    ``days_per_month`` days). A registry whose usage could not be read has a null storage cost."""
    rates = {**BASE_PER_DAY, **(base_per_day or {})}
    unknown = set(inv.registries["sku"].drop_nulls()) - set(rates)
    if unknown:
        raise ValueError(f"no base rate for SKU(s) {sorted(unknown)}; pass base_per_day={{...}}")
    if overage_per_gib_day < 0 or days_per_month <= 0:
        raise ValueError("rates must be >= 0 and days_per_month > 0")
    return (
        inv.registries.select("registry", "sku", "storage_used_bytes", "storage_included_bytes")
        .with_columns(
            (pl.col("storage_used_bytes") / GIB).alias("billed_gib"),
            (pl.col("storage_included_bytes") / GIB).alias("included_gib"),
            pl.col("sku").replace_strict(rates, default=None, return_dtype=pl.Float64).alias("base_daily"),
        )
        .with_columns((pl.col("billed_gib") - pl.col("included_gib")).clip(lower_bound=0).alias("overage_gib"))
        .with_columns((pl.col("overage_gib") * overage_per_gib_day).alias("overage_daily"))
        .with_columns((pl.col("base_daily") + pl.col("overage_daily")).alias("daily"))
        .with_columns((pl.col(c) * days_per_month).alias(c.replace("daily", "monthly"))
                      for c in ("base_daily", "overage_daily", "daily"))
        .drop("storage_used_bytes", "storage_included_bytes")
        .sort("registry")
    )


def savings(inv: Inventory, reclaimable_registries: pl.DataFrame, base_per_day: dict[str, float] | None = None,
            overage_per_gib_day: float = OVERAGE_PER_GIB_DAY, days_per_month: int = DAYS_PER_MONTH) -> pl.DataFrame:
    """What freeing each registry's ``reclaimable_bytes`` (from :func:`acrlib.reclaimable`) saves: only storage
    above the SKU's included allowance is billed, so bytes freed below it save nothing. Per registry:
    reclaimable_bytes, overage_gib (now), overage_after_gib, monthly_savings (null when usage is unknown)."""
    now = cost(inv, base_per_day, overage_per_gib_day, days_per_month).select("registry", "billed_gib",
                                                                               "included_gib", "overage_gib")
    return (
        now.join(reclaimable_registries.select("registry", "reclaimable_bytes"), on="registry", how="left")
        .with_columns(pl.col("reclaimable_bytes").fill_null(0))
        .with_columns((pl.col("billed_gib") - pl.col("reclaimable_bytes") / GIB - pl.col("included_gib"))
                      .clip(lower_bound=0).alias("overage_after_gib"))
        .with_columns(((pl.col("overage_gib") - pl.col("overage_after_gib")) * overage_per_gib_day * days_per_month)
                      .alias("monthly_savings"))
        .select("registry", "reclaimable_bytes", "overage_gib", "overage_after_gib", "monthly_savings")
        .sort("registry")
    )
