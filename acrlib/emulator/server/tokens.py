"""Signed JWTs for the emulator: Entra ID tokens (what a credential returns), ACR refresh and access tokens.

All are HS256 with the emulator's secret. Claims are ASCII without ``>``, ``?`` or ``~``, so the base64url
payload equals plain base64: azure-containerregistry 1.2.0 reads a refresh token's ``exp`` with the standard
alphabet.
"""

from __future__ import annotations

import time
import uuid

import jwt

ENTRA_ISSUER = "https://sts.windows.net/{tenant}/"
# Audiences the emulator accepts for Resource Graph / ARM and for the ACR token exchange.
ARM_AUDIENCES = (
    "https://management.azure.com",
    "https://management.core.windows.net",
    "https://management.chinacloudapi.cn",
    "https://management.core.chinacloudapi.cn",
    "https://management.usgovcloudapi.net",
    "https://management.core.usgovcloudapi.net",
)
ACR_AUDIENCE = "https://containerregistry.azure.net"

REFRESH_LIFETIME_S = 3 * 3600 + 15 * 60
ACCESS_LIFETIME_S = 75 * 60


def scope_audience(scope: str) -> str:
    return scope.removesuffix("/.default").rstrip("/")


def mint(secret: str, claims: dict) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def verify(secret: str, token: str, audience: str | tuple[str, ...] | None = None) -> dict | None:
    """The token's claims when its signature, expiry and audience hold; None otherwise."""
    try:
        return jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=audience,
            options={"verify_aud": audience is not None, "require": ["exp"]},
            leeway=0,
        )
    except jwt.PyJWTError:
        return None


def entra_token(secret: str, tenant_id: str, principal: str, scope: str, lifetime_s: int = 3600) -> tuple[str, int]:
    now = int(time.time())
    exp = now + lifetime_s
    claims = {
        "aud": scope_audience(scope),
        "iss": ENTRA_ISSUER.format(tenant=tenant_id),
        "tid": tenant_id,
        "oid": principal,
        "iat": now,
        "nbf": now - 5,
        "exp": exp,
    }
    return mint(secret, claims), exp


def refresh_token(secret: str, service: str, principal: str, tenant_id: str) -> str:
    now = int(time.time())
    return mint(secret, {
        "jti": uuid.uuid4().hex, "sub": principal, "tenant": tenant_id, "aud": service,
        "iss": "Azure Container Registry", "grant_type": "refresh_token", "issued": round(time.time(), 3),
        "iat": now, "nbf": now - 5, "exp": now + REFRESH_LIFETIME_S,
    })


def access_token(secret: str, service: str, principal: str, access: list[dict]) -> str:
    now = int(time.time())
    return mint(secret, {
        "jti": uuid.uuid4().hex, "sub": principal, "aud": service, "iss": "Azure Container Registry",
        "access": access, "issued": round(time.time(), 3), "iat": now, "nbf": now - 5,
        "exp": now + ACCESS_LIFETIME_S,
    })


def parse_scope(scope: str) -> dict | None:
    """``repository:team/api:pull,metadata_read`` -> {type, name, actions}; None when malformed."""
    kind, sep, rest = scope.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not kind or not name:
        return None
    return {"type": kind, "name": name, "actions": [a for a in actions.split(",") if a]}


def grants(access: list[dict], kind: str, name: str, action: str) -> bool:
    for entry in access:
        if entry.get("type") == kind and entry.get("name") == name:
            actions = entry.get("actions") or []
            if action in actions or "*" in actions:
                return True
    return False
