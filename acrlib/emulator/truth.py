"""The tenant's exact content as acrlib tables (same names and schemas as the collector's)."""

from __future__ import annotations

import polars as pl

from acrlib import schema, skus
from acrlib.images import from_container_insights, parse_image

from . import findings
from .model import DAY, Registry, Tenant
from .workloads import agent_image_fields


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


def activity_source(tenant: Tenant, reg: Registry) -> dict:
    """Where the registry's repository events go, decided from the model (the collector decides from ARM's
    answers): the first setting that sends them to a workspace's resource-specific tables, else the closest."""
    settings = sorted(reg.diagnostic_settings, key=lambda s: s.name)
    to_workspace = [s for s in settings if s.workspace]
    sending = [s for s in to_workspace if s.sends_repository_events()]
    dedicated = [s for s in sending if s.destination_type == "Dedicated"]
    row = {"registry": reg.name, "diagnostic_setting": None, "workspace_id": None, "destination_type": None,
           "covered_from": None}
    if dedicated:
        chosen, status = dedicated[0], "ok" if tenant.workspace(dedicated[0].workspace).readable else "no-access"
    elif sending:
        chosen, status = sending[0], "azure-diagnostics-mode"
    elif to_workspace:
        chosen, status = to_workspace[0], "category-disabled"
    else:
        chosen, status = None, "not-configured"
    if chosen is not None:
        # the collector reads ok and no-access workspaces' own ids; the others as settings write them (lower case)
        workspace = chosen.workspace if status in ("ok", "no-access") else chosen.workspace.lower()
        row.update(diagnostic_setting=chosen.name, workspace_id=workspace, destination_type=chosen.destination_type)
    return {**row, "status": status}


def activity_tables(tenant: Tenant, days: int) -> dict[str, pl.DataFrame]:
    """``activity`` and ``activity_sources`` for a collection at the tenant's present reading ``days`` of
    logs: straight from the generated events, as a user with access to every readable workspace sees them."""
    sources = [activity_source(tenant, reg) for reg in tenant.registries if not reg.discovery_only]
    e = tenant.events.columns
    events = pl.DataFrame({"time": pl.Series(e["time"], dtype=pl.Int64), "registry": e["registry"],
                           "repository": e["repository"], "operation": e["operation"], "digest": e["digest"],
                           "tag": e["tag"], "identity": e["identity"], "result": e["result"]})
    starts = {}
    for source in sources:
        reg = tenant.registry(source["registry"])
        ws = tenant.log_destination(reg)
        if source["status"] == "ok" and ws is not None:
            starts[reg.name] = tenant.now - min(days, ws.retention_days) * DAY
    visible = events.filter(pl.col("registry").is_in(list(starts)), pl.col("time") <= tenant.now).filter(
        pl.col("time") >= pl.col("registry").replace_strict(starts, return_dtype=pl.Int64))
    first_event = dict(visible.group_by("registry").agg(pl.col("time").min()).iter_rows())
    for source in sources:
        if source["registry"] in first_event:
            source["covered_from"] = _us(first_event[source["registry"]])
    ok = visible.filter(pl.col("result").str.starts_with("2"))
    tags_now = pl.DataFrame(
        [(reg.name, repo.name, t.name, t.digest) for reg in tenant.registries for repo in reg.repositories.values()
         for t in repo.tags.values()], schema=["registry", "repository", "tag", "current"], orient="row")
    pulls = (ok.filter(pl.col("operation") == "Pull")
             .join(tags_now, on=["registry", "repository", "tag"], how="left")
             .with_columns((pl.col("digest") == "").alias("by_tag"))
             .with_columns(pl.when(pl.col("by_tag")).then(pl.col("current")).otherwise(pl.col("digest"))
                           .alias("digest"))
             .group_by("registry", "repository", "digest")
             .agg(pl.len().cast(pl.Int64).alias("pulls"), pl.col("identity").n_unique().cast(pl.Int64).alias("pullers"),
                  pl.col("time").min().alias("first"), pl.col("time").max().alias("last"),
                  pl.col("tag").filter(pl.col("tag") != "").unique().sort().alias("tags_pulled"),
                  pl.col("identity").unique().sort().head(schema.IDENTITIES_KEPT).alias("identities"),
                  pl.col("by_tag").any().alias("resolved_from_tag")))
    pushes = (ok.filter(pl.col("operation") == "Push").group_by("registry", "repository", "digest")
              .agg(pl.len().cast(pl.Int64).alias("pushes"), pl.col("time").max().alias("last_push")))
    activity = (pulls.join(pushes, on=["registry", "repository", "digest"], how="full", coalesce=True, nulls_equal=True)
                .with_columns(pl.col("pulls", "pullers", "pushes").fill_null(0),
                              pl.col("resolved_from_tag").fill_null(False),
                              pl.col("tags_pulled").fill_null(pl.lit([], dtype=pl.List(pl.String))),
                              pl.col("identities").fill_null(pl.lit([], dtype=pl.List(pl.String)))))
    activity = _times(activity.with_columns((pl.col(c) // 10).alias(c) for c in ("first", "last", "last_push")),
                      "first", "last", "last_push").rename({"first": "first_pulled_at", "last": "last_pulled_at",
                                                            "last_push": "last_pushed_at"})
    sources_df = pl.DataFrame(sources, schema={**schema.TABLES["activity_sources"], "covered_from": pl.Int64},
                              orient="row")
    sources_df = _times(sources_df, "covered_from")
    return {"activity": schema.sort("activity", schema.conform("activity", activity)),
            "activity_sources": schema.sort("activity_sources", schema.conform("activity_sources", sources_df))}


def deployment_tables(tenant: Tenant, login_servers: dict[str, str], run_command: bool) -> dict[str, pl.DataFrame]:
    """``deployments`` and ``deployment_sources`` from the workload model: what a collection with
    ``deployments=True`` (and ``aks_run_command=run_command``) reads. The collector reads the same facts from
    Resource Graph, ARM, Container Insights and the run command."""
    hosts = {server.lower(): name for name, server in login_servers.items()}
    current = {(reg.name, repo.name, t.name): t.digest for reg in tenant.registries
               for repo in reg.repositories.values() for t in repo.tags.values()}
    rows, sources = [], []
    insights_seen = tenant.now - 10 * 60 * 10_000_000

    def row(w, c, *, source, written, cluster=None, namespace=None, workload=None, seen=None):
        ref = parse_image(written)
        registry = hosts.get(ref.host)
        digest, resolved = ref.digest, False
        if c.image_id is not None and source in ("container-insights", "run-command"):
            digest = c.image_id
        elif digest is None and registry is not None:
            digest = current.get((registry, ref.repository, ref.tag))
            resolved = digest is not None
        return {"registry": registry, "host": ref.host, "repository": ref.repository, "tag": ref.tag,
                "digest": digest, "resolved_from_tag": resolved, "image": written, "service": w.service,
                "resource_id": w.resource_id, "cluster": cluster, "namespace": namespace,
                "workload": workload or w.name, "container": c.name, "init_container": c.init, "source": source,
                "seen_at": seen}

    for w in tenant.workloads:
        source = {"aks": "container-insights", "appservice": "arm", "functions": "arm"}.get(w.service,
                                                                                           "resource-graph")
        status, message = "ok", ""
        if w.service in ("appservice", "functions") and not w.container_site:
            continue
        if w.service == "aks":
            if w.workspace is None:
                source = "run-command" if run_command else "container-insights"
                if not run_command:
                    status, message = "pods-unknown", ("no Container Insights workspace and aks_run_command is off: "
                                                       "its pods are unknown")
            if status == "ok":
                for pod in w.pods:
                    if not pod.running:
                        continue
                    for c in pod.containers:
                        written = c.image.render(login_servers)
                        if source == "container-insights":  # rebuilt from the agent's split, as the collector does
                            split = agent_image_fields(written)
                            written = from_container_insights(split["Repository"], split["Image"],
                                                              split["ImageTag"], c.image_id or split["ImageID"])
                        found = row(w, c, source=source, written=written, cluster=w.name, namespace=pod.namespace,
                                    workload=pod.workload,
                                    seen=insights_seen // 10 if source == "container-insights" else None)
                        if source == "container-insights":
                            found["init_container"] = None  # Container Insights does not tell
                        rows.append(found)
        elif not w.readable:
            status, message = "no-access", "the identity may not read its configuration"
        else:
            for c in w.containers:
                written = c.image.render(login_servers)
                rows.append(row(w, c, source=source, written=f"DOCKER|{written}" if source == "arm" else written))
        sources.append({"resource_id": w.resource_id, "name": w.name, "service": w.service, "status": status,
                        "source": source, "message": message})
    deployments = pl.DataFrame(rows, schema={**schema.TABLES["deployments"], "seen_at": pl.Int64}, orient="row")
    deployments = _times(deployments, "seen_at").unique(keep="first")
    return {"deployments": schema.sort("deployments", schema.conform("deployments", deployments)),
            "deployment_sources": schema.sort("deployment_sources", schema.frame("deployment_sources", sources))}


def truth_tables(tenant: Tenant, login_servers: dict[str, str], activity_days: int,
                 run_command: bool = False) -> dict[str, pl.DataFrame]:
    """Every table of the tenant's data-plane registries (discovery-only registries are left out); the
    activity tables for ``activity_days`` of logs (empty for 0); the deployment tables, with the AKS run command
    on clusters without Container Insights when ``run_command``; the vulnerability tables as a collection with
    ``vulnerabilities=True`` reads Defender's findings."""
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
                    listed = repo.manifests.get(child)
                    if listed is None:  # deleted while an index still lists it (acr purge spares no child of a
                        continue  # locked index): the reference stays, the bytes are gone
                    rows["layers"].append({**base, "blob_digest": child, "size_bytes": len(listed.body),
                                           "media_type": listed.media_type, "role": "child"})
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
    for name in ("activity", "activity_sources", "deployments", "deployment_sources", "vulnerabilities",
                 "vulnerability_sources"):
        rows.pop(name)
    for name, table_rows in rows.items():
        df = pl.DataFrame(table_rows, schema={
            k: (pl.Int64 if v == schema.TIME else v) for k, v in schema.TABLES[name].items()
        }, orient="row") if table_rows else schema.empty(name)
        if table_rows:
            time_cols = [k for k, v in schema.TABLES[name].items() if v == schema.TIME]
            df = _times(df, *time_cols)
        tables[name] = schema.sort(name, schema.conform(name, df))
    if activity_days:
        tables.update(activity_tables(tenant, activity_days))
    else:
        tables.update({name: schema.empty(name) for name in ("activity", "activity_sources")})
    tables.update(deployment_tables(tenant, login_servers, run_command))
    for name, found in findings.truth_tables(tenant, login_servers).items():  # as vulnerabilities=True reads them
        tables[name] = schema.sort(name, schema.frame(name, found))
    return {name: tables[name] for name in schema.TABLES}
