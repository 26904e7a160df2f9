"""The emulated tenant's objects: subscriptions, registries, repositories, manifests, tags and blobs.

Times are kept as 100 ns ticks since the epoch (ACR prints up to 7 fraction digits); the truth tables hold
them truncated to microseconds, as every client parses them.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

TICKS = 10_000_000  # per second
DAY = 86_400 * TICKS


def format_time(ticks: int) -> str:
    """ACR's timestamp format: ISO-8601 UTC, ``Z``, fraction digits as stored (trailing zeros dropped)."""
    seconds, fraction = divmod(ticks, TICKS)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if fraction:
        text += "." + f"{fraction:07d}".rstrip("0")
    return text + "Z"


def fake_digest(label: str) -> str:
    return "sha256:" + hashlib.sha256(label.encode()).hexdigest()


def real_digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


@dataclass(slots=True)
class Blob:
    digest: str
    size: int
    media_type: str
    content: bytes | None = None  # real bytes for configs; None for synthetic layer blobs


@dataclass(slots=True, eq=False)
class Manifest:
    digest: str
    body: bytes
    media_type: str
    config_media_type: str | None
    artifact_type: str | None
    kind: str
    architecture: str | None
    os: str | None
    size: int  # imageSize: config + layers + own bytes; an index adds its children
    created: int
    updated: int
    config: Blob | None = None
    layers: list[Blob] = field(default_factory=list)
    children: list[tuple[str, str, str]] = field(default_factory=list)  # (digest, architecture, os)
    subject: str | None = None
    delete_enabled: bool = True
    write_enabled: bool = True
    read_enabled: bool = True
    list_enabled: bool = True
    quarantine_state: str | None = None
    quarantine_details: str | None = None
    tags: list[str] = field(default_factory=list)
    listing: bytes | None = None  # cached JSON of the listing entry; cleared when the manifest changes


@dataclass(slots=True, eq=False)
class Tag:
    name: str
    digest: str
    created: int
    updated: int
    signed: bool = False
    delete_enabled: bool = True
    write_enabled: bool = True
    read_enabled: bool = True
    list_enabled: bool = True
    listing: bytes | None = None


@dataclass
class PushPlan:
    """What a repository's next push looks like (so the tenant can keep evolving)."""

    style: str
    base: str
    oci: bool
    label: str
    first: int  # when `latest` was first pushed
    signed_tags: bool
    pushes: int = 0
    release: int = 0
    signed_once: bool = False


@dataclass(eq=False)
class Repository:
    name: str
    created: int
    updated: int
    manifests: dict[str, Manifest] = field(default_factory=dict)
    tags: dict[str, Tag] = field(default_factory=dict)
    delete_enabled: bool = True
    write_enabled: bool = True
    read_enabled: bool = True
    list_enabled: bool = True
    plan: PushPlan | None = None
    _order: dict = field(default_factory=dict, repr=False)

    def add(self, manifest: Manifest) -> Manifest:
        self.manifests[manifest.digest] = manifest
        self._order.clear()
        return manifest

    def tag(self, name: str, digest: str, created: int, updated: int, **attrs) -> Tag:
        old = self.tags.get(name)
        if old is not None:
            previous = self.manifests[old.digest]
            previous.tags.remove(name)
            previous.updated = max(previous.updated, updated)
            previous.listing = None
        tag = Tag(name=name, digest=digest, created=created, updated=updated, **attrs)
        self.tags[name] = tag
        target = self.manifests[digest]
        target.tags.append(name)
        target.updated = max(target.updated, updated)
        target.listing = None
        self._order.clear()
        return tag

    def ordered(self, what: str, orderby: str) -> list:
        """Manifests or tags in listing order: by key (digest, tag name), or by last update time."""
        key = (what, orderby)
        if key not in self._order:
            items = list(self.manifests.values() if what == "manifests" else self.tags.values())
            ident = (lambda m: m.digest) if what == "manifests" else (lambda t: t.name)
            if orderby == "timedesc":
                items.sort(key=lambda x: (-x.updated, ident(x)))
            elif orderby == "timeasc":
                items.sort(key=lambda x: (x.updated, ident(x)))
            else:
                items.sort(key=ident)
            self._order[key] = items
        return self._order[key]

    def changed(self) -> None:
        self._order.clear()


@dataclass(eq=False)
class Registry:
    name: str
    subscription_id: str
    resource_group: str
    location: str
    sku: str
    created: int
    admin_user_enabled: bool
    public_network_access: str
    anonymous_pull_enabled: bool
    network_default_action: str
    data_endpoint_enabled: bool
    zone_redundancy: str
    retention_days: int
    retention_status: str
    soft_delete_days: int
    soft_delete_status: str
    quarantine_status: str
    trust_status: str
    auth_as_arm: bool
    tags: dict[str, str]
    discovery_only: bool = False
    repositories: dict[str, Repository] = field(default_factory=dict)
    diagnostic_settings: list[DiagnosticSetting] = field(default_factory=list)

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.ContainerRegistry/registries/{self.name}"
        )

    def blobs(self) -> dict[str, int]:
        """Every stored blob of the registry, once: manifests, configs, layers (digest -> bytes)."""
        unique: dict[str, int] = {}
        for repo in self.repositories.values():
            for m in repo.manifests.values():
                unique[m.digest] = len(m.body)
                if m.config is not None:
                    unique[m.config.digest] = m.config.size
                for layer in m.layers:
                    unique[layer.digest] = layer.size
        return unique

    def used_bytes(self) -> int:
        return sum(self.blobs().values())


@dataclass(frozen=True)
class Workspace:
    """A Log Analytics workspace: ``customer_id`` is the GUID its query URL uses, not its ARM id."""

    name: str
    resource_id: str
    customer_id: str
    retention_days: int
    readable: bool = True  # False: the caller may not query it (no Log Analytics Reader)


@dataclass(frozen=True)
class DiagnosticSetting:
    """Where a registry's resource logs go. ``logs`` as ARM shows them: category or categoryGroup, enabled.
    ``destination_type`` ``Dedicated`` is resource-specific tables; None is the legacy AzureDiagnostics table."""

    name: str
    workspace: str | None  # the workspace's ARM resource id
    destination_type: str | None
    logs: tuple[tuple[str | None, str | None, bool], ...]  # (category, categoryGroup, enabled)

    def sends_repository_events(self) -> bool:
        return any(enabled and (category == REPOSITORY_EVENTS or group in REPOSITORY_EVENT_GROUPS)
                   for category, group, enabled in self.logs)


REPOSITORY_EVENTS = "ContainerRegistryRepositoryEvents"
REPOSITORY_EVENT_GROUPS = ("allLogs", "audit")


class EventLog:
    """The registries' resource log events (``ContainerRegistryRepositoryEvents``), kept in columns: pushes,
    pulls, untags and deletes as they happen to the tenant."""

    COLUMNS = ("time", "registry", "repository", "operation", "digest", "tag", "identity", "result", "size")

    def __init__(self):
        self.columns: dict[str, list] = {c: [] for c in self.COLUMNS}

    def __len__(self) -> int:
        return len(self.columns["time"])

    def add(self, time: int, registry: str, repository: str, operation: str, digest: str = "", tag: str = "",
            identity: str = "", result: str = "200", size: int = 0) -> None:
        for column, value in zip(self.COLUMNS, (time, registry, repository, operation, digest, tag, identity, result,
                                                size), strict=True):
            self.columns[column].append(value)


@dataclass(eq=False)
class Tenant:
    tenant_id: str
    now: int
    subscriptions: list[tuple[str, str]]  # (subscription id, display name)
    registries: list[Registry]
    other_resources: list[dict]
    generator: Any = field(default=None, repr=False)  # the generate.TenantGenerator that keeps it evolving
    workspaces: list[Workspace] = field(default_factory=list)
    events: EventLog = field(default_factory=EventLog)
    workloads: list = field(default_factory=list)  # workloads.Workload: what runs where
    defender_modes: dict[str, str] = field(default_factory=dict)  # subscription -> Defender mode (faults set it)
    defender_images: int | None = None  # images scanned per repository (faults set it; None: the usual share)

    def workspace(self, resource_id: str) -> Workspace | None:
        for ws in self.workspaces:
            if ws.resource_id.lower() == (resource_id or "").lower():
                return ws
        return None

    def log_destination(self, reg: Registry) -> Workspace | None:
        """The workspace the registry's repository events land in (resource-specific tables), or None."""
        for setting in sorted(reg.diagnostic_settings, key=lambda s: s.name):
            if setting.workspace and setting.destination_type == "Dedicated" and setting.sends_repository_events():
                return self.workspace(setting.workspace)
        return None

    def registry(self, name: str) -> Registry:
        for reg in self.registries:
            if reg.name == name:
                return reg
        raise KeyError(name)


# --- content building -------------------------------------------------------------------------------------
