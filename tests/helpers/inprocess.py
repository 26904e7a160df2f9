"""An aiohttp server inside the test's own event loop: each test writes the handler the policy under test
meets, and reads back what was asked of it. No emulator process, no TLS: plain http on loopback."""

from __future__ import annotations

import contextlib

from aiohttp import web


@contextlib.asynccontextmanager
async def serve(handler):
    """``async with serve(handler) as (base_url, seen)``: ``seen`` lists every request as (method, path_qs,
    headers, body) in arrival order."""
    seen: list[tuple] = []

    async def record(request: web.Request) -> web.StreamResponse:
        seen.append((request.method, request.path_qs, dict(request.headers), await request.read()))
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", seen
    finally:
        await runner.cleanup()
