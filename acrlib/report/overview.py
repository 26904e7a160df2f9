"""The report's first screen: what was read, a few headline tiles, the key findings in sentences ranked by
impact, and the table of contents. Everything it shows is computed by the analysis wing; this module only
chooses, words and lays it out (every name from a server is escaped)."""

from __future__ import annotations

import html
from dataclasses import dataclass

import polars as pl

from ..analysis import Analysis, Headline, collection_status, has_layers
from ..errors import BlobStorageError
from ..inventory import Inventory
from . import format as fmt

# The report notebook's sections, in order: the table of contents, and the targets findings link to (a test
# checks the notebook's "## " headings are exactly these).
SECTIONS = (
    "Purge plan", "Reclaimable storage", "Cost", "In use", "Risk", "Usage", "Security posture", "Storage per registry",
    "Storage truth", "Trends", "Images and tags per registry", "Age of tags", "Fleet duplicates",
    "Architectures and operating systems", "Artifact kinds", "Collection errors",
)

# Posture findings that expose images or credentials, worth a key finding (the rest stay in their section).
SERIOUS = ("anonymous pull enabled", "admin user enabled", "public network access")


def anchor(section: str) -> str:
    """The id nbconvert and JupyterLab give a ``## section`` heading."""
    if section not in SECTIONS:
        raise ValueError(f"no report section {section!r}")
    return section.replace(" ", "-")


@dataclass(frozen=True)
class Tile:
    label: str
    value: str
    detail: str
    section: str


@dataclass(frozen=True)
class Finding:
    """A sentence for the key findings. ``rank``: 0 collection gaps (they qualify every number), 1 money,
    2 risk, 3 storage and hygiene; ``weight`` orders findings within a rank (USD per month, or bytes)."""

    rank: int
    weight: float
    sentence: str
    section: str


def _names(values, limit: int = 3) -> str:
    values = list(values)
    shown = ", ".join(values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def _referrers(plan: pl.DataFrame) -> str:
    """How many of the plan's manifests are referrers ACR deletes with their subject (the delete script's
    header counts them apart)."""
    n = plan.filter(pl.col("action") == "cascade").height
    return f" ({_plural(n, 'referrer')} among them, which ACR deletes with their subjects)" if n else ""


def tiles(numbers: Headline, *, stale_days: int, keep: int, currency: str = "USD") -> list[Tile]:
    """Four to six headline tiles from :func:`acrlib.headline`'s numbers (the plan tiles need a plan)."""
    out = [
        Tile("Billed storage", fmt.size(numbers.billed_bytes),
             f"{_plural(numbers.registries, 'registry', 'registries')}, "
             f"{_plural(numbers.manifests, 'manifest')}", "Storage truth"),
        Tile("Monthly cost", fmt.money(numbers.monthly_cost, currency),
             f"{currency}: SKU base rates plus storage above the included allowance", "Cost"),
    ]
    if numbers.reclaimable_bytes is not None:
        share = numbers.reclaimable_share
        detail = (f"{fmt.share(share) if share is not None else 'n/a'} of billed; saves "
                  f"{fmt.money(numbers.monthly_savings, currency)} a month")
        if not numbers.reclaimable_exact:
            detail += " (estimated from image sizes)"
        value = fmt.size(numbers.reclaimable_bytes)
        out.append(Tile("Reclaimable by the purge plan", value if numbers.reclaimable_exact else f"≈ {value}",
                        detail, "Reclaimable storage"))
        out.append(Tile("Stale tags", fmt.count(numbers.stale_tags),
                        f"older than {stale_days} days, the newest {keep} per repository kept", "Purge plan"))
    where = f"on {numbers.registries_with_findings} of {_plural(numbers.registries, 'registry', 'registries')}"
    if numbers.running_fixable is not None:  # vulnerability findings were read: the risk tile, posture in its detail
        removed = (f"; the plan removes {fmt.count(numbers.critical_removed)}"
                   if numbers.critical_removed is not None else "")
        out.append(Tile("Running with fixable critical/high CVEs", fmt.count(numbers.running_fixable),
                        f"{_plural(numbers.critical_findings, 'critical finding')} in stored images{removed}; "
                        f"{_plural(numbers.security_findings, 'posture finding')} {where}", "Risk"))
    else:
        out.append(Tile("Security findings", fmt.count(numbers.security_findings), where,
                        "Security posture"))
    if numbers.over_allowance:
        out.append(Tile("Over included storage", _plural(numbers.over_allowance, "registry", "registries"),
                        f"pay for storage above their SKU's allowance now: "
                        f"{fmt.money(numbers.overage_monthly, currency)} a month", "Cost"))
    elif numbers.soonest_full_on is not None:
        out.append(Tile("Included storage runs out", f"{numbers.soonest_full_on:%Y-%m-%d}",
                        f"{numbers.soonest_full_registry} first, at its growth of the last 30 days", "Trends"))
    else:
        out.append(Tile("Included storage", "no end in sight",
                        "no registry is growing into its allowance (trends need two snapshots)", "Trends"))
    return out


def findings(a: Analysis, *, currency: str = "USD") -> list[Finding]:
    """Every key finding of the analysis ``a`` that applies, best first (see :class:`Finding` for the order)."""
    inv, plan, numbers = a.inv, a.plan, a.headline
    stale_days = a.stale_days
    found: list[Finding] = []
    status = collection_status(inv)
    gaps = status.filter(pl.col("status") != "complete")
    if gaps.height:
        found.append(Finding(0, inv.errors.height, (
            f"{_plural(gaps.height, 'registry was', 'registries were')} not read completely "
            f"({_names(gaps['registry'])}): their numbers below are lower bounds; the collection logged "
            f"{_plural(inv.errors.height, 'error')}."), "Collection errors"))
    elif inv.errors.height:
        stages = inv.errors.group_by("stage").len().sort("len", "stage", descending=[True, False])
        parts = ", ".join(f"{n:,} reading {stage}" for stage, n in stages.iter_rows())
        found.append(Finding(0, inv.errors.height, (
            f"Every registry was read completely, but the collection logged {_plural(inv.errors.height, 'error')} "
            f"({parts}): what those would have shown is missing."), "Collection errors"))
    if not has_layers(inv) and inv.manifests.height:
        found.append(Finding(1, 0.0, (
            "Storage figures are estimates from image sizes: this inventory was collected without layers, so "
            "shared layers count once per image and nothing is compared with billed storage (acrlib collect "
            "--layers, or collect(layers=True), gives exact bytes)."), "Storage truth"))
    costs = a.costs
    over = costs.filter(pl.col("overage_gib") > 0).sort("overage_monthly", descending=True)
    if over.height:
        top = over.row(0, named=True)
        found.append(Finding(1, float(over["overage_monthly"].sum()), (
            f"{_plural(over.height, 'registry is', 'registries are')} over the storage their SKU includes, costing "
            f"{fmt.money(over['overage_monthly'].sum(), currency)} a month; {top['registry']} the most, "
            f"{fmt.size(top['overage_gib'] * fmt.GIB)} over."), "Cost"))
    if plan is not None and numbers.reclaimable_bytes:
        estimate = "" if numbers.reclaimable_exact else ", estimated from image sizes"
        share = numbers.reclaimable_share
        found.append(Finding(1, numbers.monthly_savings, (
            f"The purge plan deletes {_plural(numbers.stale_tags, 'tag')} and "
            f"{_plural(numbers.stale_manifests, 'manifest')}{_referrers(plan)} and frees "
            f"{fmt.size(numbers.reclaimable_bytes)}"
            f"{f' ({fmt.share(share)} of billed storage{estimate})' if share is not None else estimate}; "
            f"that saves {fmt.money(numbers.monthly_savings, currency)} a month"
            f"{_no_savings(numbers)}."),
            "Reclaimable storage"))
    stored = a.storage.repositories
    billed = numbers.billed_bytes
    if stored.height and billed:
        top = stored.sort("unique_bytes", descending=True, nulls_last=True).row(0, named=True)
        if top["unique_bytes"]:
            frees = ""
            if plan is not None:
                there = a.freed.repositories.filter(
                    (pl.col("registry") == top["registry"]) & (pl.col("repository") == top["repository"]))
                freed = int(there["reclaimable_bytes"].sum()) if there.height else 0
                frees = f"; the plan frees {fmt.size(freed)} there" if freed else "; the plan frees nothing there"
            if has_layers(inv):
                holds = (f"holds the largest share of storage: {fmt.size(top['unique_bytes'])}, "
                         f"{fmt.share(top['unique_bytes'] / billed)} of all billed storage")
            else:  # summed image sizes count shared layers many times: no share of what is billed
                holds = (f"holds the most by image sizes: {fmt.size(top['unique_bytes'])}, an estimate (its share "
                         "of billed storage needs a collection with layers)")
            found.append(Finding(3, float(top["unique_bytes"]), (
                f"{top['registry']}/{top['repository']} {holds}{frees}."), "Storage truth"))
    serious = a.posture.filter(pl.col("finding").is_in(SERIOUS))
    if serious.height:
        parts = [f"{name} on {_names(group['registry'])}"
                 for (name,), group in serious.group_by("finding", maintain_order=True)]
        found.append(Finding(2, serious.height, f"Security posture: {'; '.join(parts)}.", "Security posture"))
    if inv.deployments.height:
        running = a.in_use
        drift = running.drift
        if drift.height:
            found.append(Finding(2, drift.height, (
                f"{_plural(drift.height, 'deployment names', 'deployments name')} a tag that moved or an image "
                f"that is gone from its registry: the next restart runs something else or fails."), "In use"))
        if running.old.height:
            found.append(Finding(3, running.old.height, (
                f"{_plural(running.old.height, 'image')} older than {stale_days} days still "
                f"{'runs' if running.old.height == 1 else 'run'}: the plan keeps "
                f"{'it' if running.old.height == 1 else 'them'}, and {'it' if running.old.height == 1 else 'they'} "
                f"may lack recent fixes."), "In use"))
        if running.outside.height:
            found.append(Finding(3, running.outside.height, (
                f"{_plural(running.outside.height, 'image')} {'runs' if running.outside.height == 1 else 'run'} "
                f"from registries outside the tenant ({_names(running.outside['host'].unique().sort())})."),
                "In use"))
    if inv.vulnerability_sources.height:
        risky = a.exposure
        if risky.running_fixable.height:
            worst = risky.running_fixable.row(0, named=True)
            found.append(Finding(2, float(risky.running_fixable.height), (
                f"{_plural(risky.running_fixable.height, 'running image has', 'running images have')} critical or "
                f"high vulnerabilities that a fix exists for; {worst['registry']}/{worst['repository']} the most "
                f"({_plural(worst['critical'], 'critical')}, {_plural(worst['high'], 'high')})."), "Risk"))
        if numbers.critical_removed:
            found.append(Finding(3, float(numbers.critical_removed), (
                f"The purge plan's deletions remove "
                f"{_plural(numbers.critical_removed, 'critical vulnerability finding')} of the "
                f"{fmt.count(numbers.critical_findings)} in the registries."), "Risk"))
        if risky.cleanup_first.height:
            found.append(Finding(3, float(risky.cleanup_first.height), (
                f"{_plural(risky.cleanup_first.height, 'vulnerable image is', 'vulnerable images are')} neither "
                f"running nor pulled in the logs' window: delete {'it' if risky.cleanup_first.height == 1 else 'them'}"
                " first."), "Risk"))
    if inv.activity_sources.height:
        used = a.usage.registries
        logged = used.filter(pl.col("never_pulled").is_not_null())
        silent = used.filter(pl.col("never_pulled").is_null())
        never = int(logged["never_pulled"].sum()) if logged.height else 0
        if never:
            found.append(Finding(3, float(logged["never_pulled_bytes"].sum()), (
                f"{_plural(never, 'image')} in the {_plural(logged.height, 'registry', 'registries')} with pull logs "
                f"{'was' if never == 1 else 'were'} never pulled in their logs' window "
                f"({fmt.size(int(logged['never_pulled_bytes'].sum()))} of image sizes)."), "Usage"))
        if silent.height:
            found.append(Finding(3, 0.0, (
                f"{_plural(silent.height, 'registry sends', 'registries send')} no pull logs "
                f"({_names(silent['registry'])}): what is unused there is unknown."), "Usage"))
    found.sort(key=lambda f: (f.rank, -f.weight))
    if len(found) < 3:  # a tidy tenant: say so, so the reader knows it was checked
        if not gaps.height and not inv.errors.height:
            found.append(Finding(4, 0.0, f"All {_plural(status.height, 'registry was', 'registries were')} read "
                                         "completely, with no collection errors.", "Collection errors"))
        if not serious.height:
            found.append(Finding(4, 0.0, "No registry allows anonymous pull, has its admin user enabled or is open "
                                         "to every network.", "Security posture"))
        found.append(Finding(4, 0.0, f"Billed storage is {fmt.size(billed)}, costing "
                                     f"{fmt.money(numbers.monthly_cost, currency)} a month.", "Cost"))
    return found


STYLE = """<style>
.acrlib-scope { color: #555; margin: 0 0 12px; }
.acrlib-tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 10px; }
.acrlib-tile { display: flex; flex-direction: column; gap: 4px; padding: 12px 14px; border: 1px solid #d0d7de;
  border-radius: 8px; background: #f6f8fa; color: inherit; text-decoration: none; }
.acrlib-tile:hover { border-color: #0969da; }
.acrlib-tile-label { font-size: 0.85em; color: #555; }
.acrlib-tile-value { font-size: 1.6em; font-weight: 600; }
.acrlib-tile-detail { font-size: 0.8em; color: #555; }
.acrlib-findings li { margin: 0 0 6px; }
.acrlib-contents ol { columns: 2 220px; }
</style>"""


def _no_savings(numbers: Headline) -> str:
    if numbers.monthly_savings:
        return ""
    if numbers.over_allowance:
        return ", since it frees nothing in the registries that pay for storage above their allowance"
    return ", since no registry pays for storage above its allowance"


class FirstScreen:
    """Scope, tiles, key findings and contents, as HTML (notebooks and the exported report) and as text."""

    def __init__(self, scope: str, tiles: list[Tile], findings: list[Finding], sections: tuple[str, ...] = SECTIONS,
                 warning: str | None = None):
        self.scope = scope
        self.tiles = tiles
        self.findings = findings
        self.sections = sections
        self.warning = warning  # shown above everything (the history could not be updated)

    def _repr_html_(self) -> str:
        esc = html.escape
        tiles = "".join(
            f'<a class="acrlib-tile" href="#{anchor(t.section)}"><span class="acrlib-tile-label">{esc(t.label)}'
            f'</span><span class="acrlib-tile-value">{esc(t.value)}</span>'
            f'<span class="acrlib-tile-detail">{esc(t.detail)}</span></a>' for t in self.tiles)
        items = "".join(f'<li>{esc(f.sentence)} <a href="#{anchor(f.section)}">{esc(f.section)}</a></li>'
                        for f in self.findings)
        contents = "".join(f'<li><a href="#{anchor(s)}">{esc(s)}</a></li>' for s in self.sections)
        warning = fmt.alert(esc(self.warning)) if self.warning else ""
        return (f'{STYLE}<div class="acrlib-first-screen">{warning}<p class="acrlib-scope">{esc(self.scope)}</p>'
                f'<div class="acrlib-tiles">{tiles}</div>'
                f'<h3 id="Key-findings">Key findings</h3><ol class="acrlib-findings">{items}</ol>'
                f'<details class="acrlib-contents" open><summary>Contents</summary><ol>{contents}</ol></details>'
                f"</div>")

    def __repr__(self) -> str:
        lines = ([self.warning, ""] if self.warning else []) + [self.scope, ""]
        lines += [f"{t.label}: {t.value} ({t.detail})" for t in self.tiles]
        lines += ["", "Key findings:"] + [f"{i}. {f.sentence}" for i, f in enumerate(self.findings, 1)]
        return "\n".join(lines)


def first_screen(a: Analysis, *, source: str, keep: int = 3, currency: str = "USD",
                 max_findings: int = 7) -> FirstScreen:
    """The first screen of the report for the analysis ``a`` (its inventory, purge plan, rates and history):
    ``source`` as the scope line names it, ``keep`` as the plan kept it (for the tiles' wording)."""
    numbers = a.headline
    subscriptions = a.inv.registries["subscription_id"].n_unique()
    scope = (f"{source}: {_plural(numbers.registries, 'registry', 'registries')} in "
             f"{_plural(subscriptions, 'subscription')}, collected {a.inv.collected_at:%Y-%m-%d %H:%M} UTC")
    ranked = findings(a, currency=currency)
    return FirstScreen(scope, tiles(numbers, stale_days=a.stale_days, keep=keep, currency=currency),
                       ranked[:max_findings], warning=history_warning(a.inv))


def history_warning(inv: Inventory) -> str | None:
    """The line a report leads with when this collection could not be added to its history."""
    error = inv.history_error
    return f"The history was not updated (trends leave out this collection): {error}" if error else None


def history_check(inv: Inventory) -> None:
    """The report's last cell: :class:`~acrlib.errors.BlobStorageError` when the history was not updated, so that a
    scheduled run fails (the HTML is complete and leads with the same line)."""
    if inv.history_error:
        raise BlobStorageError(f"the history was not updated: {inv.history_error}")
