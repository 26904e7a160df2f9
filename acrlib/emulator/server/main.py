"""The emulator process: ``python -m acrlib.emulator.server.main``.

Protocol on stdin/stdout, one JSON document per line: the parent sends the configuration, the process answers
``{"ready": ...}`` with its endpoints, then answers control commands (stats, log, reset, truth, advance,
delete, shutdown). End of input shuts it down, so it never outlives its parent.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import traceback
from pathlib import Path

from aiohttp import web

from .. import evolve
from ..faults import Faults
from ..generate import generate
from .arm import ArmHandler
from .logs import LogsHandler
from .registry import RegistryHandler
from .state import State
from .tls import make_certificates, server_context


def _closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _site(handler, ssl_context) -> tuple[web.AppRunner, int]:
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context, backlog=1024)
    await site.start()
    return runner, runner.addresses[0][1]


class Control:
    def __init__(self, state: State, arm: ArmHandler, logs: LogsHandler, handlers: dict[str, RegistryHandler],
                 workdir: Path):
        self.state = state
        self.arm = arm
        self.logs = logs
        self.handlers = handlers
        self.workdir = workdir
        self.truth_version = 0
        self.written: dict[str, int] = {}  # truth parameters -> truth version written

    def changed(self) -> None:
        self.truth_version += 1
        self.arm.invalidate()
        self.logs.invalidate()
        for handler in self.handlers.values():
            handler.blob_index.clear()

    def handle(self, command: dict) -> dict:
        cmd = command.get("cmd")
        if cmd == "stats":
            return {"stats": [[*key, count] for key, count in self.state.stats.items()]}
        if cmd == "log":
            return {"log": self.state.log}
        if cmd == "events":
            path = self.workdir / "events.parquet"
            self.logs.events().write_parquet(path)
            return {"path": str(path)}
        if cmd == "reset":
            self.state.reset()
            return {"ok": True}
        if cmd == "refill":
            self.state.refill()
            return {"ok": True}
        if cmd == "truth":
            return {"dir": str(self.write_truth(command["activity_days"], command["run_command"])),
                    "version": list(self.version)}
        if cmd == "advance":
            summary = evolve.advance(self.state.tenant, days=command["days"], seed=command.get("seed", 0))
            self.changed()
            return {"ok": True, "summary": summary, "now": self.state.tenant.now}
        if cmd == "delete":
            summary = evolve.delete(self.state.tenant, command["manifests"], command["tags"])
            self.changed()
            return {"ok": True, "summary": summary}
        if cmd == "change":
            evolve.change(self.state.tenant, **command["change"])
            self.changed()
            return {"ok": True}
        raise ValueError(f"unknown command {cmd!r}")

    def write_truth(self, activity_days: int, run_command: bool) -> Path:
        from ..truth import truth_tables

        key = f"{activity_days}-{int(run_command)}"
        out = self.workdir / f"truth-{key}"
        if self.written.get(key) != self.version:
            out.mkdir(exist_ok=True)
            tables = truth_tables(self.state.tenant, self.state.login_servers, activity_days, run_command)
            for name, df in tables.items():
                df.write_parquet(out / f"{name}.parquet")
            self.written[key] = self.version
        return out

    @property
    def version(self) -> tuple[int, int]:
        """Changes made by commands and through the API (deletes): the truth is written again after either."""
        return self.truth_version, self.state.mutations


async def run(config: dict) -> None:
    tenant = generate(config["scale"], config["seed"], config.get("now"))
    workdir = Path(config["workdir"])
    _, cert_path, key_path = make_certificates(workdir)
    ssl_context = server_context(cert_path, key_path)
    faults = Faults.coerce(config.get("faults"))
    known = {reg.name for reg in tenant.registries}
    unknown = sorted(faults.registries() - known)
    if unknown:
        raise ValueError(f"faults name registries not in the {config['scale']!r} tenant: {unknown}; "
                         f"registries are {sorted(known)[:20]}")
    for fault in faults:
        fault.prepare(tenant)
    state = State(tenant, config["secret"], latency_ms=config.get("latency_ms", 0), throttle=config.get("throttle"),
                  faults=faults, rg_quota=config.get("rg_quota", 15), rg_window_s=config.get("rg_window_s", 5.0))
    runners: list[web.AppRunner] = []
    handlers: dict[str, RegistryHandler] = {}
    for reg in tenant.registries:
        if reg.discovery_only:
            continue
        if not all(fault.serves(reg.name) for fault in faults):
            state.login_servers[reg.name] = f"127.0.0.1:{_closed_port()}"
            continue
        handler = RegistryHandler(state, reg)
        runner, port = await _site(handler, ssl_context)
        runners.append(runner)
        handlers[reg.name] = handler
        state.login_servers[reg.name] = f"127.0.0.1:{port}"
    arm = ArmHandler(state)
    runner, state.arm_port = await _site(arm, ssl_context)
    runners.append(runner)
    logs = LogsHandler(state)
    runner, logs_port = await _site(logs, ssl_context)
    runners.append(runner)
    control = Control(state, arm, logs, handlers, workdir)
    _send({
        "ready": True,
        "arm_endpoint": f"https://127.0.0.1:{state.arm_port}",
        "logs_endpoint": f"https://127.0.0.1:{logs_port}",
        "workspaces": {ws.name: {"customer_id": ws.customer_id, "resource_id": ws.resource_id,
                                 "retention_days": ws.retention_days} for ws in tenant.workspaces},
        "ca_path": str(workdir / "ca.pem"),
        "tenant_id": tenant.tenant_id,
        "now": tenant.now,
        "registries": {name: f"https://{server}" for name, server in state.login_servers.items()},
        "subscriptions": tenant.subscriptions,
    })
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            command = json.loads(line)
            if command.get("cmd") == "shutdown":
                _send({"ok": True})
                break
            try:
                _send(control.handle(command))
            except Exception as e:  # report to the parent, keep serving
                _send({"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()})
    finally:
        for runner in runners:
            await runner.cleanup()


def _send(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main() -> None:
    # Ctrl-C at a terminal reaches the whole process group: the parent owns this process's lifetime (it sends
    # "shutdown", or its end closes our stdin), so the interrupt is the parent's to handle, with one message.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    line = sys.stdin.readline()
    if not line:
        return
    try:
        asyncio.run(run(json.loads(line)))
    except BrokenPipeError:  # the parent is gone (stopped while we started): nothing to tell, nobody to tell it
        _quiet_exit()
    except Exception as e:
        try:
            _send({"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()})
        except BrokenPipeError:
            _quiet_exit()
        raise


def _quiet_exit() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail again
    sys.exit(1)


if __name__ == "__main__":
    main()
