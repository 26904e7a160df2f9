"""Finding every registry: Resource Graph across subscriptions (paged by skip token, paced by the quota
headers, 429 ``RateLimiting`` retried), subscription names by a separate query, billed storage by ARM
``listUsages``."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import time
import urllib.parse
from collections.abc import Sequence
from email.utils import parsedate_to_datetime

from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError, ServiceResponseError
from azure.core.pipeline.policies import AsyncBearerTokenCredentialPolicy
from azure.core.rest import HttpRequest

from ..clouds import Cloud
from ..errors import ArmError, SignInRequired
from . import parse
from .http import Gate, GatePolicy, RequestTimedOut, RetryPolicy, Session, origin, response_error

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
    total = hours * 3600 + minutes * 60 + seconds
    return total if total >= 0 else None  # nan fails this too


class QuotaPacer:
    """Resource Graph allows a number of queries per window per user: wait out the window when the last
    answer said none are left, instead of running into 429s; never longer than ``max_wait``."""

    def __init__(self, max_wait: float):
        self.max_wait = max_wait
        self._resume_at = 0.0
        self._too_long: str | None = None
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            if self._too_long is not None:
                raise ArmError(429, "RETRY_AFTER_TOO_LONG", f"Resource Graph's quota resets after {self._too_long!r}, "
                               f"more than max_retry_wait ({self.max_wait:g} s): not waited for")
            delay = self._resume_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    def observe(self, headers) -> None:
        remaining = headers.get("x-ms-user-quota-remaining")
        reset = _quota_reset_seconds(headers)
        if remaining is not None and reset is not None and remaining.strip() in ("0", "-1"):
            if reset > self.max_wait:
                self._too_long = headers.get("x-ms-user-quota-resets-after")
                return
            self._resume_at = max(self._resume_at, time.monotonic() + reset + 0.05)


# A resource id a server hands back, as acrlib will put it after ARM's origin: /subscriptions/{guid}, then
# name segments without anything a URL gives a meaning to (no '..' or '.', no '%', '?', '#', '@', '\\', ':' or
# white space). Anything else would let an answer point the ARM token elsewhere.
_SEGMENT = r"[^/?#%@:\\\s]+"
RESOURCE_ID = re.compile(rf"/subscriptions/{parse.GUID}(?:/{_SEGMENT})*")
PROVIDER_PATH = re.compile(rf"/providers/{_SEGMENT}(?:/{_SEGMENT})*")


def arm_url(endpoint: str, path: str, api_version: str) -> str:
    """The URL of ``path`` (a resource id, ``/subscriptions/{guid}/...``, or a tenant-level ``/providers/...``
    path) on ARM's ``endpoint``: the one place an ARM URL is built. :class:`ArmError` ``BAD_RESOURCE_ID``, before
    anything is sent, for any other path, and for a URL whose origin is not the endpoint's."""
    ok = isinstance(path, str) and (RESOURCE_ID.fullmatch(path) or PROVIDER_PATH.fullmatch(path))
    if not ok or any(part in (".", "..") for part in path.split("/")):
        shown = repr(path)[:200]
        raise ArmError(None, "BAD_RESOURCE_ID", f"refused to send the ARM token for {shown}: a resource id is "
                       "/subscriptions/{guid}/... and nothing else")
    url = f"{endpoint}{path}?api-version={urllib.parse.quote(api_version, safe='.-')}"
    if origin(url) != origin(endpoint):
        raise ArmError(None, "BAD_RESOURCE_ID", f"refused to send the ARM token off {endpoint}")
    return url


class Arm:
    """ARM and Resource Graph through one azure-core pipeline. Every URL is built by :func:`arm_url`, or
    (a Location an answer hands back) checked against ARM's origin by :meth:`send`."""

    def __init__(self, session: Session, credential, cloud: Cloud, endpoint: str | None = None):
        self.endpoint = (endpoint or cloud.arm_endpoint).rstrip("/")
        self.gate = Gate(concurrency=8, dead_after=session.limits.dead_after_timeouts)
        self.pacer = QuotaPacer(session.limits.max_retry_wait)
        self.max_pages = session.limits.max_pages
        self.limits = session.limits
        self.pipeline = session.pipeline([
            RetryPolicy.within(session.limits, throttle_wait=_quota_reset_seconds),
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
        except RequestTimedOut as e:
            raise ArmError(None, "TIMEOUT", f"{self.endpoint}: {e.message}") from e
        except (ServiceRequestError, ServiceResponseError) as e:
            raise ArmError(None, "CONNECTION_ERROR", f"cannot reach {self.endpoint}: {type(e).__name__}") from e
        if self.server_time is None:
            with contextlib.suppress(TypeError, ValueError, IndexError):
                self.server_time = parsedate_to_datetime(response.http_response.headers.get("Date", ""))
        return response.http_response

    async def query(self, query: str, subscriptions: Sequence[str] | None = None) -> list[dict]:
        """Every row of a Resource Graph query, following skip tokens to the last page (never a token twice,
        at most ``max_pages``). An answer that is not a Resource Graph page is an :class:`ArmError`."""
        rows: list[dict] = []
        token = None
        tokens_seen: set[str] = set()
        pages = 0
        url = arm_url(self.endpoint, "/providers/Microsoft.ResourceGraph/resources", RESOURCE_GRAPH_API)
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
            page = _answer(http, "Resource Graph")
            if str(page.get("resultTruncated", "false")).lower() == "true":
                raise ArmError(200, "ResultTruncated", "Resource Graph truncated the result; the query must project "
                               "id and must not use limit/take")
            data = page.get("data") or []
            if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
                raise ArmError(200, "INVALID_ANSWER", "Resource Graph answered with 'data' that is not a list of rows "
                               "(was resultFormat ignored, or did a proxy answer?)")
            rows += data
            pages += 1
            token = page.get("$skipToken")
            if not token:
                return rows
            if not isinstance(token, str) or token in tokens_seen:
                raise ArmError(200, "PAGING_LOOP", f"Resource Graph returned a $skipToken it had already given, after "
                               f"{pages} pages: stopped")
            if pages >= self.max_pages:
                raise ArmError(200, "TOO_MANY_PAGES", f"Resource Graph kept paging past {self.max_pages:,} pages: "
                               "stopped")
            tokens_seen.add(token)

    async def send(self, method: str, url: str, body: dict | None = None):
        """One request to ARM's own origin (a URL an answer hands back, such as a long-running operation's
        Location, is followed only there): the raw answer."""
        if origin(url) != origin(self.endpoint):
            raise ArmError(None, "BAD_NEXT_LINK", f"refused to send the ARM token to {url.split('?')[0]}")
        return await self._send(HttpRequest(method, url, json=body) if body is not None else HttpRequest(method, url))

    async def get(self, path: str, api_version: str, service: str = "ARM") -> dict:
        """GET an ARM resource (``path`` from ``/subscriptions/...``: see :func:`arm_url`) as a JSON object; an
        :class:`ArmError` otherwise."""
        http = await self._send(HttpRequest("GET", arm_url(self.endpoint, path, api_version)))
        if http.status_code != 200:
            code, message = response_error(http)
            raise ArmError(http.status_code, code, message)
        return _answer(http, service)

    async def list_usages(self, resource_id: str) -> dict[str, dict]:
        """Registry usages by name (``Size`` holds billed bytes in currentValue, included bytes in limit)."""
        http = await self._send(HttpRequest("GET", arm_url(self.endpoint, f"{resource_id}/listUsages", USAGES_API)))
        if http.status_code != 200:
            code, message = response_error(http)
            raise ArmError(http.status_code, code, message)
        values = _answer(http, "listUsages").get("value") or []
        if not isinstance(values, list):
            raise ArmError(200, "INVALID_ANSWER", "listUsages answered with a 'value' that is not a list")
        return {u.get("name"): u for u in values if isinstance(u, dict) and isinstance(u.get("name"), str)}


def _answer(http, service: str) -> dict:
    """A 200 answer's body as a JSON object, or an :class:`ArmError` naming the service (a proxy's HTML page
    must not read as a bad argument)."""
    try:
        return parse.json_object(http.body())
    except (ValueError, UnicodeDecodeError):
        kind = http.headers.get("Content-Type") or "no content type"
        raise ArmError(200, "INVALID_ANSWER", f"{service} answered 200 with a body that is not a JSON object "
                       f"({kind}, {len(http.body()):,} bytes): a proxy or a gateway in between?") from None


def _status(policy) -> bool | None:
    if not isinstance(policy, dict) or not isinstance(policy.get("status"), str):
        return None
    return policy["status"].lower() == "enabled"


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def registry_row(resource: dict, subscription_names: dict[str, str]) -> dict:
    """A registries-table row from a Resource Graph row. Every field is read defensively: any may be absent or
    of another type (then it is null), so one odd row cannot break the table."""
    def text(value):
        return parse.typed(value, str)

    def integer(value):
        return parse.typed(value, int)

    def flag(value):
        return parse.typed(value, bool)

    props = _dict(resource.get("properties"))
    policies = _dict(props.get("policies"))
    retention = _dict(policies.get("retentionPolicy"))
    soft_delete = _dict(policies.get("softDeletePolicy"))
    sku = _dict(resource.get("sku"))
    rules = _dict(props.get("networkRuleSet"))
    tags = _dict(resource.get("tags"))
    sub = text(resource.get("subscriptionId"))
    return {
        "id": text(resource.get("id")),
        "tenant_id": text(resource.get("tenantId")),
        "subscription_id": sub,
        "subscription_name": text(subscription_names.get(sub)),
        "resource_group": text(resource.get("resourceGroup")),
        "registry": text(resource.get("name")),
        "login_server": text(props.get("loginServer")),
        "location": text(resource.get("location")),
        "sku": text(sku.get("name")) or text(sku.get("tier")),
        "created_at": text(props.get("creationDate")),
        "provisioning_state": text(props.get("provisioningState")),
        "admin_user_enabled": flag(props.get("adminUserEnabled")),
        "public_network_access": text(props.get("publicNetworkAccess")),
        "network_default_action": text(rules.get("defaultAction")),
        "anonymous_pull_enabled": flag(props.get("anonymousPullEnabled")),
        "data_endpoint_enabled": flag(props.get("dataEndpointEnabled")),
        "retention_enabled": _status(retention),
        "retention_days": integer(retention.get("days")),
        "soft_delete_enabled": _status(soft_delete),
        "soft_delete_days": integer(soft_delete.get("retentionDays")),
        "quarantine_enabled": _status(policies.get("quarantinePolicy")),
        "zone_redundancy": text(props.get("zoneRedundancy")),
        "tags": [{"key": k, "value": str(v)} for k, v in sorted(tags.items()) if isinstance(k, str)],
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
        row = registry_row(resource, names)
        if not row["id"] or not row["registry"]:
            raise ArmError(200, "INVALID_ANSWER", "Resource Graph returned a registry row without an id or a name")
        if row["id"].lower() in seen:  # defensive: paging must never yield a registry twice
            continue
        seen.add(row["id"].lower())
        rows.append(row)
    return rows
