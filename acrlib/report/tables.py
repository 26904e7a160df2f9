"""Report tables: frames shown as plain HTML tables in notebooks and exported reports."""

from __future__ import annotations

import html
from pathlib import Path

import polars as pl

from ..analysis import delete_script, describe, has_layers, headline, purge_commands, running_deletions
from ..inventory import Inventory
from . import format as fmt


class Table:
    """A frame shown as a plain HTML table in notebooks and exported reports: readable column labels, values
    formatted by their column's kind (sizes in GiB or TiB, money with its currency, counts with thousands
    separators; see :mod:`acrlib.report.format`), at most ``max_rows`` rows (the rest counted), a total row
    when asked, or a sentence when empty. Wide tables scroll sideways on a narrow screen."""

    def __init__(self, df: pl.DataFrame, max_rows: int = 50, empty: str = "Nothing to show.", *,
                 total: bool = False, currency: str = "USD"):
        self.df = df
        self.max_rows = max_rows
        self.empty = empty
        self.total = total
        self.currency = currency

    def _totals(self) -> list | None:
        if not self.total or self.df.height == 0:
            return None
        row = []
        for i, (name, dtype) in enumerate(self.df.schema.items()):
            summable = (dtype.is_numeric() and fmt.kind(name) in ("bytes", "gib", "money")) or (
                dtype.is_integer() and fmt.kind(name) == "plain")
            row.append(self.df[name].sum() if summable else ("total" if i == 0 else None))
        return row

    def _row(self, row, *, bold: bool = False) -> str:
        cells = []
        for name, v in zip(self.df.columns, row, strict=True):
            align = "right" if isinstance(v, (int, float)) and not isinstance(v, bool) else "left"
            text = html.escape(fmt.cell(v, fmt.kind(name), self.currency))
            cells.append(f'<td style="text-align:{align}">{f"<b>{text}</b>" if bold else text}</td>')
        return f"<tr>{''.join(cells)}</tr>"

    def _repr_html_(self) -> str:
        if self.df.height == 0:
            return f"<p><em>{html.escape(self.empty)}</em></p>"
        head = "".join(f"<th>{html.escape(fmt.label(c))}</th>" for c in self.df.columns)
        rows = [self._row(row) for row in self.df.head(self.max_rows).iter_rows()]
        totals = self._totals()
        if totals is not None:
            rows.append(self._row(totals, bold=True))
        more = self.df.height - self.max_rows
        tail = f"<p><em>{more:,} more rows not shown.</em></p>" if more > 0 else ""
        return (f'<div class="acrlib-scroll" style="overflow-x:auto;max-width:100%">'
                f'<table class="acrlib-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
                f"</div>{tail}")

    def __repr__(self) -> str:
        return repr(self.df) if self.df.height else self.empty


class Text:
    """A sentence shown as a paragraph (escaped), where ``print`` would give a monospace block that a phone
    cannot wrap."""

    def __init__(self, text: str):
        self.text = text

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(self.text)}</p>"

    def __repr__(self) -> str:
        return self.text


def rules(plan: pl.DataFrame) -> Text:
    """The rules a purge plan was made with, as a paragraph."""
    return Text(f"The plan follows {describe(plan)}.")


def table(df: pl.DataFrame, max_rows: int = 50, empty: str = "Nothing to show.", *, total: bool = False,
          currency: str = "USD") -> Table:
    return Table(df, max_rows, empty, total=total, currency=currency)


def headline_table(inv: Inventory, plan: pl.DataFrame | None = None, **headline_args) -> pl.DataFrame:
    """:func:`acrlib.headline` as a two-column table of text (sizes in GiB or TiB, money in its currency)."""
    rows = []
    for name, value in headline(inv, plan, **headline_args).items():
        if value is None:
            continue
        rows.append((fmt.label(name), fmt.cell(value, fmt.kind(name))))
    return pl.DataFrame(rows, schema={"measure": pl.String, "value": pl.String}, orient="row")


def log_sources(inv: Inventory) -> pl.DataFrame:
    """Each registry's pull-log source for the report: where its events go, how far back, what to enable."""
    return inv.activity_sources.select(
        "registry", "status", pl.col("covered_from").dt.strftime("%Y-%m-%d").alias("logs from"),
        pl.col("diagnostic_setting").alias("setting"), "message")


class Cleanup:
    """The report's "carry it out" part: the acrlib commands for the plan, the ``acr purge`` commands of the
    registries where they express it (and, for the others, what they cannot), and the files written beside the
    report. Every value is escaped."""

    def __init__(self, apply: list[str], commands: pl.DataFrame, files: list[str]):
        self.apply, self.commands, self.files = apply, commands, files

    def _repr_html_(self) -> str:
        steps = "".join(f"<li><code>{html.escape(c)}</code></li>" for c in self.apply)
        files = (f"<p>Written beside this report: {', '.join(f'<code>{html.escape(f)}</code>' for f in self.files)}."
                 "</p>") if self.files else ""
        return (f"<p>Carry the plan out with acrlib (a dry run first; <b>--delete deletes</b> and needs the AcrDelete "
                f"role):</p><ol>{steps}</ol>{files}"
                f"<p>Or, where its rules alone give the plan, <code>acr purge</code> per registry:</p>"
                + Table(self.commands, empty="No registry has anything to delete.")._repr_html_())

    def __repr__(self) -> str:
        return "\n".join([*self.apply, *self.files, repr(self.commands)])


def cleanup(inv: Inventory, plan: pl.DataFrame, *, folder: str | None = None) -> Cleanup:
    """How to carry the plan out: ``acrlib apply`` with the plan saved beside the report (in ``folder``, with
    the ``az acr repository`` script of :func:`~acrlib.delete_script` for those who want one command per tag),
    and the ``acr purge`` command of every registry where acr purge's rules reproduce the plan (``note`` says
    what it cannot express elsewhere)."""
    files = []
    plan_name = "purge-plan.parquet"
    if folder:
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        if getattr(plan, "parameters", None):
            plan.save(out / plan_name)
            files.append(plan_name)
        (out / "delete-script.sh").write_text(delete_script(plan))
        files.append("delete-script.sh")
    apply = [f"acrlib apply --plan {plan_name}", f"acrlib apply --plan {plan_name} --delete --verify"]
    commands = purge_commands(inv, plan=plan) if getattr(plan, "parameters", None) else pl.DataFrame()
    shown = (commands.select("registry", pl.when(pl.col("note") == "").then(pl.col("command"))
                             .otherwise(pl.col("note")).alias("acr purge (or why not)"))
             if commands.height else commands)
    return Cleanup(apply, shown, files)


def duplicate_blobs(inv: Inventory, blobs: pl.DataFrame, top_n: int) -> Table:
    """Blobs stored in several registries, or, without layers, why that is unknown."""
    empty = ("No blob is stored in more than one registry." if has_layers(inv) else
             "Unknown: which blobs registries share is known only from a collection with layers (collect "
             "--layers).")
    return table(blobs.drop("basis", strict=False).head(top_n), empty=empty)


def plan_vs_running(inv: Inventory, plan: pl.DataFrame) -> Table:
    """Deletions in the plan of an image a workload runs or names (:func:`acrlib.analysis.running_deletions`):
    must be none."""
    note = ("none: the purge plan deletes nothing that runs or that a deployment names" if inv.deployments.height
            else "deployments were not collected: nothing is known of what runs")
    return Table(running_deletions(inv, plan), empty=note)


def workload_sources(inv: Inventory) -> pl.DataFrame:
    """The clusters, apps and sites read, with every status that is not ok first."""
    return (inv.deployment_sources.with_columns((pl.col("status") == "ok").alias("_ok"))
            .sort("_ok", "service", "name").drop("_ok", "resource_id"))


def exposed_images(frame: pl.DataFrame) -> pl.DataFrame:
    """Images of :func:`acrlib.exposure` as the report lists them: where, the short digest, tags, counts."""
    return frame.select("registry", "repository", pl.col("digest").str.slice(0, 19).alias("digest"), "tags",
                        "critical", "high", "fixable", "running", pl.col("last_pulled_at").alias("last pulled"))


def unscanned_summary(unscanned: pl.DataFrame) -> pl.DataFrame:
    """Images no source reports a finding for, counted per registry and reason."""
    return (unscanned.group_by("registry", "reason").agg(pl.len().alias("images"))
            .sort("registry", "images", descending=[False, True]))


def vulnerability_sources(inv: Inventory) -> pl.DataFrame:
    """Where findings come from, every status that is not ok first (its message says what to enable)."""
    return (inv.vulnerability_sources.with_columns((pl.col("status") == "ok").alias("_ok"))
            .sort("_ok", "source", "subscription_id", "path", nulls_last=True).drop("_ok"))

