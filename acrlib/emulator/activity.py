"""The registries' resource logs: which registry sends ``ContainerRegistryRepositoryEvents`` to which Log
Analytics workspace (diagnostic settings), and the events themselves, consistent with the tenant and its
evolution: a push when a manifest arrives, an untag when a tag moves away or is deleted, a delete when a
manifest goes, and pulls as teams run their images.

Pulls follow a usage profile per repository, drawn from its name: ``production`` (its moving tags and newest
release pulled daily by tag by a few cluster identities, the release also pinned by digest), ``ci`` (each CI
build tag pulled once, soon after its push), ``occasional`` (a developer pulls a tag now and then; a few of
those fail with 401) and ``never``. No event falls between 23:00 and 01:00 UTC: a query window that starts at
midnight (plus the seconds a test takes) then sees exactly the events the truth counts.
"""

from __future__ import annotations

import random
import uuid

from .model import (
    DAY,
    TICKS,
    DiagnosticSetting,
    EventLog,
    Registry,
    Repository,
    Tenant,
    Workspace,
)

HOUR = 3600 * TICKS
HISTORY_DAYS = 150  # events older than this are beyond any workspace's retention and are not kept
WORKSPACES = (("law-ops", 90, True), ("law-short", 20, True), ("law-secure", 90, False))
PROFILES = (("production", 0.35), ("ci", 0.25), ("occasional", 0.2), ("never", 0.2))
PULLERS = ("aks-prod-weu", "aks-prod-eus", "aks-dev-weu")  # kubelet identities of the tenant's clusters
DEVELOPERS = ("dev-alice", "dev-bob", "dev-chen")
PUSHER = "ci-pipeline"


def quiet(t: int) -> int:
    """``t`` moved out of 23:00-01:00 UTC (see the module docstring)."""
    of_day = t % DAY
    if of_day >= 23 * HOUR:
        return t - 2 * HOUR
    if of_day < HOUR:
        return t + HOUR
    return t


def identity(tenant_id: str, name: str) -> str:
    """The object id of a named identity (stable for the tenant)."""
    return str(uuid.UUID(int=random.Random(f"{tenant_id}/{name}").getrandbits(128), version=4))


def _setting(name: str, workspace: Workspace | None, destination: str | None, logs) -> DiagnosticSetting:
    return DiagnosticSetting(name, workspace.resource_id if workspace else None, destination, tuple(logs))


def setup(tenant: Tenant) -> None:
    """Workspaces and each registry's diagnostic settings, one variant per registry in turn: the category to a
    workspace; the ``allLogs`` group to a workspace with short retention; none (only a storage account); the
    category disabled; the legacy AzureDiagnostics mode; a workspace the caller may not query."""
    sub = tenant.subscriptions[0][0]
    rng = random.Random(f"workspaces/{tenant.tenant_id}")
    tenant.workspaces = [
        Workspace(name, f"/subscriptions/{sub}/resourceGroups/rg-monitoring/providers/"
                        f"Microsoft.OperationalInsights/workspaces/{name}",
                  str(uuid.UUID(int=rng.getrandbits(128), version=4)), retention, readable)
        for name, retention, readable in WORKSPACES]
    ops, short, secure = tenant.workspaces
    events = ("ContainerRegistryRepositoryEvents", None, True)
    logins = ("ContainerRegistryLoginEvents", None, True)
    variants = [
        [_setting("acr-to-ops", ops, "Dedicated", [events, logins])],
        [_setting("all-logs", short, "Dedicated", [(None, "allLogs", True)])],
        [_setting("archive-only", None, None, [(None, "allLogs", True)])],  # a storage account, no workspace
        [_setting("logins-only", ops, "Dedicated", [("ContainerRegistryRepositoryEvents", None, False), logins])],
        [_setting("legacy", ops, None, [events])],  # AzureDiagnostics mode
        [_setting("to-secure", secure, "Dedicated", [events])],
    ]
    for i, reg in enumerate(r for r in tenant.registries if not r.discovery_only):
        reg.diagnostic_settings = variants[i % len(variants)] if i < len(variants) else variants[i % 2]


def record_push(events: EventLog, tenant_id: str, reg: Registry, repo: Repository, before: set[str],
                tags_before: dict[str, str], t: int, since: int) -> None:
    """The events of one push at ``t``: each new manifest (with the tags it arrived with) and each tag moved
    away from the manifest it was on. Nothing before ``since`` is kept."""
    if t < since:
        return
    pusher = identity(tenant_id, PUSHER)
    for digest, manifest in repo.manifests.items():
        if digest in before:
            continue
        for tag in manifest.tags or [""]:
            events.add(manifest.created, reg.name, repo.name, "Push", digest, tag, pusher, "201", len(manifest.body))
    for tag, old in tags_before.items():
        moved = repo.tags.get(tag)
        if moved is not None and moved.digest != old:
            events.add(t, reg.name, repo.name, "Untag", old, tag, pusher, "200")


def record_untag(tenant: Tenant, reg: Registry, repo: Repository, tag: str, digest: str, t: int) -> None:
    tenant.events.add(t, reg.name, repo.name, "Untag", digest, tag, identity(tenant.tenant_id, PUSHER), "200")


def record_delete(tenant: Tenant, reg: Registry, repo: Repository, digest: str, t: int) -> None:
    tenant.events.add(t, reg.name, repo.name, "Delete", digest, "", identity(tenant.tenant_id, PUSHER), "202")


def profile(reg: Registry, repo: Repository) -> str:
    roll = random.Random(f"usage/{reg.name}/{repo.name}").random()
    for name, share in PROFILES:
        if roll < share:
            return name
        roll -= share
    return "never"


def _release_tags(repo: Repository) -> list[str]:
    releases = [t for t in repo.tags.values() if t.name[:1].isdigit()]
    return [t.name for t in sorted(releases, key=lambda t: (t.updated, t.name))[-1:]]


def pulls(tenant: Tenant, start: int, end: int, seed: int = 0) -> int:
    """Pull events between ``start`` and ``end`` (ticks), from the tenant as it is now; returns how many."""
    rng = random.Random(f"pulls/{tenant.tenant_id}/{start}/{seed}")
    clusters = [identity(tenant.tenant_id, name) for name in PULLERS]
    developers = [identity(tenant.tenant_id, name) for name in DEVELOPERS]
    added = 0
    first_day = start - start % DAY
    days = range(first_day, end, DAY)
    for reg in tenant.registries:
        if reg.discovery_only:
            continue
        for repo in sorted(reg.repositories.values(), key=lambda r: r.name):
            kind = profile(reg, repo)
            if kind == "never" or not repo.tags:
                continue
            if kind == "production":
                moving = [name for name in ("latest", "stable") if name in repo.tags] + _release_tags(repo)
                pinned = [repo.tags[name].digest for name in _release_tags(repo)]
                pullers = clusters[:1 + len(repo.name) % len(clusters)]
                for day in days:
                    for who in pullers:
                        for tag in moving:
                            added += _pull(tenant, reg, repo, rng, day, start, end, who, tag=tag)
                        for digest in pinned:
                            added += _pull(tenant, reg, repo, rng, day, start, end, who, digest=digest)
            elif kind == "ci":
                for tag in repo.tags.values():
                    if tag.name.startswith(("main-", "build-")) and start <= tag.created < end - HOUR:
                        when = quiet(tag.created + rng.randint(60, 3000) * TICKS)
                        if start <= when < end:
                            tenant.events.add(when, reg.name, repo.name, "Pull", "", tag.name, clusters[-1], "200")
                            added += 1
            else:  # occasional; now and then without permission (a failed pull: logged, not a pull)
                names = sorted(repo.tags)
                for day in days:
                    if rng.random() < 0.08:
                        result = "401" if rng.random() < 0.15 else "200"
                        added += _pull(tenant, reg, repo, rng, day, start, end, rng.choice(developers),
                                       tag=rng.choice(names), result=result)
    return added


def _pull(tenant, reg, repo, rng, day, start, end, who, tag: str = "", digest: str = "", result: str = "200") -> int:
    """One pull on ``day`` at a time between 01:00 and 23:00, by tag or by digest, when inside the window and
    after what it pulls existed."""
    when = day + rng.randint(HOUR // TICKS, 23 * HOUR // TICKS - 1) * TICKS
    born = repo.tags[tag].created if tag else repo.manifests[digest].created
    if not start <= when < end or when < born:
        return 0
    tenant.events.add(when, reg.name, repo.name, "Pull", digest, tag, who, result)
    return 1
