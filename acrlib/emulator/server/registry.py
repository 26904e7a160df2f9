"""The emulated ACR data plane of one registry: the token service (``/oauth2/exchange``, ``/oauth2/token``),
``/acr/v1`` listings and attributes, ``/v2`` manifests and blobs. Behaviour follows
ACR's documented REST API; comments mark where the emulator chooses for undocumented cases."""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Callable
from urllib.parse import parse_qs, quote, unquote

from aiohttp import web

from .. import evolve
from ..model import Manifest, Registry, Repository, Tag, format_time
from . import tokens
from .state import (
    DEFAULT_PAGE,
    MAX_PAGE,
    Reply,
    State,
    acr_errors,
    answer,
    arrive,
    json_response,
)

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
        raise Reply(400, acr_errors("PAGINATION_NUMBER_INVALID", "invalid number of results requested",
                                 {"n": raw})) from None
    if n < 1:
        raise Reply(400, acr_errors("PAGINATION_NUMBER_INVALID", "invalid number of results requested", {"n": raw}))
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


def _spend(bucket) -> None:
    """One operation from a registry's throttle bucket (None: not throttled); ACR's 429 when it is empty."""
    if bucket is None:
        return
    wait = bucket.take(time.monotonic())
    if wait:
        raise Reply(429, acr_errors(
            "TOOMANYREQUESTS",
            "Too many requests. Please visit https://aka.ms/acr/skus#sku-feature-matrix for more "
            "information on throttling limits.",
        ), headers={"Retry-After": str(max(1, math.ceil(wait)))})


class RegistryHandler:
    def __init__(self, state: State, reg: Registry):
        self.state = state
        self.reg = reg
        self.blob_index: dict[str, dict] = {}

    @property
    def service(self) -> str:
        return self.state.login_servers[self.reg.name]

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        path_part, _, query_string = request.raw_path.partition("?")
        endpoint, params = route(unquote(path_part))
        return await answer(self.state, request, self.reg.name, endpoint,
                            lambda: self.dispatch(request, endpoint, params, query_string))

    async def dispatch(self, request, endpoint, params, query_string) -> web.StreamResponse:
        state, reg = self.state, self.reg
        await arrive(state, request, reg.name)
        if request.method != "DELETE":  # deletes spend WriteOps (authorize_write)
            _spend(state.buckets.get(reg.name))
        query = {k: v[-1] for k, v in parse_qs(query_string, keep_blank_values=True).items()}
        if endpoint == "oauth2_exchange":
            return await self.exchange(request)
        if endpoint == "oauth2_token":
            return await self.token(request, query_string)
        if request.method == "DELETE" and endpoint in ("tag", "manifest_content"):
            return self.delete(request, endpoint, params["repo"], params["ref"])
        if request.method not in READ_METHODS:
            # Other writes are not emulated. Every request is logged (tests assert what was written).
            raise Reply(405, acr_errors("UNSUPPORTED", "The operation is unsupported by the acrlib emulator."))
        if endpoint == "ping":
            self.authorize(request, None)
            return json_response(b"{}")
        if endpoint in ("catalog", "v2_catalog"):
            self.authorize(request, ("registry", "catalog", "*"))
            return self.catalog(query, endpoint)
        if endpoint == "unknown":
            raise Reply(404, acr_errors("NOT_FOUND", "the requested resource was not found"))
        repo_name = params["repo"]
        action = "pull" if endpoint in ("manifest_content", "blob") else "metadata_read"
        self.authorize(request, ("repository", repo_name, action))
        repo = reg.repositories.get(repo_name)
        if repo is None:
            raise Reply(404, acr_errors("NAME_UNKNOWN", "repository name not known to registry", {"name": repo_name}))
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

    # -- deleting --

    def delete(self, request: web.Request, endpoint: str, repo_name: str, ref: str) -> web.Response:
        """Untag (``DELETE /acr/v1/{repository}/_tags/{tag}``) or delete a manifest with its tags and referrers
        (``DELETE /v2/{repository}/manifests/{digest}``): 202 Accepted, 404 for what does not exist, and for a
        lock on the repository, the manifest or a tag in the way ACR's documented REGISTRY_DISALLOWED_OPERATION
        (its status is not documented: the emulator chooses 405). Deletes spend the registry's WriteOps."""
        self.authorize_write(request, repo_name)
        repo = self.reg.repositories.get(repo_name)
        if repo is None:
            raise Reply(404, acr_errors("NAME_UNKNOWN", "repository name not known to registry", {"name": repo_name}))
        if endpoint == "tag":
            tag = repo.tags.get(ref)
            if tag is None:
                raise Reply(404, acr_errors("TAG_UNKNOWN", "the specified tag does not exist",
                                            {"name": repo.name, "tag": ref}))
            self._refuse_locked(repo, [tag])
            evolve.delete_tag(repo, ref, self.state.now_ticks(), self._recorder())
        else:
            if not ref.startswith("sha256:"):
                raise Reply(400, acr_errors("DIGEST_INVALID", "delete a manifest by its digest, not by a tag",
                                            {"name": repo.name, "reference": ref}))
            m = repo.manifests.get(ref)
            if m is None:
                raise Reply(404, acr_errors("MANIFEST_UNKNOWN", "manifest unknown",
                                            {"name": repo.name, "reference": ref}))
            self._refuse_locked(repo, [m, *(repo.tags[t] for t in m.tags if t in repo.tags)])
            evolve.delete_manifest(repo, ref, self._recorder())
        self.state.mutations += 1
        return web.Response(status=202)

    def _recorder(self) -> evolve.Recorder:
        return evolve.Recorder(self.state.tenant, self.reg, self.state.now_ticks())

    def _refuse_locked(self, repo: Repository, items: list) -> None:
        if not all(x.delete_enabled and x.write_enabled for x in (repo, *items)):
            raise Reply(405, acr_errors("REGISTRY_DISALLOWED_OPERATION",
                                        "The operation is disallowed on this registry, repository or image."))

    def authorize_write(self, request: web.Request, repo_name: str) -> None:
        """A token with ``repository:{name}:delete``, and the registry's WriteOps (when throttled)."""
        self.authorize(request, ("repository", repo_name, "delete"))
        _spend(self.state.write_buckets.get(self.reg.name))

    # -- auth --

    def challenge(self, scope: str | None, kind="", name="", action="") -> Reply:
        header = f'Bearer realm="https://{self.service}/oauth2/token",service="{self.service}"'
        if scope:
            header += f',scope="{scope}"'
        detail = [{"Type": kind, "Name": name, "Action": action}] if scope else None
        return Reply(401, acr_errors(
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
        if not all(fault.token_valid(claims, now) for fault in self.state.faults):
            return None
        return claims

    async def _form(self, request: web.Request) -> dict[str, list[str]]:
        if request.method == "POST":
            body = await request.text()
            return parse_qs(body, keep_blank_values=True)
        return parse_qs(request.query_string, keep_blank_values=True)

    async def exchange(self, request: web.Request) -> web.Response:
        if request.method != "POST":
            raise Reply(405, acr_errors("UNSUPPORTED", "use POST"))
        form = await self._form(request)
        grant = (form.get("grant_type") or [""])[0]
        service = (form.get("service") or [""])[0]
        aad = (form.get("access_token") or [""])[0]
        if grant not in ("access_token", "access_token_refresh_token"):
            raise Reply(400, acr_errors("UNSUPPORTED", f"grant_type {grant!r} is not supported"))
        if service != self.service:
            raise Reply(400, acr_errors("UNAUTHORIZED", f"service {service!r} does not match this registry"))
        audiences = (tokens.ACR_AUDIENCE, *(tokens.ARM_AUDIENCES if self.reg.auth_as_arm else ()))
        claims = tokens.verify(self.state.secret, aad, audience=audiences)
        if claims is None:
            raise Reply(401, acr_errors("UNAUTHORIZED", "the access token is invalid, expired or for another audience"))
        refresh = tokens.refresh_token(self.state.secret, self.service, claims["oid"], claims["tid"])
        return json_response(json.dumps({"refresh_token": refresh}).encode())

    async def token(self, request: web.Request, query_string: str) -> web.Response:
        form = await self._form(request)
        grant = (form.get("grant_type") or ["password" if request.method == "GET" else ""])[0]
        service = (form.get("service") or [""])[0]
        if service != self.service:
            raise Reply(400, acr_errors("UNAUTHORIZED", f"service {service!r} does not match this registry"))
        # Docker's token protocol allows several scope parameters, and space-separated scopes in one.
        requested = [s for value in form.get("scope", []) for s in value.split(" ") if s]
        parsed = [tokens.parse_scope(s) for s in requested]
        if any(p is None for p in parsed):
            raise Reply(400, acr_errors("UNSUPPORTED", "invalid scope"))
        if grant == "refresh_token":
            claims = self._claims((form.get("refresh_token") or [""])[0])
            if claims is None or claims.get("grant_type") != "refresh_token" or claims.get("aud") != self.service:
                raise Reply(401, acr_errors("UNAUTHORIZED", "the refresh token is invalid or expired"))
            principal = claims["sub"]
            access = parsed
            for fault in self.state.faults:
                access = fault.granted(self.reg.name, access)
        elif grant == "password":
            if (form.get("username") or [""])[0] or (form.get("password") or [""])[0]:
                raise Reply(401, acr_errors("UNAUTHORIZED", "admin and token credentials are not emulated"))
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
            raise Reply(400, acr_errors("UNSUPPORTED", f"grant_type {grant!r} is not supported"))
        token = tokens.access_token(self.state.secret, self.service, principal, access)
        return json_response(json.dumps({"access_token": token}).encode())

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
        return json_response(json.dumps({"repositories": page}).encode(), headers)

    def repository(self, repo: Repository) -> web.Response:
        body = {
            "registry": self.service, "imageName": repo.name, "createdTime": format_time(repo.created),
            "lastUpdateTime": format_time(repo.updated), "manifestCount": len(repo.manifests),
            "tagCount": len(repo.tags), "changeableAttributes": {**_flags_json(repo), "teleportEnabled": False},
        }
        return json_response(json.dumps(body).encode())

    def listing(self, repo: Repository, what: str, query: dict) -> web.Response:
        n = _page_size(query)
        orderby = query.get("orderby", "")
        if orderby not in ("", "timedesc", "timeasc"):
            raise Reply(400, acr_errors("UNSUPPORTED", f"orderby {orderby!r} is not supported"))
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
        for fault in self.state.faults:
            body = fault.listing(self.reg.name, repo.name, what, body)
        headers = {}
        if start + n < len(items):
            headers["Link"] = _link(f"/acr/v1/{quote(repo.name, safe='')}/_{what}", ident(page[-1]), n, orderby)
        return json_response(body, headers)

    def manifest(self, repo: Repository, ref: str) -> web.Response:
        m = repo.manifests.get(ref)
        if m is None:
            tag = repo.tags.get(ref)
            m = repo.manifests.get(tag.digest) if tag else None
        if m is None:
            raise Reply(404, acr_errors("MANIFEST_UNKNOWN", "manifest unknown", {"name": repo.name, "reference": ref}))
        attrs = manifest_attributes(m)
        if m.children:
            attrs["references"] = [{"digest": d, "architecture": a, "os": o} for d, a, o in m.children]
        return json_response(json.dumps({"registry": self.service, "imageName": repo.name, "manifest": attrs}).encode())

    def tag(self, repo: Repository, ref: str) -> web.Response:
        t = repo.tags.get(ref)
        if t is None:
            detail = {"name": repo.name, "tag": ref}
            raise Reply(404, acr_errors("TAG_UNKNOWN", "the specified tag does not exist", detail))
        body = {"registry": self.service, "imageName": repo.name, "tag": tag_attributes(t)}
        return json_response(json.dumps(body).encode())

    def manifest_content(self, request: web.Request, repo: Repository, ref: str) -> web.Response:
        digest = ref if ref.startswith("sha256:") else (repo.tags[ref].digest if ref in repo.tags else None)
        m = repo.manifests.get(digest) if digest else None
        if m is None:
            raise Reply(404, acr_errors("MANIFEST_UNKNOWN", "manifest unknown", {"name": repo.name, "reference": ref}))
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
            raise Reply(404, acr_errors("BLOB_UNKNOWN", "blob unknown to registry", {"digest": digest}))
        headers = {"Docker-Content-Digest": blob.digest, "Content-Type": "application/octet-stream",
                   "Accept-Ranges": "bytes", "ETag": f'"{blob.digest}"', "Date": self.state.http_date()}
        start, end, status = 0, blob.size - 1, 200
        ranged = re.match(r"^bytes=(\d+)-(\d*)$", request.headers.get("Range", ""))
        if ranged:
            start = int(ranged.group(1))
            end = min(int(ranged.group(2)) if ranged.group(2) else blob.size - 1, blob.size - 1)
            if start > end:
                raise Reply(416, acr_errors("RANGE_INVALID", "requested range not satisfiable"),
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
