"""Log Analytics, shared by pull activity and Container Insights: the documented query API (``POST
{endpoint}/v1/workspaces/{customerId}/query``) over acrlib's own pipeline (deadline, answer cap, retries within
``max_retry_wait``, a bearer token for the Log Analytics audience only), each workspace's query id resolved once,
and every query's outcome sorted into a table, a result worth splitting, or a failure. acrlib reads the answer
itself rather than through ``azure-monitor-query``'s models, which fail the whole answer on one malformed row:
here each row is checked on its own (:func:`table_rows`)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from dataclasses import dataclass

from ..errors import RequestFailed
from .discovery import Arm
from .http import RequestTimedOut, RetryPolicy, Session, response_error
from .parse import GUID, json_object, typed

WORKSPACE_API = "2022-10-01"


def kql_string(value: str) -> str:
    """A double-quoted KQL string literal (the same escapes as JSON)."""
    return json.dumps(value)


@dataclass
class Table:
    """A result table as the API sends it: column names, their Kusto types, and the rows, unchecked."""

    columns: list[str]
    types: list[str]
    rows: list


@dataclass
class Outcome:
    """A query's result: ``table`` (columns and rows); or ``split`` (cut short or out of time: ask for less);
    or a failure with ``code``, ``message`` and ``status`` (``denied`` when the identity may not query)."""

    table: object | None = None
    split: bool = False
    code: str = ""
    message: str = ""
    status: int | None = None
    denied: bool = False


GUID_ID = re.compile(GUID)


def table_rows(table: Table) -> tuple[list[dict], int]:
    """A result table's rows as dicts by column name, validated one by one: a row that is not a list of exactly
    one cell per column is left out and counted (the second value), so one bad row costs that row. ``datetime``
    cells become UTC datetimes (None when they are not one)."""
    columns = table.columns
    out, bad = [], 0
    times = [i for i, kind in enumerate(table.types) if kind == "datetime"]
    for row in table.rows if isinstance(table.rows, list) else []:
        if not isinstance(row, list) or len(row) != len(columns):
            bad += 1
            continue
        cells = list(row)
        for i in times:
            cells[i] = parse_time(cells[i])
        out.append(dict(zip(columns, cells, strict=True)))
    return out, bad


def parse_time(value) -> dt.datetime | None:
    """A Kusto datetime cell (ISO 8601, up to 7 fraction digits) as a UTC datetime; None when it is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00")))
    except ValueError:
        return None
    return parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def result_table(answer: dict) -> Table | None:
    """The first table of a query answer, its shape checked (``ValueError`` when it has none)."""
    tables = answer.get("tables")
    if not isinstance(tables, list) or not tables:
        return None
    first = tables[0]
    columns = first.get("columns") if isinstance(first, dict) else None
    if not isinstance(columns, list) or not all(isinstance(c, dict) and isinstance(c.get("name"), str)
                                                for c in columns):
        raise ValueError("a result table without named columns")
    rows = first.get("rows")
    return Table([c["name"] for c in columns], [str(c.get("type") or "") for c in columns],
                 rows if isinstance(rows, list) else [])


class Workspace:
    """A workspace as ARM names it, and the GUID its queries go to."""

    def __init__(self, resource_id: str, customer_id: str):
        self.resource_id = resource_id
        self.customer_id = customer_id


class LogAnalytics:
    def __init__(self, arm: Arm, session: Session, credential, endpoint: str, audience: str):
        self.arm = arm
        self.session = session
        self.credential = credential
        self.endpoint = endpoint
        self.audience = audience
        self.queries = 0
        self._pipeline = None
        self._workspaces: dict[str, asyncio.Future] = {}

    @property
    def pipeline(self):
        if self._pipeline is None:
            from azure.core.pipeline.policies import AsyncBearerTokenCredentialPolicy

            self._pipeline = self.session.pipeline([
                RetryPolicy.within(self.session.limits),
                AsyncBearerTokenCredentialPolicy(self.credential, f"{self.audience.rstrip('/')}/.default"),
            ])
        return self._pipeline

    async def workspace(self, resource_id: str) -> Workspace:
        """The workspace (ARM GET, once per workspace however many readers ask); :class:`RequestFailed`."""
        key = resource_id.lower()
        if key not in self._workspaces:
            self._workspaces[key] = asyncio.ensure_future(self._resolve(resource_id))
        return await asyncio.shield(self._workspaces[key])

    async def _resolve(self, resource_id: str) -> Workspace:
        answer = await self.arm.get(resource_id, WORKSPACE_API, "Log Analytics workspace")
        props = answer.get("properties") if isinstance(answer.get("properties"), dict) else {}
        customer_id = typed(props.get("customerId"), str)
        if not customer_id or not GUID_ID.fullmatch(customer_id):  # it goes into the query URL: a GUID and nothing else
            raise RequestFailed(200, "INVALID_ANSWER", f"workspace {resource_id} has no customerId (a GUID)")
        return Workspace(typed(answer.get("id"), str) or resource_id, customer_id)

    async def query(self, workspace: Workspace, query: str, since: dt.datetime, until: dt.datetime) -> Outcome:
        """One query over ``[since, until)``, its outcome sorted; never raises for what a server can do."""
        from azure.core.exceptions import ServiceRequestError, ServiceResponseError
        from azure.core.rest import HttpRequest

        self.queries += 1
        url = f"{self.endpoint.rstrip('/')}/v1/workspaces/{workspace.customer_id}/query"  # a checked GUID
        body = {"query": query, "timespan": f"{since.astimezone(dt.UTC).isoformat()}/"
                                            f"{until.astimezone(dt.UTC).isoformat()}"}
        try:
            response = await self.pipeline.run(HttpRequest("POST", url, json=body, headers={"Prefer": "wait=600"}))
        except RequestTimedOut as e:
            return Outcome(split=True, code="TIMEOUT", message=e.message)
        except RequestFailed as e:  # acrlib's own bounds (answer size, Retry-After)
            return Outcome(split=True, code=e.code, message=e.message, status=e.status)
        except (ServiceRequestError, ServiceResponseError) as e:
            return Outcome(code="CONNECTION_ERROR", message=f"cannot reach {self.endpoint}: {type(e).__name__}")
        http = response.http_response
        if http.status_code != 200:
            code, message = response_error(http)
            if http.status_code in (408, 504):
                return Outcome(split=True, code=code, message="the query ran out of time", status=http.status_code)
            return Outcome(code=code, message=message, status=http.status_code,
                           denied=http.status_code in (401, 403))
        try:
            answer = json_object(http.body())
            table = result_table(answer)
        except ValueError as e:
            return Outcome(code="INVALID_ANSWER", status=200, message=f"Log Analytics answered 200 with {e}")
        error = answer.get("error")
        if isinstance(error, dict):  # a partial result: cut short by the service's limits
            detail = error.get("details")
            first = detail[0] if isinstance(detail, list) and detail and isinstance(detail[0], dict) else error
            return Outcome(split=True, code="PARTIAL_RESULT", status=200,
                           message=f"the result was cut short: {first.get('message') or error.get('message')}")
        return Outcome(table=table)
