"""Realism knobs: throttling and each injected fault behave as specified."""

from __future__ import annotations

import time

import polars as pl
import pytest
import requests
from azure.containerregistry import ContainerRegistryClient
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest
from polars.testing import assert_frame_equal
from sdk_helpers import arm_get, manifest_rows, token_session

from acrlib.emulator import Emulator, Faults
from acrlib.emulator.generate import generate

NAMES = [r.name for r in generate("tiny", 7).registries]  # registry names are fixed by the preset
PREMIUM, STANDARD, BASIC = NAMES


def test_throttling_answers_429_with_retry_after_past_the_burst():
    with Emulator("tiny", throttle=True) as emu:
        s = token_session(emu, BASIC, ["registry:catalog:*"])
        url = f"{emu.endpoint(BASIC)}/acr/v1/_catalog"
        statuses = [s.get(url) for _ in range(110)]
        codes = [r.status_code for r in statuses]
        # Basic: 1,000 ReadOps/min, a burst of 5 s worth (83 requests, three went to the token service).
        assert codes.count(200) in range(78, 86)
        throttled = next(r for r in statuses if r.status_code == 429)
        assert throttled.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
        wait = int(throttled.headers["Retry-After"])
        assert wait >= 1
        time.sleep(wait)
        assert s.get(url).status_code == 200
        stats = emu.stats()
        assert stats.filter(pl.col("status") == 429)["count"].sum() == codes.count(429)


def test_server_errors_at_a_rate_and_the_stock_sdk_retries_through_them():
    with Emulator("tiny", faults=Faults(error_rate=0.2, seed=1)) as emu:
        truth = emu.truth()["manifests"].filter(pl.col("registry") == STANDARD)
        with ContainerRegistryClient(emu.endpoint(STANDARD), emu.credential(), connection_verify=emu.ca_path) as c:
            frames = [manifest_rows(STANDARD, repo, c.list_manifest_properties(repo, results_per_page=50))
                      for repo in c.list_repository_names()]
        got = pl.concat(frames)
        assert_frame_equal(got.sort("repository", "digest"),
                           truth.select(got.columns).sort("repository", "digest"))
        errors = emu.stats().filter(pl.col("status") >= 500)["count"].sum()
        total = emu.stats()["count"].sum()
        assert 0.1 < errors / total < 0.3


def test_connection_resets_at_a_rate():
    with Emulator("tiny", faults={"reset_rate": 0.3, "seed": 2}) as emu:
        s = requests.Session()
        s.verify, s.trust_env = emu.ca_path, False
        outcomes = []
        for _ in range(60):
            try:
                outcomes.append(s.get(f"{emu.endpoint(PREMIUM)}/v2/").status_code)
            except requests.ConnectionError:
                outcomes.append("reset")
        assert 8 <= outcomes.count("reset") <= 30
        assert set(outcomes) == {"reset", 401}
        assert emu.stats().filter(pl.col("status") == 0)["count"].sum() == outcomes.count("reset")


def test_public_network_access_disabled_is_403_everywhere_and_shows_in_resource_graph():
    with Emulator("tiny", faults=Faults(denied=(STANDARD,))) as emu:
        s = requests.Session()
        s.verify, s.trust_env = emu.ca_path, False
        endpoint = emu.endpoint(STANDARD)
        for method, path in [("GET", "/v2/"), ("GET", "/acr/v1/_catalog"), ("POST", "/oauth2/exchange"),
                             ("POST", "/oauth2/token")]:
            r = s.request(method, endpoint + path)
            assert r.status_code == 403
            error = r.json()["errors"][0]
            assert error["code"] == "DENIED"
            assert "client with IP '127.0.0.1' is not allowed access" in error["message"]
        with ResourceGraphClient(emu.credential(), base_url=emu.arm_endpoint, connection_verify=emu.ca_path) as rg:
            rows = rg.resources(QueryRequest(query="resources | where name == '" + STANDARD + "' | project id, "
                                             "access = tostring(properties.publicNetworkAccess)")).data
        assert rows[0]["access"] == "Disabled"


def test_a_registry_that_vanished_after_discovery_refuses_connections_and_arm_says_404():
    with Emulator("tiny", faults=Faults(vanished=(BASIC,))) as emu:
        with ResourceGraphClient(emu.credential(), base_url=emu.arm_endpoint, connection_verify=emu.ca_path) as rg:
            rows = rg.resources(QueryRequest(query="resources | where type =~ "
                                             "'microsoft.containerregistry/registries' | project id, name")).data
            assert BASIC in {r["name"] for r in rows}
            row = next(r for r in rows if r["name"] == BASIC)
        assert arm_get(emu, f"{row['id']}/listUsages?api-version=2023-07-01").status_code == 404
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{emu.endpoint(BASIC)}/v2/", verify=emu.ca_path, timeout=5)


def test_tokens_that_expire_early_are_refused_despite_their_exp_claim():
    with Emulator("tiny", faults=Faults(token_lifetime_s=1.0)) as emu:
        s = token_session(emu, PREMIUM, ["registry:catalog:*"])
        url = f"{emu.endpoint(PREMIUM)}/acr/v1/_catalog"
        assert s.get(url).status_code == 200
        time.sleep(1.5)
        r = s.get(url)
        assert r.status_code == 401 and 'scope="registry:catalog:*"' in r.headers["WWW-Authenticate"]


def test_a_registry_that_fails_mid_way_answers_503_after_its_budget():
    with Emulator("tiny", faults=Faults(fail_after={PREMIUM: 6})) as emu:
        s = token_session(emu, PREMIUM, ["registry:catalog:*"])  # exchange + token = 2 requests
        codes = [s.get(f"{emu.endpoint(PREMIUM)}/acr/v1/_catalog").status_code for _ in range(6)]
        assert codes == [200, 200, 200, 200, 503, 503]
        other = token_session(emu, STANDARD, ["registry:catalog:*"])
        assert other.get(f"{emu.endpoint(STANDARD)}/acr/v1/_catalog").status_code == 200


def test_denied_repositories_are_left_out_of_issued_tokens():
    tenant = generate("tiny", 7)
    repos = sorted(tenant.registry(PREMIUM).repositories)
    with Emulator("tiny", faults=Faults(denied_repositories={PREMIUM: (repos[0],)})) as emu:
        s = token_session(emu, PREMIUM, [f"repository:{r}:metadata_read" for r in repos[:2]])
        assert s.get(f"{emu.endpoint(PREMIUM)}/acr/v1/{repos[0]}/_tags").status_code == 401
        assert s.get(f"{emu.endpoint(PREMIUM)}/acr/v1/{repos[1]}/_tags").status_code == 200


def test_bad_fault_settings_are_rejected_before_start():
    with pytest.raises(ValueError, match="error_rate"):
        Faults(error_rate=1.5)
    with pytest.raises(ValueError, match="unknown fault"):
        Emulator("tiny", faults={"typo": 1})
    with pytest.raises(ValueError, match="unknown emulator scale"):
        Emulator("gigantic")
    with pytest.raises(Exception, match="not in the 'tiny' tenant"):
        Emulator("tiny", faults=Faults(denied=("nosuchacr",))).start()
    with pytest.raises(ValueError, match=r"Faults.defender modes must be among .*renamed.*got \['scanned'\]"):
        Faults(defender={PREMIUM: "scanned"})
    with pytest.raises(Exception, match="two modes"):  # contosoprodacr and contososharedacr share a subscription
        Emulator("tiny", faults=Faults(defender={"contosoprodacr": "off", "contososharedacr": "legacy"})).start()


def test_latency_is_added_to_every_request():
    with Emulator("tiny", latency_ms=80) as emu:
        s = requests.Session()
        s.verify, s.trust_env = emu.ca_path, False
        s.get(f"{emu.endpoint(PREMIUM)}/v2/")  # connection set-up outside the timing
        start = time.perf_counter()
        for _ in range(5):
            s.get(f"{emu.endpoint(PREMIUM)}/v2/")
        assert time.perf_counter() - start >= 0.4


def test_writes_are_refused_and_logged(tiny):
    s = token_session(tiny, PREMIUM, ["registry:catalog:*"])
    r = s.delete(f"{tiny.endpoint(PREMIUM)}/acr/v1/ci%2Fbuilds")
    assert r.status_code == 405
    log = tiny.request_log()
    assert log.filter(pl.col("method") == "DELETE").height >= 1


def test_an_http_error_shape_matches_acr(tiny):
    s = token_session(tiny, PREMIUM, ["registry:catalog:*"])
    r = s.get(f"{tiny.endpoint(PREMIUM)}/acr/v1/_catalog?n=zero")
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "PAGINATION_NUMBER_INVALID"


def test_the_connection_file_is_private_even_when_it_existed_with_wider_permissions(tiny, tmp_path):
    path = tmp_path / "emu.json"
    path.write_text("{}")
    path.chmod(0o644)
    tiny.write_connection_file(path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
