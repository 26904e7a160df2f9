"""Log Analytics, shared by pull activity and Container Insights: one stock ``azure-monitor-query`` async client
over acrlib's own transport (deadline, answer cap) and retry policy (``max_retry_wait``), each workspace's query
id resolved once, and every query's outcome sorted into a table, a result worth splitting, or a failure."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from dataclasses import dataclass

from ..errors import RequestFailed
from .discovery import Arm
from .http import RequestTimedOut, RetryPolicy, Session
from .parse import typed

WORKSPACE_API = "2022-10-01"


def kql_string(value: str) -> str:
    """A double-quoted KQL string literal (the same escapes as JSON)."""
    return json.dumps(value)


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
        self._client = None
        self._workspaces: dict[str, asyncio.Future] = {}

    @property
    def client(self):
        if self._client is None:
            from azure.monitor.query.aio import LogsQueryClient

            self._client = LogsQueryClient(self.credential, endpoint=self.endpoint, audience=self.audience,
                                           transport=self.session.transport,
                                           retry_policy=RetryPolicy.within(self.session.limits))
        return self._client

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
        if not customer_id:
            raise RequestFailed(200, "INVALID_ANSWER", f"workspace {resource_id} has no customerId")
        return Workspace(typed(answer.get("id"), str) or resource_id, customer_id)

    async def query(self, workspace: Workspace, query: str, since: dt.datetime, until: dt.datetime) -> Outcome:
        """One query over ``[since, until)``, its outcome sorted; never raises for what a server can do."""
        from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
        from azure.monitor.query import LogsQueryPartialResult

        self.queries += 1
        try:
            result = await self.client.query_workspace(workspace.customer_id, query, timespan=(since, until),
                                                       server_timeout=600)
        except HttpResponseError as e:
            code = getattr(getattr(e, "error", None), "code", None) or f"HTTP_{e.status_code}"
            if e.status_code in (408, 504):
                return Outcome(split=True, code=code, message="the query ran out of time", status=e.status_code)
            return Outcome(code=code, message=e.message, status=e.status_code, denied=e.status_code in (401, 403))
        except RequestTimedOut as e:
            return Outcome(split=True, code="TIMEOUT", message=e.message)
        except RequestFailed as e:  # acrlib's own bounds (answer size, Retry-After)
            return Outcome(split=True, code=e.code, message=e.message, status=e.status)
        except (ServiceRequestError, ServiceResponseError) as e:
            return Outcome(code="CONNECTION_ERROR", message=f"cannot reach {self.endpoint}: {type(e).__name__}")
        if isinstance(result, LogsQueryPartialResult):
            return Outcome(split=True, code="PARTIAL_RESULT", status=200,
                           message=f"the result was cut short: {result.partial_error.message}")
        return Outcome(table=result.tables[0] if result.tables else None)
