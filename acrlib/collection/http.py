"""The HTTP layer every acrlib request goes through: one aiohttp session under azure-core async pipelines,
retries with ``Retry-After`` or jittered backoff, and a per-origin gate that bounds concurrency, paces
requests once the origin has throttled, and gives up on an origin that stopped answering.

Every server may misbehave, so everything a server can make acrlib do is bounded (:class:`Limits`): the time
one request may take however slowly its bytes arrive, the size of one answer, how long a ``Retry-After`` may
hold a request, how many times a request is sent, and how many requests in a row may time out before the
origin's other requests are not sent at all.
"""

from __future__ import annotations

import asyncio
import math
import random
import ssl
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import aiohttp
from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.core.pipeline import AsyncPipeline, PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import AsyncHTTPPolicy
from azure.core.pipeline.transport import AsyncHttpTransport

from .._version import __version__
from ..errors import RequestFailed
from .parse import json_value

USER_AGENT = f"acrlib/{__version__}"
RETRY_STATUSES = {500, 502, 503, 504}


@dataclass(frozen=True)
class Limits:
    """Bounds on what any server can make acrlib do (``collect`` takes the first three as options)."""

    request_timeout: float = 120.0  # s: one request, from sending to the last byte, however slowly bytes come
    max_retry_wait: float = 60.0  # s: a longer Retry-After (or quota reset) fails the request at once
    max_answer_bytes: int = 64 << 20  # one answer's body after decompression; larger is cut off, an error
    connect_timeout: float = 30.0  # s: establishing a connection
    max_attempts: int = 8  # times one request is sent (throttling included); 5xx at most 5, resets 3
    dead_after_timeouts: int = 3  # an origin whose requests time out this many times in a row is given up
    max_pages: int = 100_000  # pages of one listing (100 million items at 1,000 a page)

    def __post_init__(self):
        for name in ("request_timeout", "max_retry_wait", "connect_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
        for name in ("max_answer_bytes", "max_attempts", "dead_after_timeouts", "max_pages"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number >= 1, not {value!r}")


class RequestTimedOut(ServiceResponseError):
    """No complete answer within ``Limits.request_timeout``: not retried (the deadline is the deadline)."""


def answer_too_large(url: str, status: int, size: int | str, limit: int) -> RequestFailed:
    return RequestFailed(status, "ANSWER_TOO_LARGE", f"the answer of {url.split('?')[0]} is larger than "
                         f"max_answer_bytes ({limit:,} bytes; it announced {size}): cut off, left out")


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
        body = json_value(response.body() or b"{}")
    except ValueError:
        body = {}
    if isinstance(body, dict):
        if isinstance(body.get("errors"), list) and body["errors"]:
            first = body["errors"][0]
            return str(first.get("code", "")), str(first.get("message", ""))
        if isinstance(body.get("error"), dict):
            return str(body["error"].get("code", "")), str(body["error"].get("message", ""))
    return f"HTTP_{response.status_code}", f"HTTP {response.status_code} without an error body"


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in."""
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return (parts.scheme.lower(), "", -1)
    port = port or {"https": 443, "http": 80}.get(parts.scheme.lower())
    return (parts.scheme.lower(), (parts.hostname or "").lower(), port)


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
        return json_value(self._body)

    async def read(self) -> bytes:
        return self._body

    async def load_body(self) -> None:
        pass

    async def close(self) -> None:
        pass


class LeanTransport(AsyncHttpTransport):
    """An azure-core transport over one shared aiohttp session: bodies read eagerly (at most
    ``max_answer_bytes`` of them), connections reused, TLS context set once on the connector, one total deadline
    per request. Connection failures map to azure-core's exceptions, a deadline missed to
    :class:`RequestTimedOut`."""

    def __init__(self, session: aiohttp.ClientSession, limits: Limits):
        self.session = session
        self.limits = limits
        # total: a server dripping one byte at a time cannot hold a request longer than this.
        self._timeout = aiohttp.ClientTimeout(total=limits.request_timeout, sock_connect=limits.connect_timeout)

    async def _body(self, url: str, r: aiohttp.ClientResponse) -> bytes:
        """The body, never more than the limit in memory. A compressed answer is counted decompressed, so a
        small gzip bomb is cut off like a large answer."""
        cap = self.limits.max_answer_bytes
        length = r.content_length
        if length is not None and length > cap:
            raise answer_too_large(url, r.status, f"{length:,} bytes", cap)
        if length is not None and r.headers.get("Content-Encoding", "identity") == "identity":
            return await r.read()  # exactly Content-Length bytes: the fast path of nearly every answer
        body = bytearray()
        async for chunk in r.content.iter_chunked(1 << 16):
            body += chunk
            if len(body) > cap:
                raise answer_too_large(url, r.status, "no length" if length is None else f"{length:,} bytes", cap)
        return bytes(body)

    async def send(self, request, **kwargs) -> LeanResponse:
        proxy = None
        for prefix, value in (kwargs.get("proxies") or {}).items():
            if request.url.startswith(prefix):
                proxy = value
        try:
            async with self.session.request(request.method, request.url, headers=request.headers,
                                            data=request.content,
                                            allow_redirects=False, proxy=proxy, timeout=self._timeout) as r:
                body = await self._body(request.url, r)
                return LeanResponse(request, r.status, r.reason, r.headers, body)
        except TimeoutError as e:  # aiohttp's ServerTimeoutError is one too
            raise RequestTimedOut(f"no complete answer within {self.limits.request_timeout:g} s", error=e) from e
        except (aiohttp.ClientConnectorError, aiohttp.ClientProxyConnectionError) as e:
            raise ServiceRequestError(f"{type(e).__name__}: {e}", error=e) from e
        except (aiohttp.ClientError, ConnectionError) as e:
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

    def __init__(self, connection_verify: bool | str | None = None, limit: int = 128, limits: Limits | None = None):
        self._verify = connection_verify
        self._limit = limit
        self.limits = limits or Limits()
        self.proxies = Proxies()
        self.aiohttp: aiohttp.ClientSession | None = None
        self.transport: LeanTransport | None = None

    async def __aenter__(self) -> Session:
        connector = aiohttp.TCPConnector(ssl=ssl_context(self._verify), limit=self._limit, limit_per_host=0,
                                         ttl_dns_cache=300, enable_cleanup_closed=True)
        # trust_env=False: Proxies decides once per host what aiohttp would look up on every request.
        self.aiohttp = aiohttp.ClientSession(connector=connector, trust_env=False, auto_decompress=True,
                                             headers={"User-Agent": USER_AGENT})
        self.transport = LeanTransport(self.aiohttp, self.limits)
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


class Gate:
    """Per-origin admission: at most ``concurrency`` requests in flight. After a 429 every request waits for
    the origin's ``Retry-After``; from then on a client-side token bucket refilling at ``rate`` per second
    (the SKU's documented ReadOps) admits requests, empty at the 429, so what the origin refilled during the
    pause is spent at once and the rest is paced. Throttled again while pacing, the rate drops by a fifth
    (documented rates are minimum estimates, but a registry may be shared with other clients).

    After ``dead_after`` requests in a row missed their deadline, the origin is given up: every request still
    waiting fails at once instead of each waiting out its own deadline in turn. ``paced``: admit at ``rate``
    from the start (deletes, under the SKU's WriteOps), not only after a 429."""

    def __init__(self, concurrency: int, rate: float | None = None, dead_after: int = Limits.dead_after_timeouts,
                 paced: bool = False):
        self.concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self.rate = rate
        self.paced = paced and bool(rate)  # paced from the first request (writes): a second's worth at once
        self._tokens = float(rate or 0.0) if self.paced else 0.0
        self._stamp = 0.0
        self._resume_at = 0.0
        self.dead_after = dead_after
        self.timeouts = 0  # in a row
        self.dead = False

    def timed_out(self) -> None:
        self.timeouts += 1
        self.dead = self.dead or self.timeouts >= self.dead_after

    def answered(self) -> None:
        self.timeouts = 0

    def check(self, url: str) -> None:
        if self.dead:
            raise RequestFailed(None, "HOST_UNRESPONSIVE", f"not sent: {self.timeouts} requests in a row to "
                                f"{url.split('/')[2] if '//' in url else url} got no complete answer in time")

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
    """Takes a slot of the request's gate around the actual send (not around retries' sleeps), and tells the
    gate whether the origin answered in time."""

    async def send(self, request: PipelineRequest) -> PipelineResponse:
        gate: Gate | None = request.context.get("gate")
        if gate is None:
            return await self.next.send(request)
        async with gate:
            gate.check(request.http_request.url)
            try:
                response = await self.next.send(request)
            except RequestTimedOut:
                gate.timed_out()
                raise
            gate.answered()
            return response


def retry_after_seconds(headers) -> float | None:
    """Seconds a ``Retry-After`` header asks for: a number or an HTTP date, never negative (``inf`` for an
    infinite or absurd value); None when absent or unreadable (the caller backs off on its own)."""
    value = headers.get("Retry-After")
    if value is None or not str(value).strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, OverflowError):
            return None
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


def backoff(attempt: int, base: float = 0.5, cap: float = 30.0) -> float:
    """Exponential backoff with full jitter."""
    return random.uniform(base / 2, min(cap, base * 2**attempt))


class RetryPolicy(AsyncHTTPPolicy):
    """Retries 429 (``Retry-After`` when given, else backoff), 5xx and failed connections, at most
    ``max_attempts`` sends in all. A request that missed its deadline is not retried. A 429 asking for more than
    ``max_retry_wait`` fails at once, naming what the server asked.

    ``throttle_wait`` may compute the wait for a 429 from other headers (Resource Graph's quota headers).
    """

    def __init__(self, max_attempts: int = Limits.max_attempts, connect_attempts: int = 3,
                 throttle_wait: Callable[[object], float | None] | None = None, base_delay: float = 0.5,
                 max_retry_wait: float = Limits.max_retry_wait):
        super().__init__()
        self.max_attempts = max_attempts
        self.connect_attempts = connect_attempts
        self.throttle_wait = throttle_wait
        self.base_delay = base_delay  # seconds: the first backoff is between half of it and all of it
        self.max_retry_wait = max_retry_wait

    @classmethod
    def within(cls, limits: Limits, **kwargs) -> RetryPolicy:
        return cls(max_attempts=limits.max_attempts, max_retry_wait=limits.max_retry_wait, **kwargs)

    async def send(self, request: PipelineRequest) -> PipelineResponse:
        attempt = 0
        connect_failures = 0
        while True:
            attempt += 1
            try:
                response = await self.next.send(request)
            except RequestTimedOut:
                raise
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
                    wait = backoff(attempt, base=2 * self.base_delay, cap=self.max_retry_wait)
                if wait > self.max_retry_wait:
                    asked = headers.get("Retry-After") or headers.get("x-ms-user-quota-resets-after")
                    raise RequestFailed(429, "RETRY_AFTER_TOO_LONG", f"the server asked to wait {asked!r} before "
                                        f"retrying, more than max_retry_wait ({self.max_retry_wait:g} s): not retried")
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
