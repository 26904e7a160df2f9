"""Pull activity: which images are actually used, from the registries' own event logs.

ACR has no API for "when was this image last pulled". The only source is the resource log category
``ContainerRegistryRepositoryEvents``, which a registry's diagnostic setting sends to a Log Analytics workspace.
For the selected registries this module reads each registry's diagnostic settings (ARM), resolves each
workspace's query id (its ``customerId``), and sends one query per workspace that summarizes pulls and pushes
per registry, repository, digest and tag on the server, so an answer is bounded by the number of images, not of
pulls. A result cut short by the service's limits (a partial result) or a query that runs out of time is split,
per registry first, then into halves of the time window, and never silently truncated: what cannot be read is an
error row.

Choices where the documentation is silent (unverified against real logs): a pull or push counts when its
``ResultDescription`` starts with "2" (a 2xx status); ``OperationName`` is compared case-insensitively; the
category groups ``allLogs`` and ``audit`` both include the repository events; a pull that names only a tag is
counted for the digest the tag points at in this inventory (``resolved_from_tag``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from dataclasses import dataclass, field

import polars as pl

from .. import schema
from ..errors import RequestFailed, error_row
from .discovery import Arm
from .logs import LogAnalytics, kql_string, table_rows
from .parse import json_value, typed

DIAGNOSTIC_SETTINGS_API = "2021-05-01-preview"
CATEGORY = "ContainerRegistryRepositoryEvents"
CATEGORY_GROUPS = ("allLogs", "audit")
MAX_SPLITS = 6  # halvings of the time window before a part that still fails becomes an error row (1/64)
IDENTITY_SET = 1000  # identities the server keeps per registry, repository, digest and tag
OK_PULL = 'OperationName =~ "Pull" and ResultDescription startswith "2"'
OK_PUSH = 'OperationName =~ "Push" and ResultDescription startswith "2"'
ENABLE = ("send ContainerRegistryRepositoryEvents (or the allLogs group) to a Log Analytics workspace in "
          "resource-specific mode: a diagnostic setting on the registry")


def activity_query(resource_ids: list[str]) -> str:
    """The one query per workspace (and per part when split)."""
    ids = ", ".join(kql_string(i) for i in resource_ids)
    return (
        f"{CATEGORY}\n"
        f"| where _ResourceId in~ ({ids})\n"
        f"| summarize Pulls = countif({OK_PULL}), Pushes = countif({OK_PUSH}),\n"
        f"    FirstPull = minif(TimeGenerated, {OK_PULL}), LastPull = maxif(TimeGenerated, {OK_PULL}),\n"
        f"    LastPush = maxif(TimeGenerated, {OK_PUSH}),\n"
        f"    Identities = make_set_if(Identity, {OK_PULL}, {IDENTITY_SET}), FirstEvent = min(TimeGenerated)\n"
        f"    by ResourceId = tolower(_ResourceId), Repository, Digest, Tag"
    )


@dataclass
class Source:
    """One registry's log source, as its diagnostic settings describe it."""

    registry: str
    resource_id: str
    diagnostic_setting: str | None = None
    workspace_id: str | None = None
    destination_type: str | None = None
    status: str = "not-configured"
    message: str = ""
    covered_from: dt.datetime | None = None

    def row(self) -> dict:
        return {"registry": self.registry, "diagnostic_setting": self.diagnostic_setting,
                "workspace_id": self.workspace_id, "destination_type": self.destination_type, "status": self.status,
                "covered_from": self.covered_from, "message": self.message}


def classify(source: Source, settings: list) -> None:
    """Which setting sends the repository events to a workspace's resource-specific tables; else the one that
    comes closest, and why it does not do."""
    candidates = []
    for setting in settings:
        if not isinstance(setting, dict):
            continue
        props = setting.get("properties") if isinstance(setting.get("properties"), dict) else {}
        logs = props.get("logs") if isinstance(props.get("logs"), list) else []
        sends = any(isinstance(log, dict) and log.get("enabled") is True and (
            log.get("category") == CATEGORY or log.get("categoryGroup") in CATEGORY_GROUPS) for log in logs)
        workspace = typed(props.get("workspaceId"), str)
        destination = typed(props.get("logAnalyticsDestinationType"), str)
        rank = 0 if sends and workspace and destination == "Dedicated" else 1 if sends and workspace else \
            2 if workspace else 3
        candidates.append((rank, typed(setting.get("name"), str) or "", workspace, destination))
    # the best setting: by rank, then name; None sorts first (two settings may share a name)
    best = min(candidates, key=lambda c: (c[0], c[1], c[2] or "", c[3] or "")) if candidates else None
    if best is None or best[0] == 3:
        source.status, source.message = "not-configured", f"no diagnostic setting sends logs to a workspace: {ENABLE}"
        return
    rank, name, workspace, destination = best
    source.diagnostic_setting, source.workspace_id, source.destination_type = name, workspace, destination
    if rank == 0:
        source.status = "ok"
    elif rank == 1:
        source.status = "azure-diagnostics-mode"
        source.message = (f"setting {name!r} sends to the legacy AzureDiagnostics table, which acrlib does not read: "
                          "switch it to resource-specific (Dedicated) mode")
    else:
        source.status = "category-disabled"
        source.message = f"setting {name!r} does not send ContainerRegistryRepositoryEvents: enable that category"


@dataclass
class Window:
    since: dt.datetime
    until: dt.datetime

    def halves(self) -> list[Window]:
        middle = self.since + (self.until - self.since) / 2
        return [Window(self.since, middle), Window(middle, self.until)]


@dataclass
class Results:
    rows: list[pl.DataFrame] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)


class ActivityReader:
    """Reads the sources and activity of the selected registries (``rows``: registries-table rows)."""

    def __init__(self, arm: Arm, logs: LogAnalytics, days: int, until: dt.datetime):
        self.arm = arm
        self.logs = logs
        self.window = Window(until - dt.timedelta(days=days), until)
        self.results = Results()

    def error(self, registry: str | None, code: str, message: str, status: int | None = None) -> None:
        self.results.errors.append(error_row("activity", code, message, registry=registry, status=status))

    async def read(self, rows: list[dict]) -> list[Source]:
        sources = [Source(r["registry"], r["id"]) for r in rows]
        await asyncio.gather(*(self._guarded(self._settings(s), [s]) for s in sources))
        by_workspace: dict[str, list[Source]] = {}
        for s in sources:
            if s.status == "ok":
                by_workspace.setdefault(s.workspace_id.lower(), []).append(s)
        await asyncio.gather(*(self._guarded(self._workspace(group), group) for group in by_workspace.values()))
        return sources

    async def _guarded(self, work, sources: list[Source]) -> None:
        """Anything unexpected costs these registries their activity, reported, never the collection."""
        try:
            await work
        except Exception as e:
            self._fail(sources, "error", f"reading the activity failed: {type(e).__name__}")
            self.error(None, type(e).__name__, f"activity of {', '.join(s.registry for s in sources)}: {e}")

    async def _settings(self, source: Source) -> None:
        try:
            answer = await self.arm.get(f"{source.resource_id}/providers/Microsoft.Insights/diagnosticSettings",
                                        DIAGNOSTIC_SETTINGS_API, "diagnosticSettings")
        except RequestFailed as e:
            source.status = "no-access" if e.status in (401, 403) else "error"
            source.message = f"cannot read the registry's diagnostic settings: {e.code}"
            self.error(source.registry, e.code, f"diagnostic settings: {e.message}", e.status)
            return
        settings = answer.get("value")
        classify(source, settings if isinstance(settings, list) else [])

    async def _workspace(self, sources: list[Source]) -> None:
        workspace_id = sources[0].workspace_id
        try:
            workspace = await self.logs.workspace(workspace_id)
        except RequestFailed as e:
            self._fail(sources, "no-access" if e.status in (401, 403) else "error",
                       f"cannot read workspace {workspace_id}: {e.code}")
            self.error(None, e.code, f"workspace {workspace_id} (registries "
                       f"{', '.join(s.registry for s in sources)}): {e.message}", e.status)
            return
        for source in sources:  # ARM's own spelling of the id (settings may write it in another case)
            source.workspace_id = workspace.resource_id
        await self._query(workspace, sources, self.window, 0)

    def _fail(self, sources: list[Source], status: str, message: str) -> None:
        for s in sources:
            s.status, s.message = status, message

    async def _query(self, workspace, sources: list[Source], window: Window, splits: int) -> None:
        """One query; a partial result or a timeout is split per registry, then into halves of the window."""
        by_id = {s.resource_id.lower(): s for s in sources}
        outcome = await self.logs.query(workspace, activity_query(list(by_id)), window.since, window.until)
        if outcome.table is not None:
            rows, bad = table_rows(outcome.table)
            frame, unreadable = summary_frame(rows)
            self.results.rows.append(frame)
            if bad + unreadable:  # those rows are left out: said where the activity shows, and as an error row
                note = f"{bad + unreadable} rows of the pull summary could not be read and are left out"
                for s in sources:
                    s.message = f"{s.message}; {note}" if s.message else note
                self.error(None, "INVALID_ROWS", f"workspace {workspace.resource_id}: {note}")
            return
        if not outcome.split:
            if outcome.denied:
                self._fail(sources, "no-access", f"the identity may not query workspace {workspace.resource_id} "
                                                 "(it needs Log Analytics Reader)")
            else:
                self._fail(sources, "error", f"the query of workspace {workspace.resource_id} failed: {outcome.code}")
            self.error(None, outcome.code, f"workspace {workspace.resource_id}: {outcome.message}", outcome.status)
            return
        if len(sources) > 1:
            await asyncio.gather(*(self._query(workspace, [s], window, splits) for s in sources))
        elif splits < MAX_SPLITS:
            for half in window.halves():
                await self._query(workspace, sources, half, splits + 1)
        else:
            self.error(sources[0].registry, outcome.code, f"activity from {window.since:%Y-%m-%d %H:%M} to "
                       f"{window.until:%Y-%m-%d %H:%M} UTC could not be read ({outcome.message}); its pulls are "
                       "missing", outcome.status)


def summary_frame(rows: list[dict]) -> tuple[pl.DataFrame, int]:
    """The summary's rows (dicts by column) as a frame, every cell type-checked, and how many rows could not be
    read (left out). Dynamic values come as JSON text (or, from other clients, as lists)."""
    out, bad = [], 0
    for row in rows:
        try:
            wrong = [k for k in ("ResourceId", "Repository") if not isinstance(row.get(k), str)]
            wrong += [k for k in ("Digest", "Tag") if row.get(k) is not None and not isinstance(row.get(k), str)]
            wrong += [k for k in ("Pulls", "Pushes") if row.get(k) is not None and typed(row.get(k), int) is None]
            if wrong:
                raise ValueError(f"{', '.join(wrong)} of the wrong type")
            identities = row.get("Identities")
            if isinstance(identities, str):
                try:
                    identities = json_value(identities)
                except ValueError:
                    identities = []
            out.append((
                typed(row.get("ResourceId"), str) or "", typed(row.get("Repository"), str) or "",
                typed(row.get("Digest"), str) or "", typed(row.get("Tag"), str) or "",
                typed(row.get("Pulls"), int) or 0, typed(row.get("Pushes"), int) or 0,
                _time(row.get("FirstPull")), _time(row.get("LastPull")), _time(row.get("LastPush")),
                [i for i in identities if isinstance(i, str)] if isinstance(identities, list) else [],
                _time(row.get("FirstEvent")),
            ))
        except Exception:  # one row, whatever is wrong with it
            bad += 1
    return pl.DataFrame(out, schema={
        "resource_id": pl.String, "repository": pl.String, "digest": pl.String, "tag": pl.String, "pulls": pl.Int64,
        "pushes": pl.Int64, "first_pull": schema.TIME, "last_pull": schema.TIME, "last_push": schema.TIME,
        "identities": pl.List(pl.String), "first_event": schema.TIME}, orient="row"), bad


def _time(value) -> dt.datetime | None:
    """A datetime cell (the client parses them; text when it could not: up to 7 fraction digits)."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, str) and value:
        try:
            return _time(dt.datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00"))))
        except ValueError:
            return None
    return None


def tables(sources: list[Source], results: Results, registries: pl.DataFrame, tags: pl.DataFrame
           ) -> dict[str, pl.DataFrame]:
    """The ``activity`` and ``activity_sources`` tables. A pull that names only a tag counts for the digest the
    tag points at in this inventory (``resolved_from_tag``)."""
    ids = registries.select(pl.col("id").str.to_lowercase().alias("resource_id"), "registry")
    raw = pl.concat(results.rows) if results.rows else summary_frame([])[0]
    raw = raw.join(ids, on="resource_id", how="inner")
    first_event = dict(raw.group_by("registry").agg(pl.col("first_event").min()).iter_rows())
    for source in sources:
        if source.status == "ok":
            source.covered_from = first_event.get(source.registry)
    current = tags.select("registry", "repository", "tag", pl.col("digest").alias("current"))
    rows = (raw.filter((pl.col("pulls") > 0) | (pl.col("pushes") > 0))
            .join(current, on=["registry", "repository", "tag"], how="left")
            .with_columns(((pl.col("digest") == "") & (pl.col("pulls") > 0)).alias("by_tag"))
            .with_columns(pl.when(pl.col("digest") == "").then(pl.col("current")).otherwise(pl.col("digest"))
                          .alias("digest")))
    who = pl.col("identities").list.explode(keep_nulls=False, empty_as_null=False)
    activity = rows.group_by("registry", "repository", "digest").agg(
        pl.col("pulls").sum(), who.n_unique().cast(pl.Int64).alias("pullers"),
        pl.col("first_pull").min().alias("first_pulled_at"), pl.col("last_pull").max().alias("last_pulled_at"),
        pl.col("pushes").sum(), pl.col("last_push").max().alias("last_pushed_at"),
        pl.col("tag").filter((pl.col("pulls") > 0) & (pl.col("tag") != "")).unique().sort().alias("tags_pulled"),
        who.unique().sort().head(schema.IDENTITIES_KEPT).alias("identities"),
        pl.col("by_tag").any().alias("resolved_from_tag"),
    )
    sources_frame = schema.frame("activity_sources", [s.row() for s in sources])
    return {"activity": schema.sort("activity", schema.conform("activity", activity)),
            "activity_sources": schema.sort("activity_sources", sources_frame)}
