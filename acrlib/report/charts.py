"""Report charts. Every function aggregates first and plots a small frame, so an exported report stays the
same size whatever the tenant; every chart has a title, axis titles with units, and hover text."""

from __future__ import annotations

import math

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


TITLE_CHARS = 44  # a title line that fits a phone (390 px) at the title's font size


def wrap(title: str, width: int = TITLE_CHARS) -> str:
    """``title`` broken into lines of at most ``width`` characters (plotly never wraps a title itself)."""
    lines, line = [], ""
    for word in title.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return "<br>".join([*lines, line]) if line else ""


def _title(title: str) -> dict:
    """A left-aligned title hanging from the top of the figure, however many lines it wraps to (plotly
    anchors a title's middle line, so each extra line needs more top padding to stay inside the figure)."""
    extra = wrap(title).count("<br>")
    return {"text": wrap(title), "x": 0.01, "xanchor": "left", "yref": "container", "y": 1, "yanchor": "top",
            "pad": {"t": 10 + 12 * extra}, "font": {"size": 15}}


def _title_margin(title: str) -> int:
    extra = wrap(title).count("<br>")
    return 44 + 32 * extra


def _layout(fig: go.Figure, title: str, x: str, y: str, *, values: str | None = "y", **kw) -> go.Figure:
    """Title, axis titles, and a layout that works from a phone to a wide screen: the legend below the plot
    (never beside it, where it takes half a phone's width), small margins that grow only as labels need, and
    thousands separators on the ``values`` axis ("x", "y" or None)."""
    fig.update_layout(
        title=_title(title), xaxis_title=x, yaxis_title=y,
        legend={"title_text": "", "orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom",
                "x": 0, "xanchor": "left"},
        margin={"l": 10, "r": 10, "t": _title_margin(title), "b": 10}, **kw)
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    if values == "y":
        fig.update_yaxes(tickformat=",~f")
    elif values == "x":
        fig.update_xaxes(tickformat=",~f")
    return fig


def _labels_above(fig: go.Figure, top_down: list[str], *, grouped: bool = False) -> go.Figure:
    """A horizontal bar chart with each category's label written above its bar(s) instead of beside the axis,
    so the bars keep the whole width on a phone (registry and repository names would take most of it).
    ``top_down``: the categories (escaped, as in the data) from the top of the chart down."""
    bottom_up = list(reversed(top_down))
    if grouped:  # one band per category, its bars side by side in the lower part, the label above them
        fig.update_layout(bargap=0.3, bargroupgap=0.05)
        offset, per_category = 0.37, 30 + 14 * sum(1 for t in fig.data if t.type == "bar")
    else:  # bars span +-0.2 around their category; the label sits just above
        fig.update_traces(width=0.4, selector={"type": "bar"})
        offset, per_category = 0.22, 56
    fig.update_yaxes(categoryorder="array", categoryarray=bottom_up, showticklabels=False, title_text="",
                     range=[-0.5, len(bottom_up) - 0.3])
    legend_rows = math.ceil(len(fig.data) / 2) if len(fig.data) > 1 else 0  # two entries a row on a phone
    fig.update_layout(height=per_category * len(bottom_up) + fig.layout.margin.t + 60 + 26 * legend_rows,
                      legend_traceorder="reversed" if grouped else "normal")
    for position, label in enumerate(bottom_up):
        fig.add_annotation(x=0, xref="paper", y=position + offset, yref="y", text=label, showarrow=False,
                           xanchor="left", yanchor="bottom", font={"size": 11})
    return fig


def _hbar(data: pl.DataFrame, category: str, value: str, title: str, value_title: str, *, top_down=None,
          grouped: bool = False, **bar_args) -> go.Figure:
    """Horizontal bars per ``category`` (labels above the bars), ``top_down`` order or alphabetical."""
    safe = safe_text(data)
    order = _safe_list(top_down) if top_down is not None else sorted(safe[category].unique().to_list())
    fig = px.bar(safe, x=value, y=category, orientation="h", barmode="group" if grouped else "relative",
                 **bar_args)
    return _labels_above(_layout(fig, title, value_title, "", values="x"), order, grouped=grouped)


def images_and_tags(registry_summary: pl.DataFrame) -> go.Figure:
    long = registry_summary.select("registry", "images", "indexes", "tags", "untagged").unpivot(
        index="registry", variable_name="measure", value_name="count")
    return _hbar(long, "registry", "count", "Images, indexes, tags and untagged manifests per registry", "count",
                 grouped=True, color="measure", hover_data={"registry": True, "measure": True, "count": ":,"})


def storage(registry_summary: pl.DataFrame) -> go.Figure:
    long = registry_summary.select(
        "registry",
        (pl.col("logical_bytes") / GIB).alias("logical (sum of image sizes)"),
        (pl.col("billed_bytes") / GIB).alias("billed (listUsages)"),
    ).unpivot(index="registry", variable_name="measure", value_name="GiB")
    return _hbar(long, "registry", "GiB", "Storage per registry: logical vs billed", "storage (GiB)", grouped=True,
                 color="measure", hover_data={"GiB": ":,.1f", "measure": True})


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
    title = "Logical storage by registry and repository (GiB)"
    fig.update_layout(title=_title(title), margin={"t": _title_margin(title), "b": 10, "l": 5, "r": 5})
    return fig


def _by_age(frame: pl.DataFrame, now, when: str, buckets: list, bucket_name: str, count_name: str, title: str,
            value_title: str) -> go.Figure:
    """A bar per age bucket (days between ``when`` and ``now``; youngest at the top), one colour per registry.
    Empty buckets keep their place, so the same chart reads the same way every time."""
    days = (pl.lit(now) - pl.col(when)).dt.total_seconds() / 86400
    bucket = pl.lit(None, dtype=pl.String)
    for low, high, label in reversed(buckets):
        cond = days >= low if high is None else (days >= low) & (days < high)
        bucket = pl.when(cond).then(pl.lit(label)).otherwise(bucket)
    counts = (frame.select("registry", bucket.alias(bucket_name)).drop_nulls(bucket_name)
              .group_by("registry", bucket_name).len(count_name).sort("registry", bucket_name))
    return _hbar(counts, bucket_name, count_name, title, value_title, top_down=[b[2] for b in buckets],
                 color="registry", hover_data={count_name: ":,"})


def tag_age(inv: Inventory) -> go.Figure:
    return _by_age(inv.tags, inv.collected_at, "last_updated_at", AGE_BUCKETS, "age", "tags",
                   "Age of tags (time since last update)", "tags")


def stale(registry_summary: pl.DataFrame, stale_days: int) -> go.Figure:
    data = registry_summary.select("registry", pl.col("stale_tags").alias("tags deleted"),
                                   pl.col("stale_manifests").alias("manifests deleted"),
                                   (pl.col("reclaimable_bytes") / GIB).round(2).alias("reclaimable GiB"))
    long = data.unpivot(index=["registry", "reclaimable GiB"], on=["tags deleted", "manifests deleted"],
                        variable_name="what", value_name="count")
    return _hbar(long, "registry", "count", f"Purge plan per registry: tags and manifests older than {stale_days} "
                 "days", "count", grouped=True, color="what", hover_data={"reclaimable GiB": ":,.2f", "count": ":,"})


def top_cleanup(repository_summary: pl.DataFrame, top_n: int = 15) -> go.Figure:
    """The repositories where the purge plan frees the most storage."""
    top = (repository_summary.filter(pl.col("reclaimable_bytes") > 0).sort("reclaimable_bytes", descending=True)
           .head(top_n).with_columns((pl.col("reclaimable_bytes") / GIB).round(2).alias("GiB"),
                                     (pl.col("registry") + "/" + pl.col("repository")).alias("where"))
           .rename({"stale_tags": "tags deleted", "stale_manifests": "manifests deleted"}))
    return _hbar(top, "where", "GiB", f"Top {top_n} repositories by storage the plan frees", "reclaimable (GiB)",
                 top_down=top["where"].to_list(),
                 hover_data={"tags deleted": ":,", "manifests deleted": ":,", "GiB": ":,.2f"})


def platforms(inv: Inventory) -> go.Figure:
    counts = (inv.manifests.filter(pl.col("kind") == "image")
              .group_by(pl.col("os").fill_null("unknown"), pl.col("architecture").fill_null("unknown"))
              .len("images").sort("images", descending=True))
    order = counts.group_by("architecture").agg(pl.col("images").sum()).sort("images", "architecture",
                                                                             descending=[True, False])
    return _hbar(counts, "architecture", "images", "Platform images by architecture and OS", "images",
                 top_down=order["architecture"].to_list(), color="os", hover_data={"images": ":,"})


def kinds(inv: Inventory) -> go.Figure:
    counts = inv.manifests.group_by("registry", "kind").len("manifests").sort("registry", "kind")
    return _hbar(counts, "registry", "manifests", "Artifact kinds per registry", "manifests", color="kind",
                 hover_data={"manifests": ":,"})


def posture(matrix: pl.DataFrame) -> go.Figure:
    """Per finding: how many registries it applies to (the table below names them)."""
    counts = (matrix.group_by("finding", maintain_order=True).agg(pl.col("flag").sum().alias("registries"),
                                                                   pl.len().alias("of"))
              .sort("finding"))
    return _hbar(counts, "finding", "registries", "Security posture: registries per finding", "registries",
                 hover_data={"registries": ":,", "of": ":,"}, color_discrete_sequence=["#e53935"])


def cost(costs: pl.DataFrame, currency: str = "USD") -> go.Figure:
    long = costs.select("registry", "sku", pl.col("base_monthly").alias("SKU base"),
                        pl.col("overage_monthly").alias("storage overage")).unpivot(
        index=["registry", "sku"], variable_name="part", value_name="per_month")
    return _hbar(long, "registry", "per_month", f"Cost per registry per month ({currency})",
                 f"{currency} per month", color="part", hover_data={"sku": True, "per_month": ":,.2f"})


def storage_truth(registry_storage: pl.DataFrame) -> go.Figure:
    """Per registry: bytes only one repository uses, bytes several share, and what the registry bills."""
    long = registry_storage.select(
        "registry", (pl.col("exclusive_bytes") / GIB).alias("exclusive to one repository"),
        (pl.col("shared_bytes") / GIB).alias("shared by repositories"),
    ).unpivot(index="registry", variable_name="part", value_name="GiB")
    billed = registry_storage.select("registry", (pl.col("billed_bytes") / GIB).alias("GiB"))
    fig = px.bar(safe_text(long), x="GiB", y="registry", color="part", orientation="h",
                 hover_data={"GiB": ":,.2f"})
    fig.add_trace(go.Scatter(y=_safe_list(billed["registry"]), x=billed["GiB"].to_list(), mode="markers",
                             marker={"symbol": "line-ns-open", "size": 22, "line": {"width": 3}},
                             name="billed (listUsages)", hovertemplate="%{y}<br>billed %{x:,.2f} GiB<extra></extra>"))
    fig = _layout(fig, "Storage counted blob by blob (each blob once) vs billed", "storage (GiB)", "", values="x")
    return _labels_above(fig, sorted(_safe_list(registry_storage["registry"])))


def repository_storage(repository_storage: pl.DataFrame, top_n: int = 15) -> go.Figure:
    top = (repository_storage.sort("unique_bytes", descending=True).head(top_n)
           .with_columns((pl.col("registry") + "/" + pl.col("repository")).alias("where")))
    long = top.select("where", (pl.col("exclusive_bytes") / GIB).alias("exclusive"),
                      (pl.col("shared_bytes") / GIB).alias("shared with other repositories")).unpivot(
        index="where", variable_name="part", value_name="GiB")
    return _hbar(long, "where", "GiB", f"Top {top_n} repositories by stored bytes (each blob once)",
                 "storage (GiB)", top_down=top["where"].to_list(), color="part", hover_data={"GiB": ":,.2f"})


def reclaimable(reclaimable_registries: pl.DataFrame, registry_summary: pl.DataFrame) -> go.Figure:
    """What the purge plan frees per registry, next to the naive sum of the deleted images' sizes."""
    data = reclaimable_registries.join(registry_summary.select("registry", "deleted_image_bytes"), on="registry")
    long = data.select("registry", (pl.col("reclaimable_bytes") / GIB).alias("freed (blobs nothing else uses)"),
                       (pl.col("deleted_image_bytes") / GIB).alias("sum of deleted images' sizes")).unpivot(
        index="registry", variable_name="measure", value_name="GiB")
    return _hbar(long, "registry", "GiB", "Storage the purge plan frees", "storage (GiB)", grouped=True,
                 color="measure", hover_data={"GiB": ":,.2f"})


def trend(registry_growth: pl.DataFrame) -> go.Figure:
    data = registry_growth.select("collected_at", "registry", (pl.col("billed_bytes") / GIB).alias("GiB"),
                                  "manifests")
    fig = px.line(safe_text(data), x="collected_at", y="GiB", color="registry", markers=True,
                  hover_data={"GiB": ":,.2f", "manifests": ":,"})
    return _layout(fig, "Billed storage over time", "snapshot time (UTC)", "billed storage (GiB)")


def vulnerability_trend(trend: pl.DataFrame) -> go.Figure:
    """Critical and high vulnerabilities per registry over the snapshots (:func:`acrlib.vulnerability_trend`)."""
    data = trend.select("collected_at", "registry", (pl.col("critical") + pl.col("high")).alias("critical + high"),
                        "critical", "high")
    fig = px.line(safe_text(data), x="collected_at", y="critical + high", color="registry", markers=True,
                  hover_data={"critical": ":,", "high": ":,"})
    return _layout(fig, "Critical and high vulnerabilities over time", "snapshot time (UTC)", "vulnerabilities")


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
    return _hbar(long, "registry", "count", "Images pulled and never pulled in the window (registries with pull "
                 "logs)", "images", color="images", hover_data={"never-pulled GiB": ":,.2f", "count": ":,"})


LAST_PULL_BUCKETS = [(0, 1, "today"), (1, 7, "this week"), (7, 30, "this month"), (30, 90, "1-3 months"),
                     (90, None, "longer")]


def last_pull_age(inv: Inventory) -> go.Figure:
    """How long ago each pulled image was last pulled."""
    return _by_age(inv.activity.filter(pl.col("pulls") > 0), inv.collected_at, "last_pulled_at",
                   LAST_PULL_BUCKETS, "last pull", "images", "When pulled images were last pulled", "images")


def most_pulled(inv: Inventory, top_n: int = 15) -> go.Figure:
    top = (inv.activity.group_by("registry", "repository")
           .agg(pl.col("pulls").sum(), pl.col("pullers").max().alias("identities"))
           .filter(pl.col("pulls") > 0).sort("pulls", "registry", "repository", descending=[True, False, False])
           .head(top_n).with_columns((pl.col("registry") + "/" + pl.col("repository")).alias("where")))
    return _hbar(top, "where", "pulls", f"Top {top_n} repositories by pulls in the window", "pulls",
                 top_down=top["where"].to_list(), hover_data={"pulls": ":,", "identities": ":,"})


def in_use(in_use_registries: pl.DataFrame) -> go.Figure:
    """Images of the tenant's registries that workloads run or name, per registry and service."""
    return _hbar(in_use_registries, "registry", "images", "Images in use per registry, by service",
                 "images in use", color="service", hover_data={"images": ":,", "workloads": ":,"})


RUNNING_AGE_BUCKETS = [(0, 30, "< 30 days"), (30, 90, "30-90 days"), (90, 365, "3-12 months"), (365, None, "> 1 year")]


def running_age(inv: Inventory) -> go.Figure:
    """How old the images are that run (time since their push)."""
    running = (inv.deployments.filter(pl.col("registry").is_not_null(), pl.col("digest").is_not_null())
               .select("registry", "repository", "digest").unique()
               .join(inv.manifests.select("registry", "repository", "digest", "created_at"),
                     on=["registry", "repository", "digest"]))
    return _by_age(running, inv.collected_at, "created_at", RUNNING_AGE_BUCKETS, "pushed", "images",
                   "Running images by age (time since push)", "images")


def risk(exposure_registries: pl.DataFrame) -> go.Figure:
    """Per registry: distinct critical and high vulnerabilities of its images, and how many of those a fix
    exists for (hover: vulnerable images, running ones with fixable findings)."""
    data = exposure_registries.select("registry", "critical", "high", pl.col("fixable").alias("fixable"),
                                      pl.col("vulnerable").alias("vulnerable images"),
                                      pl.col("running_fixable").alias("running, fixable"))
    long = data.unpivot(index=["registry", "vulnerable images", "running, fixable"],
                        on=["critical", "high", "fixable"], variable_name="findings", value_name="count")
    return _hbar(long, "registry", "count", "Critical and high vulnerabilities per registry, and how many a fix "
                 "exists for", "vulnerabilities (distinct per image)", grouped=True, color="findings",
                 hover_data={"vulnerable images": ":,", "running, fixable": ":,", "count": ":,"})

