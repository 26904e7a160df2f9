"""The emulator's KQL subset: right answers for what it supports, a clear refusal for the rest."""

from __future__ import annotations

import pytest

from acrlib.emulator.server import kql

ROWS = {
    "resources": [
        {"id": "/s/1/r/b", "name": "beta", "type": "microsoft.containerregistry/registries", "subscriptionId": "1",
         "properties": {"loginServer": "beta.azurecr.io", "adminUserEnabled": True}, "tags": {"team": "Web"}},
        {"id": "/s/2/r/a", "name": "alpha", "type": "Microsoft.ContainerRegistry/registries", "subscriptionId": "2",
         "properties": {"loginServer": "alpha.azurecr.io", "adminUserEnabled": False}, "tags": {}},
        {"id": "/s/1/v/c", "name": "vnet", "type": "microsoft.network/virtualnetworks", "subscriptionId": "1",
         "properties": {}, "tags": {"team": "net"}},
    ],
    "resourcecontainers": [],
}


def names(query):
    return [r.get("name") for r in kql.run(query, ROWS).rows]


def test_where_equality_is_case_sensitive_and_tilde_is_not():
    assert names("resources | where type == 'microsoft.containerregistry/registries'") == ["beta"]
    assert names("Resources | where type =~ 'microsoft.containerregistry/registries'") == ["beta", "alpha"]
    assert names("resources | where type !~ 'microsoft.containerregistry/registries'") == ["vnet"]


def test_project_paths_aliases_and_functions():
    result = kql.run("resources | where name == 'beta' | project id, login = tostring(properties.loginServer), "
                     "properties.adminUserEnabled, team = tolower(tags['team'])", ROWS)
    assert result.rows == [{"id": "/s/1/r/b", "login": "beta.azurecr.io", "properties_adminUserEnabled": True,
                            "team": "web"}]
    assert result.columns == ["id", "login", "properties_adminUserEnabled", "team"]


def test_order_defaults_to_descending_like_kusto_and_limit_is_reported():
    assert names("resources | order by name") == ["vnet", "beta", "alpha"]
    assert names("resources | sort by name asc") == ["alpha", "beta", "vnet"]
    result = kql.run("resources | order by id asc | take 2", ROWS)
    assert [r["name"] for r in result.rows] == ["beta", "vnet"] and result.truncated_by_limit


def test_boolean_logic_in_and_tests():
    assert names("resources | where subscriptionId in ('2') or name startswith 'vn'") == ["alpha", "vnet"]
    assert names("resources | where not(name has 'beta') and isnotempty(tags.team)") == ["vnet"]
    assert names("resources | where name in~ ('ALPHA', 'Beta')") == ["beta", "alpha"]
    assert names("resources | where properties.adminUserEnabled == true") == ["beta"]


@pytest.mark.parametrize("query", [
    "resources | summarize count() by type",
    "resources | join kind=leftouter (resourcecontainers) on subscriptionId",
    "resources | where name matches regex 'a.*'",
    "securityresources | project id",
    "resources | project id,",
    "resources | where strlen(name) > 3",
])
def test_anything_else_is_refused(query):
    with pytest.raises(kql.KqlError):
        kql.run(query, ROWS)
