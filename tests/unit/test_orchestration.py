"""The orchestration in-process: discovery, the tenant's collection, each registry's collector, pull activity and
deployments, driven through ``acrlib.collect`` against the small HTTPS server of helpers/hostile.py (a thread
of this process, no emulator process), and compared with what that server holds."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import polars as pl
from aiohttp import web
from hostile import SUBSCRIPTION, Hostile

import acrlib
from acrlib import schema

QUIET = {"activity_days": 0, "deployments": False, "vulnerabilities": False}


def manifests(inv: acrlib.Inventory) -> pl.DataFrame:
    return inv.manifests.select("registry", "repository", "digest", "size_bytes", "tags")


def test_a_tenant_is_collected_exactly_and_every_table_is_typed():
    with Hostile() as h:
        inv = acrlib.collect(**h.connection(), **QUIET)
    assert inv.complete and inv.errors.height == 0
    assert manifests(inv).equals(h.truth()["manifests"])
    assert inv.tags.select("registry", "repository", "tag", "digest").equals(h.truth()["tags"])
    assert inv.registries["storage_used_bytes"].to_list() == [12345]
    assert inv.repositories["repository"].to_list() == sorted(h.data)
    for table in acrlib.TABLES:
        assert getattr(inv, table).schema == schema.schema(table), table


def test_discovery_follows_resource_graphs_skip_tokens_and_reads_each_registry_once():
    registries = ("firstacr", "secondacr")
    with Hostile(registries=registries) as h:
        asked: list[dict] = []

        async def paged(request, honest):
            body = await request.json()
            if "resourcecontainers" in body["query"]:
                return await honest()
            asked.append(body.get("options") or {})
            whole = _registry_rows(h)
            token = (body.get("options") or {}).get("$skipToken")
            page, rest = (whole[1:], None) if token == "after-first" else (whole[:1], "after-first")
            out = {"totalRecords": len(whole), "count": len(page), "resultTruncated": "false", "data": page}
            if rest:
                out["$skipToken"] = rest
            return web.json_response(out)

        h.route("resource_graph", paged)
        inv = acrlib.collect(**h.connection(), **QUIET)
    assert sorted(inv.registries["registry"]) == list(registries) and inv.complete
    assert [a.get("$skipToken") for a in asked] == [None, "after-first"]
    assert inv.manifests.group_by("registry").len().sort("registry")["len"].to_list() == [9, 9]


def _registry_rows(h: Hostile) -> list[dict]:
    return [{"id": h.registry_id(name), "name": name, "tenantId": "00000000-0000-4000-8000-000000000001",
             "subscriptionId": SUBSCRIPTION, "resourceGroup": "rg", "location": "westeurope",
             "sku": {"name": "Standard", "tier": "Standard"}, "tags": {},
             "properties": {"loginServer": h.login_servers[name], "adminUserEnabled": False}}
            for name in h.registry_names]


def test_listings_follow_link_headers_page_by_page():
    with Hostile() as h:
        pages: list[str] = []

        def paging(what: str):
            async def handler(request, honest):
                repo = request.path.split("/acr/v1/", 1)[1].rsplit("/_", 1)[0]
                query = parse_qs(urlsplit(str(request.url)).query)
                n, last = int(query["n"][0]), query.get("last", [None])[0]
                items = sorted(h.data[repo], key=lambda m: m["digest"] if what == "manifests" else m["tag"])
                keys = [m["digest"] if what == "manifests" else m["tag"] for m in items]
                start = keys.index(last) + 1 if last else 0
                chunk = items[start:start + n]
                pages.append(f"{what}:{repo}:{start}")
                if what == "manifests":
                    body = {"manifests": [_manifest(m) for m in chunk]}
                else:
                    body = {"tags": [_tag(m) for m in chunk]}
                headers = {}
                if start + n < len(items):
                    headers["Link"] = (f'</acr/v1/{repo}/_{what}?last={keys[start + n - 1]}&n={n}>; '
                                       'rel="next"')
                return web.json_response({"registry": h.login_servers["hostileacr"], "imageName": repo, **body},
                                         headers=headers)
            return handler

        h.route("manifests", paging("manifests"))
        h.route("tags", paging("tags"))
        inv = acrlib.collect(**h.connection(), page_size=2, **QUIET)
    assert inv.complete, inv.errors
    assert manifests(inv).equals(h.truth()["manifests"])
    assert inv.tags.height == h.truth()["tags"].height
    # 4 manifests of web in pages of 2: two pages, the second asked for after the first's last digest
    assert [p for p in pages if p.startswith("manifests:web")] == ["manifests:web:0", "manifests:web:2"]


def _manifest(m: dict) -> dict:
    return {"digest": m["digest"], "imageSize": m["imageSize"], "createdTime": m["createdTime"],
            "lastUpdateTime": m["lastUpdateTime"], "architecture": "amd64", "os": "linux",
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "configMediaType": "application/vnd.docker.container.image.v1+json", "tags": [m["tag"]],
            "changeableAttributes": {"deleteEnabled": True, "writeEnabled": True, "readEnabled": True,
                                     "listEnabled": True}}


def _tag(m: dict) -> dict:
    return {"name": m["tag"], "digest": m["digest"], "createdTime": m["createdTime"],
            "lastUpdateTime": m["lastUpdateTime"], "signed": False,
            "changeableAttributes": {"deleteEnabled": True, "writeEnabled": True, "readEnabled": True,
                                     "listEnabled": True}}


def test_a_registry_that_refuses_costs_that_registry_and_nothing_else():
    with Hostile(registries=("goodacr", "deniedacr")) as h:
        async def deny(request, honest):
            if request.host == h.login_servers["deniedacr"]:
                return web.json_response({"errors": [{"code": "DENIED", "message": "denied by the firewall"}]},
                                         status=403)
            return await honest()

        h.route("catalog", deny)
        inv = acrlib.collect(**h.connection(), **QUIET)
    status = dict(inv.registries.select("registry", "status").iter_rows())
    assert status["goodacr"] == "complete" and status["deniedacr"] in ("partial", "failed")
    assert set(inv.manifests["registry"]) == {"goodacr"} and inv.manifests.height == 9
    denied = inv.errors.filter(pl.col("registry") == "deniedacr")
    assert denied.height >= 1 and (denied["http_status"] == 403).any()
    assert inv.errors.filter(pl.col("registry") == "goodacr").height == 0


def test_pull_activity_is_read_from_the_workspace_the_diagnostic_setting_names():
    now = dt.datetime.now(dt.UTC)
    with Hostile() as h:
        web_manifests = h.data["web"]
        rid = h.registry_id("hostileacr")

        def event(op: str, m: dict, days: float, who: str, status: str = "200") -> dict:
            return {"TimeGenerated": now - dt.timedelta(days=days), "_ResourceId": rid.upper(),
                    "OperationName": op, "ResultDescription": status, "Repository": "web", "Digest": m["digest"],
                    "Tag": m["tag"], "Identity": who}

        h.events = {"ContainerRegistryRepositoryEvents": pl.DataFrame([
            event("Pull", web_manifests[0], 1, "aks"), event("Pull", web_manifests[0], 2, "ci"),
            event("pull", web_manifests[1], 3, "aks"), event("Pull", web_manifests[2], 4, "aks", "404"),
            event("Push", web_manifests[3], 5, "ci"), event("Pull", web_manifests[3], 60, "old"),
        ])}
        inv = acrlib.collect(**h.connection(), activity_days=30, deployments=False)
    assert inv.activity_sources.select("registry", "status").rows() == [("hostileacr", "ok")]
    got = {r["digest"]: (r["pulls"], r["pushes"], r["pullers"]) for r in inv.activity.iter_rows(named=True)}
    assert got == {web_manifests[0]["digest"]: (2, 0, 2), web_manifests[1]["digest"]: (1, 0, 1),
                   web_manifests[3]["digest"]: (0, 1, 0)}, "failed pulls and pulls outside the window do not count"
    assert inv.errors.height == 0


def test_deployments_of_container_apps_are_read_from_resource_graph():
    with Hostile() as h:
        server = h.login_servers["hostileacr"]
        h.workloads = [{"id": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.App/"
                              "containerApps/shop", "name": "shop", "type": "Microsoft.App/containerApps",
                        "subscriptionId": SUBSCRIPTION, "resourceGroup": "rg",
                        "properties": {"template": {"containers": [{"name": "api", "image": f"{server}/web:v1"}],
                                                    "initContainers": [{"name": "migrate",
                                                                        "image": "docker.io/library/busybox:1"}]}}}]
        inv = acrlib.collect(**h.connection(), activity_days=0, deployments=True)
    rows = inv.deployments.select("registry", "repository", "tag", "container", "init_container", "service").sort(
        "container").rows()
    assert rows == [("hostileacr", "web", "v1", "api", False, "containerapp"),
                    (None, "library/busybox", "1", "migrate", True, "containerapp")]
    assert inv.deployment_sources.select("name", "status").rows() == [("shop", "ok")]


def test_defender_findings_are_read_per_subscription_with_its_plan_status():
    import json as _json

    with Hostile() as h:
        server = h.login_servers["hostileacr"]
        digest = h.data["web"][0]["digest"]
        h.security = [
            {"id": f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Security/assessments/a1",
             "type": "microsoft.security/assessments", "subscriptionId": SUBSCRIPTION,
             "properties": {"metadata": {"recommendationCategory": "SoftwareUpdate"},
                            "resourceAdditionalData": _json.dumps({"Digest": digest, "RepositoryDetails": {
                                "RepositoryName": "web", "RegistryHost": server}}),
                            "additionalData": {"SoftwareName": "openssl", "CvesDetails": _json.dumps([
                                {"CveId": "CVE-2024-1", "Severity": "Critical", "FixedVersion": "3.1"}])}}},
            {"id": f"/subscriptions/{SUBSCRIPTION}/x/assessments/c0b7cfc6-3172-465a-b378-53c7ff2cc0d5/"
                   "subassessments/1", "type": "microsoft.security/assessments/subassessments",
             "subscriptionId": SUBSCRIPTION,
             "properties": {"additionalData": {
                 "artifactDetails": {"registryHost": server, "repositoryName": "web", "digest": digest},
                 "vulnerabilityDetails": {"cveId": "CVE-2023-9", "severity": "Low"},
                 "softwareDetails": {"packageName": "zlib", "fixStatus": "NoFixAvailable"}}}}]
        inv = acrlib.collect(**h.connection(), **{**QUIET, "vulnerabilities": True})
        pricing_paths = [p for _, p, _ in h.requests_to("arm") if "pricings" in p]
        h.pricing = "Free"
        off = acrlib.collect(**h.connection(), **{**QUIET, "vulnerabilities": True})
        china = acrlib.collect(**h.connection(), **{**QUIET, "vulnerabilities": True}, cloud="china")
    found = inv.vulnerabilities.sort("cve_id")
    assert found.select("registry", "repository", "digest", "cve_id", "severity", "fix_status", "source").rows() == [
        ("hostileacr", "web", digest, "CVE-2023-9", "Low", "no-fix", "defender-legacy"),
        ("hostileacr", "web", digest, "CVE-2024-1", "Critical", "fix-available", "defender")]
    assert inv.vulnerability_sources.select("subscription_id", "status", "rows").rows() == [(SUBSCRIPTION, "ok", 2)]
    assert len(pricing_paths) == 2 and all("api-version=2024-01-01" in p for p in pricing_paths)
    status = off.vulnerability_sources.row(0, named=True)
    assert status["status"] == "scanning-off" and "Defender for Containers" in status["message"]
    assert china.vulnerability_sources.select("status").rows() == [("not-available",)]
    assert china.vulnerabilities.height == 0
