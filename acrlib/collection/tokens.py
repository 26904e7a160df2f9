"""ACR's token service, done right: one refresh token per registry and one access token per scope, each
cached until shortly before it expires; access tokens asked for many repositories at once; on a 401 the
token for exactly the challenged scope is fetched again.

(azure-containerregistry 1.2.0 caches no access token and re-exchanges the refresh token on every call: four
requests per page, measured against the emulator by the benchmark.)
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
from collections.abc import Iterable
from urllib.parse import urlencode

from azure.core.pipeline import AsyncPipeline, PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import AsyncHTTPPolicy
from azure.core.rest import HttpRequest

from ..clouds import ACR_SCOPE
from ..errors import TokenError, hold
from .http import response_error
from .parse import json_object

EXPIRY_MARGIN_S = 300  # renew this long before a token's exp
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


def jwt_claims(token: str) -> dict:
    """The payload of a JWT, unverified (ACR's own tokens; used only for exp and granted access)."""
    try:
        payload = token.split(".")[1]
        return json_object(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}


def parse_challenge(header: str) -> dict[str, str]:
    if not header.lower().startswith("bearer "):
        return {}
    return dict(_CHALLENGE_PARAM.findall(header))


def scope_items(scope: str) -> list[str]:
    """``repository:a/b:pull,metadata_read`` -> ``[repository:a/b:pull, repository:a/b:metadata_read]``."""
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    return [f"{kind}:{name}:{a}" for a in actions.split(",") if a]


class EntraToken:
    """The caller's Entra ID token for the ACR audience, shared by every registry, renewed before expiry."""

    def __init__(self, credential):
        self._credential = credential
        self._token: tuple[str, float] | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        async with self._lock:
            if self._token is None or self._token[1] - time.time() < EXPIRY_MARGIN_S:
                token = await self._credential.get_token(ACR_SCOPE)
                self._token = (token.token, float(token.expires_on))
            return self._token[0]


class RegistryTokens:
    """Refresh and access tokens for one registry."""

    def __init__(self, base: str, entra: EntraToken, pipeline: AsyncPipeline, gate=None):
        """``base``: the registry's origin, ``https://<login server>``; its host is the token ``service``."""
        self.base = base
        self.service = base.split("://", 1)[-1]
        self.realm = f"{base}/oauth2/token"
        self._entra = entra
        self._pipeline = pipeline
        self._gate = gate
        self._refresh: tuple[str, float] | None = None
        self._refresh_lock = asyncio.Lock()
        self._access: dict[str, tuple[str, float]] = {}
        self._pending: list[tuple[frozenset[str], asyncio.Task]] = []
        self.requests = 0

    async def _post(self, url: str, form: list[tuple[str, str]]) -> dict:
        request = HttpRequest("POST", url, content=urlencode(form).encode(),
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.requests += 1
        response = await self._pipeline.run(request, gate=self._gate)
        http = response.http_response
        if http.status_code != 200:
            code, message = response_error(http)
            raise TokenError(http.status_code, code, message)
        try:
            return json_object(http.body())
        except ValueError as e:
            raise TokenError(200, "INVALID_ANSWER", f"the token service answered 200 with {e}") from None

    async def refresh_token(self, renew: bool = False) -> str:
        async with self._refresh_lock:
            if renew or self._refresh is None or self._refresh[1] - time.time() < EXPIRY_MARGIN_S:
                aad = await self._entra.get()
                body = await self._post(f"{self.base}/oauth2/exchange", [
                    ("grant_type", "access_token"), ("service", self.service), ("access_token", aad)])
                token = body.get("refresh_token") or ""
                hold(token)
                exp = float(jwt_claims(token).get("exp", time.time() + 3600))
                self._refresh = (token, exp)
            return self._refresh[0]

    def cached(self, item: str) -> str | None:
        hit = self._access.get(item)
        if hit is not None and hit[1] - time.time() > EXPIRY_MARGIN_S:
            return hit[0]
        return None

    def prefetch(self, scopes: Iterable[str]) -> asyncio.Task:
        """Start fetching one access token for all ``scopes``. Requests needing any of them wait for it
        instead of asking on their own."""
        scopes = list(dict.fromkeys(scopes))
        entry = (frozenset(item for scope in scopes for item in scope_items(scope)),
                 asyncio.ensure_future(self._fetch(scopes)))
        self._pending.append(entry)

        def done(task: asyncio.Task) -> None:
            self._pending.remove(entry)
            if not task.cancelled():
                task.exception()  # retrieved here; waiters see it through their own await

        entry[1].add_done_callback(done)
        return entry[1]

    async def fetch(self, scopes: Iterable[str]) -> str:
        """One access token for all ``scopes``; every granted item is cached."""
        return await self.prefetch(scopes)

    async def _fetch(self, scopes: list[str], renewed: bool = False) -> str:
        refresh = await self.refresh_token(renew=renewed)
        form = [("grant_type", "refresh_token"), ("service", self.service), ("refresh_token", refresh)]
        form += [("scope", s) for s in scopes]
        try:
            body = await self._post(self.realm, form)
        except TokenError as e:
            if e.status == 401 and not renewed:  # refresh token expired or revoked early: exchange again
                return await self._fetch(scopes, renewed=True)
            raise
        token = body.get("access_token") or ""
        hold(token)
        claims = jwt_claims(token)
        exp = float(claims.get("exp", time.time() + 1200))
        granted = claims.get("access")
        if isinstance(granted, list):
            items = [f"{a.get('type')}:{a.get('name')}:{act}" for a in granted for act in a.get("actions") or []]
        else:  # opaque token: assume what was asked for
            items = [i for s in scopes for i in scope_items(s)]
        for item in items:
            self._access[item] = (token, exp)
        return token

    async def token_for(self, item: str) -> str:
        """A token covering ``item`` (``type:name:action``): cached, pending in a batch, or fetched alone."""
        token = self.cached(item)
        if token:
            return token
        for wanted, future in list(self._pending):
            if item in wanted:
                try:
                    await asyncio.shield(future)
                except Exception:
                    break
                token = self.cached(item)
                if token:
                    return token
                break
        token = await self.fetch([item])  # an item is a scope with one action
        return self.cached(item) or token

    def forget(self, token: str) -> None:
        for item, (cached, _) in list(self._access.items()):
            if cached == token:
                del self._access[item]


class AcrAuthPolicy(AsyncHTTPPolicy):
    """Authorizes each request with the cached token for its scope item (``request.context['acr_scope']``);
    on a 401 it fetches a fresh token for exactly the challenged scope and retries once."""

    def __init__(self, tokens: RegistryTokens):
        super().__init__()
        self.tokens = tokens

    async def send(self, request: PipelineRequest) -> PipelineResponse:
        item = request.context.get("acr_scope")
        if item is None:
            return await self.next.send(request)
        token = await self.tokens.token_for(item)
        request.http_request.headers["Authorization"] = f"Bearer {token}"
        response = await self.next.send(request)
        if response.http_response.status_code != 401:
            return response
        challenge = parse_challenge(response.http_response.headers.get("WWW-Authenticate", ""))
        scope = challenge.get("scope") or item
        self.tokens.forget(token)
        token = await self.tokens.fetch([scope])
        request.http_request.headers["Authorization"] = f"Bearer {token}"
        return await self.next.send(request)
