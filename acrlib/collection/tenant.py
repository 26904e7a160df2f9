"""`collect`: every registry, repository, manifest and tag of a tenant, in one call, as polars tables.

Resource Graph finds the registries; each registry is then read concurrently (asyncio) by the
:class:`~acrlib.collection.collector.Collector`. A failure is confined to what it hit: it becomes a row in
``errors`` and marks its registry ``partial`` (or ``failed`` when nothing could be read), and everything else
completes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import time

import polars as pl

from .. import schema
from .._version import __version__
from ..credentials import AsyncCredential
from ..inventory import Inventory
from . import scans
from .activity import ActivityReader
from .activity import tables as activity_tables
from .collector import Collector
from .defender import DefenderReader
from .deployments import DeploymentReader
from .deployments import tables as deployment_tables
from .discovery import Arm, discover
from .http import Session
from .logs import LogAnalytics
from .options import Options, takes_options
from .previous import check_tenant
from .progress import Progress
from .store import Store


@takes_options
def collect(credential=None, **settings) -> Inventory:
    """Collect every registry, repository, manifest and tag the credential can see.

    Parameters
    ----------
    credential
        an azure-core TokenCredential (sync or async); default ``DefaultAzureCredential``.
    subscriptions
        subscription ids to search; None = every subscription the credential sees.
    registries
        a list of registry names, or one regex searched in each name; None = all.
    cloud
        ``public``, ``china`` or ``usgov`` (ARM endpoint, token scope, authority).
    arm_endpoint, logs_endpoint, connection_verify
        overrides (an emulator, a private CA bundle).
    progress
        None (automatic: widgets in JupyterLab, a bar on a terminal, nothing in papermill or CI),
        True or False.
    layers
        also fetch every manifest's content and fill the ``layers`` table (one more request per
        manifest).
    page_size
        items per listing page (ACR caps it at 1000).
    referrers
        which manifests' bytes are read to find OCI ``subject``/``artifactType``: ``artifacts``
        (OCI manifests whose config is neither an image nor a Helm config: what referrer tools push) or
        ``untagged`` (also every untagged OCI image manifest, as ``acr purge`` does; one request each).
    request_timeout
        seconds one request may take from sending to its last byte.
    max_retry_wait
        seconds a server may ask acrlib to wait before a retry (``Retry-After``); a longer wait
        fails that request at once, with an error row naming the server's value.
    max_answer_bytes
        the largest answer read, in bytes after decompression; a larger one is
        cut off and becomes an error row.
    activity_days
        days of pull and push activity to read from the registries' event logs (their diagnostic
        settings and Log Analytics workspaces) into ``activity`` and ``activity_sources``; 0 or None: none.
        Costs one ARM request per registry, and one Log Analytics query per workspace.
    deployments
        also read what Azure workloads run (AKS, Container Apps and jobs, Container Instances, App
        Service / Functions on containers) into ``deployments`` and ``deployment_sources``: one paged Resource
        Graph query, one ARM request per container site, two Log Analytics queries per Container Insights
        workspace. Read-only.
    aks_run_command
        for AKS clusters without Container Insights, list their pods with ``kubectl get pods -A -o
        json`` through the AKS run command. THIS CREATES A POD IN EACH SUCH CLUSTER (and needs the
        ``runcommand/action`` permission); never on by default.
    previous
        an earlier Inventory, or a snapshot folder (or root: its latest), of the same tenant, cloud and
        snapshot schema: listings are read in full, but what is content-addressed (index children, what
        manifest bytes say, layers) is taken from it for digests it read, and only new digests are fetched
        (``metadata["previous"]`` counts what was reused and fetched). Another tenant, cloud or schema is a
        ``ValueError``.
    vulnerabilities
        Defender for Cloud's findings for container images (both its current and its retired shape) into
        ``vulnerabilities``, and each subscription's plan status into ``vulnerability_sources``: two paged
        Resource Graph queries and two ARM reads per subscription. Read-only.
    scan_results
        Trivy (``--format json``) or Grype (``-o json``) reports, files or folders of them, local or in Blob
        Storage, read into ``vulnerabilities`` (joined to the manifests by login server, repository and digest)
        and ``vulnerability_sources``; nothing is sent to Azure for them.
    out
        a root of snapshots (a folder, ``az://CONTAINER/PATH`` or ``abfs://...``): each registry's tables are
        written there as Parquet parts as soon as it completes, the snapshot is committed (``inventory.json``)
        at the end, and the returned Inventory reads its tables from it when first used
        (:meth:`~acrlib.Inventory.open`). Memory then holds the registries in flight, not the tenant. A stop or
        failure leaves no snapshot; what a killed process left is removed by the next write. An ``out`` that
        cannot be written raises :class:`~acrlib.errors.SnapshotUnwritable` before any registry is read.
    workers
        processes reading registries (each streams its registries' parts); default: with ``out``, the machine's
        usable cores (at most 8), else 1; never more than there are registries. The tables are the same with any
        number. The credential stays in this process: workers ask it for tokens. With more than one, ``previous``
        must be a snapshot (an Inventory in memory is read in this process alone).
    in_flight
        registries each process reads at once; default all of them in memory, 3 when streaming (``out`` or
        workers): peak memory grows with it, and so does throughput when registries are throttled.
    metadata
        extra keys for the inventory's ``metadata``, recorded in its snapshot.

    Returns
    -------
    Inventory
        Sizes in bytes, times in UTC. Registries that fail are marked ``partial`` or ``failed`` and explained
        in ``errors``; the others are complete. Bad arguments raise ``ValueError`` before any request; no
        usable credential raises :class:`~acrlib.SignInRequired`.

    Examples
    --------
    >>> inv = acrlib.collect(registries=["contosoprodacr"], layers=True)   # doctest: +SKIP
    >>> inv.manifests.group_by("repository").len()                          # doctest: +SKIP
    """
    return run(_collect(Options(credential, **settings)))


def run(coroutine):
    """Run a coroutine to completion, also from inside a running event loop (Jupyter): then in a worker
    thread with a loop of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="acrlib") as pool:
        return pool.submit(asyncio.run, coroutine).result()


@takes_options
async def collect_async(credential=None, **settings) -> Inventory:
    """:func:`collect` as a coroutine, for callers already in an event loop of their own: the same keyword
    arguments, the same result."""
    return await _collect(Options(credential, **settings))


async def _collect(opts: Options) -> Inventory:
    started = time.perf_counter()
    local_start = dt.datetime.now(dt.UTC)
    credential = AsyncCredential(opts.credential)
    async with Session(opts.connection_verify, limit=256, limits=opts.limits) as session:
        arm = Arm(session, credential, opts.cloud, opts.arm_endpoint)
        found = await discover(arm, opts.subscriptions)
        if opts.previous is not None:
            check_tenant(opts.previous, found)
        collected_at = collection_time(arm.server_time, local_start)
        if opts.subscriptions and not found:
            raise ValueError(f"no registry found in subscription(s) {', '.join(opts.subscriptions)}: the credential "
                             "cannot see them, or they hold no container registry")
        selected = [row for row in found if opts.wants(row["registry"] or "")]
        if opts.filtered and not selected:
            available = sorted(r["registry"] for r in found)
            raise ValueError(f"no registry matches {opts.describe_filter()}; the credential sees "
                             f"{len(available)} registries: {', '.join(available[:30]) or 'none'}")
        progress = Progress(opts.progress, len(selected))
        logs = LogAnalytics(arm, session, credential, opts.logs_endpoint or opts.cloud.logs_endpoint,
                            opts.cloud.logs_endpoint)
        reader = ActivityReader(arm, logs, opts.activity_days, collected_at) if opts.activity_days else None
        workloads = DeploymentReader(arm, logs, opts.aks_run_command, collected_at) if opts.deployments else None
        defender = DefenderReader(arm, opts.cloud.name, [r.get("subscription_id") for r in selected]) \
            if opts.vulnerabilities else None
        store = await asyncio.to_thread(Store.start, opts, len(selected), collected_at)
        try:
            collector = Collector(opts, session, credential, progress)
            extra = [reader.read(selected) if reader else _nothing(),
                     workloads.read(opts.subscriptions) if workloads else _nothing(),
                     defender.read() if defender else _nothing()]
            results, sources, _, _ = await asyncio.gather(
                store.read(collector, arm, selected, credential, progress), *extra)
        except BaseException:
            store.abort()
            raise
        finally:
            progress.close()
    metadata = {
        "acrlib_version": __version__, "cloud": opts.cloud.name, "subscriptions": list(opts.subscriptions or []),
        "registry_filter": opts.describe_filter() if opts.filtered else None,
        **(opts.metadata or {}),
        "layers": opts.layers, "referrers": opts.referrers, "duration_s": round(time.perf_counter() - started, 3),
        "requests": {"arm": arm.requests + store.arm_requests, "registries": sum(r.requests for r in results),
                     "logs": logs.queries},
    }
    if store.processes > 1:
        metadata["workers"] = {"processes": store.processes, "peak_rss_mb": store.worker_peaks}
    if reader is not None:
        metadata["activity"] = {"days": opts.activity_days, "since": reader.window.since.isoformat(),
                                "until": reader.window.until.isoformat()}
    if workloads is not None:
        metadata["deployments"] = {"aks_run_command": opts.aks_run_command}
    if opts.previous is not None:
        metadata["previous"] = {
            "collected_at": opts.previous.collected_at.isoformat(),
            "reused": {kind: sum(r.reused.get(kind, 0) for r in results) for kind in ("references", "content")},
            "fetched": {kind: sum(r.fetched.get(kind, 0) for r in results) for kind in ("references", "content")},
            "registries": {r.row["registry"]: {"reused": r.reused, "fetched": r.fetched} for r in results},
        }
    try:
        return await store.finish(results, collected_at, metadata, _side_tables(
            opts, reader, sources, workloads, defender))
    except BaseException:
        store.abort()
        raise


def _side_tables(opts: Options, reader, sources, workloads, defender):
    """How the side readings become tables once the registries' are known: ``side(registries, frame)``, where
    ``frame(table, columns)`` gives those columns of a table the registries filled."""

    async def side(registries: pl.DataFrame, frame) -> tuple[dict[str, pl.DataFrame], list[pl.DataFrame]]:
        extra, errors = {}, []
        tags = frame("tags", ["registry", "repository", "tag", "digest"]) if reader or workloads else None
        if reader is not None:
            extra.update(activity_tables(sources, reader.results, registries, tags))
            errors.append(schema.frame("errors", reader.results.errors))
        if workloads is not None:
            extra.update(deployment_tables(workloads, registries, tags))
            errors.append(schema.frame("errors", workloads.errors))
        if opts.scan_results or defender is not None:
            reports = await asyncio.to_thread(scans.read, opts.scan_results) if opts.scan_results else []
            extra.update(scans.tables(reports, registries, frame("manifests", ["registry", "repository", "digest"]),
                                      findings=defender.findings if defender else [],
                                      sources=defender.sources if defender else []))
            if defender is not None:
                errors.append(schema.frame("errors", defender.errors))
        return extra, errors

    return side


async def _nothing() -> None:
    return None


def collection_time(server: dt.datetime | None, local: dt.datetime) -> dt.datetime:
    """When the collection started, by Azure's clock (the Date header of Resource Graph's first answer, to
    the second) with the local clock's sub-second part (snapshot names stay unique); the local clock alone
    when the server sent no usable Date."""
    if server is None or server.tzinfo is None:
        return local
    return server.astimezone(dt.UTC).replace(microsecond=local.microsecond)


