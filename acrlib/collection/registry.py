"""acrlib's client for one registry's data plane: pages of up to 1000 items, raw bytes out (``parse`` turns
them into frames), errors as :class:`~acrlib.errors.RegistryError` carrying what the errors table needs."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import quote, urljoin

from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.core.rest import HttpRequest

from .. import media_types as mt
from ..errors import RegistryError
from .http import Gate, GatePolicy, RetryPolicy, Session, response_error
from .tokens import AcrAuthPolicy, EntraToken, RegistryTokens

MAX_PAGE = 1000
MANIFEST_ACCEPT = ", ".join([mt.OCI_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST_LIST,
                             "application/vnd.oci.artifact.manifest.v1+json", "*/*"])
TOKEN_BATCH = 10  # repositories per access-token request (what Microsoft's acr-cli uses)


def next_link(header: str | None) -> str | None:
    """The target of a ``Link: <...>; rel="next"`` header (relative in ACR)."""
    if not header or "<" not in header:
        return None
    return header[header.index("<") + 1:header.index(">")]


def repo_path(repository: str) -> str:
    return quote(repository, safe="")


class RegistryClient:
    def __init__(self, session: Session, login_server: str, entra: EntraToken, gate: Gate,
                 page_size: int = MAX_PAGE):
        self.base = f"https://{login_server}"
        self.gate = gate
        self.workers = gate.concurrency
        self.page_size = min(max(int(page_size), 1), MAX_PAGE)
        token_pipeline = session.pipeline([RetryPolicy(), GatePolicy()])
        self.tokens = RegistryTokens(self.base, entra, token_pipeline, gate)
        self.pipeline = session.pipeline([RetryPolicy(), AcrAuthPolicy(self.tokens), GatePolicy()])
        self.requests = 0

    def prefetch_tokens(self, repositories: list[str]) -> None:
        """Ask for access tokens for many repositories at once, ahead of their requests."""
        for i in range(0, len(repositories), TOKEN_BATCH):
            batch = repositories[i:i + TOKEN_BATCH]
            self.tokens.prefetch([f"repository:{r}:metadata_read,pull" for r in batch])

    async def _get(self, url: str, scope_item: str, accept: str | None = None):
        headers = {"Accept": accept or "application/json"}
        self.requests += 1
        try:
            response = await self.pipeline.run(HttpRequest("GET", url, headers=headers), gate=self.gate,
                                               acr_scope=scope_item)
        except (ServiceRequestError, ServiceResponseError) as e:
            raise RegistryError(None, "CONNECTION_ERROR", f"cannot reach {self.base}: {type(e).__name__}") from e
        http = response.http_response
        if http.status_code != 200:
            code, message = response_error(http)
            raise RegistryError(http.status_code, code, message)
        return http

    async def _pages(self, path: str, scope_item: str) -> list[bytes]:
        url: str | None = f"{self.base}{path}?n={self.page_size}"
        bodies = []
        while url:
            http = await self._get(url, scope_item)
            bodies.append(http.body())
            link = next_link(http.headers.get("Link"))
            url = urljoin(self.base, link) if link else None
        return bodies

    async def catalog(self) -> list[str]:
        names: list[str] = []
        for body in await self._pages("/acr/v1/_catalog", "registry:catalog:*"):
            names += json.loads(body).get("repositories") or []
        return names

    async def repository(self, repository: str) -> dict:
        http = await self._get(f"{self.base}/acr/v1/{repo_path(repository)}", f"repository:{repository}:metadata_read")
        return json.loads(http.body())

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
