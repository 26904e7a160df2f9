"""The emulator's KQL subset: right answers for what it supports, a clear refusal for the rest."""

from __future__ import annotations

import pytest

from acrlib.emulator.server import graph_query
from acrlib.emulator.server.kql import KqlError

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
    return [r.get("name") for r in graph_query.run(query, ROWS).rows]


def test_where_equality_is_case_sensitive_and_tilde_is_not():
    assert names("resources | where type == 'microsoft.containerregistry/registries'") == ["beta"]
    assert names("Resources | where type =~ 'microsoft.containerregistry/registries'") == ["beta", "alpha"]
    assert names("resources | where type !~ 'microsoft.containerregistry/registries'") == ["vnet"]


def test_project_paths_aliases_and_functions():
    result = graph_query.run("resources | where name == 'beta' | project id, login = tostring(properties.loginServer), "
                     "properties.adminUserEnabled, team = tolower(tags['team'])", ROWS)
    assert result.rows == [{"id": "/s/1/r/b", "login": "beta.azurecr.io", "properties_adminUserEnabled": True,
                            "team": "web"}]
    assert result.columns == ["id", "login", "properties_adminUserEnabled", "team"]


def test_order_defaults_to_descending_like_kusto_and_limit_is_reported():
    assert names("resources | order by name") == ["vnet", "beta", "alpha"]
    assert names("resources | sort by name asc") == ["alpha", "beta", "vnet"]
    result = graph_query.run("resources | order by id asc | take 2", ROWS)
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
    "advisorresources | project id",
    "resources | project id,",
    "resources | where strlen(name) > 3",
])
def test_anything_else_is_refused(query):
    with pytest.raises(KqlError):
        graph_query.run(query, ROWS)


# --- one front end, two back ends ---

import datetime as dt  # noqa: E402

import polars as pl  # noqa: E402

from acrlib.emulator.server import kql, logs_query  # noqa: E402
from acrlib.emulator.server.graph_query import RESOURCE_GRAPH  # noqa: E402
from acrlib.emulator.server.logs_query import LOG_ANALYTICS  # noqa: E402

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
EVENTS = pl.DataFrame({
    "TimeGenerated": [NOW - dt.timedelta(days=d) for d in (1, 2, 40, 3)],
    "Repository": ["api", "api", "web", "web"],
    "OperationName": ["Pull", "Push", "Pull", "pull"],
    "Identity": ["a", "b", "a", ""],
})


def test_both_back_ends_read_one_syntax_tree():
    text = "resources | where name =~ 'x' and not(isempty(type)) | project name, kind = tolower(type) | take 3"
    assert kql.parse(text, RESOURCE_GRAPH).ops == kql.parse(text, LOG_ANALYTICS).ops


def test_the_log_analytics_back_end_compiles_to_polars():
    query = logs_query.parse("Events | where TimeGenerated > ago(30d) and OperationName =~ 'pull' "
                             "| summarize pulls = count(), who = make_set(Identity), pushes = countif(OperationName "
                             "== 'Push') by Repository | order by Repository asc;")
    got = query.run({"Events": EVENTS}, NOW)
    assert got.to_dicts() == [{"Repository": "api", "pulls": 1, "who": ["a"], "pushes": 0},
                              {"Repository": "web", "pulls": 1, "who": [], "pushes": 0}]
    assert query.filtered_rows({"Events": EVENTS}, NOW) == 2


@pytest.mark.parametrize(("dialect", "query"), [
    (RESOURCE_GRAPH, "resources | summarize count() by type"),
    (RESOURCE_GRAPH, "resources | where name == 90d"),
    (RESOURCE_GRAPH, "resources | where name < 'b'"),
    (LOG_ANALYTICS, "Events | project properties.loginServer"),
    (LOG_ANALYTICS, "Events | where isnull(Identity)"),
    (LOG_ANALYTICS, "Events | summarize percentile(Size, 50)"),
    (LOG_ANALYTICS, "Events | where Repository in (Identity)"),
])
def test_each_dialect_refuses_what_only_the_other_answers(dialect, query):
    with pytest.raises(KqlError):
        kql.parse(query, dialect)
