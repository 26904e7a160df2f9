"""A TCP forwarder on loopback that holds every chunk a client sends for ``delay`` seconds before passing it on:
a slow network in front of a real server, so that a test can stop a client in the middle of its work."""

from __future__ import annotations

import asyncio
import threading


class SlowProxy:
    """``with SlowProxy(port, delay) as proxy:`` forwards ``proxy.port`` to ``127.0.0.1:port``."""

    def __init__(self, target_port: int, delay: float):
        self.target_port, self.delay, self.port = target_port, delay, None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    async def _pipe(self, reader, writer, delay: float) -> None:
        try:
            while chunk := await reader.read(65536):
                if delay:
                    await asyncio.sleep(delay)
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, client_reader, client_writer) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        await asyncio.gather(self._pipe(client_reader, server_writer, self.delay),
                             self._pipe(server_reader, client_writer, 0), return_exceptions=True)

    def __enter__(self) -> SlowProxy:
        self._thread.start()
        server = asyncio.run_coroutine_threadsafe(asyncio.start_server(self._handle, "127.0.0.1", 0),
                                                  self._loop).result(10)
        self._server = server
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def _stop(self) -> None:
        self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
