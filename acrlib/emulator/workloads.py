"""What runs where in the emulated tenant: AKS clusters (with pods), Container Apps and their jobs, Container
Instances and App Service / Functions sites on containers, each referencing images of the tenant's registries
(by tag and by digest, some tags moved since the pod started, some images deleted) and of public registries.

Images of the tenant's registries are kept symbolically (registry, repository, tag, digest) and written with
the registry's login server when served, since the emulator's login servers are loopback ports."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from . import activity
from .model import DAY, TICKS, Tenant

HOUR = 3600 * TICKS


@dataclass(frozen=True)
class Image:
    """An image reference: ``registry`` set for the tenant's registries (written with its login server), else
    ``literal`` as written."""

    registry: str | None = None
    repository: str | None = None
    tag: str | None = None
    digest: str | None = None
    literal: str | None = None

    def render(self, login_servers: dict[str, str]) -> str:
        if self.literal is not None:
            return self.literal
        return (f"{login_servers[self.registry]}/{self.repository}" + (f":{self.tag}" if self.tag else "")
                + (f"@{self.digest}" if self.digest else ""))


@dataclass(frozen=True)
class Container:
    name: str
    image: Image
    image_id: str | None = None  # the digest that runs (AKS: from the container runtime), None when unknown
    init: bool = False


@dataclass
class Pod:
    namespace: str
    name: str
    workload: str  # the owning Deployment (via its ReplicaSet)
    containers: list[Container]
    replicas: int = 1
    running: bool = True  # False: stopped two days ago, seen by Container Insights then
    restarts: int = 0  # times each replica's (non-init) containers crashed and were restarted in the last hours


@dataclass
class Workload:
    """An Azure resource that runs containers."""

    service: str  # aks, containerapp, containerapp-job, aci, appservice, functions
    name: str
    resource_id: str
    subscription_id: str
    resource_group: str
    kind: str = ""
    containers: list[Container] = field(default_factory=list)  # every service but aks
    pods: list[Pod] = field(default_factory=list)  # aks
    workspace: str | None = None  # aks: the Container Insights workspace (resource id), None without monitoring
    kubelet: str | None = None  # aks: the kubelet identity's name (its object id pulls from registries)
    readable: bool = True  # False: the caller may not read its configuration (App Service config/web: 403)

    @property
    def container_site(self) -> bool:
        return self.service in ("appservice", "functions") and "container" in self.kind


PUBLIC = [Image(literal="nginx:1.27"), Image(literal="docker.io/library/redis:7.4"),
          Image(literal="mcr.microsoft.com/dotnet/aspnet:8.0"), Image(literal="bitnami/postgresql:16")]
SIDECAR = Image(literal="mcr.microsoft.com/oss/kubernetes/pause:3.9")
INIT = Image(literal="busybox:1.36")


def _public_id(image: Image) -> str:
    """A stable digest for a public image (the emulator does not host them)."""
    from .model import fake_digest

    return fake_digest(f"public/{image.literal}")


def setup(tenant: Tenant) -> None:
    """The tenant's workloads, deterministic from the tenant: clusters run the production repositories' images."""
    rng = random.Random(f"workloads/{tenant.tenant_id}")
    regs = [r for r in tenant.registries if not r.discovery_only]
    production = [(reg, repo) for reg in regs for repo in sorted(reg.repositories.values(), key=lambda r: r.name)
                  if activity.profile(reg, repo) == "production" and "latest" in repo.tags]
    subs = [s for s, _ in tenant.subscriptions]
    ops, short, _secure = tenant.workspaces

    def rid(sub: str, group: str, provider: str, name: str) -> str:
        return f"/subscriptions/{sub}/resourceGroups/{group}/providers/{provider}/{name}"

    clusters = [
        Workload("aks", name, rid(subs[i % len(subs)], "rg-aks", "Microsoft.ContainerService/managedClusters", name),
                 subs[i % len(subs)], "rg-aks", workspace=ws.resource_id if ws else None, kubelet=name)
        for i, (name, ws) in enumerate(zip(activity.PULLERS, (ops, None, short), strict=True))]
    for i, (reg, repo) in enumerate(production):
        cluster = clusters[i % len(clusters)]
        latest = repo.tags["latest"]
        older = sorted((m for m in repo.manifests.values() if m.digest != latest.digest and not m.subject
                        and m.created < latest.updated), key=lambda m: m.created)
        namespace = repo.name.split("/")[0]
        workload = repo.name.replace("/", "-")
        main = Container(workload.rsplit("-", 1)[-1], Image(reg.name, repo.name, "latest"), latest.digest)
        if i % 5 == 3 and older:  # the pod started before `latest` moved: it still runs the old digest
            main = Container(main.name, main.image, older[-1].digest)
        elif i % 5 == 1:  # pinned by digest
            main = Container(main.name, Image(reg.name, repo.name, digest=latest.digest), latest.digest)
        containers = [main, Container("sidecar", SIDECAR, _public_id(SIDECAR))]  # names are unique in a pod
        if i % 4 == 0:
            containers.append(Container("wait-for-db", INIT, _public_id(INIT), init=True))
        cluster.pods.append(Pod(namespace, f"{workload}-{rng.randrange(16**6):06x}-x{i}", workload, containers,
                                replicas=3 if i % 3 == 0 else 1 + i % 3, restarts=1 + i % 2 if i % 3 == 0 else 0))
        if i % 7 == 2:  # a pod that stopped two days ago: not running any more
            cluster.pods.append(Pod(namespace, f"{workload}-old-{i}", f"{workload}-old",
                                    [Container(main.name, Image(reg.name, repo.name, "latest"), latest.digest)],
                                    running=False))
    if production:  # a deployment whose tag and image are gone from the registry
        reg, repo = production[0]
        gone = Image(reg.name, repo.name, "0.0.0-removed")
        clusters[0].pods.append(Pod("legacy", "legacy-api-0", "legacy-api",
                                    [Container("api", gone, "sha256:" + "0" * 63 + "1")]))
    for j, image in enumerate(PUBLIC):
        clusters[j % len(clusters)].pods.append(Pod("infra", f"infra-{j}", f"infra-{j}",
                                                    [Container(f"svc{j}", image, _public_id(image))]))
    picks = production[1:] or production
    apps: list[Workload] = []
    sub, group = subs[0], "rg-apps"
    if picks:
        reg, repo = picks[0]
        release = next((t for t in sorted(repo.tags) if t[:1].isdigit()), "latest")
        apps.append(Workload("containerapp", "ca-orders", rid(sub, group, "Microsoft.App/containerApps", "ca-orders"),
                             sub, group, containers=[Container("orders", Image(reg.name, repo.name, release)),
                                                     Container("migrate", INIT, init=True)]))
        digest = repo.tags["latest"].digest
        apps.append(Workload("containerapp-job", "caj-nightly", rid(sub, group, "Microsoft.App/jobs", "caj-nightly"),
                             sub, group, containers=[Container("nightly", Image(reg.name, repo.name, digest=digest))]))
        apps.append(Workload("aci", "aci-batch", rid(sub, group, "Microsoft.ContainerInstance/containerGroups",
                                                     "aci-batch"), sub, group,
                             containers=[Container("batch", Image(reg.name, repo.name, "latest")),
                                         Container("cache", PUBLIC[1])]))
    site_reg, site_repo = picks[-1] if picks else (regs[0], None)
    site_image = Image(site_reg.name, site_repo.name, "latest") if site_repo else PUBLIC[2]
    web = "Microsoft.Web/sites"
    apps += [
        Workload("appservice", "app-frontend", rid(sub, group, web, "app-frontend"), sub, group,
                 kind="app,linux,container", containers=[Container("app-frontend", site_image)]),
        Workload("functions", "func-ingest", rid(sub, group, web, "func-ingest"), sub, group,
                 kind="functionapp,linux,container", containers=[Container("func-ingest", PUBLIC[2])]),
        Workload("appservice", "app-legacy", rid(sub, group, web, "app-legacy"), sub, group,
                 kind="app,container,windows",
                 containers=[Container("app-legacy", Image(literal="mcr.microsoft.com/dotnet/framework/aspnet:4.8"))]),
        Workload("appservice", "app-static", rid(sub, group, web, "app-static"), sub, group, kind="app"),
    ]
    if len(regs) >= 6:  # larger tenants (demo up): a site whose configuration the caller may not read
        apps.append(Workload("appservice", "app-locked", rid(sub, group, web, "app-locked"), sub, group,
                             kind="app,linux,container", containers=[Container("app-locked", site_image)],
                             readable=False))
    tenant.workloads = [*clusters, *apps]


# --- how the services show them --------------------------------------------------------------------------------


def resource(w: Workload, tenant: Tenant, login_servers: dict[str, str]) -> dict:
    """The workload's Resource Graph row, with the documented property paths."""
    base = {"id": w.resource_id, "name": w.name, "tenantId": tenant.tenant_id, "kind": w.kind, "location": "westeurope",
            "resourceGroup": w.resource_group, "subscriptionId": w.subscription_id, "managedBy": "", "sku": None,
            "plan": None, "tags": {}, "identity": None, "zones": None, "extendedLocation": None}

    def containers(init: bool, nested: bool) -> list[dict]:
        out = []
        for c in w.containers:
            if c.init == init:
                image = c.image.render(login_servers)
                out.append({"name": c.name, "properties": {"image": image, "resources": {}}} if nested else
                           {"name": c.name, "image": image, "resources": {"cpu": 0.5, "memory": "1Gi"}})
        return out

    if w.service == "aks":
        monitoring = {"enabled": w.workspace is not None}
        if w.workspace:
            monitoring["config"] = {"logAnalyticsWorkspaceResourceID": w.workspace}
        kubelet = activity.identity(tenant.tenant_id, w.kubelet)
        return {**base, "type": "microsoft.containerservice/managedclusters", "properties": {
            "provisioningState": "Succeeded", "kubernetesVersion": "1.30.5", "addonProfiles": {"omsagent": monitoring},
            "identityProfile": {"kubeletidentity": {"objectId": kubelet, "clientId": kubelet}},
            "apiServerAccessProfile": {"disableRunCommand": False}}}
    if w.service in ("containerapp", "containerapp-job"):
        template = {"containers": containers(False, False), "initContainers": containers(True, False) or None}
        kind = "microsoft.app/containerapps" if w.service == "containerapp" else "microsoft.app/jobs"
        return {**base, "type": kind, "properties": {"provisioningState": "Succeeded", "template": template}}
    if w.service == "aci":
        return {**base, "type": "microsoft.containerinstance/containergroups", "properties": {
            "provisioningState": "Succeeded", "osType": "Linux", "containers": containers(False, True),
            "initContainers": containers(True, True)}}
    # App Service / Functions: Resource Graph carries no usable siteConfig; config/web has the image
    return {**base, "type": "microsoft.web/sites", "properties": {"state": "Running", "siteConfig": None,
                                                                  "defaultHostName": f"{w.name}.azurewebsites.net"}}


def web_config(w: Workload, login_servers: dict[str, str]) -> dict:
    """``GET {site}/config/web``: the container image in linuxFxVersion or windowsFxVersion."""
    fx = f"DOCKER|{w.containers[0].image.render(login_servers)}" if w.containers and w.container_site else ""
    windows = "windows" in w.kind
    return {"id": f"{w.resource_id}/config/web", "name": "web", "type": "Microsoft.Web/sites/config",
            "properties": {"linuxFxVersion": "" if windows else fx, "windowsFxVersion": fx if windows else None}}


def pods_json(w: Workload, login_servers: dict[str, str]) -> dict:
    """``kubectl get pods -A -o json`` of a cluster: its running pods, replicas included."""
    items = []
    for pod in w.pods:
        if not pod.running:
            continue
        for replica in range(pod.replicas):
            main = [c for c in pod.containers if not c.init]
            init = [c for c in pod.containers if c.init]

            def spec(cs):
                return [{"name": c.name, "image": c.image.render(login_servers)} for c in cs]

            def status(cs):
                out = []
                for c in cs:
                    written = c.image.render(login_servers)
                    name = written.split("@")[0].rsplit(":", 1)[0] if ":" in written.split("/")[-1] else \
                        written.split("@")[0]
                    out.append({"name": c.name, "image": written, "ready": True,
                                "imageID": f"{name}@{c.image_id}" if c.image_id else ""})
                return out

            items.append({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": f"{pod.name}-{replica}", "namespace": pod.namespace,
                             "ownerReferences": [{"kind": "ReplicaSet", "name": f"{pod.workload}-7d4b9c"}],
                             "labels": {"app": pod.workload}},
                "spec": {"containers": spec(main), "initContainers": spec(init) or None},
                "status": {"phase": "Running", "containerStatuses": status(main),
                           "initContainerStatuses": status(init)},
            })
    return {"apiVersion": "v1", "kind": "List", "items": items}


def agent_image_fields(image: str) -> dict[str, str]:
    """``Repository``, ``Image``, ``ImageTag`` and (from an ``@``) ``ImageID`` as the Container Insights agent
    splits an image string (Azure/Docker-Provider, ``KubernetesContainerInventory.
    addImageInfoToContainerInventoryRecord``): the digest after ``@`` first; then ``Repository`` is everything
    before the FIRST ``/`` (the registry host, or ``library`` for ``library/nginx``), ``Image`` the rest up to the
    FIRST ``:``, ``ImageTag`` what follows it; no ``:`` and no digest means tag ``latest``. A host with a port
    (``127.0.0.1:5000/app:1``, the emulator's own login servers) comes out as the agent leaves it: ``Image``
    empty and the port, path and tag in ``ImageTag``."""
    fields = {"Repository": "", "Image": "", "ImageTag": "", "ImageID": ""}
    at = image.find("@")
    pinned = at >= 0
    if pinned:
        fields["ImageID"], image = image[at + 1:], image[:at]
    slash, colon = image.find("/"), image.find(":")
    if colon >= 0:
        if slash < 0:
            fields["Image"] = image[:colon]
        else:
            fields["Repository"], fields["Image"] = image[:slash], image[slash + 1:colon]
        fields["ImageTag"] = image[colon + 1:]
    else:
        if slash < 0:
            fields["Image"] = image
        else:
            fields["Repository"], fields["Image"] = image[:slash], image[slash + 1:]
        if not pinned:
            fields["ImageTag"] = "latest"
    return fields


def _container_id(*parts) -> str:
    """A container runtime id: 64 hex digits, stable for the same pod, container and restart."""
    import hashlib

    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


def container_insights(tenant: Tenant, login_servers: dict[str, str]) -> tuple[list[dict], list[dict]]:
    """``ContainerInventory`` and ``KubePodInventory`` rows of the monitored clusters, as the Container Insights
    agent writes them (Azure/Docker-Provider: ``KubernetesContainerInventory.getContainerInventoryRecords`` and
    ``in_kube_podinventory.getPodInventoryRecords``): one row per replica and container, and per restart (a
    restarted container has a new id; its earlier instance was seen running before it failed).

    ``ContainerInventory``: ``Name`` Docker-style, ``k8s_<container>_<pod>_<namespace>_<containerId>_<restarts>``
    (also on containerd nodes), ``ContainerHostname`` the pod's name, ``ContainerID`` the runtime id without its
    ``containerd://`` prefix, ``ContainerState`` ``Running``, ``Terminated`` (exit 0: a finished init container)
    or ``Failed``, the image split by :func:`agent_image_fields`, ``ImageID`` the running digest from the
    container status's ``imageID``. ``KubePodInventory``: ``Name`` the pod, ``PodUid``, ``ContainerName``
    ``<podUid>/<container>``, ``ContainerID``, ``ContainerRestartCount``, ``ContainerStatus`` (the state's key,
    ``running``/``terminated``), ``ControllerKind``/``ControllerName`` from the pod's first owner reference.
    A running container reports ten minutes ago, a stopped pod two days ago, an earlier instance of a restarted
    container an hour before its successor started."""
    import uuid

    inventory, pods = [], []
    now = tenant.now
    for w in tenant.workloads:
        if w.service != "aks" or w.workspace is None:
            continue
        cluster = w.resource_id.lower()
        for pod in w.pods:
            when = now - 10 * 60 * TICKS if pod.running else now - 2 * DAY
            for replica in range(pod.replicas):
                name = f"{pod.name}-{replica}"
                uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{cluster}/{pod.namespace}/{name}"))
                for c in pod.containers:
                    written = c.image.render(login_servers)
                    image = agent_image_fields(written)
                    if c.image_id:
                        image["ImageID"] = c.image_id  # the status's imageID wins over the spec's digest
                    generations = 1 if c.init else 1 + pod.restarts
                    for restart in range(generations):
                        current = restart == generations - 1
                        seen = when - (generations - 1 - restart) * HOUR
                        container_id = _container_id(cluster, name, c.name, restart)
                        if c.init:
                            state, status = "Terminated", "terminated"
                        else:
                            state = ("Running" if pod.running else "Terminated") if current else "Failed"
                            status = "running" if state == "Running" else "terminated"
                        started = seen - 30 * 60 * TICKS
                        inventory.append({
                            "time": seen, "started": started, "finished": None if state == "Running" else seen,
                            "_ResourceId": cluster, "ContainerID": container_id,
                            "Name": f"k8s_{c.name}_{name}_{pod.namespace}_{container_id}_{restart}",
                            "ContainerHostname": name, **image, "ContainerState": state,
                            "ExitCode": 1 if state == "Failed" else 0, "Computer": f"aks-nodepool1-{replica}"})
                        pods.append({
                            "time": seen, "_ResourceId": cluster, "ClusterId": w.resource_id, "ClusterName": w.name,
                            "Name": name, "PodUid": uid, "Namespace": pod.namespace,
                            "ControllerKind": "ReplicaSet", "ControllerName": f"{pod.workload}-7d4b9c",
                            "ContainerID": container_id, "ContainerName": f"{uid}/{c.name}",
                            "ContainerRestartCount": restart, "ContainerStatus": status,
                            "PodStatus": "Running" if pod.running else "Succeeded",
                            "Computer": f"aks-nodepool1-{replica}"})
    return inventory, pods
