"""The emulated Log Analytics query API (``POST /v1/workspaces/{workspaceId}/query``) on its own HTTPS origin,
over the registries' ``ContainerRegistryRepositoryEvents`` that each workspace receives (see ``..activity``).

Follows Microsoft's documented request and response shapes: a bearer token for the Log Analytics audience, the
workspace's GUID (``customerId``) in the path, ``timespan`` as an ISO-8601 duration or interval, ``Prefer:
wait=N``; answers ``{"tables": [...]}`` with typed columns (datetimes in ISO-8601 with 7 fraction digits,
dynamic values as JSON text: the emulator's choices where the docs are silent), a partial result with an
``error`` past the row limit, 429 with ``Retry-After`` past the query rate, 504 ``GatewayTimeout`` for a query
that runs too long, 403 for a workspace the caller may not read, and 400 ``BadArgumentError`` for a query
outside the KQL subset it implements.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import time
import uuid

import polars as pl
from aiohttp import web

from .. import workloads
from ..model import TICKS, Tenant, Workspace
from . import logs_query, tokens
from .kql import KqlError
from .state import Reply, State, answer, arrive, json_response

API_PREFIX = "/v1/workspaces/"
AUDIENCES = ("https://api.loganalytics.io", "https://api.loganalytics.azure.com", "https://api.loganalytics.us",
             "https://api.loganalytics.azure.cn")
MAX_ROWS = 500_000  # documented: a result is cut at 500,000 rows (and 64 MB)
QUERY_RATE = 200  # documented: 200 queries per 30 s per user
RATE_WINDOW_S = 30.0
TABLE = "ContainerRegistryRepositoryEvents"
INSIGHTS = ("ContainerInventory", "KubePodInventory")
TYPES = {pl.String: "string", pl.Int64: "long", pl.Int32: "int", pl.UInt32: "long", pl.Float64: "real",
         pl.Boolean: "bool"}


def logs_error(code: str, message: str, inner: tuple[str, str] | None = None) -> bytes:
    error: dict = {"code": code, "message": message, "correlationId": str(uuid.uuid4())}
    if inner:
        error["innererror"] = {"code": inner[0], "message": inner[1]}
    return json.dumps({"error": error}).encode()


def events_frame(tenant: Tenant, login_servers: dict[str, str]) -> pl.DataFrame:
    """Every event of the tenant as the ``ContainerRegistryRepositoryEvents`` table (with a ``registry``
    column the server uses for routing; it is dropped before a query sees the table)."""
    columns = tenant.events.columns
    ids = {r.name: r.resource_id.lower() for r in tenant.registries}  # _ResourceId is lower case in real rows
    subs = {r.name: r.subscription_id for r in tenant.registries}
    df = pl.DataFrame({
        "ticks": pl.Series(columns["time"], dtype=pl.Int64), "registry": columns["registry"],
        "Repository": columns["repository"], "OperationName": columns["operation"], "Digest": columns["digest"],
        "Tag": columns["tag"], "Identity": columns["identity"], "ResultDescription": columns["result"],
        "Size": pl.Series(columns["size"], dtype=pl.Int64),
    })
    return df.with_columns(
        pl.from_epoch(pl.col("ticks") // 10, time_unit="us").dt.replace_time_zone("UTC").alias("TimeGenerated"),
        pl.col("registry").replace_strict(login_servers, default="").alias("LoginServer"),
        pl.col("registry").replace_strict(ids, default="").alias("_ResourceId"),
        pl.col("registry").replace_strict(subs, default="").alias("_SubscriptionId"),
        pl.col("ResultDescription").alias("ResultType"),
        pl.lit(tenant.tenant_id).alias("TenantId"), pl.lit(TABLE).alias("Type"),
        pl.lit(TABLE).alias("Category"), pl.lit("Azure").alias("SourceSystem"),
        pl.lit("10.1.0.4").alias("CallerIpAddress"), pl.lit("containerd/1.7").alias("UserAgent"),
    ).drop("ticks")


def timespan(text: str | None, now: dt.datetime) -> tuple[dt.datetime | None, dt.datetime | None]:
    """``PT7776000.0S``, ``P90D``, ``start/end`` or ``start/duration`` as (start, end); (None, None) without."""
    if not text:
        return None, None
    if "/" in text:
        first, second = text.split("/", 1)
        start = _instant(first)
        end = start + _duration(second) if second.upper().startswith("P") else _instant(second)
        return start, end
    return now - _duration(text), now


def _instant(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Reply(400, logs_error("BadArgumentError", f"The timespan {text!r} is not valid.")) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _duration(text: str) -> dt.timedelta:
    m = re.fullmatch(r"P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?",
                     text.upper())
    if not m or not any(m.groups()):
        raise Reply(400, logs_error("BadArgumentError", f"The timespan {text!r} is not a valid ISO-8601 duration."))
    days, hours, minutes, seconds = (float(g) if g else 0.0 for g in m.groups())
    return dt.timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def _cell(value, kind: str):
    if value is None:
        return None
    if kind == "datetime":
        return value.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    if kind == "dynamic":
        return json.dumps(list(value) if isinstance(value, pl.Series) else value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def table_json(df: pl.DataFrame) -> dict:
    kinds = []
    for dtype in df.dtypes:
        if isinstance(dtype, pl.Datetime):
            kinds.append("datetime")
        elif isinstance(dtype, pl.List):
            kinds.append("dynamic")
        else:
            kinds.append(TYPES.get(type(dtype), "string"))
    rows = [[_cell(v, k) for v, k in zip(row, kinds, strict=True)] for row in df.iter_rows()]
    return {"name": "PrimaryResult", "columns": [{"name": n, "type": k} for n, k in zip(df.columns, kinds,
                                                                                         strict=True)],
            "rows": rows}


def insights_frames(tenant: Tenant, login_servers: dict[str, str]) -> dict[str, pl.DataFrame]:
    """Container Insights' ``ContainerInventory`` and ``KubePodInventory`` of the monitored clusters."""
    frames = {}
    for name, rows in zip(INSIGHTS, workloads.container_insights(tenant, login_servers), strict=True):
        df = pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame(
            {"time": pl.Series([], dtype=pl.Int64), "_ResourceId": pl.Series([], dtype=pl.String)})
        # the model's ticks (100 ns) as the tables' datetime columns: TimeGenerated is the agent's CollectionTime
        times = {"time": "TimeGenerated", "started": "StartedTime", "finished": "FinishedTime"}
        present = {tick: column for tick, column in times.items() if tick in df.columns}
        frames[name] = df.with_columns(
            *(pl.from_epoch(pl.col(tick) // 10, time_unit="us").dt.replace_time_zone("UTC").alias(column)
              for tick, column in present.items()),
            pl.lit(tenant.tenant_id).alias("TenantId"), pl.lit(name).alias("Type")).drop(*present)
    return frames


class LogsHandler:
    def __init__(self, state: State):
        self.state = state
        self._events: pl.DataFrame | None = None
        self._insights: dict[str, pl.DataFrame] | None = None
        self._windows: dict[str, list] = {}

    def invalidate(self) -> None:
        self._events = self._insights = None

    def events(self) -> pl.DataFrame:
        if self._events is None:
            self._events = events_frame(self.state.tenant, self.state.login_servers)
        return self._events

    def tables(self, ws: Workspace, now: dt.datetime) -> dict[str, pl.DataFrame]:
        """What the workspace holds, within its retention: the events of registries whose logs land in it, and the
        Container Insights tables of clusters monitored into it."""
        tenant = self.state.tenant
        if self._insights is None:
            self._insights = insights_frames(tenant, self.state.login_servers)
        routed = [r.name for r in tenant.registries if tenant.log_destination(r) == ws]
        clusters = [w.resource_id.lower() for w in tenant.workloads if w.workspace == ws.resource_id]
        kept = pl.col("TimeGenerated") >= now - dt.timedelta(days=ws.retention_days)
        out = {TABLE: self.events().filter(pl.col("registry").is_in(routed), kept).drop("registry")}
        for name, frame in self._insights.items():
            out[name] = frame.filter(pl.col("_ResourceId").is_in(clusters), kept)
        return out

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        endpoint = "logs_query" if request.path.startswith(API_PREFIX) else "logs_other"
        return await answer(self.state, request, "logs", endpoint, lambda: self.dispatch(request))

    def principal(self, request: web.Request) -> dict:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise Reply(401, logs_error("AuthenticationFailed", "Authentication failed. The 'Authorization' header "
                                        "is missing."), headers={"WWW-Authenticate": 'Bearer realm="", '
                                                                 'authorization_uri="https://login.microsoftonline.'
                                                                 'com/common/oauth2/authorize"'})
        claims = tokens.verify(self.state.secret, header[7:])
        if claims is None:
            raise Reply(401, logs_error("AuthenticationFailed", "Authentication failed: the token is invalid or "
                                        "expired."))
        if claims.get("aud") not in AUDIENCES:
            raise Reply(403, logs_error("InvalidAuthenticationTokenAudience", "The access token is for another "
                                        "audience than Log Analytics.", ("InvalidAuthenticationTokenAudience", "")))
        return claims

    def rate(self, principal: str) -> None:
        """The documented query rate per user; a fault may change it."""
        limit, seconds = QUERY_RATE, RATE_WINDOW_S
        for fault in self.state.faults:
            limit, seconds = fault.log_query_rate((limit, seconds))
        now = time.monotonic()
        window = [t for t in self._windows.get(principal, []) if now - t < seconds]
        if len(window) >= limit:
            wait = max(1, math.ceil(seconds - (now - window[0])))
            raise Reply(429, logs_error("ThrottledError", f"Your request was throttled: more than {limit} queries "
                                        f"in {seconds:g} seconds."), headers={"Retry-After": str(wait)})
        window.append(now)
        self._windows[principal] = window

    async def dispatch(self, request: web.Request) -> web.Response:
        state = self.state
        await arrive(state, request, None)
        claims = self.principal(request)
        m = re.fullmatch(r"/v1/workspaces/([^/]+)/query", request.path)
        if not m:
            raise Reply(404, logs_error("PathNotFoundError", f"The requested path does not exist: {request.path}"))
        if request.method != "POST":
            raise Reply(405, logs_error("MethodNotAllowed", "Use POST."))
        ws = next((w for w in state.tenant.workspaces if w.customer_id == m.group(1)), None)
        if ws is None:
            raise Reply(404, logs_error("PathNotFoundError", f"The requested path does not exist: {request.path}"))
        if not ws.readable or any(fault.log_denied(ws.name) for fault in state.faults):
            raise Reply(403, logs_error("InsufficientAccessError", "The provided credentials have insufficient "
                                        "access to perform the requested operation",
                                        ("InsufficientAccessError", f"no read access to workspace {ws.customer_id}")))
        self.rate(claims.get("oid", "?"))
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise Reply(400, logs_error("BadArgumentError", "The request body is not valid JSON.")) from None
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            raise Reply(400, logs_error("BadArgumentError", "The request had some invalid properties",
                                        ("QueryValidationError", "'query' is required")))
        now = dt.datetime.fromtimestamp(state.now_ticks() / TICKS, dt.UTC)
        start, end = timespan(body.get("timespan"), now)
        tables = self.tables(ws, now)
        if start is not None:
            tables = {name: t.filter(pl.col("TimeGenerated") >= start, pl.col("TimeGenerated") < end)
                      for name, t in tables.items()}
        try:
            query = logs_query.parse(body["query"])
            scanned = query.filtered_rows(tables, now)
            for fault in state.faults:
                fault.log_query_scanned(scanned)
            result = query.run(tables, now)
        except KqlError as e:
            inner = "SemanticError" if str(e).startswith("Semantic") else "SyntaxError"
            raise Reply(400, logs_error("BadArgumentError", "The request had some invalid properties",
                                        (inner, str(e)))) from None
        error = None
        limit = MAX_ROWS
        for fault in state.faults:
            limit = fault.log_row_limit(limit)
        if result.height > limit:
            result = result.head(limit)
            error = {"code": "PartialError", "message": "There were some errors when processing your query.",
                     "details": [{"code": "EngineError", "message": "Query result set has exceeded the internal "
                                  f"record count limit {limit} (E_QUERY_RESULT_SET_TOO_LARGE; see "
                                  "https://aka.ms/kustoquerylimits)",
                                  "innererror": {"code": "-2133196788", "message": "E_QUERY_RESULT_SET_TOO_LARGE"}}]}
        out: dict = {"tables": [table_json(result)]}
        if error is not None:
            out["error"] = error
        headers = {}
        prefer = request.headers.get("Prefer", "")
        wait = re.search(r"wait=(\d+)", prefer)
        if wait:
            headers["Preference-Applied"] = f"wait={wait.group(1)}"
        return json_response(json.dumps(out).encode(), headers)
