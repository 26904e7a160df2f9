"""What runs where: every image Azure workloads reference or run, read-only unless the user opts in.

- Container Apps and their jobs, Container Instances: the images of their containers and init containers, from
  Resource Graph (paged like discovery).
- App Service and Functions sites on containers: Resource Graph finds them (``kind`` holds ``container``); their
  image is only in ``GET {site}/config/web`` (``linuxFxVersion`` / ``windowsFxVersion``, ``DOCKER|...``): one ARM
  request per container site.
- AKS clusters: the running containers from Container Insights (``ContainerInventory`` joined to
  ``KubePodInventory`` on ``ContainerID``, the last day) when the cluster sends to a workspace. Only with the
  explicit opt-in ``aks_run_command``, for a cluster without Container Insights, ``kubectl get pods -A -o json``
  through the AKS run command, which CREATES A POD in the cluster (the one write acrlib can make, never by
  default).

Choices where the documentation is silent (unverified): the monitoring workspace is
``addonProfiles.omsagent.config.logAnalyticsWorkspaceResourceID``; a container counts as running when Container
Insights saw it ``Running`` in the last day; a pod's workload is its ReplicaSet's name without the template hash.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from email.utils import parsedate_to_datetime

import polars as pl

from .. import schema
from ..errors import RequestFailed, error_row
from ..images import from_container_insights, parse_image
from .discovery import Arm, arm_url
from .http import response_error, retry_after_seconds
from .logs import LogAnalytics, kql_string, table_rows
from .parse import json_value, typed

WORKLOAD_TYPES = ("microsoft.containerservice/managedclusters", "microsoft.app/containerapps", "microsoft.app/jobs",
                  "microsoft.containerinstance/containergroups", "microsoft.web/sites")
WORKLOADS_QUERY = (
    "resources | where type in~ (" + ", ".join(f"'{t}'" for t in WORKLOAD_TYPES) + ") "
    "| project id, name, type, kind, subscriptionId, resourceGroup, properties | order by id asc"
)
SITE_CONFIG_API = "2024-11-01"
RUN_COMMAND_API = "2025-07-01"
POD_LISTING = "kubectl get pods -A -o json"
RUN_COMMAND_POLLS = 120  # at most this many polls of one run command (each waits its Retry-After, capped)
RUNNING_WINDOW = dt.timedelta(days=1)
SERVICE = {"microsoft.app/containerapps": "containerapp", "microsoft.app/jobs": "containerapp-job",
           "microsoft.containerinstance/containergroups": "aci"}


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value) -> list:
    return value if isinstance(value, list) else []


def insights_queries(cluster_ids: list[str]) -> tuple[str, str]:
    """The two Container Insights queries of one workspace: containers seen running, or finished cleanly (an
    init container, a completed job) in the window, and what their pods say. Columns read, as the agent
    (Azure/Docker-Provider) writes them, verified in its source: ``ContainerInventory``: ``ContainerID`` (the
    runtime id), ``Name`` (Docker-style ``k8s_<container>_<pod>_<namespace>_<id>_<restarts>``), ``Repository``,
    ``Image``, ``ImageTag``, ``ImageID`` (see :func:`acrlib.images.from_container_insights`), ``ContainerState``
    (``Running``, ``Terminated`` for exit 0, ``Failed``, ``Waiting``), ``TimeGenerated``; ``KubePodInventory``:
    ``ContainerID``, ``ContainerName`` (``<podUid>/<container>``), ``Namespace``, ``ControllerName`` and
    ``ControllerKind`` (the pod's first owner). ``_ResourceId`` is the cluster's (the workspace's own column)."""
    ids = ", ".join(kql_string(i) for i in cluster_ids)
    containers = ("ContainerInventory\n"
                  f"| where _ResourceId in~ ({ids}) and ContainerState in~ (\"Running\", \"Terminated\")\n"
                  "| summarize LastSeen = max(TimeGenerated) by ClusterId = tolower(_ResourceId), ContainerID, "
                  "Repository, Image, ImageTag, ImageID, Name")
    pods = ("KubePodInventory\n"
            f"| where _ResourceId in~ ({ids})\n"
            "| summarize LastSeen = max(TimeGenerated) by ClusterId = tolower(_ResourceId), ContainerID, "
            "ContainerName, Namespace, ControllerName, ControllerKind")
    return containers, pods


def docker_style(name: str | None) -> tuple[str, str, str] | None:
    """(container, pod, namespace) of a Docker-style ``k8s_<container>_<pod>_<namespace>_<id>_<restarts>`` name
    (Kubernetes names hold no ``_``), else None."""
    parts = (name or "").split("_")
    if len(parts) == 6 and parts[0] == "k8s" and all(parts[1:4]):
        return parts[1], parts[2], parts[3]
    return None


def container_name(pod_container: str | None, inventory_name: str | None) -> str | None:
    """The container's name as the pod spec writes it: from ``KubePodInventory.ContainerName``
    (``<podUid>/<name>``), else from ``ContainerInventory``'s Docker-style ``Name``, else that name as it is."""
    if pod_container and "/" in pod_container:
        return pod_container.split("/", 1)[1] or None
    parsed = docker_style(inventory_name)
    return parsed[0] if parsed else inventory_name


def workload_name(controller: str | None, kind: str | None) -> str | None:
    """A ReplicaSet ``<deployment>-<template hash>`` stands for its Deployment."""
    if controller and (kind or "").lower() == "replicaset" and "-" in controller:
        return controller.rsplit("-", 1)[0]
    return controller


class DeploymentReader:
    """Reads ``deployments`` and ``deployment_sources`` for the subscriptions of a collection."""

    def __init__(self, arm: Arm, logs: LogAnalytics, run_command: bool, until: dt.datetime):
        self.arm = arm
        self.logs = logs
        self.run_command = run_command
        self.until = until
        self.rows: list[dict] = []
        self.sources: list[dict] = []
        self.errors: list[dict] = []

    def error(self, code: str, message: str, status: int | None = None) -> None:
        self.errors.append(error_row("deployments", code, message, status=status))

    def source(self, resource: dict, service: str, status: str, source: str, message: str = "") -> None:
        self.sources.append({"resource_id": resource["id"], "name": resource["name"], "service": service,
                             "status": status, "source": source, "message": message})

    def add(self, resource: dict, service: str, image: str, container: str | None, *, source: str,
            init: bool | None = False, running: str | None = None, cluster: str | None = None,
            namespace: str | None = None, workload: str | None = None, seen: dt.datetime | None = None) -> None:
        """One container: ``image`` as written; ``running`` the digest the runtime reports, when it does."""
        try:
            ref = parse_image(image)
        except ValueError as e:
            self.error("INVALID_IMAGE", f"{resource['id']}: {e}")
            return
        digest = running or ref.digest
        self.rows.append({"host": ref.host, "repository": ref.repository, "tag": ref.tag, "digest": digest,
                          "image": image, "service": service, "resource_id": resource["id"], "cluster": cluster,
                          "namespace": namespace, "workload": workload or resource["name"],
                          "container": container, "init_container": init, "source": source, "seen_at": seen})

    async def read(self, subscriptions) -> None:
        try:
            found = await self.arm.query(WORKLOADS_QUERY, subscriptions)
        except RequestFailed as e:
            self.error(e.code, f"Resource Graph (workloads): {e.message}", e.status)
            return
        resources = []
        for row in found:
            kind_of = (typed(row.get("type"), str) or "").lower()
            rid, name = typed(row.get("id"), str), typed(row.get("name"), str)
            if not rid or not name or kind_of not in WORKLOAD_TYPES:
                continue
            resources.append(({**row, "id": rid, "name": name}, kind_of))
        clusters = []
        work = []
        for resource, kind_of in resources:
            props = _dict(resource.get("properties"))
            if kind_of in SERVICE:
                self._definition(resource, SERVICE[kind_of], props)
            elif kind_of == "microsoft.web/sites":
                kind = (typed(resource.get("kind"), str) or "").lower()
                if "container" in kind:
                    work.append(self._site(resource, "functions" if "functionapp" in kind else "appservice"))
            else:
                clusters.append((resource, props))
        work += self._clusters(clusters)
        await asyncio.gather(*(self._guarded(w) for w in work))

    async def _guarded(self, work) -> None:
        try:
            await work
        except Exception as e:  # one workload's surprise costs that workload, reported
            self.error(type(e).__name__, f"reading a workload failed: {e}")

    def _definition(self, resource: dict, service: str, props: dict) -> None:
        """Container Apps and jobs keep containers in ``template``; Container Instances under ``properties``."""
        template = _dict(props.get("template")) if service != "aci" else props
        for init, key in ((False, "containers"), (True, "initContainers")):
            for c in _list(template.get(key)):
                c = _dict(c)
                image = typed(c.get("image"), str) or typed(_dict(c.get("properties")).get("image"), str)
                if image:
                    self.add(resource, service, image, typed(c.get("name"), str), source="resource-graph", init=init)
        self.source(resource, service, "ok", "resource-graph")

    async def _site(self, resource: dict, service: str) -> None:
        try:
            config = await self.arm.get(f"{resource['id']}/config/web", SITE_CONFIG_API, "App Service")
        except RequestFailed as e:
            denied = e.status in (401, 403)
            self.source(resource, service, "no-access" if denied else "error", "arm",
                        "the identity may not read its configuration" if denied else f"config/web failed: {e.code}")
            self.error(e.code, f"{resource['id']}/config/web: {e.message}", e.status)
            return
        props = _dict(config.get("properties"))
        for key in ("linuxFxVersion", "windowsFxVersion"):
            fx = typed(props.get(key), str) or ""
            if fx.upper().startswith("DOCKER|"):
                self.add(resource, service, fx, resource["name"], source="arm")
        self.source(resource, service, "ok", "arm")

    def _clusters(self, clusters: list[tuple[dict, dict]]) -> list:
        """Container Insights per workspace; the run command for the others, only when asked for."""
        by_workspace: dict[str, tuple[str, list[dict]]] = {}
        work = []
        for resource, props in clusters:
            addons = {k.lower(): _dict(v) for k, v in _dict(props.get("addonProfiles")).items()}
            agent = addons.get("omsagent", {})
            config = {k.lower(): v for k, v in _dict(agent.get("config")).items()}
            workspace = typed(config.get("loganalyticsworkspaceresourceid"), str)
            if agent.get("enabled") is True and workspace:
                by_workspace.setdefault(workspace.lower(), (workspace, []))[1].append(resource)
            elif self.run_command:
                work.append(self._run_command(resource))
            else:
                self.source(resource, "aks", "pods-unknown", "container-insights",
                            "no Container Insights workspace and aks_run_command is off: its pods are unknown")
        work += [self._insights(workspace, group) for workspace, group in by_workspace.values()]
        return work

    async def _insights(self, workspace_id: str, clusters: list[dict]) -> None:
        try:
            workspace = await self.logs.workspace(workspace_id)
        except RequestFailed as e:
            for c in clusters:
                self.source(c, "aks", "no-access" if e.status in (401, 403) else "error", "container-insights",
                            f"cannot read workspace {workspace_id}: {e.code}")
            self.error(e.code, f"workspace {workspace_id}: {e.message}", e.status)
            return
        await self._insights_query(workspace, clusters)

    async def _insights_query(self, workspace, clusters: list[dict]) -> None:
        containers_q, pods_q = insights_queries([c["id"].lower() for c in clusters])
        since = self.until - RUNNING_WINDOW
        containers, pods = await asyncio.gather(self.logs.query(workspace, containers_q, since, self.until),
                                                self.logs.query(workspace, pods_q, since, self.until))
        failed = next((o for o in (containers, pods) if o.table is None), None)
        if failed is not None:
            if failed.split and len(clusters) > 1:
                await asyncio.gather(*(self._insights_query(workspace, [c]) for c in clusters))
                return
            for c in clusters:
                self.source(c, "aks", "no-access" if failed.denied else "error", "container-insights",
                            f"Container Insights of workspace {workspace.resource_id}: {failed.code}")
            self.error(failed.code, f"Container Insights of {', '.join(c['name'] for c in clusters)} in workspace "
                       f"{workspace.resource_id}: {failed.message}", failed.status)
            return
        by_id = {c["id"].lower(): c for c in clusters}
        pod_rows, bad_pods = table_rows(pods.table)
        container_rows, bad = table_rows(containers.table)
        bad += bad_pods
        pod_of = {}
        for row in pod_rows:
            key = (typed(row.get("ClusterId"), str), typed(row.get("ContainerID"), str))
            if None in key:
                bad += 1
                continue
            pod_of[key] = row
        for row in container_rows:
            cluster = by_id.get(typed(row.get("ClusterId"), str) or "")
            if cluster is None or typed(row.get("ContainerID"), str) is None:
                bad += cluster is not None
                continue
            pod = pod_of.get((row["ClusterId"], row["ContainerID"]), {})
            image = from_container_insights(*(typed(row.get(k), str) or "" for k in
                                              ("Repository", "Image", "ImageTag", "ImageID")))
            image_id = typed(row.get("ImageID"), str) or None
            seen = row.get("LastSeen")
            name = typed(row.get("Name"), str)
            parsed = docker_style(name)
            # one row per container of a workload: replicas and restarts fold into it (tables() keeps the latest)
            self.add(cluster, "aks", image, container_name(typed(pod.get("ContainerName"), str), name),
                     source="container-insights", init=None,
                     running=image_id if image_id and image_id.startswith("sha256:") else None,
                     cluster=cluster["name"],
                     namespace=typed(pod.get("Namespace"), str) or (parsed[2] if parsed else None),
                     workload=workload_name(typed(pod.get("ControllerName"), str),
                                            typed(pod.get("ControllerKind"), str)),
                     seen=seen if isinstance(seen, dt.datetime) else None)
        if bad:  # what those rows said is unknown: the clusters are not "ok", so purge plans warn
            for c in clusters:
                self.source(c, "aks", "rows-unreadable", "container-insights",
                            f"{bad} Container Insights rows of workspace {workspace.resource_id} could not be read: "
                            "what runs there is known only in part")
            self.error("INVALID_ROWS", f"Container Insights of {', '.join(c['name'] for c in clusters)} in workspace "
                       f"{workspace.resource_id}: {bad} rows could not be read and are left out")
            return
        for c in clusters:
            self.source(c, "aks", "ok", "container-insights")

    async def _run_command(self, cluster: dict) -> None:
        """``kubectl get pods -A -o json`` through the AKS run command (a pod in the cluster runs it): 202 and a
        Location to poll (on ARM's origin only), each poll waiting its Retry-After (at most max_retry_wait)."""
        try:
            http = await self.arm.send("POST", arm_url(self.arm.endpoint, f"{cluster['id']}/runCommand",
                                                       RUN_COMMAND_API),
                                       {"command": POD_LISTING, "context": "", "clusterToken": ""})
            answer = None
            for _ in range(RUN_COMMAND_POLLS):
                if http.status_code == 200:
                    answer = json_value(http.body())
                    break
                if http.status_code != 202 or not http.headers.get("Location"):
                    code, message = response_error(http)
                    raise RequestFailed(http.status_code, code, f"run command: {message}")
                wait = retry_after_seconds(http.headers)
                await asyncio.sleep(min(wait if wait is not None else 2.0, self.arm.limits.max_retry_wait))
                http = await self.arm.send("GET", http.headers["Location"])
            if answer is None:
                raise RequestFailed(None, "TIMEOUT", f"the run command did not finish in {RUN_COMMAND_POLLS} polls")
            props = _dict(_dict(answer).get("properties"))
            if str(props.get("provisioningState", "")).lower() != "succeeded" or props.get("exitCode") not in (0, None):
                raise RequestFailed(200, "RUN_COMMAND_FAILED", f"the run command ended {props.get('provisioningState')}"
                                    f": {props.get('reason') or ''}")
            listing = json_value(props.get("logs") or "{}")
        except (RequestFailed, ValueError) as e:
            status = getattr(e, "status", None)
            code = getattr(e, "code", "INVALID_ANSWER")
            self.source(cluster, "aks", "no-access" if status in (401, 403) else "error", "run-command", f"{code}")
            self.error(code, f"{cluster['id']}: {e}", status)
            return
        seen = _instant(props.get("finishedAt"))
        for pod in _list(_dict(listing).get("items")):
            pod = _dict(pod)
            meta, spec, status = _dict(pod.get("metadata")), _dict(pod.get("spec")), _dict(pod.get("status"))
            owners = [_dict(o) for o in _list(meta.get("ownerReferences"))]
            workload = workload_name(typed(owners[0].get("name"), str), typed(owners[0].get("kind"), str)) \
                if owners else typed(meta.get("name"), str)
            for init, key, statuses in ((False, "containers", "containerStatuses"),
                                        (True, "initContainers", "initContainerStatuses")):
                running = {typed(_dict(s).get("name"), str): typed(_dict(s).get("imageID"), str) or ""
                           for s in _list(status.get(statuses))}
                for c in _list(spec.get(key)):
                    c = _dict(c)
                    image, name = typed(c.get("image"), str), typed(c.get("name"), str)
                    if not image:
                        continue
                    image_id = running.get(name, "")
                    digest = image_id.split("@", 1)[1] if "@" in image_id else None
                    self.add(cluster, "aks", image, name, source="run-command", init=init, running=digest,
                             cluster=cluster["name"], namespace=typed(meta.get("namespace"), str), workload=workload,
                             seen=seen)
        self.source(cluster, "aks", "ok", "run-command")


def _instant(value) -> dt.datetime | None:
    """An ISO-8601 or HTTP date, as AKS writes ``finishedAt``; None otherwise."""
    if not isinstance(value, str):
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def tables(reader: DeploymentReader, registries: pl.DataFrame, tags: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """``deployments`` (each image's registry by its login server; a tag's digest from this inventory where the
    workload does not say what runs, flagged ``resolved_from_tag``) and ``deployment_sources``."""
    servers = registries.select(pl.col("login_server").str.to_lowercase().alias("host"), "registry").drop_nulls()
    frame = pl.DataFrame(reader.rows, schema={c: d for c, d in schema.TABLES["deployments"].items()
                                              if c not in ("registry", "resolved_from_tag")}, orient="row")
    current = tags.select("registry", "repository", "tag", pl.col("digest").alias("current"))
    frame = (frame.join(servers, on="host", how="left")
             .join(current, on=["registry", "repository", "tag"], how="left")
             .with_columns((pl.col("digest").is_null() & pl.col("current").is_not_null()).alias("resolved_from_tag"))
             .with_columns(pl.coalesce("digest", "current").alias("digest"))
             .group_by([c for c in schema.TABLES["deployments"] if c not in ("seen_at",)], maintain_order=True)
             .agg(pl.col("seen_at").max()))
    return {"deployments": schema.sort("deployments", schema.conform("deployments", frame)),
            "deployment_sources": schema.sort("deployment_sources", schema.frame("deployment_sources",
                                                                                 reader.sources))}
