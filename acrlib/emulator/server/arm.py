"""The emulated ARM endpoint: Resource Graph queries (the KQL subset, skip tokens, the per-user quota),
``listUsages`` and the registry resource. Behaviour follows Microsoft's Resource Graph and ARM documentation."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import time
import uuid
from dataclasses import dataclass

from aiohttp import web

from acrlib import skus

from .. import findings, workloads
from ..model import Registry, Tenant, format_time
from . import graph_query, tokens
from .kql import KqlError
from .state import MAX_PAGE, Reply, State, answer, arm_error, arrive, json_response

POD_LISTING = "kubectl get pods -A -o json"


@dataclass(frozen=True)
class Call:
    """What an ARM route handler gets besides the ids in its path."""

    url: str
    api_version: str
    body: dict


RG_API_VERSIONS = {"2019-04-01", "2020-04-01-preview", "2021-03-01", "2021-06-01-preview", "2022-10-01",
                   "2024-04-01"}


def registry_resource(tenant: Tenant, reg: Registry, login_server: str) -> dict:
    created = format_time(reg.created)
    policies: dict = {
        "quarantinePolicy": {"status": reg.quarantine_status},
        "trustPolicy": {"type": "Notary", "status": reg.trust_status},
        "retentionPolicy": {"days": reg.retention_days, "lastUpdatedTime": created, "status": reg.retention_status},
        "exportPolicy": {"status": "enabled"},
        "azureADAuthenticationAsArmPolicy": {"status": "enabled" if reg.auth_as_arm else "disabled"},
    }
    if reg.sku != "Premium":
        # Older registries' rows lack the soft-delete policy: readers must cope with absent fields.
        policies["softDeletePolicy"] = {"retentionDays": reg.soft_delete_days, "lastUpdatedTime": created,
                                        "status": reg.soft_delete_status}
    properties: dict = {
        "loginServer": login_server,
        "creationDate": created,
        "provisioningState": "Succeeded",
        "adminUserEnabled": reg.admin_user_enabled,
        "policies": policies,
        "encryption": {"status": "disabled"},
        "dataEndpointEnabled": reg.data_endpoint_enabled,
        "dataEndpointHostNames": [],
        "privateEndpointConnections": [],
        "publicNetworkAccess": reg.public_network_access,
        "networkRuleBypassOptions": "AzureServices",
        "zoneRedundancy": reg.zone_redundancy,
        "anonymousPullEnabled": reg.anonymous_pull_enabled,
    }
    if reg.sku == "Premium":
        properties["networkRuleSet"] = {"defaultAction": reg.network_default_action, "ipRules": []}
    return {
        "id": reg.resource_id, "name": reg.name, "type": "microsoft.containerregistry/registries",
        "tenantId": tenant.tenant_id, "kind": "", "location": reg.location, "resourceGroup": reg.resource_group,
        "subscriptionId": reg.subscription_id, "managedBy": "", "sku": {"name": reg.sku, "tier": reg.sku},
        "plan": None, "properties": properties, "tags": dict(reg.tags), "identity": None, "zones": None,
        "extendedLocation": None,
    }


# The request log's name for an ARM path: (how the lowercased path is matched, the fragment, the endpoint name),
# first match wins.
ENDPOINTS = (
    ("equals", "/providers/microsoft.resourcegraph/resources", "resource_graph"),
    ("endswith", "/listusages", "list_usages"),
    ("endswith", "/diagnosticsettings", "diagnostic_settings"),
    ("contains", "/microsoft.operationalinsights/workspaces/", "workspace"),
    ("endswith", "/config/web", "site_config"),
    ("endswith", "/runcommand", "run_command"),
    ("contains", "/commandresults/", "command_result"),
    ("contains", "/providers/microsoft.security/pricings/", "pricings"),
    ("contains", "/providers/microsoft.containerregistry/registries/", "registry"),
)


def endpoint_of(path: str) -> str:
    path = path.lower()
    for how, fragment, endpoint in ENDPOINTS:
        if (path == fragment if how == "equals" else path.endswith(fragment) if how == "endswith"
                else fragment in path):
            return endpoint
    return "arm_other"


class ArmHandler:
    def __init__(self, state: State):
        self.state = state
        self._tables: dict[str, list[dict]] | None = None
        self.commands: dict[str, dict] = {}  # AKS run commands in progress: id -> cluster, polls left

    def tables(self) -> dict[str, list[dict]]:
        if self._tables is None:
            tenant, state = self.state.tenant, self.state
            resources = [
                registry_resource(tenant, reg, state.login_servers.get(reg.name, f"{reg.name}.azurecr.io"))
                for reg in tenant.registries
            ]
            resources += [workloads.resource(w, tenant, state.login_servers) for w in tenant.workloads]
            resources += tenant.other_resources
            containers = []
            for sub_id, name in tenant.subscriptions:
                containers.append({
                    "id": f"/subscriptions/{sub_id}", "name": name, "type": "microsoft.resources/subscriptions",
                    "tenantId": tenant.tenant_id, "subscriptionId": sub_id, "resourceGroup": "",
                    "location": "", "properties": {"state": "Enabled"}, "tags": {},
                })
            groups = sorted({(r["subscriptionId"], r["resourceGroup"]) for r in resources})
            for sub_id, rg in groups:
                containers.append({
                    "id": f"/subscriptions/{sub_id}/resourceGroups/{rg}", "name": rg,
                    "type": "microsoft.resources/subscriptions/resourcegroups", "tenantId": tenant.tenant_id,
                    "subscriptionId": sub_id, "resourceGroup": rg, "location": "westeurope",
                    "properties": {"provisioningState": "Succeeded"}, "tags": {},
                })
            self._tables = {"resources": resources, "resourcecontainers": containers,
                            "securityresources": findings.security_rows(tenant, state.login_servers)}
        return self._tables

    def invalidate(self) -> None:
        self._tables = None

    async def __call__(self, request: web.Request) -> web.Response:
        endpoint = endpoint_of(request.path)
        return await answer(self.state, request, "arm", endpoint, lambda: self.dispatch(request, endpoint))

    def principal(self, request: web.Request) -> dict:
        header = request.headers.get("Authorization", "")
        tenant = self.state.tenant.tenant_id
        challenge = (f'Bearer authorization_uri="https://login.microsoftonline.com/{tenant}", '
                     'error="invalid_token", error_description="The authentication failed."')
        if not header.startswith("Bearer "):
            raise Reply(401, arm_error("AuthenticationFailed", "Authentication failed. The 'Authorization' header "
                                        "is missing."), headers={"WWW-Authenticate": challenge})
        claims = tokens.verify(self.state.secret, header[7:], audience=tokens.ARM_AUDIENCES)
        if claims is None:
            raise Reply(401, arm_error("InvalidAuthenticationToken", "The access token is invalid or expired, "
                                        "or its audience is not Azure Resource Manager."),
                        headers={"WWW-Authenticate": challenge})
        return claims

    async def dispatch(self, request: web.Request, endpoint: str) -> web.Response:
        await arrive(self.state, request, None)
        claims = self.principal(request)
        api_version = request.query.get("api-version")
        if not api_version:
            raise Reply(400, arm_error("MissingApiVersionParameter", "The api-version query parameter "
                                        "(?api-version=) is required for all requests."))
        if endpoint == "resource_graph":
            if request.method != "POST":
                raise Reply(405, arm_error("MethodNotAllowed", "Use POST."))
            if api_version not in RG_API_VERSIONS:
                raise Reply(400, arm_error("InvalidApiVersionParameter",
                                            f"The api-version '{api_version}' is invalid."))
            return await self.resource_graph(request, claims)
        for method, pattern, handler in self.routes:
            m = pattern.match(request.path)
            if m:
                if request.method != method:
                    raise Reply(405, arm_error("MethodNotAllowed", f"Use {method}."))
                body = await request.json() if request.method == "POST" and request.can_read_body else None
                call = Call(str(request.url), api_version, body if isinstance(body, dict) else {})
                return json_response(json.dumps(handler(call, *m.groups())).encode())
        raise Reply(404, arm_error("NotFound", f"The resource path '{request.path}' is not served by the acrlib "
                                   "emulator."))

    # --- ARM resources: (method, path pattern, handler) ---

    @property
    def routes(self):
        group = r"^(/subscriptions/[^/]+/resourceGroups/[^/]+/providers/"
        registry = group + r"Microsoft\.ContainerRegistry/registries/[^/]+)"
        return [
            ("GET", re.compile(registry + "$", re.IGNORECASE), self._registry_resource),
            ("GET", re.compile(registry + "/listUsages$", re.IGNORECASE), self.usages),
            ("GET", re.compile(registry + r"/providers/Microsoft\.Insights/diagnosticSettings$", re.IGNORECASE),
             self.diagnostic_settings),
            ("GET", re.compile(group + r"Microsoft\.OperationalInsights/workspaces/[^/]+)$", re.IGNORECASE),
             self.workspace),
            ("GET", re.compile(group + r"Microsoft\.Web/sites/[^/]+)/config/web$", re.IGNORECASE), self.site_config),
            ("GET", re.compile(r"^/subscriptions/([^/]+)/providers/Microsoft\.Security/pricings/([^/]+)$",
                               re.IGNORECASE), self.pricing),
            ("POST", re.compile(group + r"Microsoft\.ContainerService/managedClusters/[^/]+)/runCommand$",
                                re.IGNORECASE), self.run_command),
            ("GET", re.compile(group + r"Microsoft\.ContainerService/managedClusters/[^/]+)/commandResults/"
                                       r"([^/]+)$", re.IGNORECASE), self.command_result),
        ]

    def _workload(self, resource_id: str, service: tuple[str, ...]) -> workloads.Workload:
        w = next((w for w in self.state.tenant.workloads
                  if w.resource_id.lower() == resource_id.lower() and w.service in service), None)
        if w is None:
            raise Reply(404, arm_error("ResourceNotFound", f"The Resource '{resource_id}' was not found."))
        return w

    def pricing(self, call: Call, subscription: str, plan: str) -> dict:
        """A subscription's Defender plan (Containers, CloudPosture, ...): its tier, or 403 when the caller may
        not read the subscription's security settings."""
        tier = findings.pricing(self.state.tenant, subscription)
        if tier is None:
            raise Reply(403, arm_error("AuthorizationFailed", "The client does not have authorization to perform "
                                       "action 'Microsoft.Security/pricings/read' over scope "
                                       f"'/subscriptions/{subscription}'."))
        return {"id": f"/subscriptions/{subscription}/providers/Microsoft.Security/pricings/{plan}", "name": plan,
                "type": "Microsoft.Security/pricings", "properties": {"pricingTier": tier}}

    def site_config(self, call: Call, resource_id: str) -> dict:
        w = self._workload(resource_id, ("appservice", "functions"))
        if not w.readable:
            raise Reply(403, arm_error("AuthorizationFailed", "The client does not have authorization to perform "
                                       "action 'Microsoft.Web/sites/config/list/action' over scope "
                                       f"'{resource_id}/config/web'."))
        return workloads.web_config(w, self.state.login_servers)

    def run_command(self, call: Call, resource_id: str) -> dict:
        """AKS run command: accepted (202) with a Location to poll; never 200. It runs ``kubectl get pods -A -o
        json`` only (the one command acrlib sends); anything else fails the command."""
        w = self._workload(resource_id, ("aks",))
        command_id = uuid.uuid4().hex[:12]
        self.commands[command_id] = {"cluster": w, "polls": 1, "command": call.body.get("command"),
                                     "started": self.state.http_date()}
        location = (f"https://127.0.0.1:{self.state.arm_port}{w.resource_id}/commandResults/{command_id}"
                    f"?api-version={call.api_version}")
        raise Reply(202, b"", headers={"Location": location, "Retry-After": "1"})

    def command_result(self, call: Call, resource_id: str, command_id: str) -> dict:
        command = self.commands.get(command_id)
        if command is None or command["cluster"].resource_id.lower() != resource_id.lower():
            raise Reply(404, arm_error("NotFound", f"The command result {command_id} was not found."))
        if command["polls"] > 0:  # still running: poll again
            command["polls"] -= 1
            raise Reply(202, b"", headers={"Location": call.url, "Retry-After": "1"})
        if command["command"] != POD_LISTING:
            return {"id": command_id, "properties": {"provisioningState": "Failed", "exitCode": 1, "logs": "",
                                                     "reason": "the acrlib emulator runs only " + POD_LISTING}}
        logs = json.dumps(workloads.pods_json(command["cluster"], self.state.login_servers))
        return {"id": command_id, "properties": {"provisioningState": "Succeeded", "exitCode": 0,
                                                 "startedAt": command["started"], "finishedAt": self.state.http_date(),
                                                 "logs": logs}}

    def registry(self, resource_id: str) -> Registry:
        reg = next((r for r in self.state.tenant.registries if r.resource_id.lower() == resource_id.lower()), None)
        if reg is None or not all(fault.arm_knows(reg.name) for fault in self.state.faults):
            name = resource_id.rsplit("/", 1)[-1]
            raise Reply(404, arm_error("ResourceNotFound", f"The Resource 'Microsoft.ContainerRegistry/registries/"
                                       f"{name}' was not found. For more details please go to "
                                       "https://aka.ms/ARMResourceNotFoundFix"))
        return reg

    def _registry_resource(self, call: Call, resource_id: str) -> dict:
        reg = self.registry(resource_id)
        return registry_resource(self.state.tenant, reg, self.state.login_servers.get(reg.name, ""))

    def usages(self, call: Call, resource_id: str) -> dict:
        reg = self.registry(resource_id)
        return {"value": [
            {"name": "Size", "limit": skus.INCLUDED_BYTES[reg.sku], "currentValue": reg.used_bytes(), "unit": "Bytes"},
            {"name": "Webhooks", "limit": {"Basic": 2, "Standard": 10, "Premium": 500}[reg.sku], "currentValue": 0,
             "unit": "Count"},
            {"name": "ScopeMaps", "limit": 50_000, "currentValue": 0, "unit": "Count"},
            {"name": "Tokens", "limit": 50_000, "currentValue": 0, "unit": "Count"},
        ]}

    def diagnostic_settings(self, call: Call, resource_id: str) -> dict:
        """The documented shape (2021-05-01-preview): every setting, no paging. Resource ids keep ARM's case in
        ``id`` and are lower case in ``workspaceId``, as real answers mix them."""
        reg = self.registry(resource_id)
        value = []
        for setting in reg.diagnostic_settings:
            value.append({
                "id": f"{reg.resource_id}/providers/microsoft.insights/diagnosticSettings/{setting.name}",
                "type": "Microsoft.Insights/diagnosticSettings", "name": setting.name,
                "properties": {
                    "workspaceId": setting.workspace.lower() if setting.workspace else None,
                    "storageAccountId": None if setting.workspace else
                    f"/subscriptions/{reg.subscription_id}/resourceGroups/rg-core/providers/"
                    "Microsoft.Storage/storageAccounts/starchive",
                    "logAnalyticsDestinationType": setting.destination_type,
                    "logs": [{"category": c, "categoryGroup": g, "enabled": e,
                              "retentionPolicy": {"enabled": False, "days": 0}} for c, g, e in setting.logs],
                    "metrics": [],
                },
            })
        return {"value": value}

    def workspace(self, call: Call, resource_id: str) -> dict:
        ws = self.state.tenant.workspace(resource_id)
        if ws is None:
            raise Reply(404, arm_error("ResourceNotFound", f"The Resource '{resource_id}' was not found."))
        return {"id": ws.resource_id, "name": ws.name, "type": "Microsoft.OperationalInsights/workspaces",
                "location": "westeurope", "properties": {"customerId": ws.customer_id, "provisioningState": "Succeeded",
                                                         "retentionInDays": ws.retention_days,
                                                         "sku": {"name": "PerGB2018"}}}

    def quota(self, principal: str) -> tuple[int, float]:
        """Record one query; return (queries left, seconds until the window resets). -1 left = over quota."""
        now = time.monotonic()
        window = self.state.rg_windows.setdefault(principal, [now, 0])
        if now - window[0] >= self.state.rg_window_s:
            window[0], window[1] = now, 0
        resets = self.state.rg_window_s - (now - window[0])
        if window[1] >= self.state.rg_quota:
            return -1, resets
        window[1] += 1
        return self.state.rg_quota - window[1], resets

    async def resource_graph(self, request: web.Request, claims: dict) -> web.Response:
        left, resets = self.quota(claims.get("oid", "?"))
        quota_headers = {"x-ms-user-quota-remaining": str(max(left, 0)),
                         "x-ms-user-quota-resets-after": time.strftime("%H:%M:%S", time.gmtime(math.ceil(resets)))}
        if left < 0:
            # No Retry-After: Resource Graph does not document one, and the SDK's retry gives up without it.
            raise Reply(429, arm_error("RateLimiting", "Please provide below info when asking for support: "
                                        "timestamp, correlationId. Details: Rate limit exceeded: the client "
                                        "sent too many queries in the current window."), headers=quota_headers)
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise Reply(400, arm_error("BadRequest", "The request body is not valid JSON."),
                        headers=quota_headers) from None
        query = body.get("query")
        if not isinstance(query, str) or not query.strip():
            raise Reply(400, arm_error("BadRequest", "The query is required."), headers=quota_headers)
        options = body.get("options") or {}
        top = options.get("$top", MAX_PAGE)
        skip = options.get("$skip", 0) or 0
        if not isinstance(top, int) or not 1 <= top <= MAX_PAGE:
            raise Reply(400, arm_error("BadRequest", f"$top must be between 1 and {MAX_PAGE}.",
                                        [{"code": "InvalidTopValue", "message": f"Invalid $top value: {top}"}]),
                        headers=quota_headers)
        subscriptions = body.get("subscriptions")
        if body.get("managementGroups"):
            # Every subscription of the emulated tenant sits under its root management group.
            subscriptions = None
        try:
            result = graph_query.run(query, self._scoped(subscriptions))
        except KqlError as e:
            raise Reply(400, arm_error(
                "BadRequest",
                "Please provide below info when asking for support: timestamp, correlationId. Details: "
                "Query is invalid. Please refer to the documentation for the Azure Resource Graph service and "
                "fix the error before retrying.",
                [{"code": "InvalidQuery", "message": "Query is invalid. Please refer to the documentation for "
                  "the Azure Resource Graph service and fix the error before retrying."},
                 {"code": "ParserFailure", "message": str(e), "line": 1, "characterPositionInLine": e.position,
                  "token": e.token}],
            ), headers=quota_headers) from None
        fingerprint = hashlib.sha256(json.dumps([query, subscriptions]).encode()).hexdigest()[:16]
        offset = 0
        token = options.get("$skipToken")
        if token:
            try:
                decoded = json.loads(base64.b64decode(token))
                assert decoded["q"] == fingerprint
                offset = int(decoded["o"])
            except Exception:
                raise Reply(400, arm_error("BadRequest", "The $skipToken is invalid for this query.",
                                            [{"code": "InvalidSkipToken", "message": "Invalid $skipToken"}]),
                            headers=quota_headers) from None
        rows = result.rows
        total = len(rows)
        start = skip + offset
        page = rows[start:start + top]
        more = start + top < total
        pageable = "id" in result.columns and not result.truncated_by_limit
        out: dict = {"totalRecords": total, "count": len(page), "facets": []}
        if more and pageable:
            out["$skipToken"] = base64.b64encode(json.dumps({"q": fingerprint, "o": offset + top}).encode()).decode()
            out["resultTruncated"] = "false"
        else:
            out["resultTruncated"] = "true" if more else "false"
        if options.get("resultFormat") == "table":
            out["data"] = {"columns": [{"name": c, "type": "object"} for c in result.columns],
                           "rows": [[r.get(c) for c in result.columns] for r in page]}
        else:
            out["data"] = page
        return json_response(json.dumps(out).encode(), quota_headers)

    def _scoped(self, subscriptions: list[str] | None) -> dict[str, list[dict]]:
        tables = self.tables()
        if not subscriptions:
            return tables
        wanted = {s.lower() for s in subscriptions}
        return {name: [r for r in rows if str(r.get("subscriptionId", "")).lower() in wanted]
                for name, rows in tables.items()}
