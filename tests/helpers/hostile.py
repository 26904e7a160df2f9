"""A small HTTPS server of its own (not the emulator) that plays Resource Graph, ARM listUsages and registries,
honestly by default, from plain data; a test replaces one route to misbehave and reads back every request each
origin got. It runs in a thread with its own event loop, so ``acrlib.collect`` runs as a user runs it.

Origins: ``arm``, one per registry, ``logs`` (Log Analytics: queries are answered by the emulator's own KQL back
end over ``events``, the tables a test sets) and ``other``: a listener no honest answer ever points at, so a
request (and a token) reaching it is a leak.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import shutil
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote, unquote

import polars as pl
from aiohttp import web
from azure.core.credentials import AccessToken

from acrlib.emulator.server.tls import make_certificates, server_context

TENANT = "00000000-0000-4000-8000-000000000001"
SUBSCRIPTION = "00000000-0000-4000-8000-000000000002"
WORKSPACE = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/law"
WORKSPACE_CUSTOMER_ID = "00000000-0000-4000-8000-000000000003"
ENTRA_TOKEN = "eyJhbGciOiJub25lIn0.eyJhdWQiOiJodHRwczovL2NvbnRhaW5lcnJlZ2lzdHJ5LmF6dXJlLm5ldCJ9.c2VjcmV0LWVudHJh"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"


def jwt(claims: dict) -> str:
    part = lambda value: base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{part({'alg': 'none'})}.{part(claims)}.c2lnbmF0dXJl"


class Credential:
    """A TokenCredential whose token is a constant JWT a test can look for in every output."""

    def get_token(self, *scopes, **kwargs) -> AccessToken:
        return AccessToken(ENTRA_TOKEN, int(time.time()) + 3600)


def content(repositories: dict[str, int]) -> dict[str, list[dict]]:
    """repository -> its manifests (digest, size, time, tags): manifest i of a repository is tagged v<i>."""
    out = {}
    for r, (name, count) in enumerate(sorted(repositories.items())):
        out[name] = [{"digest": f"sha256:{r:02d}{i:062x}", "imageSize": 1000 * (i + 1),
                      "createdTime": f"2025-0{1 + i % 9}-0{1 + r % 9}T10:00:00.1234567Z",
                      "lastUpdateTime": f"2025-0{1 + i % 9}-0{1 + r % 9}T11:00:00Z", "tag": f"v{i}"}
                     for i in range(count)]
    return out


class Hostile:
    """``with Hostile() as h: acrlib.collect(**h.connection())``; ``h.route(name, handler)`` replaces one route:
    ``async def handler(request, honest) -> web.StreamResponse`` (``await honest()`` is the honest answer).
    Routes: resource_graph, usages, diagnostic_settings, workspace, pricings, logs_query, exchange, token,
    catalog, repository, manifests, tags. ``security``: Resource Graph's ``securityresources`` rows (Defender's
    findings, both shapes); ``pricing``: the tier every Defender plan answers. ``workloads``: the rows Resource
    Graph answers the workloads query with;
    ``events``: Log Analytics table name -> frame; while it is empty no registry has a diagnostic setting, else
    each has one sending its events to the one workspace."""

    def __init__(self, repositories: dict[str, int] | None = None, registries: tuple[str, ...] = ("hostileacr",)):
        self.data = content(repositories or {"app/a": 3, "app/b": 2, "web": 4})
        self.registry_names = registries
        self.routes: dict[str, object] = {}
        self.workloads: list[dict] = []
        self.security: list[dict] = []  # securityresources rows, of both shapes (each query gets its type's)
        self.pricing = "Standard"  # each subscription's Defender plans' tier
        self.events: dict[str, pl.DataFrame] = {}
        self.seen: list[tuple[str, str, str, dict]] = []  # (origin, method, path, headers)
        self.ports: dict[str, int] = {}
        self.login_servers: dict[str, str] = {}
        self._loop = asyncio.new_event_loop()
        self._runners: list[web.AppRunner] = []
        self._dir = Path(tempfile.mkdtemp(prefix="acrlib-hostile-"))

    # --- lifecycle ---

    def __enter__(self) -> Hostile:
        self.ca_path, cert, key = make_certificates(self._dir)
        self._ssl = server_context(cert, key)
        threading.Thread(target=self._loop.run_forever, daemon=True, name="hostile-server").start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
        return self

    def __exit__(self, *exc) -> None:
        async def stop():
            for runner in self._runners:
                await runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        shutil.rmtree(self._dir, ignore_errors=True)  # the certificates: each server leaves nothing behind

    async def _start(self) -> None:
        for origin in ("arm", "logs", *self.registry_names, "other"):
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handler(origin))
            runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.2)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self._ssl).start()
            self._runners.append(runner)
            self.ports[origin] = runner.addresses[0][1]
        self.login_servers = {name: f"127.0.0.1:{self.ports[name]}" for name in self.registry_names}

    def url(self, origin: str) -> str:
        return f"https://127.0.0.1:{self.ports[origin]}"

    def connection(self) -> dict:
        return {"credential": Credential(), "arm_endpoint": self.url("arm"), "logs_endpoint": self.url("logs"),
                "connection_verify": str(self.ca_path), "progress": False}

    def registry_id(self, name: str) -> str:
        return (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.ContainerRegistry/"
                f"registries/{name}")

    def route(self, name: str, handler) -> None:
        self.routes[name] = handler

    def requests_to(self, origin: str) -> list[tuple[str, str, dict]]:
        return [(m, p, h) for o, m, p, h in self.seen if o == origin]

    # --- what the server serves, as acrlib's tables would hold it ---

    def truth(self, registry: str = "hostileacr") -> dict[str, pl.DataFrame]:
        manifests = [(registry, repo, m["digest"], m["imageSize"], [m["tag"]]) for repo, items in self.data.items()
                     for m in items]
        tags = [(registry, repo, m["tag"], m["digest"]) for repo, items in self.data.items() for m in items]
        return {
            "manifests": pl.DataFrame(manifests, schema=["registry", "repository", "digest", "size_bytes", "tags"],
                                      orient="row").sort("registry", "repository", "digest"),
            "tags": pl.DataFrame(tags, schema=["registry", "repository", "tag", "digest"], orient="row")
            .sort("registry", "repository", "tag"),
        }

    # --- dispatch ---

    def _handler(self, origin: str):
        async def handle(request: web.Request) -> web.StreamResponse:
            self.seen.append((origin, request.method, request.raw_path, dict(request.headers)))
            name, args = self._route(origin, request)

            async def honest():
                return await getattr(self, f"_{name}")(request, origin, *args)

            override = self.routes.get(name)
            if override is not None:
                return await override(request, honest)
            return await honest()

        return handle

    @staticmethod
    def _route(origin: str, request: web.Request) -> tuple[str, tuple]:
        path = unquote(request.raw_path.split("?")[0])
        if origin == "other":
            return "other", ()
        if origin == "logs":
            return "logs_query", ()
        if origin == "arm":
            if "resourcegraph" in path.lower():
                return "resource_graph", ()
            if path.lower().endswith("/providers/microsoft.insights/diagnosticsettings"):
                return "diagnostic_settings", ()
            if "/workspaces/" in path.lower():
                return "workspace", ()
            if "/providers/microsoft.security/pricings/" in path.lower():
                return "pricings", ()
            return "usages", ()
        if path == "/oauth2/exchange":
            return "exchange", ()
        if path == "/oauth2/token":
            return "token", ()
        if path == "/acr/v1/_catalog":
            return "catalog", ()
        for suffix in ("/_manifests", "/_tags"):
            if path.endswith(suffix):
                return suffix[2:], (path[len("/acr/v1/"):-len(suffix)],)
        return "repository", (path[len("/acr/v1/"):],)

    # --- honest answers ---

    async def _other(self, request, origin):
        return web.json_response({"leak": True})

    async def _resource_graph(self, request, origin):
        body = await request.json()
        if "resourcecontainers" in body["query"]:
            data = [{"id": f"/subscriptions/{SUBSCRIPTION}", "subscriptionId": SUBSCRIPTION, "name": "Hostile"}]
        elif "managedclusters" in body["query"].lower():  # the workloads query
            data = self.workloads
        elif "securityresources" in body["query"]:  # Defender's findings: the rows of the shape asked for
            legacy = "subassessments" in body["query"]
            data = [r for r in self.security if str(r.get("type", "")).lower().endswith("subassessments") == legacy]
        else:
            data = [{
                "id": self.registry_id(name),
                "name": name, "tenantId": TENANT, "subscriptionId": SUBSCRIPTION, "resourceGroup": "rg",
                "location": "westeurope", "sku": {"name": "Standard", "tier": "Standard"}, "tags": {},
                "properties": {"loginServer": self.login_servers[name], "adminUserEnabled": False},
            } for name in self.registry_names]
        return web.json_response({"totalRecords": len(data), "count": len(data), "resultTruncated": "false",
                                  "data": data}, headers={"x-ms-user-quota-remaining": "14",
                                                          "x-ms-user-quota-resets-after": "00:00:05"})

    async def _usages(self, request, origin):
        return web.json_response({"value": [{"name": "Size", "limit": 100 << 30, "currentValue": 12345,
                                             "unit": "Bytes"}]})

    async def _pricings(self, request, origin):
        plan = request.path.rsplit("/", 1)[-1]
        return web.json_response({"id": request.path, "name": plan, "properties": {"pricingTier": self.pricing}})

    async def _diagnostic_settings(self, request, origin):
        if not self.events:  # no event logs: no setting sends any
            return web.json_response({"value": []})
        return web.json_response({"value": [{"name": "to-law", "properties": {
            "workspaceId": WORKSPACE, "logAnalyticsDestinationType": "Dedicated",
            "logs": [{"category": "ContainerRegistryRepositoryEvents", "enabled": True}]}}]})

    async def _workspace(self, request, origin):
        return web.json_response({"id": WORKSPACE, "properties": {"customerId": WORKSPACE_CUSTOMER_ID}})

    async def _logs_query(self, request, origin):
        """The query, run by the emulator's Log Analytics back end over ``events`` in the asked timespan."""
        from acrlib.emulator.server import logs_query
        from acrlib.emulator.server.logs import table_json, timespan

        body = await request.json()
        now = dt.datetime.now(dt.UTC)
        start, end = timespan(body.get("timespan"), now)
        tables = {name: df.filter(pl.col("TimeGenerated") >= start, pl.col("TimeGenerated") < end)
                  if start is not None else df for name, df in self.events.items()}
        result = logs_query.parse(body["query"]).run(tables, now)
        return web.json_response({"tables": [table_json(result)]})

    async def _exchange(self, request, origin):
        return web.json_response({"refresh_token": jwt({"exp": time.time() + 3600})})

    async def _token(self, request, origin):
        form = await request.post()
        access = []
        for scope in form.getall("scope", []):
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        return web.json_response({"access_token": jwt({"exp": time.time() + 3600, "access": access})})

    async def _catalog(self, request, origin):
        return web.json_response({"repositories": sorted(self.data)})

    async def _repository(self, request, origin, repo):
        items = self.data[repo]
        return web.json_response({"registry": self.login_servers[origin], "imageName": repo,
                                  "createdTime": "2024-01-01T00:00:00Z", "lastUpdateTime": "2025-01-01T00:00:00Z",
                                  "manifestCount": len(items), "tagCount": len(items),
                                  "changeableAttributes": {"deleteEnabled": True, "writeEnabled": True,
                                                           "readEnabled": True, "listEnabled": True}})

    async def _manifests(self, request, origin, repo):
        items = [{"digest": m["digest"], "imageSize": m["imageSize"], "createdTime": m["createdTime"],
                  "lastUpdateTime": m["lastUpdateTime"], "architecture": "amd64", "os": "linux",
                  "mediaType": DOCKER_MANIFEST, "configMediaType": DOCKER_CONFIG, "tags": [m["tag"]],
                  "changeableAttributes": {"deleteEnabled": True, "writeEnabled": True, "readEnabled": True,
                                           "listEnabled": True}} for m in self.data[repo]]
        return web.json_response({"registry": self.login_servers[origin], "imageName": repo, "manifests": items})

    async def _tags(self, request, origin, repo):
        items = [{"name": m["tag"], "digest": m["digest"], "createdTime": m["createdTime"],
                  "lastUpdateTime": m["lastUpdateTime"], "signed": False,
                  "changeableAttributes": {"deleteEnabled": True, "writeEnabled": True, "readEnabled": True,
                                           "listEnabled": True}} for m in self.data[repo]]
        return web.json_response({"registry": self.login_servers[origin], "imageName": repo, "tags": items})


def answering(body: bytes, where: str, content_type: str = "application/json"):
    """A route handler that answers ``body`` for paths containing ``where`` and honestly elsewhere."""

    async def handler(request, honest):
        if where in request.path:
            return web.Response(body=body, content_type=content_type)
        return await honest()

    return handler


def page_link(repo: str, what: str, last: str) -> str:
    """An honest relative ``Link`` header to the next page of a listing."""
    return f'</acr/v1/{quote(repo, safe="")}/_{what}?last={quote(last, safe="")}&n=1000>; rel="next"'
