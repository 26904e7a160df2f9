"""What-if analysis in JupyterLab: sliders for a purge plan's rules, and what the plan would delete, free and
save, recomputed in place as they move. Needs ipywidgets (a dependency of acrlib)."""

from __future__ import annotations

import html

import polars as pl

from ..analysis import Analysis, purge_plan
from ..inventory import Inventory
from . import format as fmt
from .tables import Table


def outcome(inv: Inventory | Analysis, *, stale_days: int, keep: int, untagged: bool, rates: dict | None = None,
            **plan_args) -> pl.DataFrame:
    """Per registry, for a plan with these rules: tags and manifests deleted, reclaimable bytes, what that
    saves a month, and the share of billed storage it frees (the frame the what-if panel shows). An
    :class:`~acrlib.Analysis` of the inventory shares what does not depend on the plan between calls."""
    base = inv if isinstance(inv, Analysis) else Analysis(inv, rates=rates)
    inv = base.inv
    plan = purge_plan(inv, ago=f"{stale_days}d", keep=keep, untagged=untagged, **plan_args)
    a = base.with_plan(plan)
    freed = a.freed.registries
    deleted = plan.group_by("registry").agg((pl.col("action") == "delete_tag").sum().alias("tags_deleted"),
                                            pl.col("action").is_in(["delete_manifest", "cascade"]).sum()
                                            .alias("manifests_deleted_"))
    return (inv.registries.select("registry", pl.col("storage_used_bytes").alias("billed_bytes"))
            .join(deleted, on="registry", how="left")
            .join(freed.select("registry", "reclaimable_bytes"), on="registry", how="left")
            .join(a.savings.select("registry", "monthly_savings"), on="registry", how="left")
            .with_columns(pl.col("tags_deleted", "manifests_deleted_", "reclaimable_bytes").fill_null(0),
                          (pl.col("reclaimable_bytes") / pl.col("billed_bytes")).alias("freed_share"))
            .rename({"manifests_deleted_": "manifests_deleted"})
            .select("registry", "tags_deleted", "manifests_deleted", "reclaimable_bytes", "freed_share",
                    "monthly_savings")
            .sort("registry"))


def panel(inv: Inventory, *, stale_days: int = 90, keep: int = 3, untagged: bool = True, rates: dict | None = None,
          currency: str = "USD", **plan_args):
    """Sliders for ``stale_days`` and ``keep`` and a switch for untagged manifests; below them the totals and
    the per-registry :func:`outcome`, recomputed whenever one changes. Returns the ipywidgets box to display."""
    import ipywidgets as widgets

    days = widgets.IntSlider(value=stale_days, min=0, max=730, step=5, description="stale days",
                             continuous_update=False)
    kept = widgets.IntSlider(value=keep, min=0, max=50, description="keep", continuous_update=False)
    loose = widgets.Checkbox(value=untagged, description="untagged manifests too")
    shown = widgets.HTML()
    base = Analysis(inv, rates=rates)  # the manifest facts, computed once for every position of the sliders

    def refresh(_change=None) -> None:
        frame = outcome(base, stale_days=days.value, keep=kept.value, untagged=loose.value, rates=rates,
                        **plan_args)
        total = (f"<p><b>{fmt.size(int(frame['reclaimable_bytes'].sum()))}</b> freed, saving "
                 f"<b>{fmt.money(frame['monthly_savings'].fill_null(0).sum(), currency)}</b> a month; "
                 f"{fmt.count(int(frame['tags_deleted'].sum()))} tags and "
                 f"{fmt.count(int(frame['manifests_deleted'].sum()))} manifests deleted "
                 f"(stale after {days.value} days, newest {kept.value} kept"
                 f"{', untagged manifests too' if loose.value else ''}).</p>")
        shown.value = total + Table(frame, total=True, currency=currency)._repr_html_()

    for control in (days, kept, loose):
        control.observe(refresh, names="value")
    refresh()
    note = widgets.HTML(f"<p>{html.escape('What a purge with these rules would delete and free:')}</p>")
    return widgets.VBox([note, widgets.HBox([days, kept]), loose, shown])
