"""The HTTP layer in-process: retries, Retry-After, the per-origin gate, bounded concurrency, error bodies."""

from __future__ import annotations

import asyncio
import email.utils
import time

import pytest
from aiohttp import web
from azure.core.rest import HttpRequest
from inprocess import serve

from acrlib.collection.http import (
    Gate,
    GatePolicy,
    RetryPolicy,
    Session,
    bounded,
    response_error,
    retry_after_seconds,
)


def run(coroutine):
    return asyncio.run(coroutine)


def script(*answers):
    """A handler answering with ``answers`` in turn (status, headers, body), then 200 forever."""
    queue = list(answers)

    async def handler(request):
        status, headers, body = queue.pop(0) if queue else (200, {}, b'{"ok": true}')
        return web.Response(status=status, headers=headers, body=body)

    return handler


async def send(policies, url, **context):
    async with Session() as session:
        response = await session.pipeline(policies).run(HttpRequest("GET", url), **context)
        return response.http_response


@pytest.mark.parametrize(("value", "expected"), [
    ("3", 3.0), ("0", 0.0), ("1.5", 1.5), ("-4", 0.0), (None, None), ("", None), ("soon", None),
])
def test_retry_after_reads_seconds_and_never_goes_negative(value, expected):
    assert retry_after_seconds({"Retry-After": value} if value is not None else {}) == expected


def test_retry_after_reads_an_http_date():
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= retry_after_seconds({"Retry-After": later}) <= 30
    past = email.utils.formatdate(time.time() - 30, usegmt=True)
    assert retry_after_seconds({"Retry-After": past}) == 0.0


def test_server_errors_are_retried_until_an_answer():
    async def main():
        handler = script((503, {}, b""), (500, {}, b""), (502, {}, b""))
        async with serve(handler) as (url, seen):
            response = await send([RetryPolicy(base_delay=0.01)], url + "/x")
            return response.status_code, len(seen)

    assert run(main()) == (200, 4)


def test_server_errors_stop_after_the_attempts_and_the_last_answer_comes_back():
    async def main():
        async with serve(script(*[(503, {}, b"")] * 10)) as (url, seen):
            response = await send([RetryPolicy(base_delay=0.01)], url + "/x")
            return response.status_code, len(seen)

    assert run(main()) == (503, 5)


def test_a_client_error_is_not_retried():
    async def main():
        async with serve(script((404, {}, b'{"errors": [{"code": "NAME_UNKNOWN", "message": "no"}]}'))) as (url, seen):
            response = await send([RetryPolicy(base_delay=0.01)], url + "/x")
            return response.status_code, len(seen), response_error(response)

    assert run(main()) == (404, 1, ("NAME_UNKNOWN", "no"))


def test_a_429_waits_for_retry_after_then_succeeds():
    async def main():
        async with serve(script((429, {"Retry-After": "1"}, b""))) as (url, seen):
            started = time.monotonic()
            response = await send([RetryPolicy(base_delay=0.01)], url + "/x")
            return response.status_code, len(seen), time.monotonic() - started

    status, requests, waited = run(main())
    assert (status, requests) == (200, 2) and waited >= 0.95


def test_a_throttled_gate_holds_every_request_of_the_origin_then_paces_them():
    async def main():
        gate = Gate(concurrency=1, rate=20.0)
        async with serve(script((429, {"Retry-After": "0.3"}, b""))) as (url, seen):
            started = time.monotonic()
            policies = [RetryPolicy(base_delay=0.01), GatePolicy()]
            async with Session() as session:
                pipeline = session.pipeline(policies)
                await asyncio.gather(*(pipeline.run(HttpRequest("GET", f"{url}/{i}"), gate=gate) for i in range(16)))
            return gate.paced, time.monotonic() - started, len(seen)

    paced, elapsed, requests = run(main())
    # every request waits out the 0.3 s; then the 6 tokens refilled meanwhile (20/s) go at once and the other
    # 10 requests are paced at 20/s: at least 0.3 + 0.45 s
    assert paced and requests == 17 and elapsed >= 0.7


def test_the_gate_bounds_requests_in_flight():
    async def main():
        gate = Gate(concurrency=3)
        inside = peak = 0

        async def one():
            nonlocal inside, peak
            async with gate:
                inside += 1
                peak = max(peak, inside)
                await asyncio.sleep(0.01)
                inside -= 1

        await asyncio.gather(*(one() for _ in range(20)))
        return peak

    assert run(main()) == 3


def test_a_second_429_while_paced_lowers_the_rate_by_a_fifth_once_per_episode():
    async def main():
        gate = Gate(concurrency=2, rate=10.0)
        gate.throttled(0.0)
        await asyncio.sleep(0.01)
        gate.throttled(0.05)
        gate.throttled(0.05)  # the same episode: another request hit the same exhausted burst
        return gate.rate

    assert run(main()) == pytest.approx(8.0)


def test_bounded_keeps_order_returns_exceptions_and_limits_workers():
    async def main():
        running = peak = 0

        async def call(i):
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.001)
            running -= 1
            if i == 3:
                raise ValueError("three")
            return i * 10

        return await bounded([(i,) for i in range(10)], call, 4), peak

    results, peak = run(main())
    assert [r if not isinstance(r, Exception) else str(r) for r in results] == [0, 10, 20, "three", 40, 50, 60, 70,
                                                                               80, 90]
    assert peak == 4


def test_error_bodies_of_acr_and_arm_and_none_give_code_and_message():
    class Answer:
        def __init__(self, status, body):
            self.status_code, self._body = status, body

        def body(self):
            return self._body

    assert response_error(Answer(403, b'{"errors":[{"code":"DENIED","message":"no"}]}')) == ("DENIED", "no")
    assert response_error(Answer(404, b'{"error":{"code":"ResourceNotFound","message":"gone"}}')) == (
        "ResourceNotFound", "gone")
    assert response_error(Answer(502, b"<html>bad gateway</html>")) == ("HTTP_502", "HTTP 502 without an error body")
