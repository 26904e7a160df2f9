"""The emulated Log Analytics query API through the stock azure-monitor-query client (sync and aio), against
the emulator's own event log."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import polars as pl
import pytest
from azure.core.exceptions import HttpResponseError
from azure.monitor.query import LogsQueryClient, LogsQueryPartialResult, LogsQueryStatus
from azure.monitor.query.aio import LogsQueryClient as AsyncLogsQueryClient

from acrlib.emulator import Emulator, Faults

AUDIENCE = "https://api.loganalytics.io"
RAW = ("ContainerRegistryRepositoryEvents | project TimeGenerated, OperationName, Repository, Digest, Tag, Identity, "
       "ResultDescription, _ResourceId")
COLUMNS = ["TimeGenerated", "OperationName", "Repository", "Digest", "Tag", "Identity", "ResultDescription",
           "_ResourceId"]


def client(emu, **kwargs):
    return LogsQueryClient(emu.credential(), endpoint=emu.logs_endpoint, audience=AUDIENCE,
                           connection_verify=emu.ca_path, **kwargs)


def expected(emu, workspace: str, days: float) -> pl.DataFrame:
    """What the workspace holds within ``days``: the events of the registries routed to it, from the emulator's
    event log (not through the query API)."""
    info = emu.workspaces[workspace]
    truth = emu.truth()["activity_sources"]
    routed = truth.filter((pl.col("workspace_id").str.to_lowercase() == info["resource_id"].lower())
                          & (pl.col("status") == "ok"))["registry"].to_list()
    since = emu.now - dt.timedelta(days=min(days, info["retention_days"]))
    return (emu.events().filter(pl.col("registry").is_in(routed), pl.col("TimeGenerated") >= since)
            .select(COLUMNS).sort(COLUMNS))


def frame(table) -> pl.DataFrame:
    return pl.DataFrame([list(row) for row in table.rows], schema=table.columns, orient="row")


@pytest.mark.parametrize("workspace", ["law-ops", "law-short"])
def test_the_stock_client_reads_every_event_of_a_workspace(tiny, workspace):
    result = client(tiny).query_workspace(tiny.workspaces[workspace]["customer_id"], RAW,
                                          timespan=dt.timedelta(days=30))
    assert result.status == LogsQueryStatus.SUCCESS
    got = frame(result.tables[0]).sort(COLUMNS)
    want = expected(tiny, workspace, 30)
    assert got.height == want.height > 100
    assert got.select(COLUMNS[1:]).equals(want.select(COLUMNS[1:]))
    assert got["TimeGenerated"].dt.cast_time_unit("us").equals(want["TimeGenerated"]), "7-digit datetimes parse"


def test_the_async_client_and_a_server_side_summary_agree_with_the_event_log(tiny):
    query = ('ContainerRegistryRepositoryEvents | where OperationName =~ "Pull" and ResultDescription startswith "2" '
             '| summarize Pulls = count(), Who = make_set(Identity), Last = max(TimeGenerated) by Repository')

    async def run():
        async with AsyncLogsQueryClient(tiny.async_credential(), endpoint=tiny.logs_endpoint, audience=AUDIENCE,
                                        connection_verify=tiny.ca_path) as aio:
            return await aio.query_workspace(tiny.workspaces["law-ops"]["customer_id"], query,
                                             timespan=(tiny.now - dt.timedelta(days=60), tiny.now))

    result = asyncio.run(run())
    got = {row["Repository"]: (row["Pulls"], sorted(json.loads(row["Who"]))) for row in result.tables[0].rows}
    pulls = expected(tiny, "law-ops", 60).filter((pl.col("OperationName") == "Pull")
                                                 & pl.col("ResultDescription").str.starts_with("2"))
    want = {r: (n, sorted(set(w))) for r, n, w in pulls.group_by("Repository").agg(
        pl.len(), pl.col("Identity")).iter_rows()}
    assert got == want and len(got) > 2


def test_a_workspace_the_caller_may_not_read_is_403(demo):
    with pytest.raises(HttpResponseError) as caught:
        client(demo).query_workspace(demo.workspaces["law-secure"]["customer_id"], RAW, timespan=dt.timedelta(days=1))
    assert caught.value.status_code == 403 and "InsufficientAccessError" in str(caught.value)


def test_a_query_outside_the_subset_is_the_documented_400_never_a_wrong_answer(tiny):
    for query in ("ContainerRegistryRepositoryEvents | join kind=inner (Heartbeat) on Computer",
                  "ContainerRegistryRepositoryEvents | summarize percentile(Size, 50)",
                  "ContainerRegistryRepositoryEvents | where bag_has_key(x, 'y')",
                  "Heartbeat | take 1"):
        with pytest.raises(HttpResponseError) as caught:
            client(tiny).query_workspace(tiny.workspaces["law-ops"]["customer_id"], query, timespan=None)
        assert caught.value.status_code == 400 and "BadArgumentError" in str(caught.value), query


def test_limits_partial_results_throttling_and_timeouts():
    faults = Faults(log_row_limit=5, log_query_rate=2, log_timeout_rows=400)
    with Emulator("tiny", faults=faults) as emu:
        logs = client(emu, retry_total=0)
        workspace = emu.workspaces["law-ops"]["customer_id"]
        partial = logs.query_workspace(workspace, "ContainerRegistryRepositoryEvents | summarize count() by Digest",
                                       timespan=dt.timedelta(days=15))
        assert isinstance(partial, LogsQueryPartialResult) and len(partial.partial_data[0].rows) == 5
        assert "E_QUERY_RESULT_SET_TOO_LARGE" in str(partial.partial_error.details)
        with pytest.raises(HttpResponseError) as caught:  # scanning too much runs out of time
            logs.query_workspace(workspace, RAW, timespan=dt.timedelta(days=90))
        assert caught.value.status_code == 504 and "GatewayTimeout" in str(caught.value)
        with pytest.raises(HttpResponseError) as caught:  # the third query in 30 s
            logs.query_workspace(workspace, RAW, timespan=dt.timedelta(hours=1))
        assert caught.value.status_code == 429
        assert int(caught.value.response.headers["Retry-After"]) > 0
