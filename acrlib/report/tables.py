"""Report tables: frames shown as plain HTML tables in notebooks and exported reports."""

from __future__ import annotations

import datetime as dt
import html

import polars as pl

from ..analysis.summary import headline
from ..inventory import Inventory


class Table:
    """A frame shown as a plain HTML table in notebooks and exported reports: no dtypes, no quotes, numbers
    with thousands separators, at most ``max_rows`` rows (the rest counted), or a sentence when empty."""

    def __init__(self, df: pl.DataFrame, max_rows: int = 50, empty: str = "Nothing to show."):
        self.df = df
        self.max_rows = max_rows
        self.empty = empty

    @staticmethod
    def _cell(value) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, int):
            return f"{value:,}"
        if isinstance(value, float):
            return f"{value:,.2f}"
        if isinstance(value, dt.datetime):
            return f"{value:%Y-%m-%d %H:%M}"
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        return str(value)

    def _repr_html_(self) -> str:
        if self.df.height == 0:
            return f"<p><em>{html.escape(self.empty)}</em></p>"
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.df.columns)
        rows = []
        for row in self.df.head(self.max_rows).iter_rows():
            cells = []
            for v in row:
                align = "right" if isinstance(v, (int, float)) and not isinstance(v, bool) else "left"
                cells.append(f'<td style="text-align:{align}">{html.escape(self._cell(v))}</td>')
            rows.append(f"<tr>{''.join(cells)}</tr>")
        more = self.df.height - self.max_rows
        tail = f"<p><em>{more:,} more rows not shown.</em></p>" if more > 0 else ""
        return f'<table class="acrlib-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>{tail}'

    def __repr__(self) -> str:
        return repr(self.df) if self.df.height else self.empty


def table(df: pl.DataFrame, max_rows: int = 50, empty: str = "Nothing to show.") -> Table:
    return Table(df, max_rows, empty)


def headline_table(inv: Inventory, plan: pl.DataFrame | None = None) -> pl.DataFrame:
    """:func:`headline` as a two-column table for reports (bytes shown in GiB)."""
    rows = []
    for name, value in headline(inv, plan).items():
        if name.endswith("bytes"):
            rows.append((name.replace("_bytes", "").replace("_", " ") + " (GiB)", f"{value / (1 << 30):,.1f}"))
        else:
            rows.append((name.replace("_", " "), f"{value:,}"))
    return pl.DataFrame(rows, schema={"measure": pl.String, "value": pl.String}, orient="row")


def log_sources(inv: Inventory) -> pl.DataFrame:
    """Each registry's pull-log source for the report: where its events go, how far back, what to enable."""
    return inv.activity_sources.select(
        "registry", "status", pl.col("covered_from").dt.strftime("%Y-%m-%d").alias("logs from"),
        pl.col("diagnostic_setting").alias("setting"), "message")


def pushed_never_pulled(inv: Inventory) -> pl.DataFrame:
    """Images pushed in the window and never pulled since, newest push first."""
    return (inv.activity.filter((pl.col("pushes") > 0) & (pl.col("pulls") == 0))
            .join(inv.manifests.select("registry", "repository", "digest", "tags", "size_bytes"),
                  on=["registry", "repository", "digest"], how="inner")
            .sort("last_pushed_at", descending=True)
            .select("registry", "repository", pl.col("digest").str.slice(0, 19).alias("digest"), "tags",
                    pl.col("last_pushed_at").alias("pushed")))


def report_plan(inv: Inventory, *, filters, stale_days: int, keep: int, untagged: bool,
                protect_pulled_days: int) -> pl.DataFrame:
    """The report's purge plan: acr purge's rules, and the pull protection whenever pull logs were collected."""
    from ..analysis.purge import purge_plan

    protect = f"{protect_pulled_days}d" if protect_pulled_days and inv.activity_sources.height else None
    return purge_plan(inv, filters=filters, ago=f"{stale_days}d", keep=keep, untagged=untagged,
                      protect_pulled_within=protect)


def cleanup_commands(inv: Inventory, plan: pl.DataFrame, *, filters, stale_days: int, keep: int, untagged: bool,
                     lines: int = 40) -> Table:
    """How to carry the plan out: the ``az acr run ... acr purge`` command per registry when acr purge can
    express the plan, else (pull protection) the first lines of ``delete_script``'s dry run."""
    from ..analysis.commands import delete_script, purge_commands

    if not (getattr(plan, "parameters", None) or {}).get("protect_pulled_within"):
        return table(purge_commands(inv, filters=filters, ago=f"{stale_days}d", keep=keep, untagged=untagged))
    script = delete_script(plan, dry_run=True).splitlines()
    shown = pl.DataFrame({"acrlib.delete_script(plan) (dry run; acr purge cannot express pull-based rules)":
                          script[:lines]})
    return Table(shown, max_rows=lines, empty="Nothing to delete.")


def plan_vs_running(inv: Inventory, plan: pl.DataFrame) -> Table:
    """Deletions in the plan of an image a workload runs or names: must be none."""
    from ..analysis.protect import DELETING, running

    digests, tags = running(inv)
    deleting = plan.filter(pl.col("action").is_in(DELETING))
    hits = pl.concat([
        deleting.join(digests, on=["registry", "repository", "digest"], how="inner"),
        deleting.join(tags, on=["registry", "repository", "tag"], how="inner"),
    ], how="diagonal_relaxed").select("registry", "repository", "tag", "digest", "action", "reason")
    note = ("none: the purge plan deletes nothing that runs or that a deployment names" if inv.deployments.height
            else "deployments were not collected: nothing is known of what runs")
    return Table(hits.unique(), empty=note)


def workload_sources(inv: Inventory) -> pl.DataFrame:
    """The clusters, apps and sites read, with every status that is not ok first."""
    return (inv.deployment_sources.with_columns((pl.col("status") == "ok").alias("_ok"))
            .sort("_ok", "service", "name").drop("_ok", "resource_id"))
