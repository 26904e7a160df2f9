"""Registries read by other processes (``collect(workers=N)``): every core, each process streaming its parts.

Registries are independent, so they spread over processes that share nothing but one connection each to this
process (``multiprocessing.connection``, a local socket or pipe with a random key). On it a process asks for its
next registry whenever it has room (so fast registries do not wait for slow ones), asks for Entra tokens (the
credential never leaves this process: it may not even be picklable), and reports progress and each registry
done with its problems and the parts it wrote into the snapshot writer's staging folder; this process
registers those parts. A process that dies costs the registries it held, each reported as an error row, never
the others.

Processes are started as ``python -m acrlib.collection.workers``, never by re-importing the caller's main
module: a script without an ``if __name__ == "__main__"`` guard, or a notebook, works the same.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import pickle
import signal
import subprocess
import sys
import threading
import traceback
from collections import deque
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener
from pathlib import Path

from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError

from .. import snapshots
from .collector import Collector, RegistryResult

PART_TABLES = ("repositories", "manifests", "tags", "references", "layers")  # the tables a registry fills
STOP_S = 10.0  # how long a process may take to end once told to


def store(writer_staging: Path, part: int, result: RegistryResult) -> dict[str, int]:
    """Write ``result``'s tables as part ``part`` into a staging folder and drop them: the rows of each."""
    written = {}
    for name in PART_TABLES:
        df = result.tables.pop(name, None)
        if df is not None and df.height:
            snapshots.write_part(writer_staging, name, part, df)
            written[name] = df.height
    return written


def summary(result: RegistryResult, written: dict[str, int]) -> dict:
    """What this process needs of a registry read elsewhere (its tables are in the parts)."""
    return {"row": result.row, "failed": result.failed, "errors": result.errors, "requests": result.requests,
            "reused": result.reused, "fetched": result.fetched, "parts": written}


def result_of(done: dict) -> RegistryResult:
    return RegistryResult(row=done["row"], failed=done["failed"], errors=done["errors"], requests=done["requests"],
                          reused=done["reused"], fetched=done["fetched"])


# --- the child side ----------------------------------------------------------------------------------------


class _Link:
    """The child's end of its connection: requests that wait for an answer (by id), and reports."""

    def __init__(self, conn):
        self._conn = conn
        self._send_lock = threading.Lock()
        self._ids = itertools.count()
        self._waiting: dict[int, tuple[threading.Event, list]] = {}
        self._lock = threading.Lock()
        threading.Thread(target=self._receive, daemon=True).start()

    def _receive(self) -> None:
        while True:
            try:
                ident, answer = self._conn.recv()
            except (EOFError, OSError):
                os._exit(3)  # the parent is gone: nothing to report to
            with self._lock:
                event, box = self._waiting.pop(ident)
            box.append(answer)
            event.set()

    def send(self, message: tuple) -> None:
        with self._send_lock:
            self._conn.send(message)

    def ask(self, kind: str, *payload):
        """Send a request and wait for its answer (in a thread: callers in the event loop use to_thread)."""
        ident = next(self._ids)
        event, box = threading.Event(), []
        with self._lock:
            self._waiting[ident] = (event, box)
        self.send((kind, ident, *payload))
        event.wait()
        return box[0]


class TokenStandIn:
    """A synchronous azure-core credential that asks the parent process for each token."""

    def __init__(self, link: _Link):
        self._link = link

    def get_token(self, *scopes, **kwargs) -> AccessToken:
        answer = self._link.ask("token", scopes, {k: v for k, v in kwargs.items() if k in ("tenant_id", "claims")})
        if answer[0] == "token":
            return AccessToken(answer[1], answer[2])
        raise ClientAuthenticationError(message=answer[1])


class _Reporter:
    """Progress of this process, sent to the parent (the :class:`~.progress.Progress` interface)."""

    def __init__(self, link: _Link):
        self._link = link

    def add_repositories(self, count: int) -> None:
        self._link.send(("progress", "add_repositories", count))

    def repository_done(self, rows: int) -> None:
        self._link.send(("progress", "repository_done", rows))

    def error(self) -> None:
        self._link.send(("progress", "error", None))

    def registry_done(self) -> None:
        pass  # the parent counts a registry done when its report arrives


def peak_rss_mb() -> float | None:
    """This process's peak resident memory in MB (Linux: ``VmHWM``, which, unlike ``ru_maxrss``, does not carry
    over the parent's peak across fork and exec); None where unknown."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def main() -> None:
    """A worker process: its connection's address and key come on stdin; it reads registries until there are
    none left, then ends."""
    from .options import Options

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a stop is the parent's to handle: it ends its workers
    address, key, index, settings, staging, lanes = pickle.loads(sys.stdin.buffer.read())
    conn = Client(address, authkey=key)
    conn.send(("hello", index))
    link = _Link(conn)
    try:
        credential = TokenStandIn(link)
        opts = Options(credential, **settings)
        asyncio.run(_read(opts, credential, Path(staging), lanes, link))
    except BaseException as e:  # reported, then this process ends; the parent names the registries it held
        link.send(("crashed", traceback.format_exception_only(e)[-1].strip()[:500]))
        raise SystemExit(1) from None


async def _read(opts, credential, staging: Path, lanes: int, link: _Link) -> None:
    from ..credentials import AsyncCredential
    from .discovery import Arm
    from .http import Session

    async_credential = AsyncCredential(credential)
    async with Session(opts.connection_verify, limit=256, limits=opts.limits) as session:
        arm = Arm(session, async_credential, opts.cloud, opts.arm_endpoint)
        collector = Collector(opts, session, async_credential, _Reporter(link))

        async def lane() -> None:
            while True:
                job = await asyncio.to_thread(link.ask, "next")
                if job is None:
                    return
                part, row = job
                result = await collector.registry(arm, row)
                written = await asyncio.to_thread(store, staging, part, result)
                link.send(("done", part, summary(result, written)))

        await asyncio.gather(*(lane() for _ in range(lanes)))
        link.send(("end", arm.requests, peak_rss_mb()))


# --- the parent side ---------------------------------------------------------------------------------------


class Pool:
    """``processes`` worker processes reading the registries of ``jobs`` (part number, registry row)."""

    def __init__(self, processes: int, settings: dict, staging: Path, lanes: int, credential, progress):
        self.processes = processes
        self.settings = settings
        self.staging = staging
        self.lanes = lanes
        self.credential = credential  # an AsyncCredential of this process
        self.progress = progress
        self.arm_requests = 0
        self.peaks: list[float] = []  # each worker's peak memory in MB, as it reported when it ended

    async def run(self, jobs: list[tuple[int, dict]], on_done) -> list[RegistryResult]:
        """Read every registry of ``jobs``; ``on_done(part, result, parts)`` for each as it completes (in a
        thread). Returns the results in the order of ``jobs``."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        pending = deque(jobs)
        taken: dict[int, int] = {}  # part -> worker holding it
        key = os.urandom(32)
        procs: list[subprocess.Popen] = []
        with Listener(authkey=key) as listener:
            try:
                for index in range(self.processes):
                    proc = subprocess.Popen([sys.executable, "-m", "acrlib.collection.workers"],
                                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
                    procs.append(proc)
                    proc.stdin.write(pickle.dumps((listener.address, key, index, self.settings, str(self.staging),
                                                   self.lanes)))
                    proc.stdin.close()
                await self._connect(listener, key, procs, loop, events, pending, taken)
                return await self._gather(jobs, procs, events, taken, on_done)
            finally:
                for proc in procs:
                    if proc.poll() is None:
                        proc.terminate()
                for proc in procs:
                    try:
                        proc.wait(STOP_S)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait(STOP_S)

    async def _connect(self, listener: Listener, key: bytes, procs: list, loop, events: asyncio.Queue,
                       pending: deque, taken: dict) -> None:
        """Accept each process's connection (it says which it is) and serve it in a thread; a process that
        ended before connecting is gone."""
        waiting = set(range(len(procs)))
        while waiting:
            accepted = asyncio.ensure_future(asyncio.to_thread(listener.accept))
            while not accepted.done():
                await asyncio.wait({accepted}, timeout=0.2)
                if not accepted.done() and all(procs[i].poll() is not None for i in waiting):
                    Client(listener.address, authkey=key).close()  # wakes the accept: nobody else will come
            try:
                conn = accepted.result()
                hello = await asyncio.to_thread(conn.recv)
                index = hello[1] if isinstance(hello, tuple) and hello[:1] == ("hello",) else None
            except (OSError, EOFError, AuthenticationError):
                index = None
            if index not in waiting:
                if all(procs[i].poll() is not None for i in waiting):
                    for i in waiting:
                        events.put_nowait(("gone", i, None))
                    return
                continue
            waiting.discard(index)
            threading.Thread(target=self._serve, args=(index, conn, loop, events, pending, taken),
                             daemon=True).start()

    def _serve(self, index: int, conn, loop, events: asyncio.Queue, pending: deque, taken: dict) -> None:
        """Answer one process (its next registry, its tokens) and pass its reports on, until it ends."""
        post = lambda event: loop.call_soon_threadsafe(events.put_nowait, event)  # noqa: E731
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                post(("gone", index, None))
                return
            kind = message[0]
            try:
                if kind == "next":
                    try:
                        part, row = pending.popleft()
                        taken[part] = index
                        conn.send((message[1], (part, row)))
                    except IndexError:
                        conn.send((message[1], None))
                elif kind == "token":
                    _, ident, scopes, kwargs = message
                    try:
                        token = asyncio.run_coroutine_threadsafe(self.credential.get_token(*scopes, **kwargs),
                                                                 loop).result()
                        conn.send((ident, ("token", token.token, int(token.expires_on))))
                    except Exception as e:
                        conn.send((ident, ("error", f"{type(e).__name__}: {str(e)[:500]}")))
                else:
                    post((kind, index, message[1:]))
            except (EOFError, OSError):
                post(("gone", index, None))
                return

    def _ended(self, payload: tuple) -> None:
        self.arm_requests += payload[0]
        if payload[1] is not None:
            self.peaks.append(round(payload[1], 1))

    async def _gather(self, jobs, procs, events: asyncio.Queue, taken: dict, on_done) -> list[RegistryResult]:
        rows = dict(jobs)
        results: dict[int, RegistryResult] = {}
        gone: set[int] = set()
        crashes: dict[int, str] = {}
        while len(results) < len(jobs) and len(gone) < len(procs):
            kind, index, payload = await events.get()
            if kind == "progress":
                getattr(self.progress, payload[0])(*(() if payload[1] is None else (payload[1],)))
            elif kind == "done":
                part, done = payload
                result = result_of(done)
                await asyncio.to_thread(on_done, part, result, done["parts"])
                results[part] = result
                self.progress.registry_done()
            elif kind == "end":
                self._ended(payload)
            elif kind == "crashed":
                crashes[index] = payload[0]
            elif kind == "gone":
                gone.add(index)
        while len(gone) < len(procs):  # every registry is done: the processes end (and count their ARM requests)
            try:
                kind, index, payload = await asyncio.wait_for(events.get(), STOP_S)
            except TimeoutError:
                break
            if kind == "end":
                self._ended(payload)
            elif kind == "gone":
                gone.add(index)
        for part in rows:  # held by a process that ended without finishing it, or never taken by any
            if part not in results:
                holder = taken.get(part)
                why = crashes.get(holder) if holder is not None else None
                if why is None and holder is not None:
                    why = f"exit code {procs[holder].poll()}"
                if why is None:
                    first = next(iter(crashes.values()), None)
                    why = "every worker process had ended" + (f"; one said: {first}" if first else "")
                results[part] = _lost(rows[part], why, holder is not None)
                self.progress.registry_done()
        return [results[part] for part, _ in jobs]


def _lost(row: dict, why: str, started: bool) -> RegistryResult:
    result = RegistryResult(row=dict(row), failed=True)
    doing = "while reading it" if started else "before reading it"
    result.problem("registry", None, "WORKER_FAILED", f"the process reading this registry ended {doing} ({why}); "
                   "nothing of it was kept")
    return result


def child_settings(opts, previous_location) -> dict:
    """The settings a worker process reads registries with (discovery, side readings and the snapshot stay in
    this process)."""
    return {
        "cloud": opts.cloud.name, "arm_endpoint": opts.arm_endpoint, "connection_verify": opts.connection_verify,
        "progress": False, "layers": opts.layers, "page_size": opts.page_size, "referrers": opts.referrers,
        "request_timeout": opts.limits.request_timeout, "max_retry_wait": opts.limits.max_retry_wait,
        "max_answer_bytes": opts.limits.max_answer_bytes, "activity_days": 0, "deployments": False,
        "vulnerabilities": False, "previous": previous_location, "workers": 1, "in_flight": opts.in_flight,
    }



if __name__ == "__main__":
    main()
