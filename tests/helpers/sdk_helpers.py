"""Turn the stock azure-containerregistry models into rows comparable with the truth tables."""

from __future__ import annotations

import polars as pl

from acrlib import schema


def _flags(p) -> dict:
    return {"delete_enabled": p.can_delete, "write_enabled": p.can_write, "read_enabled": p.can_read,
            "list_enabled": p.can_list}


def manifest_rows(registry: str, repository: str, items) -> pl.DataFrame:
    rows = [{
        "registry": registry, "repository": repository, "digest": m.digest, "size_bytes": m.size_in_bytes,
        "created_at": m.created_on, "last_updated_at": m.last_updated_on,
        "architecture": None if m.architecture is None else str(getattr(m.architecture, "value", m.architecture)),
        "os": None if m.operating_system is None else str(getattr(m.operating_system, "value", m.operating_system)),
        "tags": list(m.tags or []), **_flags(m),
    } for m in items]
    cols = ["registry", "repository", "digest", "size_bytes", "created_at", "last_updated_at", "architecture", "os",
            "tags", *schema.FLAGS]
    return pl.DataFrame(rows, schema={c: schema.TABLES["manifests"][c] for c in cols}, orient="row")


def tag_rows(registry: str, repository: str, items) -> pl.DataFrame:
    rows = [{
        "registry": registry, "repository": repository, "tag": t.name, "digest": t.digest,
        "created_at": t.created_on, "last_updated_at": t.last_updated_on, **_flags(t),
    } for t in items]
    cols = ["registry", "repository", "tag", "digest", "created_at", "last_updated_at", *schema.FLAGS]
    return pl.DataFrame(rows, schema={c: schema.TABLES["tags"][c] for c in cols}, orient="row")


def token_session(emu, registry: str, scopes: list[str]):
    """A requests.Session carrying an ACR access token for ``scopes``, obtained by hand through the
    documented exchange (Entra token -> refresh token -> access token)."""
    import requests

    endpoint = emu.endpoint(registry)
    service = endpoint.removeprefix("https://")
    s = requests.Session()
    s.verify = emu.ca_path
    s.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
    aad = emu.credential().get_token("https://containerregistry.azure.net/.default").token
    refresh = s.post(f"{endpoint}/oauth2/exchange", data={"grant_type": "access_token", "service": service,
                                                            "access_token": aad}).json()["refresh_token"]
    form = [("grant_type", "refresh_token"), ("service", service), ("refresh_token", refresh)]
    form += [("scope", scope) for scope in scopes]
    token = s.post(f"{endpoint}/oauth2/token", data=form).json()["access_token"]
    s.headers["Authorization"] = f"Bearer {token}"
    return s


def arm_get(emu, path: str):
    """GET an ARM path through azure-core's own bearer-token pipeline (what azure-mgmt-* clients use)."""
    from azure.core import PipelineClient
    from azure.core.pipeline.policies import BearerTokenCredentialPolicy
    from azure.core.rest import HttpRequest

    policy = BearerTokenCredentialPolicy(emu.credential(), "https://management.azure.com/.default")
    with PipelineClient(emu.arm_endpoint, policies=[policy], connection_verify=emu.ca_path) as client:
        response = client.send_request(HttpRequest("GET", f"{emu.arm_endpoint}{path}"))
        response.read()
        return response
