"""The tenant's exact content as acrlib tables (same names and schemas as the collector's)."""

from __future__ import annotations

import polars as pl

from acrlib import schema, skus

from .model import Registry, Tenant


def _us(ticks: int) -> int:
    return ticks // 10  # truncation, as the SDK and polars parse 7-digit fractions


def _flags(obj) -> dict:
    return {
        "delete_enabled": obj.delete_enabled,
        "write_enabled": obj.write_enabled,
        "read_enabled": obj.read_enabled,
        "list_enabled": obj.list_enabled,
    }


def _times(df: pl.DataFrame, *columns: str) -> pl.DataFrame:
    return df.with_columns(pl.from_epoch(pl.col(c), time_unit="us").dt.replace_time_zone("UTC") for c in columns)


def registry_row(tenant: Tenant, reg: Registry, login_server: str) -> dict:
    names = dict(tenant.subscriptions)
    return {
        "id": reg.resource_id,
        "tenant_id": tenant.tenant_id,
        "subscription_id": reg.subscription_id,
        "subscription_name": names[reg.subscription_id],
        "resource_group": reg.resource_group,
        "registry": reg.name,
        "login_server": login_server,
        "location": reg.location,
        "sku": reg.sku,
        "created_at": _us(reg.created),
        "provisioning_state": "Succeeded",
        "admin_user_enabled": reg.admin_user_enabled,
        "public_network_access": reg.public_network_access,
        # Resource Graph rows carry networkRuleSet only for Premium and lack softDeletePolicy on Premium
        # registries (see server/arm.registry_resource): what a reader cannot know is null in the truth.
        "network_default_action": reg.network_default_action if reg.sku == "Premium" else None,
        "anonymous_pull_enabled": reg.anonymous_pull_enabled,
        "data_endpoint_enabled": reg.data_endpoint_enabled,
        "retention_enabled": reg.retention_status == "enabled",
        "retention_days": reg.retention_days,
        "soft_delete_enabled": None if reg.sku == "Premium" else reg.soft_delete_status == "enabled",
        "soft_delete_days": None if reg.sku == "Premium" else reg.soft_delete_days,
        "quarantine_enabled": reg.quarantine_status == "enabled",
        "zone_redundancy": reg.zone_redundancy,
        "tags": [{"key": k, "value": v} for k, v in sorted(reg.tags.items())],
        "storage_used_bytes": reg.used_bytes(),
        "storage_included_bytes": skus.INCLUDED_BYTES[reg.sku],
        "repository_count": len(reg.repositories),
        "status": "complete",
    }


def truth_tables(tenant: Tenant, login_servers: dict[str, str]) -> dict[str, pl.DataFrame]:
    """Every table of the tenant's data-plane registries (discovery-only registries are left out)."""
    rows: dict[str, list[dict]] = {name: [] for name in schema.TABLES}
    for reg in tenant.registries:
        if reg.discovery_only:
            continue
        rows["registries"].append(registry_row(tenant, reg, login_servers[reg.name]))
        for repo in reg.repositories.values():
            rows["repositories"].append({
                "registry": reg.name, "repository": repo.name, "created_at": _us(repo.created),
                "last_updated_at": _us(repo.updated), "manifest_count": len(repo.manifests),
                "tag_count": len(repo.tags), **_flags(repo),
            })
            for tag in repo.tags.values():
                rows["tags"].append({
                    "registry": reg.name, "repository": repo.name, "tag": tag.name, "digest": tag.digest,
                    "created_at": _us(tag.created), "last_updated_at": _us(tag.updated), "signed": tag.signed,
                    **_flags(tag),
                })
            for m in repo.manifests.values():
                rows["manifests"].append({
                    "registry": reg.name, "repository": repo.name, "digest": m.digest,
                    "media_type": m.media_type, "config_media_type": m.config_media_type,
                    "artifact_type": m.artifact_type, "kind": m.kind, "architecture": m.architecture,
                    "os": m.os, "size_bytes": m.size, "created_at": _us(m.created),
                    "last_updated_at": _us(m.updated), "tags": list(m.tags), **_flags(m),
                    "quarantine_state": m.quarantine_state, "subject": m.subject,
                })
                base = {"registry": reg.name, "repository": repo.name, "manifest_digest": m.digest}
                rows["layers"].append({**base, "blob_digest": m.digest, "size_bytes": len(m.body),
                                       "media_type": m.media_type, "role": "manifest"})
                for child, arch, os_name in m.children:
                    rows["references"].append({"registry": reg.name, "repository": repo.name,
                                                "index_digest": m.digest, "child_digest": child,
                                                "architecture": arch, "os": os_name})
                    size = len(repo.manifests[child].body)
                    rows["layers"].append({**base, "blob_digest": child, "size_bytes": size,
                                           "media_type": repo.manifests[child].media_type, "role": "child"})
                if m.config is not None:
                    rows["layers"].append({**base, "blob_digest": m.config.digest, "size_bytes": m.config.size,
                                           "media_type": m.config.media_type, "role": "config"})
                for layer in m.layers:
                    rows["layers"].append({**base, "blob_digest": layer.digest, "size_bytes": layer.size,
                                           "media_type": layer.media_type, "role": "layer"})
                if m.subject is not None:
                    subject = repo.manifests.get(m.subject)
                    rows["layers"].append({**base, "blob_digest": m.subject,
                                           "size_bytes": len(subject.body) if subject else None,
                                           "media_type": subject.media_type if subject else None,
                                           "role": "subject"})
    tables = {}
    for name, table_rows in rows.items():
        df = pl.DataFrame(table_rows, schema={
            k: (pl.Int64 if v == schema.TIME else v) for k, v in schema.TABLES[name].items()
        }, orient="row") if table_rows else schema.empty(name)
        if table_rows:
            time_cols = [k for k, v in schema.TABLES[name].items() if v == schema.TIME]
            df = _times(df, *time_cols)
        tables[name] = schema.sort(name, schema.conform(name, df))
    return tables
