"""Small hand-built inventories for analysis tests (each rule pinned by a few rows)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from acrlib import Inventory
from acrlib import media_types as mt

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


class Build:
    def __init__(self, registry: str = "contosoacr", sku: str = "Standard"):
        self.registry = registry
        self.sku = sku
        self.manifests: list[dict] = []
        self.tags: list[dict] = []
        self.references: list[dict] = []
        self.activity: list[dict] = []
        self.sources: list[dict] = []
        self.deployments: list[dict] = []
        self.deployment_sources: list[dict] = []
        self._n = 0

    def manifest(self, repo: str, name: str | None = None, *, days: float = 100, tags=(), media_type=mt.DOCKER_MANIFEST,
                 config=mt.DOCKER_CONFIG, size: int = 1000, locked: bool = False, write: bool = True,
                 subject: str | None = None, children=(), kind: str | None = None, artifact_type=None) -> str:
        """Add a manifest updated ``days`` ago; ``tags`` are names or (name, days, locked) tuples."""
        self._n += 1
        digest = "sha256:" + (name or f"m{self._n}").ljust(64, "0")[:64]
        if children:
            media_type, config = mt.OCI_INDEX, None
        tag_names = []
        for tag in tags:
            tag_name, tag_days, tag_locked = (tag, days, False) if isinstance(tag, str) else (*tag, False)[:3]
            tag_names.append(tag_name)
            self.tags.append({"registry": self.registry, "repository": repo, "tag": tag_name, "digest": digest,
                              "created_at": ago(tag_days), "last_updated_at": ago(tag_days), "signed": False,
                              "delete_enabled": not tag_locked, "write_enabled": True, "read_enabled": True,
                              "list_enabled": True})
        for child in children:
            self.references.append({"registry": self.registry, "repository": repo, "index_digest": digest,
                                    "child_digest": child, "architecture": "amd64", "os": "linux"})
        self.manifests.append({
            "registry": self.registry, "repository": repo, "digest": digest, "media_type": media_type,
            "config_media_type": config, "artifact_type": artifact_type,
            "kind": kind or ("index" if children else "signature" if subject else "image"),
            "architecture": None if children else "amd64", "os": None if children else "linux", "size_bytes": size,
            "created_at": ago(days) if days is not None else None,
            "last_updated_at": ago(days) if days is not None else None,
            "tags": tag_names, "delete_enabled": not locked, "write_enabled": write, "read_enabled": True,
            "list_enabled": True, "quarantine_state": None, "subject": subject,
        })
        return digest

    def pulled(self, repo: str, digest: str | None, *, days: float = 1, tags=(), by_tag: bool = False,
               pulls: int = 1) -> None:
        """An activity row: ``digest`` last pulled ``days`` ago (through ``tags`` when given)."""
        self.activity.append({"registry": self.registry, "repository": repo, "digest": digest, "pulls": pulls,
                              "pullers": 1, "first_pulled_at": ago(days + 10), "last_pulled_at": ago(days),
                              "pushes": 0, "tags_pulled": list(tags), "identities": ["aks"],
                              "resolved_from_tag": by_tag})

    def logs(self, status: str = "ok", covered_days: float | None = 90) -> None:
        """The registry's activity source: ``status`` and logs reaching back ``covered_days``."""
        self.sources.append({"registry": self.registry, "status": status,
                             "covered_from": ago(covered_days) if covered_days is not None else None})

    def runs(self, repo: str, digest: str | None = None, tag: str | None = None, *, service: str = "aks",
             workload: str = "api", registry: str | None = "", resolved: bool = False) -> None:
        """A deployment of ``repo`` (by ``digest`` and/or ``tag``) in a cluster of the tenant."""
        registry = self.registry if registry == "" else registry
        self.deployments.append({
            "registry": registry, "host": f"{registry}.azurecr.io" if registry else "docker.io", "repository": repo,
            "tag": tag, "digest": digest, "resolved_from_tag": resolved,
            "image": f"{registry}.azurecr.io/{repo}:{tag}" if tag else f"{registry}.azurecr.io/{repo}@{digest}",
            "service": service, "resource_id": f"/subscriptions/s/resourceGroups/rg/{service}/{workload}",
            "cluster": "aks-prod" if service == "aks" else None, "namespace": "default" if service == "aks" else None,
            "workload": workload, "container": "main", "init_container": False, "source": "container-insights",
            "seen_at": NOW})
        self.deployment_sources.append({"resource_id": f"/subscriptions/s/resourceGroups/rg/{service}/{workload}",
                                        "name": workload, "service": service, "status": "ok", "source": "x"})

    def cluster_unknown(self, name: str = "aks-dark") -> None:
        self.deployment_sources.append({"resource_id": f"/x/{name}", "name": name, "service": "aks",
                                        "status": "pods-unknown", "source": "container-insights"})

    def build(self) -> Inventory:
        repos = sorted({m["repository"] for m in self.manifests} | {t["repository"] for t in self.tags})
        tables = {
            "registries": pl.DataFrame([{
                "registry": self.registry, "sku": self.sku, "status": "complete", "storage_used_bytes": 10 << 30,
                "storage_included_bytes": 100 << 30, "login_server": f"{self.registry}.azurecr.io",
            }]),
            "repositories": pl.DataFrame([{"registry": self.registry, "repository": r} for r in repos]),
            "manifests": pl.DataFrame(self.manifests, infer_schema_length=None),
        }
        if self.tags:
            tables["tags"] = pl.DataFrame(self.tags, infer_schema_length=None)
        if self.references:
            tables["references"] = pl.DataFrame(self.references)
        if self.activity:
            tables["activity"] = pl.DataFrame(self.activity, infer_schema_length=None)
        if self.sources:
            tables["activity_sources"] = pl.DataFrame(self.sources, infer_schema_length=None)
        if self.deployments:
            tables["deployments"] = pl.DataFrame(self.deployments, infer_schema_length=None)
        if self.deployment_sources:
            tables["deployment_sources"] = pl.DataFrame(self.deployment_sources, infer_schema_length=None)
        return Inventory.from_tables(tables, collected_at=NOW)
