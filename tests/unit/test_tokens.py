"""ACR's token exchange in-process: one refresh token per registry, one access token per scope (or batch of
scopes), cached until shortly before expiry, renewed on a 401."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from urllib.parse import parse_qs

from aiohttp import web
from inprocess import serve

from acrlib.collection.http import RetryPolicy, Session
from acrlib.collection.tokens import EXPIRY_MARGIN_S, EntraToken, RegistryTokens, jwt_claims, scope_items


def unsigned_jwt(claims: dict) -> str:
    encode = lambda part: base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{encode({'alg': 'none'})}.{encode(claims)}."


class Credential:
    def __init__(self):
        self.calls = 0

    async def get_token(self, *scopes, **kwargs):
        self.calls += 1
        from azure.core.credentials import AccessToken

        return AccessToken("entra-token", int(time.time()) + 3600)


def token_service(lifetime_s: float = 1200, refuse_first_token: bool = False):
    """A token service issuing JWTs that grant exactly the scopes asked for."""
    state = {"refused": not refuse_first_token}

    async def handler(request: web.Request) -> web.Response:
        form = parse_qs((await request.read()).decode())
        if request.path == "/oauth2/exchange":
            return web.json_response({"refresh_token": unsigned_jwt({"exp": time.time() + 10_800})})
        if not state["refused"]:
            state["refused"] = True
            return web.json_response({"errors": [{"code": "UNAUTHORIZED", "message": "refresh token revoked"}]},
                                     status=401)
        access = []
        for scope in form.get("scope", []):
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        return web.json_response({"access_token": unsigned_jwt({"exp": time.time() + lifetime_s,
                                                                  "access": access})})

    return handler


async def tokens_against(handler, body):
    async with serve(handler) as (url, seen), Session() as session:
        credential = Credential()
        tokens = RegistryTokens(url, EntraToken(credential), session.pipeline([RetryPolicy(base_delay=0.01)]))
        result = await body(tokens)
        return result, [(method, path) for method, path, *_ in seen], credential.calls


def test_one_exchange_and_one_token_serve_many_requests_for_a_scope():
    async def body(tokens):
        return await asyncio.gather(*(tokens.token_for("repository:app/api:metadata_read") for _ in range(50)))

    results, seen, entra_calls = asyncio.run(tokens_against(token_service(), body))
    assert len(set(results)) == 1
    assert seen == [("POST", "/oauth2/exchange"), ("POST", "/oauth2/token")] and entra_calls == 1


def test_a_prefetched_batch_covers_every_repository_in_it_with_one_request():
    async def body(tokens):
        names = [f"team/app{i}" for i in range(10)]
        tokens.prefetch([f"repository:{n}:metadata_read,pull" for n in names])
        return await asyncio.gather(*(tokens.token_for(f"repository:{n}:pull") for n in names))

    results, seen, _ = asyncio.run(tokens_against(token_service(), body))
    assert len(set(results)) == 1 and seen.count(("POST", "/oauth2/token")) == 1


def test_a_token_close_to_expiry_is_fetched_again():
    async def body(tokens):
        first = await tokens.token_for("repository:a:pull")
        second = await tokens.token_for("repository:a:pull")
        return first, second

    # tokens that expire within the renewal margin are never served from the cache
    (first, second), seen, _ = asyncio.run(tokens_against(token_service(lifetime_s=EXPIRY_MARGIN_S - 1), body))
    assert seen.count(("POST", "/oauth2/token")) == 2 and first != second
    assert jwt_claims(first)["access"][0]["name"] == "a"


def test_a_refused_refresh_token_is_exchanged_again_once():
    async def body(tokens):
        return await tokens.token_for("repository:a:pull")

    _, seen, entra_calls = asyncio.run(tokens_against(token_service(refuse_first_token=True), body))
    assert seen == [("POST", "/oauth2/exchange"), ("POST", "/oauth2/token"), ("POST", "/oauth2/exchange"),
                    ("POST", "/oauth2/token")]
    assert entra_calls == 1  # the Entra token itself is still valid and cached


def test_scopes_split_into_items_and_bad_jwts_have_no_claims():
    assert scope_items("repository:a/b:pull,metadata_read") == ["repository:a/b:pull", "repository:a/b:metadata_read"]
    assert scope_items("registry:catalog:*") == ["registry:catalog:*"]
    assert jwt_claims("not-a-jwt") == {} and jwt_claims("a.!!!.c") == {}
