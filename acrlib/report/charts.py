"""Report charts. Every function aggregates first and plots a small frame, so an exported report stays the
same size whatever the tenant; every chart has a title, axis titles with units, and hover text."""

from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
import plotly.io as pio
import polars as pl

from ..inventory import Inventory

GIB = 1 << 30
AGE_BUCKETS = [(0, 30, "< 30 days"), (30, 90, "30-90 days"), (90, 180, "90-180 days"), (180, 365, "6-12 months"),
               (365, 730, "1-2 years"), (730, None, "> 2 years")]


def setup() -> None:
    """Renderer for JupyterLab and for HTML export (plotly.js embedded once, works offline), and tables that
    show enough rows in a report."""
    pio.renderers.default = "plotly_mimetype+notebook"
    pio.templates.default = "plotly_white"
    pl.Config.set_tbl_rows(30)
    pl.Config.set_fmt_str_lengths(120)
    pl.Config.set_tbl_hide_dataframe_shape(True)


def safe_text(df: pl.DataFrame) -> pl.DataFrame:
    """Every text column with ``&``, ``<`` and ``>`` escaped: plotly renders a subset of HTML in labels, hover
    text and legends (``<b>``, ``<a href>``, ``<span style>``), and names and tags come from whoever pushed."""
    return df.with_columns(pl.col(pl.String).str.replace_all("&", "&amp;", literal=True)
                           .str.replace_all("<", "&lt;", literal=True).str.replace_all(">", "&gt;", literal=True))


def _safe_list(values) -> list:
    return safe_text(pl.DataFrame({"v": [str(v) for v in values]}))["v"].to_list()


def _layout(fig: go.Figure, title: str, x: str, y: str, **kw) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, legend_title_text="", margin={"t": 60, "b": 40},
                      **kw)
    return fig


def images_and_tags(registry_summary: pl.DataFrame) -> go.Figure:
    long = registry_summary.select("registry", "images", "indexes", "tags", "untagged").unpivot(
        index="registry", variable_name="measure", value_name="count")
    fig = px.bar(safe_text(long), x="registry", y="count", color="measure", barmode="group",
                 hover_data={"registry": True, "measure": True, "count": ":,"})
    return _layout(fig, "Images, indexes, tags and untagged manifests per registry", "registry", "count")


def storage(registry_summary: pl.DataFrame) -> go.Figure:
    long = registry_summary.select(
        "registry",
        (pl.col("logical_bytes") / GIB).alias("logical (sum of image sizes)"),
        (pl.col("billed_bytes") / GIB).alias("billed (listUsages)"),
    ).unpivot(index="registry", variable_name="measure", value_name="GiB")
    fig = px.bar(safe_text(long), x="registry", y="GiB", color="measure", barmode="group",
                 hover_data={"GiB": ":,.1f", "measure": True})
    return _layout(fig, "Storage per registry: logical vs billed", "registry", "storage (GiB)")


def storage_treemap(repository_summary: pl.DataFrame, top_n: int = 15) -> go.Figure:
    """Registry -> repository by logical size; beyond the top ``top_n`` per registry, one 'other' tile."""
    ranked = repository_summary.select("registry", "repository", "logical_bytes", "manifests").with_columns(
        pl.col("logical_bytes").rank("ordinal", descending=True).over("registry").alias("rank"))
    top = ranked.filter(pl.col("rank") <= top_n)
    rest = ranked.filter(pl.col("rank") > top_n).group_by("registry").agg(
        (pl.len().cast(pl.String) + " other repositories").alias("repository"), pl.col("logical_bytes").sum(),
        pl.col("manifests").sum())
    tiles = pl.concat([top.drop("rank"), rest.select(top.drop("rank").columns)]).with_columns(
        (pl.col("logical_bytes") / GIB).round(2).alias("GiB")).filter(pl.col("GiB") > 0)
    fig = px.treemap(safe_text(tiles), path=[px.Constant("all registries"), "registry", "repository"], values="GiB",
                     hover_data={"manifests": ":,"})
    fig.update_traces(hovertemplate="%{label}<br>%{value:,.2f} GiB<br>%{customdata[0]:,} manifests<extra></extra>")
    fig.update_layout(title="Logical storage by registry and repository (GiB)", margin={"t": 60, "b": 10})
    return fig


def _by_age(frame: pl.DataFrame, now, when: str, buckets: list, bucket_name: str, count_name: str) -> go.Figure:
    """A bar per age bucket (days between ``when`` and ``now``), one colour per registry."""
    days = (pl.lit(now) - pl.col(when)).dt.total_seconds() / 86400
    bucket = pl.lit(None, dtype=pl.String)
    for low, high, label in reversed(buckets):
        cond = days >= low if high is None else (days >= low) & (days < high)
        bucket = pl.when(cond).then(pl.lit(label)).otherwise(bucket)
    counts = frame.select("registry", bucket.alias(bucket_name)).group_by("registry", bucket_name).len(count_name)
    return px.bar(safe_text(counts), x=bucket_name, y=count_name, color="registry",
                  category_orders={bucket_name: [b[2] for b in buckets]}, hover_data={count_name: ":,"})


def tag_age(inv: Inventory) -> go.Figure:
    fig = _by_age(inv.tags, inv.collected_at, "last_updated_at", AGE_BUCKETS, "age", "tags")
    return _layout(fig, "Age of tags (time since last update)", "age (days since last update)", "tags")


def stale(registry_summary: pl.DataFrame, stale_days: int) -> go.Figure:
    data = registry_summary.select("registry", "stale_tags", "stale_manifests",
                                   (pl.col("stale_bytes") / GIB).round(2).alias("stale_GiB"))
    long = data.unpivot(index=["registry", "stale_GiB"], on=["stale_tags", "stale_manifests"],
                        variable_name="what", value_name="count")
    fig = px.bar(safe_text(long), x="registry", y="count", color="what", barmode="group",
                 hover_data={"stale_GiB": ":,.2f", "count": ":,"})
    return _layout(fig, f"Purge plan per registry: tags and manifests older than {stale_days} days",
                   "registry", "count (hover: GiB of deleted manifests)")


def top_cleanup(repository_summary: pl.DataFrame, top_n: int = 15) -> go.Figure:
    top = (repository_summary.filter(pl.col("stale_bytes") > 0).sort("stale_bytes", descending=True).head(top_n)
           .with_columns((pl.col("stale_bytes") / GIB).round(2).alias("GiB"),
                         (pl.col("registry") + "/" + pl.col("repository")).alias("where")))
    fig = px.bar(safe_text(top.reverse()), x="GiB", y="where", orientation="h",
                 hover_data={"stale_tags": ":,", "stale_manifests": ":,", "GiB": ":,.2f"})
    return _layout(fig, f"Top {top_n} repositories to clean (image size of manifests the plan deletes)",
                   "stale image size (GiB)", "registry/repository", height=max(350, 28 * top.height + 120))


def platforms(inv: Inventory) -> go.Figure:
    counts = (inv.manifests.filter(pl.col("kind") == "image")
              .group_by(pl.col("os").fill_null("unknown"), pl.col("architecture").fill_null("unknown"))
              .len("images").sort("images", descending=True))
    fig = px.bar(safe_text(counts), x="architecture", y="images", color="os", hover_data={"images": ":,"})
    return _layout(fig, "Platform images by architecture and OS", "architecture", "images")


def kinds(inv: Inventory) -> go.Figure:
    counts = inv.manifests.group_by("registry", "kind").len("manifests")
    fig = px.bar(safe_text(counts), x="registry", y="manifests", color="kind", hover_data={"manifests": ":,"})
    return _layout(fig, "Artifact kinds per registry", "registry", "manifests")


def posture(matrix: pl.DataFrame) -> go.Figure:
    wide = matrix.pivot(on="finding", index="registry", values="flag").sort("registry")
    findings = [c for c in wide.columns if c != "registry"]
    fig = go.Figure(go.Heatmap(
        z=wide.select(findings).to_numpy(), x=findings, y=_safe_list(wide["registry"]), zmin=0, zmax=1,
        colorscale=[[0, "#e8f5e9"], [1, "#e53935"]], showscale=False,
        hovertemplate="%{y}<br>%{x}: %{z}<extra>1 = finding applies</extra>", xgap=2, ygap=2,
    ))
    return _layout(fig, "Security posture: findings per registry (red = applies)", "finding", "registry")


def cost(costs: pl.DataFrame, currency: str = "USD") -> go.Figure:
    long = costs.select("registry", "sku", pl.col("base_monthly").alias("SKU base"),
                        pl.col("overage_monthly").alias("storage overage")).unpivot(
        index=["registry", "sku"], variable_name="part", value_name="per_month")
    fig = px.bar(safe_text(long), x="registry", y="per_month", color="part",
                 hover_data={"sku": True, "per_month": ":,.2f"})
    return _layout(fig, f"Cost per registry per month ({currency})", "registry", f"{currency} per month")


def storage_truth(registry_storage: pl.DataFrame) -> go.Figure:
    """Per registry: bytes only one repository uses, bytes several share, and what the registry bills."""
    long = registry_storage.select(
        "registry", (pl.col("exclusive_bytes") / GIB).alias("exclusive to one repository"),
        (pl.col("shared_bytes") / GIB).alias("shared by repositories"),
    ).unpivot(index="registry", variable_name="part", value_name="GiB")
    fig = px.bar(safe_text(long), x="registry", y="GiB", color="part", hover_data={"GiB": ":,.2f"})
    billed = registry_storage.select("registry", (pl.col("billed_bytes") / GIB).alias("GiB"))
    fig.add_trace(go.Scatter(x=_safe_list(billed["registry"]), y=billed["GiB"].to_list(), mode="markers",
                             marker={"symbol": "line-ew-open", "size": 40, "line": {"width": 3}},
                             name="billed (listUsages)", hovertemplate="%{x}<br>billed %{y:,.2f} GiB<extra></extra>"))
    return _layout(fig, "Storage counted blob by blob (each blob once) vs billed", "registry", "storage (GiB)")


def repository_storage(repository_storage: pl.DataFrame, top_n: int = 15) -> go.Figure:
    top = (repository_storage.sort("unique_bytes", descending=True).head(top_n)
           .with_columns((pl.col("registry") + "/" + pl.col("repository")).alias("where")))
    long = top.select("where", (pl.col("exclusive_bytes") / GIB).alias("exclusive"),
                      (pl.col("shared_bytes") / GIB).alias("shared with other repositories")).unpivot(
        index="where", variable_name="part", value_name="GiB")
    fig = px.bar(safe_text(long.reverse()), x="GiB", y="where", color="part", orientation="h",
                 hover_data={"GiB": ":,.2f"})
    return _layout(fig, f"Top {top_n} repositories by stored bytes (each blob once)", "storage (GiB)",
                   "registry/repository", height=max(350, 28 * top.height + 120))


def reclaimable(reclaimable_registries: pl.DataFrame, registry_summary: pl.DataFrame) -> go.Figure:
    """What the purge plan frees per registry, next to the naive sum of the deleted images' sizes."""
    data = reclaimable_registries.join(registry_summary.select("registry", "stale_bytes"), on="registry")
    long = data.select("registry", (pl.col("reclaimable_bytes") / GIB).alias("freed (blobs nothing else uses)"),
                       (pl.col("stale_bytes") / GIB).alias("sum of deleted images' sizes")).unpivot(
        index="registry", variable_name="measure", value_name="GiB")
    fig = px.bar(safe_text(long), x="registry", y="GiB", color="measure", barmode="group", hover_data={"GiB": ":,.2f"})
    return _layout(fig, "Storage the purge plan frees", "registry", "storage (GiB)")


def trend(registry_growth: pl.DataFrame) -> go.Figure:
    data = registry_growth.select("collected_at", "registry", (pl.col("billed_bytes") / GIB).alias("GiB"),
                                  "manifests")
    fig = px.line(safe_text(data), x="collected_at", y="GiB", color="registry", markers=True,
                  hover_data={"GiB": ":,.2f", "manifests": ":,"})
    return _layout(fig, "Billed storage over time", "snapshot time (UTC)", "billed storage (GiB)")


def churn(tag_churn: pl.DataFrame) -> go.Figure:
    long = tag_churn.select("collected_at", "registry", "added", "removed", "moved").unpivot(
        index=["collected_at", "registry"], variable_name="change", value_name="tags")
    per_change = long.group_by("collected_at", "change").agg(pl.col("tags").sum()).sort("collected_at")
    fig = px.bar(safe_text(per_change), x="collected_at", y="tags", color="change", barmode="group",
                 hover_data={"tags": ":,"})
    return _layout(fig, "Tag churn between snapshots (all registries)", "snapshot time (UTC)", "tags")


def usage(unused_registries: pl.DataFrame) -> go.Figure:
    """Per registry with pull logs: images pulled and never pulled in the window (hover: bytes they hold)."""
    data = unused_registries.filter(pl.col("never_pulled").is_not_null()).select(
        "registry", pl.col("pulled").alias("pulled"), pl.col("never_pulled").alias("never pulled"),
        (pl.col("never_pulled_bytes") / GIB).round(2).alias("never-pulled GiB"))
    long = data.unpivot(index=["registry", "never-pulled GiB"], on=["pulled", "never pulled"],
                        variable_name="images", value_name="count")
    fig = px.bar(safe_text(long), x="registry", y="count", color="images", barmode="stack",
                 hover_data={"never-pulled GiB": ":,.2f", "count": ":,"})
    return _layout(fig, "Images pulled and never pulled in the window (registries with pull logs)", "registry",
                   "images")


LAST_PULL_BUCKETS = [(0, 1, "today"), (1, 7, "this week"), (7, 30, "this month"), (30, 90, "1-3 months"),
                     (90, None, "longer")]


def last_pull_age(inv: Inventory) -> go.Figure:
    """How long ago each pulled image was last pulled."""
    fig = _by_age(inv.activity.filter(pl.col("pulls") > 0), inv.collected_at, "last_pulled_at", LAST_PULL_BUCKETS,
                  "last pull", "images")
    return _layout(fig, "When pulled images were last pulled", "last pull", "images")


def most_pulled(inv: Inventory, top_n: int = 15) -> go.Figure:
    top = (inv.activity.group_by("registry", "repository")
           .agg(pl.col("pulls").sum(), pl.col("pullers").max().alias("identities"))
           .filter(pl.col("pulls") > 0).sort("pulls", descending=True).head(top_n)
           .with_columns((pl.col("registry") + "/" + pl.col("repository")).alias("where")))
    fig = px.bar(safe_text(top.reverse()), x="pulls", y="where", orientation="h",
                 hover_data={"pulls": ":,", "identities": ":,"})
    return _layout(fig, f"Top {top_n} repositories by pulls in the window", "pulls", "registry/repository",
                   height=max(350, 28 * top.height + 120))


def in_use(in_use_registries: pl.DataFrame) -> go.Figure:
    """Images of the tenant's registries that workloads run or name, per registry and service."""
    fig = px.bar(safe_text(in_use_registries), x="registry", y="images", color="service",
                 hover_data={"images": ":,", "workloads": ":,"})
    return _layout(fig, "Images in use per registry, by service", "registry", "images in use")


RUNNING_AGE_BUCKETS = [(0, 30, "< 30 days"), (30, 90, "30-90 days"), (90, 365, "3-12 months"), (365, None, "> 1 year")]


def running_age(inv: Inventory) -> go.Figure:
    """How old the images are that run (time since their push)."""
    running = (inv.deployments.filter(pl.col("registry").is_not_null(), pl.col("digest").is_not_null())
               .select("registry", "repository", "digest").unique()
               .join(inv.manifests.select("registry", "repository", "digest", "created_at"),
                     on=["registry", "repository", "digest"]))
    fig = _by_age(running, inv.collected_at, "created_at", RUNNING_AGE_BUCKETS, "pushed", "images")
    return _layout(fig, "Running images by age (time since push)", "pushed", "images")
