"""Finding every registry: Resource Graph across subscriptions (paged by skip token, paced by the quota
headers, 429 ``RateLimiting`` retried), subscription names by a separate query, billed storage by ARM
``listUsages``."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
from collections.abc import Sequence
from email.utils import parsedate_to_datetime

from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError, ServiceResponseError
from azure.core.pipeline.policies import AsyncBearerTokenCredentialPolicy
from azure.core.rest import HttpRequest

from ..clouds import Cloud
from ..errors import ArmError, SignInRequired
from .http import Gate, GatePolicy, RetryPolicy, Session, response_error

RESOURCE_GRAPH_API = "2021-03-01"
USAGES_API = "2023-07-01"
PAGE_ROWS = 1000

REGISTRIES_QUERY = (
    "resources | where type =~ 'microsoft.containerregistry/registries' "
    "| project id, name, tenantId, subscriptionId, resourceGroup, location, sku, tags, properties "
    "| order by id asc"
)
# Joined in Python: joins with ResourceContainers plus `order by` are reported to lose the skip token.
SUBSCRIPTIONS_QUERY = (
    "resourcecontainers | where type =~ 'microsoft.resources/subscriptions' "
    "| project id, subscriptionId, name | order by id asc"
)


def _quota_reset_seconds(headers) -> float | None:
    value = headers.get("x-ms-user-quota-resets-after")
    if not value:
        return None
    try:
        hours, minutes, seconds = (float(part) for part in value.split(":"))
    except ValueError:
        return None
    return hours * 3600 + minutes * 60 + seconds


class QuotaPacer:
    """Resource Graph allows a number of queries per window per user: wait out the window when the last
    answer said none are left, instead of running into 429s."""

    def __init__(self):
        self._resume_at = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            delay = self._resume_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    def observe(self, headers) -> None:
        remaining = headers.get("x-ms-user-quota-remaining")
        reset = _quota_reset_seconds(headers)
        if remaining is not None and reset is not None and remaining.strip() in ("0", "-1"):
            self._resume_at = max(self._resume_at, time.monotonic() + reset + 0.05)


class Arm:
    """ARM and Resource Graph through one azure-core pipeline."""

    def __init__(self, session: Session, credential, cloud: Cloud, endpoint: str | None = None):
        self.endpoint = (endpoint or cloud.arm_endpoint).rstrip("/")
        self.gate = Gate(concurrency=8)
        self.pacer = QuotaPacer()
        self.pipeline = session.pipeline([
            RetryPolicy(throttle_wait=_quota_reset_seconds),
            AsyncBearerTokenCredentialPolicy(credential, cloud.arm_scope),
            GatePolicy(),
        ])
        self.requests = 0
        self.server_time: dt.datetime | None = None  # from the first answer's Date header

    async def _send(self, request: HttpRequest):
        self.requests += 1
        try:
            response = await self.pipeline.run(request, gate=self.gate)
        except ClientAuthenticationError as e:
            raise SignInRequired(str(e).splitlines()[0][:300]) from e
        except (ServiceRequestError, ServiceResponseError) as e:
            raise ArmError(None, "CONNECTION_ERROR", f"cannot reach {self.endpoint}: {type(e).__name__}") from e
        if self.server_time is None:
            with contextlib.suppress(TypeError, ValueError, IndexError):
                self.server_time = parsedate_to_datetime(response.http_response.headers.get("Date", ""))
        return response.http_response

    async def query(self, query: str, subscriptions: Sequence[str] | None = None) -> list[dict]:
        """Every row of a Resource Graph query, following skip tokens to the last page."""
        rows: list[dict] = []
        token = None
        url = f"{self.endpoint}/providers/Microsoft.ResourceGraph/resources?api-version={RESOURCE_GRAPH_API}"
        while True:
            options: dict = {"$top": PAGE_ROWS, "resultFormat": "objectArray"}
            if token:
                options["$skipToken"] = token
            body: dict = {"query": query, "options": options}
            if subscriptions:
                body["subscriptions"] = list(subscriptions)
            await self.pacer.wait()
            http = await self._send(HttpRequest("POST", url, json=body))
            self.pacer.observe(http.headers)
            if http.status_code != 200:
                code, message = response_error(http)
                raise ArmError(http.status_code, code, f"Resource Graph query failed: {message}")
            page = json.loads(http.body())
            if str(page.get("resultTruncated", "false")).lower() == "true":
                raise ArmError(200, "ResultTruncated", "Resource Graph truncated the result; the query must project "
                               "id and must not use limit/take")
            rows += page.get("data") or []
            token = page.get("$skipToken")
            if not token:
                return rows

    async def list_usages(self, resource_id: str) -> dict[str, dict]:
        """Registry usages by name (``Size`` holds billed bytes in currentValue, included bytes in limit)."""
        http = await self._send(HttpRequest("GET", f"{self.endpoint}{resource_id}/listUsages?api-version={USAGES_API}"))
        if http.status_code != 200:
            code, message = response_error(http)
            raise ArmError(http.status_code, code, message)
        return {u.get("name"): u for u in json.loads(http.body()).get("value") or []}


def _status(policy: dict | None) -> bool | None:
    if not isinstance(policy, dict) or "status" not in policy:
        return None
    return str(policy["status"]).lower() == "enabled"


def registry_row(resource: dict, subscription_names: dict[str, str]) -> dict:
    """A registries-table row from a Resource Graph row (fields read defensively: any may be absent)."""
    props = resource.get("properties") or {}
    policies = props.get("policies") or {}
    retention = policies.get("retentionPolicy") or {}
    soft_delete = policies.get("softDeletePolicy") or {}
    sku = resource.get("sku") or {}
    rules = props.get("networkRuleSet") or {}
    tags = resource.get("tags") or {}
    sub = resource.get("subscriptionId")
    return {
        "id": resource.get("id"),
        "tenant_id": resource.get("tenantId"),
        "subscription_id": sub,
        "subscription_name": subscription_names.get(sub),
        "resource_group": resource.get("resourceGroup"),
        "registry": resource.get("name"),
        "login_server": props.get("loginServer"),
        "location": resource.get("location"),
        "sku": sku.get("name") or sku.get("tier"),
        "created_at": props.get("creationDate"),
        "provisioning_state": props.get("provisioningState"),
        "admin_user_enabled": props.get("adminUserEnabled"),
        "public_network_access": props.get("publicNetworkAccess"),
        "network_default_action": rules.get("defaultAction"),
        "anonymous_pull_enabled": props.get("anonymousPullEnabled"),
        "data_endpoint_enabled": props.get("dataEndpointEnabled"),
        "retention_enabled": _status(retention),
        "retention_days": retention.get("days"),
        "soft_delete_enabled": _status(soft_delete),
        "soft_delete_days": soft_delete.get("retentionDays"),
        "quarantine_enabled": _status(policies.get("quarantinePolicy")),
        "zone_redundancy": props.get("zoneRedundancy"),
        "tags": [{"key": k, "value": str(v)} for k, v in sorted(tags.items())] if isinstance(tags, dict) else [],
    }


async def discover(arm: Arm, subscriptions: Sequence[str] | None = None) -> list[dict]:
    """Every registry the credential can see (in ``subscriptions`` when given), as registries-table rows
    without the collection columns."""
    resources, containers = await asyncio.gather(
        arm.query(REGISTRIES_QUERY, subscriptions), arm.query(SUBSCRIPTIONS_QUERY, subscriptions)
    )
    names = {c.get("subscriptionId"): c.get("name") for c in containers}
    seen: set[str] = set()
    rows = []
    for resource in resources:
        rid = (resource.get("id") or "").lower()
        if rid in seen:  # defensive: paging must never yield a registry twice
            continue
        seen.add(rid)
        rows.append(registry_row(resource, names))
    return rows
