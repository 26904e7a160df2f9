"""acrlib against a misbehaving or hostile server (its own small HTTPS app, see helpers/hostile.py): tokens go
only to the registry's origin, every wait, loop and answer is bounded, and one bad item costs one page."""

from __future__ import annotations

import time
from urllib.parse import quote, quote_plus

import polars as pl
import pytest
from aiohttp import web
from hostile import ENTRA_TOKEN, SUBSCRIPTION, Hostile, answering, page_link

import acrlib
from acrlib.errors import ArmError


def collect(h: Hostile, **options):
    return acrlib.collect(**h.connection(), **{"activity_days": 0, "deployments": False, **options})


def rows(inv, table: str, repository: str | None = None) -> pl.DataFrame:
    df = getattr(inv, table)
    if repository is not None:
        df = df.filter(pl.col("repository") == repository)
    columns = {"manifests": ["registry", "repository", "digest", "size_bytes", "tags"],
               "tags": ["registry", "repository", "tag", "digest"]}[table]
    return df.select(columns)


def truth(h: Hostile, table: str, repository: str | None = None) -> pl.DataFrame:
    df = h.truth()[table]
    return df if repository is None else df.filter(pl.col("repository") == repository)


def errors(inv) -> list[tuple]:
    return inv.errors.select("repository", "stage", "code").rows()


def test_an_honest_server_is_read_exactly():
    with Hostile() as h:
        inv = collect(h)
    assert inv.complete, inv.errors
    assert rows(inv, "manifests").equals(truth(h, "manifests"))
    assert rows(inv, "tags").equals(truth(h, "tags"))


# --- tokens go only where they belong ---------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["other-https", "same-host-http", "absolute-other-port"])
def test_a_next_link_off_the_registry_origin_is_not_followed(target):
    with Hostile() as h:
        leak = {"other-https": f"{h.url('other')}/acr/v1/app%2Fa/_manifests?last=x",
                "same-host-http": f"http://127.0.0.1:{h.ports['hostileacr']}/acr/v1/app%2Fa/_manifests?last=x",
                "absolute-other-port": f"//127.0.0.1:{h.ports['other']}/acr/v1/app%2Fa/_manifests"}[target]

        async def manifests(request, honest):
            response = await honest()
            if "app/a" in request.path or "app%2Fa" in request.raw_path:
                response.headers["Link"] = f'<{leak}>; rel="next"'
            return response

        h.route("manifests", manifests)
        inv = collect(h)
    assert h.requests_to("other") == [], "no request, and no token, reached another origin"
    assert errors(inv) == [("app/a", "manifests", "BAD_NEXT_LINK")]
    assert inv.registries["status"].to_list() == ["partial"]
    # the page read before the link is kept, and every other repository is exact
    assert rows(inv, "manifests").equals(truth(h, "manifests"))
    assert rows(inv, "tags").equals(truth(h, "tags"))


def test_a_challenge_naming_another_realm_gets_no_token():
    with Hostile() as h:
        async def repository(request, honest):
            if request.headers.get("Authorization", "").startswith("Bearer ") and "web" not in request.path:
                return await honest()
            return web.json_response({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
                                     status=401, headers={"WWW-Authenticate": f'Bearer realm="{h.url("other")}/'
                                                                              'oauth2/token",service="evil",'
                                                                              'scope="repository:web:pull"'})

        h.route("repository", repository)
        inv = collect(h)
    assert h.requests_to("other") == []
    assert errors(inv) == [("web", "repository", "UNAUTHORIZED")]


@pytest.mark.parametrize("login_server", ["127.0.0.1:{other}/path", "user@127.0.0.1:{other}",
                                          "127.0.0.1:{other}?x=1", "127.0.0.1:{other}#frag", ""])
def test_a_login_server_that_is_not_a_host_name_is_sent_nothing(login_server):
    with Hostile() as h:
        h.login_servers["hostileacr"] = login_server.format(other=h.ports["other"])
        inv = collect(h)
    assert h.requests_to("other") == [] and h.requests_to("hostileacr") == []
    assert inv.registries["status"].to_list() == ["failed"]
    assert inv.errors["code"].to_list() == ["BAD_LOGIN_SERVER" if login_server else "NO_LOGIN_SERVER"]


def test_a_token_echoed_in_an_error_message_is_in_no_output(tmp_path, capsys, caplog):
    with Hostile() as h:
        async def repository(request, honest):
            if "web" in request.path:
                auth = request.headers.get("Authorization", "")
                return web.json_response({"errors": [{"code": "DENIED", "message": f"you sent {auth} and "
                                                      f"refresh_token={auth[7:]}"}]}, status=403)
            return await honest()

        async def usages(request, honest):
            auth = request.headers.get("Authorization", "")
            return web.json_response({"error": {"code": "AuthorizationFailed", "message": f"token {auth[7:]}"}},
                                     status=403)

        h.route("repository", repository)
        h.route("usages", usages)
        inv = collect(h)
        tokens = {hdrs["Authorization"][7:] for _, _, hdrs in h.requests_to("hostileacr") + h.requests_to("arm")
                  if hdrs.get("Authorization", "").startswith("Bearer ")}
    assert ENTRA_TOKEN in tokens and len(tokens) >= 2, "the ARM token and the registry's access token were sent"
    assert set(errors(inv)) == {("web", "repository", "DENIED"), (None, "usage", "AuthorizationFailed")}
    snapshot = inv.to_parquet(tmp_path)
    outputs = [repr(inv), str(inv.errors.to_dicts()), caplog.text, capsys.readouterr().out]
    outputs += [f.read_bytes().decode("latin-1") for f in snapshot.iterdir()]
    for token in tokens:
        for part in (token, *token.split(".")[:2]):
            assert not any(part in text for text in outputs), "a token reached an output"
    assert any("<redacted" in m for m in inv.errors["message"])


# --- everything is bounded -----------------------------------------------------------------------------------------


def test_a_next_link_that_repeats_a_page_ends_the_listing():
    with Hostile() as h:
        async def tags(request, honest):
            response = await honest()
            if "web" in request.path:
                response.headers["Link"] = page_link("web", "tags", "v1")  # a page, then itself, forever
            return response

        h.route("tags", tags)
        inv = collect(h)
    # the honest server ignores `last`: the repeated page lists the same tags again, each kept once
    assert set(errors(inv)) == {("web", "tags", "PAGING_LOOP"), (None, "parse", "DUPLICATE_ITEMS")}
    assert len([p for m, p, _ in h.requests_to("hostileacr") if "/web/_tags" in p.replace("%2F", "/")]) == 2
    assert rows(inv, "tags").equals(truth(h, "tags"))


def test_a_skip_token_that_repeats_is_a_clear_resource_graph_error():
    with Hostile() as h:
        async def resource_graph(request, honest):
            response = await honest()
            body = __import__("json").loads(response.body)
            body["$skipToken"] = "again"
            return web.json_response(body)

        h.route("resource_graph", resource_graph)
        with pytest.raises(ArmError, match=r"PAGING_LOOP.*Resource Graph returned a \$skipToken it had already"):
            collect(h)
    assert len(h.requests_to("arm")) <= 6


@pytest.mark.parametrize(("value", "outcome"), [("1e9", "fails"), ("inf", "fails"), ("Infinity", "fails"),
                                                ("-100", "retried"), ("soon-ish", "retried"), ("nan", "retried")])
def test_retry_after_values_never_hang_the_collection(value, outcome):
    with Hostile() as h:
        answered = set()

        async def manifests(request, honest):
            if "app/b" in request.path and request.path not in answered:
                answered.add(request.path)
                return web.json_response({"errors": [{"code": "TOOMANYREQUESTS", "message": "slow down"}]},
                                         status=429, headers={"Retry-After": value})
            return await honest()

        h.route("manifests", manifests)
        started = time.monotonic()
        inv = collect(h, max_retry_wait=5)
        elapsed = time.monotonic() - started
    assert elapsed < 10
    if outcome == "fails":
        assert errors(inv) == [("app/b", "manifests", "RETRY_AFTER_TOO_LONG")]
        assert value in inv.errors["message"][0] and "max_retry_wait (5 s)" in inv.errors["message"][0]
        assert rows(inv, "manifests").equals(truth(h, "manifests").filter(pl.col("repository") != "app/b"))
    else:
        assert inv.complete, inv.errors
        assert rows(inv, "manifests").equals(truth(h, "manifests"))


@pytest.mark.parametrize("behaviour", ["never-answers", "drips-a-byte"])
def test_a_server_that_stalls_costs_about_one_deadline(behaviour):
    with Hostile(repositories={f"team/app{i}": 2 for i in range(40)}) as h:
        async def stall(request, honest):
            if behaviour == "never-answers":
                await __import__("asyncio").sleep(3600)
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            await response.prepare(request)
            for _ in range(10_000):
                await response.write(b" ")
                await __import__("asyncio").sleep(0.2)
            return response

        for route in ("repository", "manifests", "tags"):
            h.route(route, stall)
        started = time.monotonic()
        inv = collect(h, request_timeout=1.5)
        elapsed = time.monotonic() - started
    assert elapsed < 8, f"{elapsed:.1f} s for 40 repositories with a 1.5 s deadline"
    codes = set(inv.errors["code"])
    assert codes == {"TIMEOUT", "HOST_UNRESPONSIVE"}, codes
    assert inv.registries["status"].to_list() == ["partial"]
    # every repository is accounted for: each one's three requests either timed out or were not sent
    assert inv.errors.filter(pl.col("repository").is_not_null())["repository"].n_unique() == 40


def test_a_resource_graph_that_never_answers_fails_within_the_deadline():
    with Hostile() as h:
        async def stall(request, honest):
            await __import__("asyncio").sleep(3600)

        h.route("resource_graph", stall)
        started = time.monotonic()
        with pytest.raises(ArmError, match="TIMEOUT"):
            collect(h, request_timeout=1)
    assert time.monotonic() - started < 5


MEMORY_PROBE = """
import json, resource, sys, asyncio
sys.path.insert(0, {helpers!r})
import zlib
from aiohttp import web
from hostile import Hostile
import acrlib

def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20

CHUNK = b"x" * (1 << 20)

async def stream(request, length=None):
    response = web.StreamResponse(headers={{"Content-Type": "application/json"}})
    if length is not None:
        response.content_length = length
    await response.prepare(request)
    try:
        for _ in range(2048):
            await response.write(CHUNK)
    except (ConnectionError, RuntimeError):
        pass  # the client stopped reading: what the test wants
    return response
gzip_bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
bomb = b"".join([gzip_bomb.compress(b"\\0" * (1 << 20)) for _ in range(512)] + [gzip_bomb.flush()])

with Hostile() as h:
    async def huge(request, honest):
        if "app/a" in request.path:  # 2 GiB announced and streamed
            return await stream(request, 2 << 30)
        if "app/b" in request.path:  # no length, 2 GiB streamed until the client stops reading
            return await stream(request)
        if "web" in request.path:  # 1.4 MB of gzip that inflates to 512 MiB
            return web.Response(body=bomb, headers={{"Content-Type": "application/json", "Content-Encoding": "gzip"}})
        return await honest()

    h.route("manifests", huge)
    before = rss_mb()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    inv = acrlib.collect(**h.connection(), max_answer_bytes={cap})
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"before": before, "peak_before": peak_before, "peak": peak,
                  "errors": inv.errors.select("repository", "code").rows(), "messages": inv.errors["message"].to_list(),
                  "tags": inv.tags.height}}))
"""


@pytest.mark.slow
def test_a_huge_answer_is_cut_off_at_the_cap_without_the_memory_it_announces():
    import json
    import subprocess
    import sys
    from pathlib import Path

    cap = 16 << 20
    helpers = str(Path(__file__).resolve().parents[1] / "helpers")
    done = subprocess.run([sys.executable, "-c", MEMORY_PROBE.format(helpers=helpers, cap=cap)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(result["errors"]) == [["app/a", "ANSWER_TOO_LARGE"], ["app/b", "ANSWER_TOO_LARGE"],
                                        ["web", "ANSWER_TOO_LARGE"]]
    assert result["tags"] == 9, "every other listing is complete"
    rise = result["peak"] - max(result["before"], result["peak_before"])
    assert rise < (cap >> 20) + 48, f"peak memory rose {rise:.0f} MB with a {cap >> 20} MB cap"
    assert "2,147,483,648 bytes" in " ".join(result["messages"])


# --- one bad item costs one page, never a registry ----------------------------------------------------------------

WRONG_SHAPES = {
    "tags as a string": {"tags": "latest"},
    "size beyond int64": {"imageSize": 10 ** 30},
    "size as text": {"imageSize": "ten"},
    "flags as a string": {"changeableAttributes": "locked"},
    "flag as text": {"changeableAttributes": {"deleteEnabled": "no"}},
    "layers of strings": {"layers": ["x"]},  # an unknown field: ignored, harmless
    "no digest": {"digest": None},
}


@pytest.mark.parametrize("shape", list(WRONG_SHAPES))
def test_a_wrong_shaped_manifest_costs_its_page_and_nothing_else(shape):
    with Hostile() as h:
        async def manifests(request, honest):
            response = await honest()
            if "app/b" not in request.path:
                return response
            body = __import__("json").loads(response.body)
            body["manifests"][1].update(WRONG_SHAPES[shape])
            return web.json_response(body)

        h.route("manifests", manifests)
        inv = collect(h)
    others = pl.col("repository") != "app/b"
    assert rows(inv, "manifests").filter(others).equals(truth(h, "manifests").filter(others))
    assert rows(inv, "tags").equals(truth(h, "tags")), "the tags of app/b come from their own listing"
    assert inv.registries["status"].to_list() == (["complete"] if shape == "layers of strings" else ["partial"])
    if shape != "layers of strings":
        assert errors(inv) == [("app/b", "manifests", "INVALID_PAGE")]


@pytest.mark.parametrize("body", [b"<html>proxy login</html>", b'{"tags": {"not": "a list"}}', b"[1, 2, 3]",
                                  b'{"tags": [1, "two", null]}', b'{"tags": [{"digest": ' + b"[" * 5000])
def test_a_listing_page_that_is_not_a_page_costs_that_repository_its_listing(body):
    with Hostile() as h:
        h.route("tags", answering(body, "web"))
        inv = collect(h)
    others = pl.col("repository") != "web"
    assert rows(inv, "tags").filter(others).equals(truth(h, "tags").filter(others))
    assert rows(inv, "manifests").equals(truth(h, "manifests"))
    assert ("web", "tags", "INVALID_PAGE") in errors(inv)


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"manifestCount": "many", "tagCount": 1e400}'])
def test_odd_repository_attributes_cost_only_that_repository_row(body):
    with Hostile() as h:
        h.route("repository", answering(body, "app"))
        inv = collect(h)
    assert rows(inv, "manifests").equals(truth(h, "manifests"))
    assert rows(inv, "tags").equals(truth(h, "tags"))
    if body.startswith(b"{"):  # usable: the row is there, the odd fields are null
        assert inv.repositories.height == 3 and inv.repositories["manifest_count"].null_count() == 2
    else:
        assert inv.repositories["repository"].to_list() == ["web"]
        assert set(errors(inv)) == {("app/a", "repository", "INVALID_ANSWER"),
                                    ("app/b", "repository", "INVALID_ANSWER")}


def test_a_catalog_page_that_is_not_one_costs_its_names_only():
    with Hostile(repositories={"a1": 1, "a2": 1, "b1": 1}) as h:
        async def catalog(request, honest):
            if "last=" in request.raw_path:
                return web.json_response({"repositories": ["a1", 7, None]})
            response = web.json_response({"repositories": ["b1"]})
            response.headers["Link"] = '</acr/v1/_catalog?last=b1&n=1000>; rel="next"'
            return response

        h.route("catalog", catalog)
        inv = collect(h)
    assert inv.repositories["repository"].to_list() == ["b1"]
    assert errors(inv) == [(None, "catalog", "INVALID_PAGE")]
    assert inv.registries["status"].to_list() == ["partial"]


@pytest.mark.parametrize(("body", "message"), [
    (b"<html><body>Sign in to the proxy</body></html>", "Resource Graph answered 200 with a body that is not a JSON"),
    (b'["a", "list"]', "Resource Graph answered 200 with a body that is not a JSON object"),
    (b'{"data": "rows"}', "Resource Graph answered with 'data' that is not a list of rows"),
    (b'{"data": [1, 2]}', "Resource Graph answered with 'data' that is not a list of rows"),
    (b'{"data": [{"id": 5, "name": ["x"]}]}', "Resource Graph returned a registry row without an id or a name"),
])
def test_resource_graph_answers_that_are_not_resource_graph_answers_are_a_clear_error(body, message):
    with Hostile() as h:
        async def resource_graph(request, honest):
            return web.Response(body=body, content_type="text/html" if body.startswith(b"<") else "application/json")

        h.route("resource_graph", resource_graph)
        with pytest.raises(ArmError, match="INVALID_ANSWER") as caught:
            collect(h)
    assert message in str(caught.value) and not isinstance(caught.value, ValueError)


def test_odd_field_types_in_a_resource_graph_row_are_null_not_a_crash():
    with Hostile(registries=("hostileacr", "otheracr")) as h:
        async def resource_graph(request, honest):
            response = await honest()
            body = __import__("json").loads(response.body)
            if body["data"] and "properties" in body["data"][0]:
                body["data"][0]["properties"].update({"adminUserEnabled": "yes", "policies": "none",
                                                      "creationDate": 17})
                body["data"][0]["sku"] = "Premium"
                body["data"][1]["tags"] = ["not", "a", "dict"]
            return web.json_response(body)

        async def usages(request, honest):
            return web.json_response({"value": [{"name": "Size", "currentValue": "lots", "limit": 2 ** 70}]})

        h.route("resource_graph", resource_graph)
        h.route("usages", usages)
        inv = collect(h)
    row = inv.registries.filter(pl.col("registry") == "hostileacr").row(0, named=True)
    assert row["admin_user_enabled"] is None and row["sku"] is None and row["created_at"] is None
    assert inv.registries["storage_used_bytes"].null_count() == 2
    assert set(errors(inv)) == {(None, "usage", "INVALID_ANSWER")}
    assert inv.manifests.height == 2 * truth(h, "manifests").height


def test_a_run_command_location_off_arm_gets_no_token():
    with Hostile() as h:
        cluster = {"id": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.ContainerService/"
                         "managedClusters/aks-x", "name": "aks-x", "type": "microsoft.containerservice/managedclusters",
                   "kind": "", "subscriptionId": SUBSCRIPTION, "resourceGroup": "rg", "properties": {}}

        async def resource_graph(request, honest):
            body = await request.json()
            if "managedclusters" in body["query"]:
                return web.json_response({"totalRecords": 1, "count": 1, "resultTruncated": "false",
                                          "data": [cluster]})
            return await honest()

        async def usages(request, honest):
            if request.path.endswith("/runCommand"):
                return web.Response(status=202, headers={"Location": f"{h.url('other')}/steal", "Retry-After": "0"})
            return await honest()

        h.route("resource_graph", resource_graph)
        h.route("usages", usages)
        inv = collect(h, deployments=True, aks_run_command=True)
    assert h.requests_to("other") == []
    assert inv.errors.filter(pl.col("stage") == "deployments")["code"].to_list() == ["BAD_NEXT_LINK"]
    assert inv.deployment_sources.select("name", "status").rows() == [("aks-x", "error")]


def test_opaque_tokens_echoed_by_the_token_service_and_the_registry_are_in_no_output(tmp_path, capsys, caplog):
    """Entra tokens are not always JWTs: every token acrlib holds is redacted by value, whatever its shape."""
    import logging
    import secrets

    from azure.core.credentials import AccessToken

    from acrlib.report import run_report

    caplog.set_level(logging.DEBUG, logger="azure")
    caplog.set_level(logging.DEBUG, logger="acrlib")
    entra = "EwBwA8l6BAAU" + secrets.token_hex(24)  # the shape of a personal account's token: no dots
    refresh = "opaque-refresh-" + secrets.token_urlsafe(24)
    access = "opaque+access/" + secrets.token_hex(20)  # with characters a form or a URL encodes

    class Opaque:
        def get_token(self, *scopes, **kwargs):
            return AccessToken(entra, int(time.time()) + 3600)

    with Hostile() as h:
        async def exchange(request, honest):
            return web.json_response({"refresh_token": refresh})

        async def token(request, honest):
            form = await request.post()
            if any(":web:" in s for s in form.getall("scope", [])):
                return web.json_response({"errors": [{"code": "UNAUTHORIZED", "message":
                                                      f"refresh_token {form.get('refresh_token')} is not valid"}]},
                                         status=401, headers={"X-Echo": str(form.get("refresh_token"))})
            return web.json_response({"access_token": access})

        async def repository(request, honest):
            if "app/a" in request.path:
                sent = request.headers.get("Authorization", "")
                return web.json_response({"errors": [{"code": "DENIED", "message": f"{sent[7:]} may not read this "
                                                      f"(also {quote(sent[7:], safe='')})"}]}, status=403,
                                         headers={"X-Echo": sent})
            return await honest()

        async def usages(request, honest):
            sent = request.headers.get("Authorization", "")[7:]
            return web.json_response({"error": {"code": "AuthorizationFailed", "message": f"{sent} is not allowed"}},
                                     status=403)

        for name, handler in (("exchange", exchange), ("token", token), ("repository", repository),
                              ("usages", usages)):
            h.route(name, handler)
        inv = acrlib.collect(**{**h.connection(), "credential": Opaque()}, activity_days=0, deployments=False)
        sent = {hdrs.get("Authorization", "")[7:] for _, _, hdrs in h.requests_to("hostileacr") + h.requests_to("arm")}
    assert {entra, access} <= sent, "the opaque Entra and access tokens were sent"
    assert {code for *_, code in errors(inv)} >= {"DENIED", "AuthorizationFailed", "UNAUTHORIZED"}
    snapshot = inv.to_parquet(tmp_path / "snapshots")
    html = run_report(source=str(snapshot), out=tmp_path / "report",
                      parameters={"activity_days": 0, "deployments": False, "layers": False})
    outputs = [repr(inv), str(inv.errors.to_dicts()), caplog.text, capsys.readouterr().out, html.read_text()]
    outputs += [f.read_bytes().decode("latin-1") for f in snapshot.iterdir()]
    outputs.append(html.with_suffix(".ipynb").read_text())
    for secret in (entra, refresh, access, quote(access, safe=""), quote_plus(access)):
        assert not any(secret in text for text in outputs), "a token reached an output"
    assert sum("<redacted" in m for m in inv.errors["message"]) >= 3


# --- the newer surfaces: ARM paths, Log Analytics rows, per-item answers ----------------------------------------

DEEP = b"[" * 200_000 + b"]" * 200_000  # deeper than any JSON parser recurses


def aks_cluster(h: Hostile, name: str = "aks-one") -> dict:
    from hostile import WORKSPACE

    return {"id": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.ContainerService/"
                  f"managedClusters/{name}", "name": name, "type": "Microsoft.ContainerService/managedClusters",
            "subscriptionId": SUBSCRIPTION, "resourceGroup": "rg",
            "properties": {"addonProfiles": {"omsagent": {"enabled": True, "config": {
                "logAnalyticsWorkspaceResourceID": WORKSPACE}}}}}


def test_deep_json_from_resource_graph_is_the_documented_invalid_answer():
    with Hostile() as h:
        h.route("resource_graph", answering(DEEP, "ResourceGraph"))
        with pytest.raises(ArmError) as raised:
            collect(h)
    assert raised.value.code == "INVALID_ANSWER"


@pytest.mark.parametrize("workspace_id", [
    "@127.0.0.1:{other}/subscriptions/00000000-0000-4000-8000-000000000002/resourceGroups/rg/x/y",
    ".attacker.example/subscriptions/00000000-0000-4000-8000-000000000002/x",
    "/subscriptions/00000000-0000-4000-8000-000000000002/../../../other",
    "//127.0.0.1:{other}/subscriptions/00000000-0000-4000-8000-000000000002/x",
])
def test_a_resource_id_from_an_answer_never_sends_the_arm_token_elsewhere(workspace_id):
    with Hostile() as h:
        target = workspace_id.format(other=h.ports["other"])

        async def settings(request, honest):
            return web.json_response({"value": [{"name": "s", "properties": {
                "workspaceId": target, "logAnalyticsDestinationType": "Dedicated",
                "logs": [{"category": "ContainerRegistryRepositoryEvents", "enabled": True}]}}]})

        h.route("diagnostic_settings", settings)
        inv = collect(h, activity_days=30)
        arm_paths = [p for _, p, _ in h.requests_to("arm")]
    assert h.requests_to("other") == [], "nothing reached another origin"
    assert not any("other" in p or ".." in p for p in arm_paths)
    assert "BAD_RESOURCE_ID" in set(inv.errors["code"])
    assert inv.manifests.height == 9, "the registry itself is read in full"


def test_a_broken_diagnostic_settings_answer_costs_that_registrys_activity_only():
    with Hostile(registries=("deepacr", "twinacr", "goodacr")) as h:
        h.events = {"ContainerRegistryRepositoryEvents": pl.DataFrame(schema={
            "TimeGenerated": pl.Datetime("us", "UTC"), "_ResourceId": pl.String, "OperationName": pl.String,
            "ResultDescription": pl.String, "Repository": pl.String, "Digest": pl.String, "Tag": pl.String,
            "Identity": pl.String})}

        async def settings(request, honest):
            if "deepacr" in request.path:
                return web.Response(body=DEEP, content_type="application/json")
            if "twinacr" in request.path:  # two settings of one name: one destination null, one a string
                from hostile import WORKSPACE

                setting = {"name": "twin", "properties": {"workspaceId": WORKSPACE, "logs": [
                    {"category": "ContainerRegistryRepositoryEvents", "enabled": True}]}}
                other = {"name": "twin", "properties": {**setting["properties"], "logAnalyticsDestinationType": "x"}}
                return web.json_response({"value": [setting, other]})
            return await honest()

        h.route("diagnostic_settings", settings)
        inv = collect(h, activity_days=30)
    status = dict(inv.activity_sources.select("registry", "status").iter_rows())
    assert status["goodacr"] == "ok" and status["deepacr"] == "error"
    assert status["twinacr"] == "azure-diagnostics-mode", "the best of the two settings, compared without a crash"
    assert inv.manifests.height == 27 and inv.errors.filter(pl.col("stage") == "activity").height >= 1


def test_bad_log_analytics_rows_cost_those_rows():
    with Hostile() as h:
        web_manifest = h.data["web"][0]
        rid = h.registry_id("hostileacr").lower()
        h.events = {"ContainerRegistryRepositoryEvents": pl.DataFrame({"x": [1]})}  # a setting exists
        columns = [{"name": n, "type": t} for n, t in (
            ("ResourceId", "string"), ("Repository", "string"), ("Digest", "string"), ("Tag", "string"),
            ("Pulls", "long"), ("Pushes", "long"), ("FirstPull", "datetime"), ("LastPull", "datetime"),
            ("LastPush", "datetime"), ("Identities", "dynamic"), ("FirstEvent", "datetime"))]
        good = [rid, "web", web_manifest["digest"], "v0", 3, 0, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", None,
                '["aks"]', "2026-01-01T00:00:00Z"]

        async def answer(request, honest):
            rows = [good, good[:4], None, [*good, "extra"], [rid, ["a", "list"], *good[2:]]]
            return web.json_response({"tables": [{"name": "PrimaryResult", "columns": columns, "rows": rows}]})

        h.route("logs_query", answer)
        inv = collect(h, activity_days=30)
    assert inv.activity.select("repository", "pulls").rows() == [("web", 3)]
    source = inv.activity_sources.row(0, named=True)
    assert source["status"] == "ok" and "rows of the pull summary could not be read" in source["message"]
    assert "INVALID_ROWS" in set(inv.errors["code"])


def test_bad_container_insights_rows_cost_those_rows_and_plans_warn():
    with Hostile() as h:
        h.workloads = [aks_cluster(h)]
        h.events = {"x": pl.DataFrame({"x": [1]})}
        cluster = h.workloads[0]["id"].lower()
        server = h.login_servers["hostileacr"]

        async def answer(request, honest):
            body = await request.json()
            if body["query"].startswith("ContainerInventory"):
                names = ["ClusterId", "ContainerID", "Repository", "Image", "ImageTag", "ImageID", "Name", "LastSeen"]
                rows = [[cluster, "c1", server.split(":")[0] + ":" + server.split(":")[1], "", f"{server.split(':')[1]}"
                         "/web:v0", "", "k8s_api_shop-1_default_c1_0", "2026-01-01T00:00:00Z"],
                        [cluster, ["not", "a", "string"], "", "x", "y", "", "k8s_x", None],
                        [cluster, "c3"]]
            else:
                names = ["ClusterId", "ContainerID", "ContainerName", "Namespace", "ControllerName", "ControllerKind",
                         "LastSeen"]
                rows = [[cluster, "c1", "uid/api", "default", "shop-7d4b9c", "ReplicaSet", "2026-01-01T00:00:00Z"],
                        [cluster, {"a": 1}, "uid/x", "default", "x", "ReplicaSet", None, "extra"]]
            columns = [{"name": n, "type": "datetime" if n == "LastSeen" else "string"} for n in names]
            return web.json_response({"tables": [{"name": "PrimaryResult", "columns": columns, "rows": rows}]})

        h.route("logs_query", answer)
        inv = acrlib.collect(**h.connection(), activity_days=0, deployments=True)
    d = inv.deployments
    assert d.select("registry", "repository", "tag", "container", "namespace", "workload").rows() == [
        ("hostileacr", "web", "v0", "api", "default", "shop")]
    assert inv.deployment_sources.select("name", "status").rows() == [("aks-one", "rows-unreadable")]
    plan = acrlib.purge_plan(inv, ago="0d", keep=0)
    deleting = plan.filter(pl.col("action").is_in(["delete_tag", "delete_manifest"]))
    assert deleting.height and deleting["reason"].str.contains("AKS cluster are unknown").all(), "plans warn"
