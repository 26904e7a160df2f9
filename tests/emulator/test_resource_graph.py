"""The real azure-mgmt-resourcegraph client (and ARM calls through its pipeline) against the emulator."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions
from sdk_helpers import arm_get

from acrlib.emulator import Emulator

REGISTRY_QUERY = "resources | where type =~ 'microsoft.containerregistry/registries' | project id, name, " \
                 "subscriptionId, loginServer = tostring(properties.loginServer) | order by id asc"


def rg_client(emu) -> ResourceGraphClient:
    return ResourceGraphClient(emu.credential(), base_url=emu.arm_endpoint, connection_verify=emu.ca_path)


def page_all(client, query, subscriptions=None, top=1000):
    rows, pages, token = [], 0, None
    while True:
        options = QueryRequestOptions(top=top, skip_token=token)
        result = client.resources(QueryRequest(subscriptions=subscriptions, query=query, options=options))
        rows += result.data
        pages += 1
        token = result.skip_token
        if not token:
            return rows, pages, result


@pytest.fixture(scope="module")
def fleet():
    # 3 data-plane registries + 1,500 registries that exist only in Resource Graph; a generous quota so this
    # module's tests do not throttle each other (the quota itself is tested below with the default).
    with Emulator("fleet", seed=3, rg_quota=1000) as emu:
        yield emu


def test_paging_over_more_than_1000_rows_returns_every_registry_once(fleet):
    with rg_client(fleet) as client:
        rows, pages, last = page_all(client, REGISTRY_QUERY)
    ids = [r["id"] for r in rows]
    assert pages == 2
    assert len(ids) == 1503 == len(set(ids)) == last.total_records
    assert ids == sorted(ids)
    assert last.result_truncated == "false"
    names = {r["name"] for r in rows}
    assert set(fleet.registries) <= names


def test_subscription_scoping(fleet):
    sub = next(iter(fleet.subscriptions))
    with rg_client(fleet) as client:
        rows, _, _ = page_all(client, REGISTRY_QUERY, subscriptions=[sub])
        everything, _, _ = page_all(client, REGISTRY_QUERY)
    assert rows and all(r["subscriptionId"] == sub for r in rows)
    assert len(rows) == sum(1 for r in everything if r["subscriptionId"] == sub)


def test_subscription_names_come_from_resource_containers(fleet):
    with rg_client(fleet) as client:
        query = ("resourcecontainers | where type == 'microsoft.resources/subscriptions' "
                 "| project id, subscriptionId, name")
        result = client.resources(QueryRequest(query=query))
    assert {r["subscriptionId"]: r["name"] for r in result.data} == fleet.subscriptions


def test_without_id_paging_is_impossible_and_marked_truncated(fleet):
    with rg_client(fleet) as client:
        result = client.resources(QueryRequest(
            query="resources | where type =~ 'microsoft.containerregistry/registries' | project name",
            options=QueryRequestOptions(top=1000)))
    assert result.result_truncated == "true"
    assert result.skip_token is None
    assert result.count == 1000 and result.total_records == 1503


def test_queries_outside_the_subset_get_the_arm_400_shape(fleet):
    with rg_client(fleet) as client, pytest.raises(HttpResponseError) as err:
        client.resources(QueryRequest(query="resources | summarize count() by type"))
    assert err.value.status_code == 400
    body = err.value.response.json()["error"]
    assert body["code"] == "BadRequest"
    assert [d["code"] for d in body["details"]] == ["InvalidQuery", "ParserFailure"]


def test_quota_headers_and_429_past_15_queries_per_window():
    with Emulator("tiny") as emu, rg_client(emu) as client:
        remaining = []
        hook = lambda r: remaining.append(r.http_response.headers.get("x-ms-user-quota-remaining"))  # noqa: E731
        for _ in range(15):
            client.resources(QueryRequest(query="resources | project id | limit 1"), raw_response_hook=hook)
        assert remaining == [str(n) for n in range(14, -1, -1)]
        with pytest.raises(HttpResponseError) as err:
            client.resources(QueryRequest(query="resources | project id | limit 1"))
        assert err.value.status_code == 429
        assert err.value.response.json()["error"]["code"] == "RateLimiting"
        assert err.value.response.headers["x-ms-user-quota-resets-after"].startswith("00:00:0")


def test_list_usages_reports_unique_blob_bytes_and_the_sku_allowance(tiny, tiny_truth):
    for row in tiny_truth["registries"].iter_rows(named=True):
        response = arm_get(tiny, f"{row['id']}/listUsages?api-version=2025-11-01")
        assert response.status_code == 200
        size = next(u for u in response.json()["value"] if u["name"] == "Size")
        assert size["currentValue"] == row["storage_used_bytes"]
        assert size["limit"] == row["storage_included_bytes"]
        assert size["unit"] == "Bytes"
    missing = arm_get(tiny, f"{row['id']}x/listUsages?api-version=2025-11-01")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ResourceNotFound"
    assert arm_get(tiny, f"{row['id']}/listUsages").status_code == 400


def test_arm_rejects_missing_and_foreign_tokens(tiny):
    import requests

    s = requests.Session()
    s.verify, s.trust_env = tiny.ca_path, False
    url = f"{tiny.arm_endpoint}/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01"
    r = s.post(url, json={"query": "resources | project id"})
    assert r.status_code == 401 and "WWW-Authenticate" in r.headers
    acr_token = tiny.credential().get_token("https://containerregistry.azure.net/.default").token
    r = s.post(url, json={"query": "resources | project id"}, headers={"Authorization": f"Bearer {acr_token}"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationToken"
