"""What every emulated endpoint shares: the server state (tenant, counters, request log, throttle buckets,
clock, the injected faults), replies and error bodies."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import struct
import time
from collections import Counter
from dataclasses import dataclass
from email.utils import formatdate

from aiohttp import web

from acrlib import skus

from ..model import TICKS, Tenant

JSON_TYPE = "application/json; charset=utf-8"
MAX_PAGE = 1000
DEFAULT_PAGE = 100


def acr_errors(code: str, message: str, detail=None) -> bytes:
    return json.dumps({"errors": [{"code": code, "message": message, "detail": detail}]}).encode()


def arm_error(code: str, message: str, details: list | None = None) -> bytes:
    error: dict = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return json.dumps({"error": error}).encode()


class Reply(Exception):
    """Raised inside a handler to answer right away (errors, challenges)."""

    def __init__(self, status: int, body: bytes = b"", headers: dict | None = None, content_type=JSON_TYPE):
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.content_type = content_type

    def response(self, date: str) -> web.Response:
        headers = {"Date": date, **self.headers}
        if self.body:
            headers["Content-Type"] = self.content_type
        return web.Response(status=self.status, body=self.body or None, headers=headers)


class Reset(Exception):
    """Drop the connection without an answer."""


@dataclass
class Bucket:
    """Token bucket for a registry's ReadOps: refills at rate/s up to capacity."""

    rate: float
    capacity: float
    tokens: float
    stamp: float

    def take(self, now: float) -> float:
        """0 when a request may pass; otherwise seconds until one token is back."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class State:
    def __init__(self, tenant: Tenant, secret: str, *, latency_ms: float, throttle: bool | float, faults,
                 rg_quota: int, rg_window_s: float):
        self.tenant = tenant
        self.secret = secret
        self.latency = latency_ms / 1000.0
        self.faults = faults
        self.rng = random.Random(faults.seed)
        self.stats: Counter = Counter()
        self.log: list[tuple] = []
        self.login_servers: dict[str, str] = {}
        self.ports: dict[str, int] = {}
        self.arm_port = 0
        self.token_cache: dict[str, dict | None] = {}
        self.rg_quota = rg_quota
        self.rg_window_s = rg_window_s
        self.started = time.monotonic()
        self.rg_windows: dict[str, list[float]] = {}
        burst_s = 5.0 if throttle is True else float(throttle or 0)
        self.buckets: dict[str, Bucket] = {}
        self.write_buckets: dict[str, Bucket] = {}  # WriteOps, as ReadOps: per registry, when throttled
        self.mutations = 0  # changes made through the API (deletes): the truth must be written again
        if throttle:
            now = time.monotonic()
            for reg in tenant.registries:
                rate = skus.READ_OPS_PER_MIN[reg.sku] / 60.0
                self.buckets[reg.name] = Bucket(rate=rate, capacity=rate * burst_s, tokens=rate * burst_s, stamp=now)
                rate = skus.WRITE_OPS_PER_MIN[reg.sku] / 60.0
                self.write_buckets[reg.name] = Bucket(rate=rate, capacity=rate * burst_s, tokens=rate * burst_s,
                                                      stamp=now)

    def now_ticks(self) -> int:
        """The emulator's clock: the tenant's present plus the time since it started serving."""
        return self.tenant.now + int((time.monotonic() - self.started) * TICKS)

    def http_date(self) -> str:
        return formatdate(self.now_ticks() / TICKS, usegmt=True)

    def record(self, registry: str, endpoint: str, method: str, path: str, status: int) -> None:
        self.stats[(registry, endpoint, method, status)] += 1
        self.log.append((len(self.log), time.time(), registry, method, endpoint, path, status))

    def reset(self) -> None:
        self.stats.clear()
        self.log.clear()

    def refill(self) -> None:
        """Full throttle buckets and fresh Resource Graph quota windows (between benchmark runs)."""
        now = time.monotonic()
        for bucket in (*self.buckets.values(), *self.write_buckets.values()):
            bucket.tokens, bucket.stamp = bucket.capacity, now
        self.rg_windows.clear()


async def arrive(state: State, request: web.Request, registry: str | None) -> None:
    """What every request meets first: the configured latency, then each fault's ``before`` hook (``registry``
    None for ARM and Log Analytics)."""
    if state.latency:
        await asyncio.sleep(state.latency)
    for fault in state.faults:
        fault.before(state, request, registry)


def json_response(body: bytes, headers: dict | None = None) -> web.Response:
    return web.Response(status=200, body=body, headers={"Content-Type": JSON_TYPE, **(headers or {})})


def reset_connection(request: web.Request) -> web.Response:
    """Abort the connection with a TCP reset; the returned response is never delivered."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return web.Response(status=499)


async def answer(state: State, request: web.Request, origin: str, endpoint: str, handle) -> web.StreamResponse:
    """Run ``handle()`` for one request: stamp the emulator's clock in ``Date``, turn a :class:`Reply` into its
    response, reset the connection on :class:`Reset`, and count the request under ``origin``."""
    status = 0
    try:
        response = await handle()
        status = response.status
        if not response.prepared:
            response.headers["Date"] = state.http_date()
        return response
    except Reply as r:
        status = r.status
        return r.response(state.http_date())
    except Reset:
        return reset_connection(request)
    finally:
        state.record(origin, endpoint, request.method, request.raw_path, status)
