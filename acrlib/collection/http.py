"""The HTTP layer every acrlib request goes through: one aiohttp session under azure-core async pipelines,
retries with ``Retry-After`` or jittered backoff, and a per-origin gate that bounds concurrency and paces
requests once the origin has throttled.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import random
import ssl
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import aiohttp
from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.core.pipeline import AsyncPipeline, PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import AsyncHTTPPolicy
from azure.core.pipeline.transport import AsyncHttpTransport

from .._version import __version__

USER_AGENT = f"acrlib/{__version__}"
RETRY_STATUSES = {500, 502, 503, 504}


def ssl_context(connection_verify: bool | str | None) -> ssl.SSLContext | bool:
    """One SSL context for the whole session. (azure-core's AioHttpTransport builds one per request from a
    CA path: a file read each time, and aiohttp then cannot reuse connections.)"""
    if connection_verify is False:
        return False
    if connection_verify in (None, True):
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=str(connection_verify))


def response_error(response) -> tuple[str, str]:
    """(code, message) from an ACR (``errors``) or ARM (``error``) body; never echoes request headers."""
    try:
        body = json.loads(response.body() or b"{}")
    except (ValueError, UnicodeDecodeError):
        body = {}
    if isinstance(body, dict):
        if isinstance(body.get("errors"), list) and body["errors"]:
            first = body["errors"][0]
            return str(first.get("code", "")), str(first.get("message", ""))
        if isinstance(body.get("error"), dict):
            return str(body["error"].get("code", "")), str(body["error"].get("message", ""))
    return f"HTTP_{response.status_code}", f"HTTP {response.status_code} without an error body"


class Proxies:
    """HTTP(S)_PROXY / NO_PROXY from the environment, decided once per host. (aiohttp's own trust_env looks
    them up, and reads ~/.netrc, in a worker thread on every request: most of a request's CPU cost.)"""

    def __init__(self):
        env = urllib.request.getproxies_environment()
        self._proxies = {k: v for k, v in env.items() if k in ("http", "https")}
        self._decided: dict[str, dict | None] = {}

    def for_url(self, url: str) -> dict | None:
        if not self._proxies:
            return None
        host = urllib.parse.urlsplit(url).netloc
        if host not in self._decided:
            bypass = urllib.request.proxy_bypass_environment(host.split(":")[0])
            self._decided[host] = None if bypass else {f"{k}://": v for k, v in self._proxies.items()}
        return self._decided[host]


class LeanResponse:
    """A fully read response with the surface acrlib's policies and azure-core's bearer policy use
    (status_code, headers, body(), text(), json()). azure-core's own aiohttp response wrapper costs about a
    third of each request's CPU; collections make hundreds of thousands of requests."""

    __slots__ = ("_body", "content_type", "headers", "reason", "request", "status_code")

    def __init__(self, request, status: int, reason: str | None, headers, body: bytes):
        self.request = request
        self.status_code = status
        self.reason = reason
        self.headers = headers
        self.content_type = headers.get("Content-Type")
        self._body = body

    def body(self) -> bytes:
        return self._body

    def text(self, encoding: str | None = None) -> str:
        return self._body.decode(encoding or "utf-8", "replace")

    def json(self):
        import json

        return json.loads(self._body)

    async def read(self) -> bytes:
        return self._body

    async def load_body(self) -> None:
        pass

    async def close(self) -> None:
        pass


class LeanTransport(AsyncHttpTransport):
    """An azure-core transport over one shared aiohttp session: bodies read eagerly, connections reused, TLS
    context set once on the connector. Connection failures map to azure-core's exceptions."""

    def __init__(self, session: aiohttp.ClientSession, read_timeout_s: float = 120, connect_timeout_s: float = 30):
        self.session = session
        self._timeout = aiohttp.ClientTimeout(sock_connect=connect_timeout_s, sock_read=read_timeout_s)

    async def send(self, request, **kwargs) -> LeanResponse:
        proxy = None
        for prefix, value in (kwargs.get("proxies") or {}).items():
            if request.url.startswith(prefix):
                proxy = value
        try:
            async with self.session.request(request.method, request.url, headers=request.headers,
                                            data=request.content,
                                            allow_redirects=False, proxy=proxy, timeout=self._timeout) as r:
                body = await r.read()
                return LeanResponse(request, r.status, r.reason, r.headers, body)
        except (aiohttp.ClientConnectorError, aiohttp.ClientProxyConnectionError) as e:
            raise ServiceRequestError(f"{type(e).__name__}: {e}", error=e) from e
        except (aiohttp.ClientError, TimeoutError, ConnectionError) as e:
            raise ServiceResponseError(f"{type(e).__name__}: {e}", error=e) from e

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def __aenter__(self):
        return self

    async def __aexit__(self, *args) -> None:
        pass


class Session:
    """The shared connection pool. ``async with Session(verify) as s: s.pipeline([...])``."""

    def __init__(self, connection_verify: bool | str | None = None, limit: int = 128):
        self._verify = connection_verify
        self._limit = limit
        self.proxies = Proxies()
        self.aiohttp: aiohttp.ClientSession | None = None
        self.transport: LeanTransport | None = None

    async def __aenter__(self) -> Session:
        connector = aiohttp.TCPConnector(ssl=ssl_context(self._verify), limit=self._limit, limit_per_host=0,
                                         ttl_dns_cache=300, enable_cleanup_closed=True)
        # trust_env=False: Proxies decides once per host what aiohttp would look up on every request.
        self.aiohttp = aiohttp.ClientSession(connector=connector, trust_env=False, auto_decompress=True,
                                             headers={"User-Agent": USER_AGENT})
        self.transport = LeanTransport(self.aiohttp)
        return self

    async def __aexit__(self, *exc) -> None:
        if self.aiohttp is not None:
            await self.aiohttp.close()
            self.aiohttp = None

    def pipeline(self, policies: list) -> AsyncPipeline:
        return AsyncPipeline(transport=self.transport, policies=[ContextPolicy(self.proxies), *policies])


CONTEXT_KEYS = ("gate", "acr_scope")


class ContextPolicy(AsyncHTTPPolicy):
    """Moves acrlib's per-request settings (``pipeline.run(request, gate=..., acr_scope=...)``) out of the
    options azure-core hands to the transport, into the context the other policies read; adds the proxy."""

    def __init__(self, proxies: Proxies):
        super().__init__()
        self._proxies = proxies

    async def send(self, request: PipelineRequest) -> PipelineResponse:
        options = request.context.options
        for key in CONTEXT_KEYS:
            if key in options:
                request.context[key] = options.pop(key)
        proxies = self._proxies.for_url(request.http_request.url)
        if proxies:
            options["proxies"] = proxies
        return await self.next.send(request)


class AsyncCredential:
    """Presents a synchronous azure-core ``TokenCredential`` as an async one (token calls run in a thread);
    async credentials pass through."""

    def __init__(self, credential):
        self._credential = credential
        self._async = inspect.iscoroutinefunction(getattr(credential, "get_token", None))

    async def get_token(self, *scopes, **kwargs):
        if self._async:
            return await self._credential.get_token(*scopes, **kwargs)
        return await asyncio.to_thread(self._credential.get_token, *scopes, **kwargs)

    async def close(self):
        pass

    async def __aenter__(self):
        return self

    async def __aexit__(self, *args):
        pass


class Gate:
    """Per-origin admission: at most ``concurrency`` requests in flight. After a 429 every request waits for
    the origin's ``Retry-After``; from then on a client-side token bucket refilling at ``rate`` per second
    (the SKU's documented ReadOps) admits requests, empty at the 429, so what the origin refilled during the
    pause is spent at once and the rest is paced. Throttled again while pacing, the rate drops by a fifth
    (documented rates are minimum estimates, but a registry may be shared with other clients)."""

    def __init__(self, concurrency: int, rate: float | None = None):
        self.concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self.rate = rate
        self.paced = False
        self._tokens = 0.0
        self._stamp = 0.0
        self._resume_at = 0.0

    async def __aenter__(self):
        await self._slots.acquire()
        try:
            loop = asyncio.get_running_loop()
            while True:
                now = loop.time()
                if self._resume_at > now:
                    await asyncio.sleep(self._resume_at - now)
                    continue
                if self.paced and self.rate:
                    self._tokens = min(self.rate, self._tokens + (now - self._stamp) * self.rate)  # 1 s of burst
                    self._stamp = now
                    if self._tokens < 1.0:
                        await asyncio.sleep((1.0 - self._tokens) / self.rate)
                        continue
                    self._tokens -= 1.0
                break
        except BaseException:
            self._slots.release()
            raise
        return self

    async def __aexit__(self, *exc):
        self._slots.release()

    def throttled(self, wait_s: float) -> None:
        now = asyncio.get_running_loop().time()
        if now < self._resume_at:
            return  # another request in flight hit the same exhausted burst: one episode, one reaction
        if self.paced and self.rate:
            self.rate *= 0.8
        self.paced = True
        self._tokens, self._stamp = 0.0, now  # the origin's bucket is empty now
        self._resume_at = now + wait_s


class GatePolicy(AsyncHTTPPolicy):
    """Takes a slot of the request's gate around the actual send (not around retries' sleeps)."""

    async def send(self, request: PipelineRequest) -> PipelineResponse:
        gate: Gate | None = request.context.get("gate")
        if gate is None:
            return await self.next.send(request)
        async with gate:
            return await self.next.send(request)


def retry_after_seconds(headers) -> float | None:
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def backoff(attempt: int, base: float = 0.5, cap: float = 30.0) -> float:
    """Exponential backoff with full jitter."""
    return random.uniform(base / 2, min(cap, base * 2**attempt))


class RetryPolicy(AsyncHTTPPolicy):
    """Retries 429 (``Retry-After`` when given, else backoff), 5xx and connection failures.

    ``throttle_wait`` may compute the wait for a 429 from other headers (Resource Graph's quota headers).
    """

    def __init__(self, max_attempts: int = 8, connect_attempts: int = 3,
                 throttle_wait: Callable[[object], float | None] | None = None, base_delay: float = 0.5):
        super().__init__()
        self.max_attempts = max_attempts
        self.connect_attempts = connect_attempts
        self.throttle_wait = throttle_wait
        self.base_delay = base_delay  # seconds: the first backoff is between half of it and all of it

    async def send(self, request: PipelineRequest) -> PipelineResponse:
        attempt = 0
        connect_failures = 0
        while True:
            attempt += 1
            try:
                response = await self.next.send(request)
            except (ServiceRequestError, ServiceResponseError):
                connect_failures += 1
                if connect_failures >= self.connect_attempts or attempt >= self.max_attempts:
                    raise
                await asyncio.sleep(backoff(connect_failures - 1, base=self.base_delay))
                continue
            status = response.http_response.status_code
            if status == 429 and attempt < self.max_attempts:
                headers = response.http_response.headers
                wait = retry_after_seconds(headers)
                if wait is None and self.throttle_wait is not None:
                    wait = self.throttle_wait(headers)
                if wait is None:
                    wait = backoff(attempt, base=2 * self.base_delay, cap=60.0)
                gate: Gate | None = request.context.get("gate")
                if gate is not None:
                    gate.throttled(wait)
                else:
                    await asyncio.sleep(wait)
                continue
            if status in RETRY_STATUSES and attempt < min(self.max_attempts, 5):
                await asyncio.sleep(backoff(attempt - 1, base=self.base_delay))
                continue
            return response


async def bounded(items: list, call, workers: int) -> list:
    """``await call(*item)`` for every item with at most ``workers`` running at once; results (or the
    exception raised) in input order. Keeps memory flat where a plain gather would create every coroutine
    up front."""
    results: list = [None] * len(items)
    queue = iter(enumerate(items))

    async def worker() -> None:
        for i, item in queue:
            try:
                results[i] = await call(*item)
            except Exception as e:
                results[i] = e

    await asyncio.gather(*(worker() for _ in range(max(1, min(workers, len(items))))))
    return results
