"""acrlib's client for one registry's data plane: pages of up to 1000 items, raw bytes out (``parse`` turns
them into frames), errors as :class:`~acrlib.errors.RegistryError` carrying what the errors table needs."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import quote, urljoin

from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.core.rest import HttpRequest

from .. import media_types as mt
from ..errors import RegistryError
from .http import Gate, GatePolicy, RequestTimedOut, RetryPolicy, Session, origin, response_error
from .tokens import AcrAuthPolicy, EntraToken, RegistryTokens

MAX_PAGE = 1000
MANIFEST_ACCEPT = ", ".join([mt.OCI_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST_LIST,
                             "application/vnd.oci.artifact.manifest.v1+json", "*/*"])
TOKEN_BATCH = 10  # repositories per access-token request (what Microsoft's acr-cli uses)


def next_link(header: str | None) -> str | None:
    """The target of a ``Link: <...>; rel="next"`` header (relative in ACR)."""
    if not header or "<" not in header or ">" not in header:
        return None
    return header[header.index("<") + 1:header.index(">")]


HOST = re.compile(r"^[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?(?::[0-9]{1,5})?$", re.IGNORECASE)


def check_login_server(login_server: str, acr_suffix: str, azure: bool) -> str | None:
    """Why ``login_server`` (from a Resource Graph row) must not be sent the caller's ACR token, or None. It
    must be a plain host name (no path, user or query that could point the token elsewhere); against Azure's
    own ARM endpoint also one under the cloud's registry suffix, without a port."""
    if not HOST.match(login_server or ""):
        return f"loginServer {login_server!r} is not a host name"
    if azure and not login_server.lower().endswith(acr_suffix):
        return f"loginServer {login_server!r} is not under {acr_suffix}"
    return None


class PagesCut(RegistryError):
    """A listing acrlib stopped: its next link left the registry's origin, repeated a page already read, or went
    past the page limit. ``pages`` holds what was read before: true data, kept."""

    def __init__(self, code: str, message: str, pages: list[bytes]):
        super().__init__(200, code, message)
        self.pages = pages


def repo_path(repository: str) -> str:
    return quote(repository, safe="")


class RegistryClient:
    """One registry's data plane. Every request goes to the registry's own origin and nowhere else: its bearer
    tokens are issued for it."""

    def __init__(self, session: Session, login_server: str, entra: EntraToken, gate: Gate,
                 page_size: int = MAX_PAGE):
        self.base = f"https://{login_server}"
        self.origin = origin(self.base)
        self.gate = gate
        self.workers = gate.concurrency
        self.page_size = min(max(int(page_size), 1), MAX_PAGE)
        self.max_pages = session.limits.max_pages
        token_pipeline = session.pipeline([RetryPolicy.within(session.limits), GatePolicy()])
        self.tokens = RegistryTokens(self.base, entra, token_pipeline, gate)
        self.pipeline = session.pipeline([RetryPolicy.within(session.limits), AcrAuthPolicy(self.tokens), GatePolicy()])
        self.requests = 0

    def prefetch_tokens(self, repositories: list[str]) -> None:
        """Ask for access tokens for many repositories at once, ahead of their requests."""
        for i in range(0, len(repositories), TOKEN_BATCH):
            batch = repositories[i:i + TOKEN_BATCH]
            self.tokens.prefetch([f"repository:{r}:metadata_read,pull" for r in batch])

    async def _get(self, url: str, scope_item: str, accept: str | None = None):
        if origin(url) != self.origin:  # defence in depth: callers never build such a URL
            raise RegistryError(None, "BAD_NEXT_LINK", f"refused to send the registry's token to {url.split('?')[0]}")
        headers = {"Accept": accept or "application/json"}
        self.requests += 1
        try:
            response = await self.pipeline.run(HttpRequest("GET", url, headers=headers), gate=self.gate,
                                               acr_scope=scope_item)
        except RequestTimedOut as e:
            raise RegistryError(None, "TIMEOUT", f"{url.split('?')[0].removeprefix(self.base)}: {e.message}") from e
        except (ServiceRequestError, ServiceResponseError) as e:
            raise RegistryError(None, "CONNECTION_ERROR", f"cannot reach {self.base}: {type(e).__name__}") from e
        http = response.http_response
        if http.status_code != 200:
            code, message = response_error(http)
            raise RegistryError(http.status_code, code, message)
        return http

    async def _pages(self, path: str, scope_item: str) -> list[bytes]:
        """Every page of a listing, following ``Link`` headers: only within the registry's origin, never to a
        page already read, at most ``max_pages`` (:class:`PagesCut` otherwise, with the pages read)."""
        url: str | None = f"{self.base}{path}?n={self.page_size}"
        bodies: list[bytes] = []
        seen: set[str] = set()
        while url:
            seen.add(url)
            http = await self._get(url, scope_item)
            bodies.append(http.body())
            link = next_link(http.headers.get("Link"))
            if not link:
                return bodies
            url = urljoin(url, link)
            if origin(url) != self.origin:
                raise PagesCut("BAD_NEXT_LINK", f"the next page of {path} is at another origin ({url.split('?')[0]}); "
                               "not followed, the registry's token stays with it", bodies)
            if url in seen:
                raise PagesCut("PAGING_LOOP", f"the next page of {path} is one already read; listing ended after "
                               f"{len(bodies)} pages", bodies)
            if len(bodies) >= self.max_pages:
                raise PagesCut("TOO_MANY_PAGES", f"{path} has more than {self.max_pages:,} pages; listing ended",
                               bodies)
        return bodies

    async def catalog(self) -> list[bytes]:
        """The catalog's pages, raw (``parse.catalog`` reads them)."""
        return await self._pages("/acr/v1/_catalog", "registry:catalog:*")

    async def repository(self, repository: str) -> bytes:
        """The repository's attributes, raw (``parse.repository_row`` reads them)."""
        http = await self._get(f"{self.base}/acr/v1/{repo_path(repository)}", f"repository:{repository}:metadata_read")
        return http.body()

    async def manifest_pages(self, repository: str) -> list[bytes]:
        return await self._pages(f"/acr/v1/{repo_path(repository)}/_manifests",
                                 f"repository:{repository}:metadata_read")

    async def tag_pages(self, repository: str) -> list[bytes]:
        return await self._pages(f"/acr/v1/{repo_path(repository)}/_tags", f"repository:{repository}:metadata_read")

    async def manifest_attributes(self, repository: str, digest: str) -> bytes:
        """The single-manifest GET, raw (``{"manifest": {..., "references": [...]}}``): the only call that
        returns an index's references."""
        http = await self._get(f"{self.base}/acr/v1/{repo_path(repository)}/_manifests/{digest}",
                               f"repository:{repository}:metadata_read")
        return http.body()

    async def manifest_content(self, repository: str, digest: str) -> tuple[bytes, str | None]:
        """The manifest's bytes (verified against ``digest``) and its media type."""
        http = await self._get(f"{self.base}/v2/{repo_path(repository)}/manifests/{digest}",
                               f"repository:{repository}:pull", accept=MANIFEST_ACCEPT)
        body = http.body()
        actual = "sha256:" + hashlib.sha256(body).hexdigest()
        if digest.startswith("sha256:") and actual != digest:
            raise RegistryError(200, "DIGEST_MISMATCH", f"content of {digest} hashes to {actual}")
        return body, http.headers.get("Content-Type")

    async def delete(self, path: str, repository: str, gate: Gate) -> int:
        """``DELETE`` a path of this registry with a ``repository:{name}:delete`` token, admitted by ``gate``
        (the registry's WriteOps): the status, 202 (done) or 404 (nothing there). Anything else raises
        :class:`~acrlib.errors.RegistryError` with ACR's code (``REGISTRY_DISALLOWED_OPERATION`` for a lock)."""
        url = f"{self.base}{path}"
        if origin(url) != self.origin:
            raise RegistryError(None, "BAD_PATH", f"refused to send the registry's token to {url}")
        self.requests += 1
        try:
            response = await self.pipeline.run(HttpRequest("DELETE", url), gate=gate,
                                               acr_scope=f"repository:{repository}:delete")
        except RequestTimedOut as e:
            raise RegistryError(None, "TIMEOUT", f"{path}: {e.message}") from e
        except (ServiceRequestError, ServiceResponseError) as e:
            raise RegistryError(None, "CONNECTION_ERROR", f"cannot reach {self.base}: {type(e).__name__}") from e
        http = response.http_response
        if http.status_code in (200, 202, 404):
            return 202 if http.status_code == 200 else http.status_code
        code, message = response_error(http)
        raise RegistryError(http.status_code, code, message)

    async def delete_tag(self, repository: str, tag: str, gate: Gate) -> int:
        """Untag: ``DELETE /acr/v1/{repository}/_tags/{tag}``."""
        return await self.delete(f"/acr/v1/{repo_path(repository)}/_tags/{quote(tag, safe='')}", repository, gate)

    async def delete_manifest(self, repository: str, digest: str, gate: Gate) -> int:
        """Delete a manifest, its tags and its referrers: ``DELETE /v2/{repository}/manifests/{digest}``."""
        return await self.delete(f"/v2/{repo_path(repository)}/manifests/{quote(digest, safe=':')}", repository,
                                 gate)
