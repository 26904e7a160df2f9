"""The emulator's HTTPS servers: one origin per registry (ACR data plane and token service) and one for ARM
(Resource Graph, ``listUsages``, registry GET). Behaviour follows ``shared/reference/acr-data-plane.md`` and
``resource-graph-and-arm.md``; comments mark where the emulator chooses for undocumented cases.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import math
import random
import re
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from urllib.parse import parse_qs, quote, unquote

from aiohttp import web

from . import kql, tokens
from .faults import Faults
from .tenant import (
    SKU_INCLUDED_BYTES,
    SKU_READ_OPS_PER_MIN,
    TICKS,
    Manifest,
    Registry,
    Repository,
    Tag,
    Tenant,
    format_time,
)

JSON_TYPE = "application/json; charset=utf-8"
RG_API_VERSIONS = {"2019-04-01", "2020-04-01-preview", "2021-03-01", "2021-06-01-preview", "2022-10-01",
                   "2024-04-01"}
MAX_PAGE = 1000
DEFAULT_PAGE = 100


def _errors(code: str, message: str, detail=None) -> bytes:
    return json.dumps({"errors": [{"code": code, "message": message, "detail": detail}]}).encode()


def _arm_error(code: str, message: str, details: list | None = None) -> bytes:
    error: dict = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return json.dumps({"error": error}).encode()


class Reply(Exception):
    """Raised inside a handler to answer right away (errors, challenges)."""

    def __init__(self, status: int, body: bytes = b"", headers: dict | None = None, content_type=JSON_TYPE):
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.content_type = content_type

    def response(self, date: str) -> web.Response:
        headers = {"Date": date, **self.headers}
        if self.body:
            headers["Content-Type"] = self.content_type
        return web.Response(status=self.status, body=self.body or None, headers=headers)


class Reset(Exception):
    """Drop the connection without an answer."""


@dataclass
class Bucket:
    """Token bucket for a registry's ReadOps: refills at rate/s up to capacity."""

    rate: float
    capacity: float
    tokens: float
    stamp: float

    def take(self, now: float) -> float:
        """0 when a request may pass; otherwise seconds until one token is back."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class State:
    def __init__(self, tenant: Tenant, secret: str, *, latency_ms: float, throttle: bool | float, faults: Faults,
                 rg_quota: int, rg_window_s: float):
        self.tenant = tenant
        self.secret = secret
        self.latency = latency_ms / 1000.0
        self.faults = faults
        self.rng = random.Random(faults.seed)
        self.stats: Counter = Counter()
        self.log: list[tuple] = []
        self.login_servers: dict[str, str] = {}
        self.ports: dict[str, int] = {}
        self.arm_port = 0
        self.served: Counter = Counter()  # data-plane requests answered per registry (for fail_after)
        self.token_cache: dict[str, dict | None] = {}
        self.rg_quota = rg_quota
        self.rg_window_s = rg_window_s
        self.started = time.monotonic()
        self.rg_windows: dict[str, list[float]] = {}
        burst_s = 5.0 if throttle is True else float(throttle or 0)
        self.buckets: dict[str, Bucket] = {}
        if throttle:
            now = time.monotonic()
            for reg in tenant.registries:
                rate = SKU_READ_OPS_PER_MIN[reg.sku] / 60.0
                self.buckets[reg.name] = Bucket(rate=rate, capacity=rate * burst_s, tokens=rate * burst_s, stamp=now)

    def now_ticks(self) -> int:
        """The emulator's clock: the tenant's present plus the time since it started serving."""
        return self.tenant.now + int((time.monotonic() - self.started) * TICKS)

    def http_date(self) -> str:
        return formatdate(self.now_ticks() / TICKS, usegmt=True)

    def record(self, registry: str, endpoint: str, method: str, path: str, status: int) -> None:
        self.stats[(registry, endpoint, method, status)] += 1
        self.log.append((len(self.log), time.time(), registry, method, endpoint, path, status))

    def reset(self) -> None:
        self.stats.clear()
        self.log.clear()

    def refill(self) -> None:
        """Full throttle buckets and fresh Resource Graph quota windows (between benchmark runs)."""
        now = time.monotonic()
        for bucket in self.buckets.values():
            bucket.tokens, bucket.stamp = bucket.capacity, now
        self.rg_windows.clear()


# --- registry data plane ----------------------------------------------------------------------------------

_ROUTES: list[tuple[str, re.Pattern]] = [
    ("ping", re.compile(r"^/v2/?$")),
    ("oauth2_exchange", re.compile(r"^/oauth2/exchange$")),
    ("oauth2_token", re.compile(r"^/oauth2/token$")),
    ("catalog", re.compile(r"^/acr/v1/_catalog$")),
    ("v2_catalog", re.compile(r"^/v2/_catalog$")),
    ("tag", re.compile(r"^/acr/v1/(?P<repo>.+)/_tags/(?P<ref>[^/]+)$")),
    ("tags", re.compile(r"^/acr/v1/(?P<repo>.+)/_tags$")),
    ("manifest", re.compile(r"^/acr/v1/(?P<repo>.+)/_manifests/(?P<ref>[^/]+)$")),
    ("manifests", re.compile(r"^/acr/v1/(?P<repo>.+)/_manifests$")),
    ("repository", re.compile(r"^/acr/v1/(?P<repo>.+)$")),
    ("manifest_content", re.compile(r"^/v2/(?P<repo>.+)/manifests/(?P<ref>[^/]+)$")),
    ("blob", re.compile(r"^/v2/(?P<repo>.+)/blobs/(?P<ref>[^/]+)$")),
]
READ_METHODS = {"GET", "HEAD"}


def route(path: str) -> tuple[str, dict]:
    for name, pattern in _ROUTES:
        m = pattern.match(path)
        if m:
            return name, m.groupdict()
    return "unknown", {}


def _flags_json(obj) -> dict:
    return {"deleteEnabled": obj.delete_enabled, "writeEnabled": obj.write_enabled,
            "readEnabled": obj.read_enabled, "listEnabled": obj.list_enabled}


def manifest_attributes(m: Manifest) -> dict:
    d: dict = {"digest": m.digest, "imageSize": m.size, "createdTime": format_time(m.created),
               "lastUpdateTime": format_time(m.updated)}
    if m.architecture:
        d["architecture"] = m.architecture
        d["os"] = m.os
    d["mediaType"] = m.media_type
    if m.config_media_type:
        d["configMediaType"] = m.config_media_type
    if m.tags:
        d["tags"] = list(m.tags)
    flags = _flags_json(m)
    if m.quarantine_state:
        flags["quarantineState"] = m.quarantine_state
        flags["quarantineDetails"] = m.quarantine_details
    d["changeableAttributes"] = flags
    return d


def manifest_listing(m: Manifest) -> bytes:
    if m.listing is None:
        m.listing = json.dumps(manifest_attributes(m), separators=(",", ":")).encode()
    return m.listing


def tag_attributes(t: Tag) -> dict:
    return {"name": t.name, "digest": t.digest, "createdTime": format_time(t.created),
            "lastUpdateTime": format_time(t.updated), "signed": t.signed, "changeableAttributes": _flags_json(t)}


def tag_listing(t: Tag) -> bytes:
    if t.listing is None:
        t.listing = json.dumps(tag_attributes(t), separators=(",", ":")).encode()
    return t.listing


def _page_size(query: dict) -> int:
    raw = query.get("n")
    if raw is None or raw == "":
        return DEFAULT_PAGE
    try:
        n = int(raw)
    except ValueError:
        raise Reply(400, _errors("PAGINATION_NUMBER_INVALID", "invalid number of results requested",
                                 {"n": raw})) from None
    if n < 1:
        raise Reply(400, _errors("PAGINATION_NUMBER_INVALID", "invalid number of results requested", {"n": raw}))
    return min(n, MAX_PAGE)


def _after(keys: list[str], last: str | None) -> int:
    """Index of the first key lexically after ``last``."""
    if not last:
        return 0
    lo, hi = 0, len(keys)
    while lo < hi:
        mid = (lo + hi) // 2
        if keys[mid] <= last:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _link(path: str, last: str, n: int, orderby: str) -> str:
    return f'<{path}?last={quote(last, safe="")}&n={n}&orderby={quote(orderby, safe="")}>; rel="next"'


class RegistryHandler:
    def __init__(self, state: State, reg: Registry):
        self.state = state
        self.reg = reg
        self.blob_index: dict[str, dict] = {}

    @property
    def service(self) -> str:
        return self.state.login_servers[self.reg.name]

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        raw = request.raw_path
        path_part, _, query_string = raw.partition("?")
        path = unquote(path_part)
        endpoint, params = route(path)
        status = 0
        try:
            response = await self.dispatch(request, endpoint, params, query_string)
            status = response.status
            if not response.prepared:
                response.headers["Date"] = self.state.http_date()
            return response
        except Reply as r:
            status = r.status
            return r.response(self.state.http_date())
        except Reset:
            return _reset(request)
        finally:
            self.state.record(self.reg.name, endpoint, request.method, raw, status)

    async def dispatch(self, request, endpoint, params, query_string) -> web.StreamResponse:
        state, reg = self.state, self.reg
        if state.latency:
            await asyncio.sleep(state.latency)
        if reg.name in state.faults.denied:
            raise Reply(403, _errors(
                "DENIED",
                f"client with IP '{request.remote}' is not allowed access. Refer https://aka.ms/acr/firewall "
                "to grant access.",
            ))
        _random_faults(state)
        limit = state.faults.fail_after.get(reg.name)
        if limit is not None:
            state.served[reg.name] += 1
            if state.served[reg.name] > limit:
                raise Reply(503, _errors("SERVICE_UNAVAILABLE", "the service is temporarily unavailable"))
        bucket = state.buckets.get(reg.name)
        if bucket is not None:
            wait = bucket.take(time.monotonic())
            if wait:
                raise Reply(429, _errors(
                    "TOOMANYREQUESTS",
                    "Too many requests. Please visit https://aka.ms/acr/skus#sku-feature-matrix for more "
                    "information on throttling limits.",
                ), headers={"Retry-After": str(max(1, math.ceil(wait)))})
        query = {k: v[-1] for k, v in parse_qs(query_string, keep_blank_values=True).items()}
        if endpoint == "oauth2_exchange":
            return await self.exchange(request)
        if endpoint == "oauth2_token":
            return await self.token(request, query_string)
        if request.method not in READ_METHODS:
            # The emulator is read-only, like acrlib. Writes are logged (tests assert there are none).
            raise Reply(405, _errors("UNSUPPORTED", "The operation is unsupported by the acrlib emulator."))
        if endpoint == "ping":
            self.authorize(request, None)
            return _json(b"{}")
        if endpoint in ("catalog", "v2_catalog"):
            self.authorize(request, ("registry", "catalog", "*"))
            return self.catalog(query, endpoint)
        if endpoint == "unknown":
            raise Reply(404, _errors("NOT_FOUND", "the requested resource was not found"))
        repo_name = params["repo"]
        action = "pull" if endpoint in ("manifest_content", "blob") else "metadata_read"
        self.authorize(request, ("repository", repo_name, action))
        repo = reg.repositories.get(repo_name)
        if repo is None:
            raise Reply(404, _errors("NAME_UNKNOWN", "repository name not known to registry", {"name": repo_name}))
        if endpoint == "repository":
            return self.repository(repo)
        if endpoint == "manifests":
            return self.listing(repo, "manifests", query)
        if endpoint == "tags":
            return self.listing(repo, "tags", query)
        if endpoint == "manifest":
            return self.manifest(repo, params["ref"])
        if endpoint == "tag":
            return self.tag(repo, params["ref"])
        if endpoint == "manifest_content":
            return self.manifest_content(request, repo, params["ref"])
        return await self.blob(request, repo, params["ref"])

    # -- auth --

    def challenge(self, scope: str | None, kind="", name="", action="") -> Reply:
        header = f'Bearer realm="https://{self.service}/oauth2/token",service="{self.service}"'
        if scope:
            header += f',scope="{scope}"'
        detail = [{"Type": kind, "Name": name, "Action": action}] if scope else None
        return Reply(401, _errors(
            "UNAUTHORIZED",
            "authentication required, visit https://aka.ms/acr/authorization for more information.",
            detail,
        ), headers={"WWW-Authenticate": header})

    def authorize(self, request: web.Request, need: tuple[str, str, str] | None) -> None:
        scope = f"{need[0]}:{need[1]}:{need[2]}" if need else None
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise self.challenge(scope, *(need or ("", "", "")))
        claims = self._claims(header[7:])
        if claims is None or claims.get("aud") != self.service or "access" not in claims:
            raise self.challenge(scope, *(need or ("", "", "")))
        if need and not tokens.grants(claims["access"], *need):
            raise self.challenge(scope, *need)

    def _claims(self, token: str) -> dict | None:
        cache = self.state.token_cache
        claims = cache.get(token, False)
        if claims is False:
            claims = tokens.verify(self.state.secret, token)
            if len(cache) > 200_000:
                cache.clear()
            cache[token] = claims
        if claims is None:
            return None
        now = time.time()
        if claims["exp"] <= now:
            return None
        lifetime = self.state.faults.token_lifetime_s
        # "issued" has sub-second precision (iat is whole seconds) for the early-expiry fault.
        if lifetime is not None and now - claims.get("issued", claims.get("iat", now)) > lifetime:
            return None
        return claims

    async def _form(self, request: web.Request) -> dict[str, list[str]]:
        if request.method == "POST":
            body = await request.text()
            return parse_qs(body, keep_blank_values=True)
        return parse_qs(request.query_string, keep_blank_values=True)

    async def exchange(self, request: web.Request) -> web.Response:
        if request.method != "POST":
            raise Reply(405, _errors("UNSUPPORTED", "use POST"))
        form = await self._form(request)
        grant = (form.get("grant_type") or [""])[0]
        service = (form.get("service") or [""])[0]
        aad = (form.get("access_token") or [""])[0]
        if grant not in ("access_token", "access_token_refresh_token"):
            raise Reply(400, _errors("UNSUPPORTED", f"grant_type {grant!r} is not supported"))
        if service != self.service:
            raise Reply(400, _errors("UNAUTHORIZED", f"service {service!r} does not match this registry"))
        audiences = (tokens.ACR_AUDIENCE, *(tokens.ARM_AUDIENCES if self.reg.auth_as_arm else ()))
        claims = tokens.verify(self.state.secret, aad, audience=audiences)
        if claims is None:
            raise Reply(401, _errors("UNAUTHORIZED", "the access token is invalid, expired or for another audience"))
        refresh = tokens.refresh_token(self.state.secret, self.service, claims["oid"], claims["tid"])
        return _json(json.dumps({"refresh_token": refresh}).encode())

    async def token(self, request: web.Request, query_string: str) -> web.Response:
        form = await self._form(request)
        grant = (form.get("grant_type") or ["password" if request.method == "GET" else ""])[0]
        service = (form.get("service") or [""])[0]
        if service != self.service:
            raise Reply(400, _errors("UNAUTHORIZED", f"service {service!r} does not match this registry"))
        # Docker's token protocol allows several scope parameters, and space-separated scopes in one.
        requested = [s for value in form.get("scope", []) for s in value.split(" ") if s]
        parsed = [tokens.parse_scope(s) for s in requested]
        if any(p is None for p in parsed):
            raise Reply(400, _errors("UNSUPPORTED", "invalid scope"))
        if grant == "refresh_token":
            claims = self._claims((form.get("refresh_token") or [""])[0])
            if claims is None or claims.get("grant_type") != "refresh_token" or claims.get("aud") != self.service:
                raise Reply(401, _errors("UNAUTHORIZED", "the refresh token is invalid or expired"))
            principal = claims["sub"]
            denied = set(self.state.faults.denied_repositories.get(self.reg.name, ()))
            access = [p for p in parsed if not (p["type"] == "repository" and p["name"] in denied)]
        elif grant == "password":
            if (form.get("username") or [""])[0] or (form.get("password") or [""])[0]:
                raise Reply(401, _errors("UNAUTHORIZED", "admin and token credentials are not emulated"))
            principal = "anonymous"
            access = []
            if self.reg.anonymous_pull_enabled:
                # Anonymous pull grants reading: the catalog, metadata and content, never writes.
                for p in parsed:
                    if p["type"] == "registry" and p["name"] == "catalog":
                        access.append(p)
                        continue
                    allowed = sorted({"pull", "metadata_read"} & set(p["actions"]) or
                                     ({"pull", "metadata_read"} if "*" in p["actions"] else set()))
                    if allowed:
                        access.append({**p, "actions": allowed})
        else:
            raise Reply(400, _errors("UNSUPPORTED", f"grant_type {grant!r} is not supported"))
        token = tokens.access_token(self.state.secret, self.service, principal, access)
        return _json(json.dumps({"access_token": token}).encode())

    # -- listings --

    def catalog(self, query: dict, endpoint: str) -> web.Response:
        n = _page_size(query)
        names = sorted(self.reg.repositories)
        start = _after(names, query.get("last"))
        page = names[start:start + n]
        headers = {}
        if start + n < len(names):
            path = "/acr/v1/_catalog" if endpoint == "catalog" else "/v2/_catalog"
            headers["Link"] = _link(path, page[-1], n, query.get("orderby", ""))
        return _json(json.dumps({"repositories": page}).encode(), headers)

    def repository(self, repo: Repository) -> web.Response:
        body = {
            "registry": self.service, "imageName": repo.name, "createdTime": format_time(repo.created),
            "lastUpdateTime": format_time(repo.updated), "manifestCount": len(repo.manifests),
            "tagCount": len(repo.tags), "changeableAttributes": {**_flags_json(repo), "teleportEnabled": False},
        }
        return _json(json.dumps(body).encode())

    def listing(self, repo: Repository, what: str, query: dict) -> web.Response:
        n = _page_size(query)
        orderby = query.get("orderby", "")
        if orderby not in ("", "timedesc", "timeasc"):
            raise Reply(400, _errors("UNSUPPORTED", f"orderby {orderby!r} is not supported"))
        items = repo.ordered(what, orderby)
        if what == "manifests":
            items = [m for m in items if m.list_enabled]  # listEnabled: false hides a manifest from listings
        if what == "tags" and query.get("digest"):
            items = [t for t in items if t.digest == query["digest"]]
        ident: Callable = (lambda x: x.digest) if what == "manifests" else (lambda x: x.name)
        last = query.get("last")
        if not last:
            start = 0
        elif orderby:
            # Time order: continue after the named item (the emulator's choice; ACR does not document it).
            keys = [ident(x) for x in items]
            start = keys.index(last) + 1 if last in keys else len(items)
        else:
            start = _after([ident(x) for x in items], last)
        page = items[start:start + n]
        encode = manifest_listing if what == "manifests" else tag_listing
        prefix = json.dumps({"registry": self.service, "imageName": repo.name})[:-1].encode()
        body = prefix + f',"{what}":['.encode() + b",".join(encode(x) for x in page) + b"]}"
        headers = {}
        if start + n < len(items):
            headers["Link"] = _link(f"/acr/v1/{quote(repo.name, safe='')}/_{what}", ident(page[-1]), n, orderby)
        return _json(body, headers)

    def manifest(self, repo: Repository, ref: str) -> web.Response:
        m = repo.manifests.get(ref)
        if m is None:
            tag = repo.tags.get(ref)
            m = repo.manifests.get(tag.digest) if tag else None
        if m is None:
            raise Reply(404, _errors("MANIFEST_UNKNOWN", "manifest unknown", {"name": repo.name, "reference": ref}))
        attrs = manifest_attributes(m)
        if m.children:
            attrs["references"] = [{"digest": d, "architecture": a, "os": o} for d, a, o in m.children]
        return _json(json.dumps({"registry": self.service, "imageName": repo.name, "manifest": attrs}).encode())

    def tag(self, repo: Repository, ref: str) -> web.Response:
        t = repo.tags.get(ref)
        if t is None:
            detail = {"name": repo.name, "tag": ref}
            raise Reply(404, _errors("TAG_UNKNOWN", "the specified tag does not exist", detail))
        return _json(json.dumps({"registry": self.service, "imageName": repo.name, "tag": tag_attributes(t)}).encode())

    def manifest_content(self, request: web.Request, repo: Repository, ref: str) -> web.Response:
        digest = ref if ref.startswith("sha256:") else (repo.tags[ref].digest if ref in repo.tags else None)
        m = repo.manifests.get(digest) if digest else None
        if m is None:
            raise Reply(404, _errors("MANIFEST_UNKNOWN", "manifest unknown", {"name": repo.name, "reference": ref}))
        headers = {"Docker-Content-Digest": m.digest, "ETag": f'"{m.digest}"', "Content-Type": m.media_type,
                   "Docker-Distribution-Api-Version": "registry/2.0"}
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(m.body))
            return web.Response(status=200, headers=headers)
        return web.Response(status=200, body=m.body, headers=headers)

    async def blob(self, request: web.Request, repo: Repository, digest: str) -> web.StreamResponse:
        blobs = self.blob_index.get(repo.name)
        if blobs is None:
            blobs = {}
            for m in repo.manifests.values():
                if m.config is not None:
                    blobs[m.config.digest] = m.config
                for layer in m.layers:
                    blobs[layer.digest] = layer
            self.blob_index[repo.name] = blobs
        blob = blobs.get(digest)
        if blob is None:
            raise Reply(404, _errors("BLOB_UNKNOWN", "blob unknown to registry", {"digest": digest}))
        headers = {"Docker-Content-Digest": blob.digest, "Content-Type": "application/octet-stream",
                   "Accept-Ranges": "bytes", "ETag": f'"{blob.digest}"', "Date": self.state.http_date()}
        start, end, status = 0, blob.size - 1, 200
        ranged = re.match(r"^bytes=(\d+)-(\d*)$", request.headers.get("Range", ""))
        if ranged:
            start = int(ranged.group(1))
            end = min(int(ranged.group(2)) if ranged.group(2) else blob.size - 1, blob.size - 1)
            if start > end:
                raise Reply(416, _errors("RANGE_INVALID", "requested range not satisfiable"),
                            headers={"Content-Range": f"bytes */{blob.size}"})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{blob.size}"
        headers["Content-Length"] = str(end - start + 1)
        response = web.StreamResponse(status=status, headers=headers)
        await response.prepare(request)
        if request.method == "GET":
            if blob.content is not None:
                await response.write(blob.content[start:end + 1])
            else:
                # Synthetic layer: deterministic filler of the declared size (see tenant.py).
                chunk = (hashlib.sha256(blob.digest.encode()).digest() * 2048)[:65536]
                pos = start
                while pos <= end:
                    size = min(len(chunk), end - pos + 1)
                    await response.write(chunk[:size])
                    pos += size
        await response.write_eof()
        return response


def _json(body: bytes, headers: dict | None = None) -> web.Response:
    return web.Response(status=200, body=body, headers={"Content-Type": JSON_TYPE, **(headers or {})})


def _random_faults(state: State) -> None:
    faults = state.faults
    if faults.reset_rate and state.rng.random() < faults.reset_rate:
        raise Reset()
    if faults.error_rate and state.rng.random() < faults.error_rate:
        status = state.rng.choice([500, 502, 503])
        raise Reply(status, _errors("INTERNAL_ERROR" if status == 500 else "SERVICE_UNAVAILABLE",
                                    "the service encountered an error, please retry"))


def _reset(request: web.Request) -> web.Response:
    """Abort the connection with a TCP reset; the returned response is never delivered."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return web.Response(status=499)


# --- ARM: Resource Graph, listUsages, registry GET ----------------------------------------------------------


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


class ArmHandler:
    def __init__(self, state: State):
        self.state = state
        self._tables: dict[str, list[dict]] | None = None

    def tables(self) -> dict[str, list[dict]]:
        if self._tables is None:
            tenant, state = self.state.tenant, self.state
            resources = [
                registry_resource(tenant, reg, state.login_servers.get(reg.name, f"{reg.name}.azurecr.io"))
                for reg in tenant.registries
            ]
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
            self._tables = {"resources": resources, "resourcecontainers": containers}
        return self._tables

    def invalidate(self) -> None:
        self._tables = None

    async def __call__(self, request: web.Request) -> web.Response:
        path = request.path
        endpoint = "arm_other"
        if path.lower() == "/providers/microsoft.resourcegraph/resources":
            endpoint = "resource_graph"
        elif path.lower().endswith("/listusages"):
            endpoint = "list_usages"
        elif "/providers/microsoft.containerregistry/registries/" in path.lower():
            endpoint = "registry"
        status = 0
        try:
            response = await self.dispatch(request, endpoint)
            status = response.status
            response.headers["Date"] = self.state.http_date()
            return response
        except Reply as r:
            status = r.status
            return r.response(self.state.http_date())
        except Reset:
            return _reset(request)
        finally:
            self.state.record("arm", endpoint, request.method, request.raw_path, status)

    def principal(self, request: web.Request) -> dict:
        header = request.headers.get("Authorization", "")
        tenant = self.state.tenant.tenant_id
        challenge = (f'Bearer authorization_uri="https://login.microsoftonline.com/{tenant}", '
                     'error="invalid_token", error_description="The authentication failed."')
        if not header.startswith("Bearer "):
            raise Reply(401, _arm_error("AuthenticationFailed", "Authentication failed. The 'Authorization' header "
                                        "is missing."), headers={"WWW-Authenticate": challenge})
        claims = tokens.verify(self.state.secret, header[7:], audience=tokens.ARM_AUDIENCES)
        if claims is None:
            raise Reply(401, _arm_error("InvalidAuthenticationToken", "The access token is invalid or expired, "
                                        "or its audience is not Azure Resource Manager."),
                        headers={"WWW-Authenticate": challenge})
        return claims

    async def dispatch(self, request: web.Request, endpoint: str) -> web.Response:
        state = self.state
        if state.latency:
            await asyncio.sleep(state.latency)
        _random_faults(state)
        claims = self.principal(request)
        api_version = request.query.get("api-version")
        if not api_version:
            raise Reply(400, _arm_error("MissingApiVersionParameter", "The api-version query parameter "
                                        "(?api-version=) is required for all requests."))
        if endpoint == "resource_graph":
            if request.method != "POST":
                raise Reply(405, _arm_error("MethodNotAllowed", "Use POST."))
            if api_version not in RG_API_VERSIONS:
                raise Reply(400, _arm_error("InvalidApiVersionParameter",
                                            f"The api-version '{api_version}' is invalid."))
            return await self.resource_graph(request, claims)
        if request.method != "GET":
            raise Reply(405, _arm_error("MethodNotAllowed", "The emulator only reads ARM resources."))
        m = re.match(r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.ContainerRegistry/"
                     r"registries/([^/]+)(/listUsages)?$", request.path, re.IGNORECASE)
        if not m:
            raise Reply(404, _arm_error("NotFound", f"The resource path '{request.path}' is not served by the "
                                        "acrlib emulator."))
        sub_id, rg, name, usages = m.groups()
        reg = next((r for r in state.tenant.registries if r.name.lower() == name.lower()
                    and r.subscription_id == sub_id and r.resource_group.lower() == rg.lower()), None)
        if reg is None or reg.name in state.faults.vanished:
            raise Reply(404, _arm_error("ResourceNotFound", f"The Resource 'Microsoft.ContainerRegistry/registries/"
                                        f"{name}' under resource group '{rg}' was not found. For more details "
                                        "please go to https://aka.ms/ARMResourceNotFoundFix"))
        if usages:
            body = {"value": [
                {"name": "Size", "limit": SKU_INCLUDED_BYTES[reg.sku], "currentValue": reg.used_bytes(),
                 "unit": "Bytes"},
                {"name": "Webhooks", "limit": {"Basic": 2, "Standard": 10, "Premium": 500}[reg.sku],
                 "currentValue": 0, "unit": "Count"},
                {"name": "ScopeMaps", "limit": 50_000, "currentValue": 0, "unit": "Count"},
                {"name": "Tokens", "limit": 50_000, "currentValue": 0, "unit": "Count"},
            ]}
        else:
            body = registry_resource(state.tenant, reg, state.login_servers.get(reg.name, ""))
        return _json(json.dumps(body).encode())

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
            raise Reply(429, _arm_error("RateLimiting", "Please provide below info when asking for support: "
                                        "timestamp, correlationId. Details: Rate limit exceeded: the client "
                                        "sent too many queries in the current window."), headers=quota_headers)
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise Reply(400, _arm_error("BadRequest", "The request body is not valid JSON."),
                        headers=quota_headers) from None
        query = body.get("query")
        if not isinstance(query, str) or not query.strip():
            raise Reply(400, _arm_error("BadRequest", "The query is required."), headers=quota_headers)
        options = body.get("options") or {}
        top = options.get("$top", MAX_PAGE)
        skip = options.get("$skip", 0) or 0
        if not isinstance(top, int) or not 1 <= top <= MAX_PAGE:
            raise Reply(400, _arm_error("BadRequest", f"$top must be between 1 and {MAX_PAGE}.",
                                        [{"code": "InvalidTopValue", "message": f"Invalid $top value: {top}"}]),
                        headers=quota_headers)
        subscriptions = body.get("subscriptions")
        if body.get("managementGroups"):
            # Every subscription of the emulated tenant sits under its root management group.
            subscriptions = None
        try:
            result = kql.run(query, self._scoped(subscriptions))
        except kql.KqlError as e:
            raise Reply(400, _arm_error(
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
                raise Reply(400, _arm_error("BadRequest", "The $skipToken is invalid for this query.",
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
        return _json(json.dumps(out).encode(), quota_headers)

    def _scoped(self, subscriptions: list[str] | None) -> dict[str, list[dict]]:
        tables = self.tables()
        if not subscriptions:
            return tables
        wanted = {s.lower() for s in subscriptions}
        return {name: [r for r in rows if str(r.get("subscriptionId", "")).lower() in wanted]
                for name, rows in tables.items()}
