"""`posture`: registry settings worth a second look."""

from __future__ import annotations

import polars as pl

from ..inventory import Inventory

FINDINGS = {
    "admin user enabled": "a shared username/password can push and pull; prefer Entra ID identities",
    "public network access": "reachable from any network (public access enabled, default action Allow)",
    "anonymous pull enabled": "anyone can pull every image without signing in",
    "no retention policy": "untagged manifests are kept forever (retention policies need Premium)",
}


def posture(inv: Inventory) -> pl.DataFrame:
    """One row per registry and finding: registry, sku, finding, detail. Findings: admin user enabled,
    public network access (enabled with default action Allow), anonymous pull enabled, no retention policy."""
    r = inv.registries
    checks = {
        "admin user enabled": pl.col("admin_user_enabled").fill_null(False),
        "public network access": (pl.col("public_network_access").fill_null("Enabled") == "Enabled")
        & (pl.col("network_default_action").fill_null("Allow") == "Allow"),
        "anonymous pull enabled": pl.col("anonymous_pull_enabled").fill_null(False),
        "no retention policy": ~pl.col("retention_enabled").fill_null(False),
    }
    frames = [
        r.filter(condition).select("registry", "sku", pl.lit(name).alias("finding"),
                                   pl.lit(FINDINGS[name]).alias("detail"))
        for name, condition in checks.items()
    ]
    return pl.concat(frames).sort("registry", "finding")


def posture_matrix(inv: Inventory) -> pl.DataFrame:
    """Registry x finding, 1 where the finding applies (for a heatmap)."""
    found = posture(inv)
    grid = inv.registries.select("registry").join(pl.DataFrame({"finding": list(FINDINGS)}), how="cross")
    return grid.join(found.select("registry", "finding", pl.lit(1).alias("flag")), on=["registry", "finding"],
                     how="left").with_columns(pl.col("flag").fill_null(0))
