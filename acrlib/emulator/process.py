"""`Emulator`: starts the emulator in its own process and talks to it."""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import polars as pl

from acrlib import schema

from .credential import AsyncEmulatorCredential, EmulatorCredential
from .faults import Faults
from .generate import PRESETS
from .model import TICKS

START_TIMEOUT_S = 300.0
COMMAND_TIMEOUT_S = 300.0


class EmulatorError(RuntimeError):
    pass


class Emulator:
    """A local HTTPS emulator of ACR (data plane + token service) and ARM (Resource Graph, listUsages).

    ``scale``: a preset (``tiny``, ``demo``, ``large``, ``fleet``). ``seed``: the tenant is deterministic from
    (scale, seed, now). ``latency_ms``: added to every request. ``throttle``: per-registry ReadOps throttling at
    the SKU's rate (True = bursts of 5 s worth; a number = that many seconds of burst). ``faults``: a
    :class:`Faults` or a dict of its fields. ``now``: the tenant's present (default: ``generate.PRESENT``,
    2026-11-30 00:00 UTC whatever the day: the same seed gives the same tenant on every run).
    """

    def __init__(self, scale: str = "tiny", seed: int = 7, latency_ms: float = 0, throttle: bool | float = False,
                 faults: Faults | dict | None = None, now: dt.datetime | None = None, rg_quota: int = 15,
                 rg_window_s: float = 5.0):
        if scale not in PRESETS:
            raise ValueError(f"unknown emulator scale {scale!r}; presets are {', '.join(PRESETS)}")
        if latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        self.scale = scale
        self.seed = seed
        self.latency_ms = latency_ms
        self.throttle = throttle
        self.faults = Faults.coerce(faults)
        self._now = None if now is None else int(now.timestamp() * TICKS)
        self.rg_quota = rg_quota
        self.rg_window_s = rg_window_s
        self._secret = secrets.token_urlsafe(32)
        self._proc: subprocess.Popen | None = None
        self._lines: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._info: dict = {}
        self._truth: dict[tuple, tuple[tuple, dict[str, pl.DataFrame]]] = {}  # key -> (version, tables)
        self._workdir: Path | None = None

    def __repr__(self) -> str:
        state = "running" if self._proc else "stopped"
        return f"Emulator(scale={self.scale!r}, seed={self.seed}, {state})"

    # --- lifecycle ---

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> Emulator:
        if self._proc is not None:
            return self
        self._workdir = Path(tempfile.mkdtemp(prefix="acrlib-emulator-"))
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "acrlib.emulator.server.main"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            # a session of its own: a terminal's Ctrl-C is the parent's to handle (it then shuts this down)
            start_new_session=os.name == "posix",
        )
        self._reader = threading.Thread(target=self._read, daemon=True, name="acrlib-emulator-reader")
        self._reader.start()
        config = {
            "scale": self.scale, "seed": self.seed, "now": self._now, "latency_ms": self.latency_ms,
            "throttle": self.throttle, "faults": self.faults.to_json(), "secret": self._secret,
            "workdir": str(self._workdir), "rg_quota": self.rg_quota, "rg_window_s": self.rg_window_s,
        }
        try:
            self._proc.stdin.write(json.dumps(config) + "\n")
            self._proc.stdin.flush()
            info = self._receive(START_TIMEOUT_S)
        except BaseException:  # interrupted while it starts: no process, no folder with its key left behind
            self.close()
            raise
        if not info.get("ready"):
            self.close()
            raise EmulatorError(f"the emulator did not start: {info.get('error', info)}")
        self._info = info
        return self

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                proc.stdin.write(json.dumps({"cmd": "shutdown"}) + "\n")
                proc.stdin.flush()
                proc.stdin.close()
            except (BrokenPipeError, OSError, ValueError):
                pass
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            reader = getattr(self, "_reader", None)
            if reader is not None:
                reader.join(timeout=5)  # it stops at the end of the process's output
            if proc.stdout is not None and (reader is None or not reader.is_alive()):
                proc.stdout.close()  # no unclosed pipe left for the garbage collector to warn about
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def _read(self) -> None:
        proc = self._proc
        for line in proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _receive(self, timeout: float) -> dict:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise EmulatorError(f"the emulator did not answer within {timeout:.0f} s") from None
        if line is None:
            raise EmulatorError("the emulator process exited (see its output above)")
        return json.loads(line)

    def _command(self, cmd: str, **args) -> dict:
        if self._proc is None:
            raise EmulatorError("the emulator is not running; use it as a context manager or call start()")
        with self._lock:
            self._proc.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
            self._proc.stdin.flush()
            answer = self._receive(COMMAND_TIMEOUT_S)
        if "error" in answer:
            raise EmulatorError(f"emulator command {cmd!r} failed: {answer['error']}")
        return answer

    # --- connection ---

    def _require(self, key: str):
        if not self._info:
            raise EmulatorError("the emulator is not running; use it as a context manager or call start()")
        return self._info[key]

    @property
    def arm_endpoint(self) -> str:
        """``https://127.0.0.1:<port>``: Resource Graph and ARM."""
        return self._require("arm_endpoint")

    @property
    def logs_endpoint(self) -> str:
        """``https://127.0.0.1:<port>``: the Log Analytics query API."""
        return self._require("logs_endpoint")

    @property
    def ca_path(self) -> str:
        """PEM file of the local CA that signed every emulator certificate."""
        return self._require("ca_path")

    @property
    def tenant_id(self) -> str:
        return self._require("tenant_id")

    @property
    def registries(self) -> dict[str, str]:
        """Registry name -> data-plane endpoint (``https://127.0.0.1:<port>``)."""
        return dict(self._require("registries"))

    @property
    def subscriptions(self) -> dict[str, str]:
        """Subscription id -> display name."""
        return dict(self._require("subscriptions"))

    @property
    def now(self) -> dt.datetime:
        """The tenant's present (start of the emulator's clock; :meth:`advance` moves it)."""
        return dt.datetime.fromtimestamp(self._require("now") / TICKS, dt.UTC)

    @property
    def workspaces(self) -> dict[str, dict]:
        """Log Analytics workspace name -> customer_id (the GUID of its query URL), resource_id, retention_days."""
        return dict(self._require("workspaces"))

    def events(self) -> pl.DataFrame:
        """Every event of the registries' resource logs, as the emulated ``ContainerRegistryRepositoryEvents``
        table (plus a ``registry`` column): the ground truth of what the Log Analytics emulator serves."""
        return pl.read_parquet(self._command("events")["path"])

    def endpoint(self, registry: str) -> str:
        try:
            return self.registries[registry]
        except KeyError:
            raise KeyError(f"no registry {registry!r}; registries are {', '.join(self.registries)}") from None

    def credential(self, principal: str = "acrlib-emulator-user") -> EmulatorCredential:
        """A synchronous azure-core ``TokenCredential`` the emulator accepts."""
        return EmulatorCredential(self._secret, self.tenant_id, principal)

    def async_credential(self, principal: str = "acrlib-emulator-user") -> AsyncEmulatorCredential:
        """An ``AsyncTokenCredential`` the emulator accepts."""
        return AsyncEmulatorCredential(self._secret, self.tenant_id, principal)

    def connection(self) -> dict:
        """Keyword arguments for :func:`acrlib.collect`: credential, arm_endpoint, logs_endpoint,
        connection_verify."""
        return {"credential": self.credential(), "arm_endpoint": self.arm_endpoint,
                "logs_endpoint": self.logs_endpoint, "connection_verify": self.ca_path}

    # --- ground truth and counters ---

    def truth(self, activity_days: int | None = None, run_command: bool = False) -> dict[str, pl.DataFrame]:
        """The tenant's exact content as acrlib tables (every table of ``acrlib.schema.TABLES``), sorted by each
        table's key; ``activity`` and ``activity_sources`` as a collection reading ``activity_days`` of logs
        sees them (computed from the generated events, not through the emulated query API; None: collect's
        default); ``deployments`` as a collection with ``deployments=True`` and ``aks_run_command=run_command``
        reads them."""
        if activity_days is None:
            from acrlib.collection.options import DEFAULTS  # the collection's default, from its one place

            activity_days = DEFAULTS["activity_days"]
        key = (activity_days, run_command)
        answer = self._command("truth", activity_days=activity_days, run_command=run_command)
        version = tuple(answer["version"])  # deletes through the API change it too
        if self._truth.get(key, (None,))[0] != version:
            directory = Path(answer["dir"])
            self._truth[key] = (version, {name: pl.read_parquet(directory / f"{name}.parquet")
                                          for name in schema.TABLES})
        return {name: df.clone() for name, df in self._truth[key][1].items()}

    def scan_reports(self, folder: str | os.PathLike) -> dict[str, pl.DataFrame]:
        """Write example Trivy and Grype reports of a few of the tenant's images (and of one image outside it)
        into ``folder``; returns the ``vulnerabilities`` and ``vulnerability_sources`` tables that
        ``collect(scan_results=[folder])`` reads from them (see :mod:`acrlib.emulator.scans`)."""
        from .scans import write_reports

        return write_reports(self.truth(), folder)

    def stats(self) -> pl.DataFrame:
        """Request counters: one row per (registry, endpoint, method, status) with ``count``. ARM and Resource
        Graph requests count under registry ``arm``; a reset connection has status 0."""
        rows = self._command("stats")["stats"]
        return pl.DataFrame(rows, schema={"registry": pl.String, "endpoint": pl.String, "method": pl.String,
                                          "status": pl.Int64, "count": pl.Int64}, orient="row")

    def request_log(self) -> pl.DataFrame:
        """Every request in order: seq, at (epoch seconds), registry, method, endpoint, path, status."""
        rows = self._command("log")["log"]
        return pl.DataFrame(rows, schema={"seq": pl.Int64, "at": pl.Float64, "registry": pl.String,
                                          "method": pl.String, "endpoint": pl.String, "path": pl.String,
                                          "status": pl.Int64}, orient="row")

    def reset_stats(self) -> None:
        """Forget the request counters and the request log."""
        self._command("reset")

    def reset_throttle(self) -> None:
        """Refill every registry's throttle bucket and reset Resource Graph quota windows."""
        self._command("refill")

    def advance(self, days: float = 7, seed: int = 0) -> dict:
        """Move the tenant ``days`` forward in simulated time: pushes (``latest`` and ``stable`` move), tag and
        manifest clean-ups, new repositories. The emulator's clock (its ``Date`` header) moves with it.
        Returns what happened (counts)."""
        answer = self._command("advance", days=days, seed=seed)
        self._info["now"] = answer["now"]
        self._truth = {}
        return answer["summary"]

    def apply_deletions(self, plan: pl.DataFrame) -> dict:
        """Test-only hook: delete what a purge plan lists (``delete_tag`` and ``delete_manifest`` rows), as
        ``acr purge`` would; ACR itself then deletes the referrers of deleted manifests. acrlib never
        deletes anything: this exists to check its predictions."""
        tags = plan.filter(pl.col("action") == "delete_tag").select("registry", "repository", "tag").rows()
        manifests = plan.filter(pl.col("action") == "delete_manifest").select("registry", "repository",
                                                                              "digest").rows()
        answer = self._command("delete", manifests=manifests, tags=tags)
        self._truth = {}
        return answer["summary"]

    def change(self, op: str, registry: str, repository: str, tag: str | None = None,
               digest: str | None = None) -> None:
        """Test-only hook: what a team does between a plan and its apply. ``change("tag", reg, repo, tag,
        digest)`` points a tag at a manifest (moving it, or tagging an untagged one); ``change("lock", reg, repo,
        tag=... or digest=...)`` locks a tag or a manifest."""
        self._command("change", change={"op": op, "registry": registry, "repository": repository, "tag": tag,
                                        "digest": digest})
        self._truth = {}

    def write_connection_file(self, path: str | os.PathLike) -> Path:
        """Write what another process needs to use this emulator (see :func:`attach`). The file holds the
        emulator's token-signing secret and is created readable by its owner only."""
        path = Path(path)
        data = {"arm_endpoint": self.arm_endpoint, "logs_endpoint": self.logs_endpoint, "ca_path": self.ca_path,
                "tenant_id": self.tenant_id, "registries": self.registries, "secret": self._secret}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # O_CREAT's mode applies only to a new file: an existing one keeps wider permissions
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
        return path


class EmulatorConnection:
    """Another process's view of a running emulator: credentials and connection arguments only."""

    def __init__(self, data: dict):
        self.arm_endpoint: str = data["arm_endpoint"]
        self.logs_endpoint: str = data["logs_endpoint"]
        self.ca_path: str = data["ca_path"]
        self.tenant_id: str = data["tenant_id"]
        self.registries: dict[str, str] = data["registries"]
        self._secret: str = data["secret"]

    def __repr__(self) -> str:
        return f"EmulatorConnection(arm_endpoint={self.arm_endpoint!r})"

    def credential(self, principal: str = "acrlib-emulator-user") -> EmulatorCredential:
        return EmulatorCredential(self._secret, self.tenant_id, principal)

    def async_credential(self, principal: str = "acrlib-emulator-user") -> AsyncEmulatorCredential:
        return AsyncEmulatorCredential(self._secret, self.tenant_id, principal)

    def connection(self) -> dict:
        return {"credential": self.credential(), "arm_endpoint": self.arm_endpoint,
                "logs_endpoint": self.logs_endpoint, "connection_verify": self.ca_path}


def attach(connection_file: str | os.PathLike) -> EmulatorConnection:
    """Connect to an emulator started elsewhere (``acrlib emulator`` prints its connection file)."""
    with open(connection_file) as f:
        return EmulatorConnection(json.load(f))
