"""acrlib against the stock Azure SDK approach, side by side, on the emulator.

    python benchmarks/collect_bench.py [--preset bench] [--latency-ms 20] [--scale] [--floor] [--json PATH]

In one run, with per-request latency and SKU throttling on, it measures three ways of listing every
repository, manifest and tag of the tenant:

  sdk-serial   Resource Graph SDK for discovery, then ContainerRegistryClient per registry:
               list_repository_names, and per repository list_manifest_properties and list_tag_properties,
               one after the other, default settings (what Microsoft's docs lead to)
  sdk-threads  the same calls spread over a thread pool of 8 workers
  acrlib       acrlib.collect(**emulator.connection(), activity_days=0, deployments=False,
               vulnerabilities=False): the listing alone

Each runs in its own process (clean CPU and peak-RSS figures) against the same emulator, whose throttle
buckets are refilled in between. Rows are checked against the emulator's truth: a run that loses or
duplicates a row fails. ``--scale`` adds acrlib alone on tiny, demo and large (no latency or throttling: the
client's own cost as the tenant grows). ``--floor`` measures the client CPU of one single-manifest GET through
raw aiohttp and through acrlib's client, side by side: with the scale run's requests per manifest it gives the
CPU any aiohttp-based collector spends on HTTP alone. Figures are printed as a markdown table with ratios
measured in this one run, then each target of the benchmark's issue with its verdict, and written as JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
APPROACHES = ("sdk-serial", "sdk-threads", "acrlib")
TOKEN_ENDPOINTS = ("oauth2_exchange", "oauth2_token")
THREADS = 8


# --- workers (run in a child process) ------------------------------------------------------------------------


def _sdk_discover(conn) -> list[tuple[str, str]]:
    """Registries (name, login server) with the Resource Graph SDK, following skip tokens."""
    from azure.mgmt.resourcegraph import ResourceGraphClient
    from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

    query = ("resources | where type =~ 'microsoft.containerregistry/registries' "
             "| project id, name, loginServer = tostring(properties.loginServer) | order by id asc")
    found, token = [], None
    with ResourceGraphClient(conn.credential(), base_url=conn.arm_endpoint, connection_verify=conn.ca_path) as rg:
        while True:
            page = rg.resources(QueryRequest(query=query, options=QueryRequestOptions(skip_token=token)))
            found += [(r["name"], r["loginServer"]) for r in page.data]
            token = page.skip_token
            if not token:
                return found


def _sdk_repository(client, registry: str, repository: str) -> tuple[list, list]:
    manifests = [(registry, repository, m.digest) for m in client.list_manifest_properties(repository)]
    tags = [(registry, repository, t.name) for t in client.list_tag_properties(repository)]
    return manifests, tags


def run_sdk(conn, threads: int | None) -> dict:
    import threading

    from azure.containerregistry import ContainerRegistryClient

    credential = conn.credential()
    registries = _sdk_discover(conn)
    manifests: list = []
    tags: list = []
    errors: list = []
    local = threading.local()

    def client_for(login_server: str):
        clients = local.__dict__.setdefault("clients", {})
        if login_server not in clients:
            clients[login_server] = ContainerRegistryClient(f"https://{login_server}", credential,
                                                            connection_verify=conn.ca_path)
        return clients[login_server]

    if threads is None:
        for name, login_server in registries:
            client = client_for(login_server)
            for repository in client.list_repository_names():
                m, t = _sdk_repository(client, name, repository)
                manifests += m
                tags += t
    else:
        work = []
        for name, login_server in registries:
            work += [(name, login_server, repo) for repo in client_for(login_server).list_repository_names()]

        def task(item):
            name, login_server, repository = item
            return _sdk_repository(client_for(login_server), name, repository)

        with ThreadPoolExecutor(threads) as pool:
            for m, t in pool.map(task, work):
                manifests += m
                tags += t
    return {"manifests": manifests, "tags": tags, "errors": errors}


def run_acrlib(conn, job: dict | None = None) -> dict:
    import acrlib

    # The same work as the SDK loops: the listings. Pull activity (Log Analytics) is another service.
    job = job or {}
    inv = acrlib.collect(**conn.connection(), progress=False, activity_days=0, deployments=False,
                         vulnerabilities=False, layers=job.get("layers", False), previous=job.get("previous"))
    return {"inventory": inv}


FLOOR_CONCURRENCY = 16


def run_floor(conn, job: dict) -> dict:
    """The same one-item GETs (an index's single-manifest answer) two ways, side by side in this process:
    raw aiohttp (the transport acrlib sits on: a bearer header, read the body, nothing else) and acrlib's
    client (token cache, gate, retries, error mapping). Tokens are fetched before the clocks start."""
    import asyncio
    import ssl

    import aiohttp

    from acrlib.collection.http import Gate, Session, bounded
    from acrlib.collection.registry import RegistryClient, repo_path
    from acrlib.collection.tokens import EntraToken
    from acrlib.credentials import AsyncCredential

    login, pairs = job["login_server"], [tuple(p) for p in job["pairs"]]
    repositories = sorted({repo for repo, _ in pairs})

    async def main() -> dict:
        async with Session(conn.ca_path) as session:
            client = RegistryClient(session, login, EntraToken(AsyncCredential(conn.credential())),
                                    Gate(FLOOR_CONCURRENCY))
            tokens = {r: await client.tokens.token_for(f"repository:{r}:metadata_read") for r in repositories}
            work = [(f"https://{login}/acr/v1/{repo_path(r)}/_manifests/{d}", f"Bearer {tokens[r]}") for r, d in pairs]
            figures = {}

            connector = aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=conn.ca_path),
                                             limit=FLOOR_CONCURRENCY)
            async with aiohttp.ClientSession(connector=connector) as raw:
                async def fetch(url: str, authorization: str) -> int:
                    async with raw.get(url, headers={"Authorization": authorization,
                                                     "Accept": "application/json"}) as r:
                        body = await r.read()
                        assert r.status == 200, r.status
                        return len(body)

                await bounded(work[:FLOOR_CONCURRENCY], fetch, FLOOR_CONCURRENCY)  # connections open
                cpu = time.process_time()
                sizes = await bounded(work, fetch, FLOOR_CONCURRENCY)
                figures["raw-aiohttp"] = (time.process_time() - cpu, sum(sizes))

            await bounded(pairs[:FLOOR_CONCURRENCY], client.manifest_attributes, FLOOR_CONCURRENCY)
            cpu = time.process_time()
            bodies = await bounded(pairs, client.manifest_attributes, FLOOR_CONCURRENCY)
            figures["acrlib-client"] = (time.process_time() - cpu, sum(len(b) for b in bodies))
            return figures

    figures = asyncio.run(main())
    sizes = {size for _, size in figures.values()}
    assert len(sizes) == 1, f"the two ways read different bytes: {figures}"
    return {name: {"cpu_s": cpu, "us_per_request": cpu / len(pairs) * 1e6} for name, (cpu, _) in figures.items()}


def worker(approach: str, connection_file: str, out: str) -> None:
    from acrlib.emulator import attach

    if approach == "analysis":  # reads only the snapshot: the server is gone
        job = json.loads(Path(out).with_suffix(".job.json").read_text())
        Path(out).write_text(json.dumps(run_analysis(job["snapshot"])))
        return
    conn = attach(connection_file)
    if approach == "floor":
        job = json.loads(Path(out).with_suffix(".job.json").read_text())
        Path(out).write_text(json.dumps(run_floor(conn, job)))
        return
    job_file = Path(out).with_suffix(".job.json")
    job = json.loads(job_file.read_text()) if job_file.exists() else {}
    cpu0, wall0 = time.process_time(), time.perf_counter()
    threads = THREADS if approach == "sdk-threads" else None
    result = run_acrlib(conn, job) if approach == "acrlib" else run_sdk(conn, threads)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = Path(out)
    if approach == "acrlib":
        snapshot = result["inventory"].to_parquet(out.parent / "acrlib-snapshot")
        rows = {"snapshot": str(snapshot)}
    else:
        pl.DataFrame(result["manifests"], schema=["registry", "repository", "digest"], orient="row").write_parquet(
            out.parent / f"{approach}-manifests.parquet")
        pl.DataFrame(result["tags"], schema=["registry", "repository", "tag"], orient="row").write_parquet(
            out.parent / f"{approach}-tags.parquet")
        rows = {"manifests": str(out.parent / f"{approach}-manifests.parquet"),
                "tags": str(out.parent / f"{approach}-tags.parquet")}
    out.write_text(json.dumps({"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": peak_mb, "rows": rows}))


# --- driver ---------------------------------------------------------------------------------------------------


def request_figures(stats: pl.DataFrame) -> dict:
    registry = stats.filter(~pl.col("registry").is_in(["arm", "logs"]))
    requests = int(registry["count"].sum())
    pages = int(registry.filter(~pl.col("endpoint").is_in(TOKEN_ENDPOINTS) & (pl.col("status") == 200))["count"].sum())
    return {
        "requests": requests + int(stats.filter(pl.col("registry").is_in(["arm", "logs"]))["count"].sum()),
        "registry_requests": requests,
        "pages": pages,
        "requests_per_page": requests / pages if pages else math.nan,
        "requests_per_page_without_429": (requests - int(registry.filter(pl.col("status") == 429)["count"].sum()))
        / pages if pages else math.nan,
        "token_requests": int(registry.filter(pl.col("endpoint").is_in(TOKEN_ENDPOINTS))["count"].sum()),
        "throttled_429": int(stats.filter(pl.col("status") == 429)["count"].sum()),
    }


def check_rows(approach: str, rows: dict, truth: dict) -> dict:
    """Collected rows against the truth; raises AssertionError when a row is lost or duplicated."""
    if approach == "acrlib":
        from acrlib import Inventory

        inv = Inventory.read_parquet(rows["snapshot"])
        for table in ("registries", "repositories", "manifests", "tags", "references"):
            got, want = inv.tables()[table], truth[table]
            if table == "registries":
                got, want = got.drop("status"), want.drop("status")
            assert got.equals(want), f"acrlib: {table} differs from the truth"
        return {"manifests": inv.manifests.height, "tags": inv.tags.height, "exact": True}
    manifests = pl.read_parquet(rows["manifests"])
    tags = pl.read_parquet(rows["tags"])
    for name, got, key in (("manifests", manifests, "digest"), ("tags", tags, "tag")):
        want = truth[name].select("registry", "repository", key)
        assert got.height == want.height, f"{approach}: {got.height} {name}, the truth has {want.height}"
        assert got.is_duplicated().sum() == 0, f"{approach}: duplicated {name}"
        assert got.join(want, on=["registry", "repository", key], how="anti").height == 0, f"{approach}: wrong {name}"
    return {"manifests": manifests.height, "tags": tags.height, "exact": True}


def lower_bound(stats: pl.DataFrame, truth: dict, latency_s: float, throttled: bool, burst_s: float) -> dict:
    """The least time any client needs for acrlib's requests: per registry, what throttling allows (requests
    beyond the burst at the SKU's rate) or what latency allows (requests x latency / concurrency, plus the
    chain of dependent round trips: exchange, token, catalog, listing, references), whichever is longer;
    the slowest registry, plus Resource Graph discovery (two round trips)."""
    from acrlib.collection.collector import SKU_CONCURRENCY
    from acrlib.skus import READ_OPS_PER_MIN

    skus = dict(truth["registries"].select("registry", "sku").iter_rows())
    per_registry = stats.filter(~pl.col("registry").is_in(["arm", "logs"]) & (pl.col("status") != 429)).group_by(
        "registry").agg(pl.col("count").sum())
    bounds = {}
    for registry, needed in per_registry.iter_rows():
        sku = skus[registry]
        rate = READ_OPS_PER_MIN[sku] / 60
        throttle_s = max(0.0, needed - rate * burst_s) / rate if throttled else 0.0
        latency_bound = needed * latency_s / SKU_CONCURRENCY[sku] + 5 * latency_s
        bounds[registry] = max(throttle_s, latency_bound)
    slowest = max(bounds, key=bounds.get)
    return {"seconds": bounds[slowest] + 2 * latency_s, "slowest_registry": slowest, "per_registry": bounds}


def run_child(approach: str, connection_file: Path, workdir: Path, job: dict | None = None,
              name: str | None = None) -> dict:
    out = workdir / f"{name or approach}.json"
    if job is not None:
        out.with_suffix(".job.json").write_text(json.dumps(job))
    done = subprocess.run([sys.executable, __file__, "--worker", approach, "--connection", str(connection_file),
                           "--out", str(out)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{approach} failed:\n{done.stderr[-3000:]}")
    return json.loads(out.read_text())


def compare(preset: str, latency_ms: float, seed: int, approaches: list[str]) -> dict:
    from acrlib.emulator import Emulator

    burst_s = 5.0
    with Emulator(preset, seed=seed, latency_ms=latency_ms, throttle=burst_s) as emu, \
            tempfile.TemporaryDirectory(prefix="acrlib-bench-") as tmp:
        workdir = Path(tmp)
        connection = emu.write_connection_file(workdir / "emulator.json")
        truth = emu.truth()
        results = {}
        for approach in approaches:
            emu.reset_stats()
            emu.reset_throttle()
            print(f"running {approach} ...", file=sys.stderr, flush=True)
            measured = run_child(approach, connection, workdir)
            stats = emu.stats()
            figures = {**measured, **request_figures(stats), "rows": check_rows(approach, measured["rows"], truth)}
            if approach == "acrlib":
                figures["lower_bound"] = lower_bound(stats, truth, latency_ms / 1000, True, burst_s)
            results[approach] = figures
        return {"preset": preset, "seed": seed, "latency_ms": latency_ms, "throttle_burst_s": burst_s,
                "manifests": truth["manifests"].height, "tags": truth["tags"].height,
                "repositories": truth["repositories"].height, "registries": truth["registries"].height,
                "results": results}


def scale(presets: list[str], seed: int) -> list[dict]:
    from acrlib.emulator import Emulator

    rows = []
    for preset in presets:
        print(f"scale: {preset} ...", file=sys.stderr, flush=True)
        with Emulator(preset, seed=seed) as emu, tempfile.TemporaryDirectory(prefix="acrlib-bench-") as tmp:
            started = time.perf_counter()
            truth = emu.truth()
            generation_s = time.perf_counter() - started
            connection = emu.write_connection_file(Path(tmp) / "emulator.json")
            measured = run_child("acrlib", connection, Path(tmp))
            figures = request_figures(emu.stats())
            check_rows("acrlib", measured["rows"], truth)
            manifests = truth["manifests"].height
            rows.append({
                "preset": preset, "manifests": manifests, "tags": truth["tags"].height, "wall_s": measured["wall_s"],
                "cpu_s": measured["cpu_s"], "peak_rss_mb": measured["peak_rss_mb"],
                "cpu_s_per_million_manifests": measured["cpu_s"] / manifests * 1e6,
                "peak_rss_mb_per_million_manifests": measured["peak_rss_mb"] / manifests * 1e6,
                "requests": figures["registry_requests"],
                "requests_per_manifest": figures["registry_requests"] / manifests,
                "requests_per_page": figures["requests_per_page"], "truth_tables_s": generation_s,
            })
    return rows


def floor(preset: str, seed: int, sample: int) -> dict:
    """Client CPU per one-item GET, raw aiohttp against acrlib's client, on the registry with the most
    indexes (no latency, no throttling). Times the requests per manifest of a collection, the raw figure is
    what any aiohttp-based collector must spend on HTTP alone."""
    from acrlib import media_types as mt
    from acrlib.emulator import Emulator

    print(f"floor: {preset} ...", file=sys.stderr, flush=True)
    with Emulator(preset, seed=seed) as emu, tempfile.TemporaryDirectory(prefix="acrlib-bench-") as tmp:
        truth = emu.truth()
        indexes = truth["manifests"].filter(pl.col("media_type").is_in(mt.INDEX_TYPES))
        registry = indexes["registry"].value_counts(sort=True)["registry"][0]
        pairs = indexes.filter(pl.col("registry") == registry).select("repository", "digest").rows()
        pairs = (pairs * (sample // len(pairs) + 1))[:sample]
        login = truth["registries"].filter(pl.col("registry") == registry)["login_server"][0]
        connection = emu.write_connection_file(Path(tmp) / "emulator.json")
        (Path(tmp) / "floor.job.json").write_text(json.dumps({"login_server": login, "pairs": pairs}))
        measured = run_child("floor", connection, Path(tmp))
    return {"preset": preset, "registry": registry, "requests": len(pairs), "concurrency": FLOOR_CONCURRENCY,
            **measured}


ANALYSES = ("purge_plan", "summary", "storage", "reclaimable", "duplicates", "headline", "unused", "in_use",
            "growth", "projection")


def run_analysis(snapshot: str) -> dict:
    """Each analysis function on the snapshot, in this (child) process: the median of three runs."""
    import statistics

    import acrlib
    inv = acrlib.Inventory.read_parquet(snapshot)
    history = acrlib.history(Path(snapshot).parent)
    plan = acrlib.purge_plan(inv, ago="90d", keep=3)
    calls = {
        "purge_plan": lambda: acrlib.purge_plan(inv, ago="90d", keep=3),
        "summary": lambda: acrlib.summary(inv, plan),
        "storage": lambda: acrlib.storage(inv),
        "reclaimable": lambda: acrlib.reclaimable(inv, plan),
        "duplicates": lambda: acrlib.duplicates(inv),
        "headline": lambda: acrlib.headline(inv, plan),
        "unused": lambda: acrlib.unused(inv),
        "in_use": lambda: acrlib.in_use(inv),
        "growth": lambda: acrlib.growth(history),
        "projection": lambda: acrlib.projection(history),
    }
    timings = {}
    for name in ANALYSES:
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            calls[name]()
            runs.append(time.perf_counter() - started)
        timings[name] = statistics.median(runs)  # each call cold: the public functions keep nothing
    return {"manifests": inv.manifests.height, "seconds": timings}


def analysis(preset: str, seed: int) -> dict:
    """The analysis functions and the whole report on a snapshot of ``preset`` (two snapshots a day apart,
    so that the history functions have work), each timed in its own process."""
    from acrlib.emulator import Emulator

    print(f"analysis: {preset} ...", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="acrlib-bench-") as tmp:
        workdir = Path(tmp)
        with Emulator(preset, seed=seed) as emu:
            connection = emu.write_connection_file(workdir / "emulator.json")
            run_child("acrlib", connection, workdir, {}, name="analysis-first")
            emu.advance(1, seed=1)
            run_child("acrlib", connection, workdir, {}, name="analysis-second")
        # The server is stopped before the clocks start: analysis and report read only the snapshot.
        snapshots = sorted((workdir / "acrlib-snapshot").iterdir())
        measured = run_child("analysis", connection, workdir, {"snapshot": str(snapshots[-1])})
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "acrlib.cli", "report", "--source", str(snapshots[-1]),
                               "--out", str(workdir / "report")], capture_output=True, text=True)
        report_s = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"the report failed:\n{done.stderr[-3000:]}")
    return {"preset": preset, **measured, "report_wall_s": report_s}


def incremental(preset: str, seed: int, layers: bool) -> dict:
    """A full collection of ``preset``, a simulated day, then a collection with ``previous``: requests per
    manifest, CPU and peak RSS of the second, and its rows against the truth."""
    from acrlib.emulator import Emulator

    print(f"incremental: {preset}{' with layers' if layers else ''} ...", file=sys.stderr, flush=True)
    with Emulator(preset, seed=seed) as emu, tempfile.TemporaryDirectory(prefix="acrlib-bench-") as tmp:
        workdir = Path(tmp)
        connection = emu.write_connection_file(workdir / "emulator.json")
        emu.reset_stats()
        full = run_child("acrlib", connection, workdir, {"layers": layers}, name="full")
        full_requests = request_figures(emu.stats())["registry_requests"]
        emu.advance(1, seed=1)
        truth = emu.truth()
        emu.reset_stats()
        measured = run_child("acrlib", connection, workdir, {"layers": layers, "previous": full["rows"]["snapshot"]},
                             name="incremental")
        figures = request_figures(emu.stats())
        check_rows("acrlib", measured["rows"], truth)
    manifests = truth["manifests"].height
    return {"preset": preset, "layers": layers, "manifests": manifests, "full_requests": full_requests,
            "full_requests_per_manifest": full_requests / manifests, "wall_s": measured["wall_s"],
            "cpu_s": measured["cpu_s"], "peak_rss_mb": measured["peak_rss_mb"],
            "requests": figures["registry_requests"], "requests_per_manifest": figures["registry_requests"] / manifests,
            "cpu_s_per_million_manifests": measured["cpu_s"] / manifests * 1e6}


def verdicts(report: dict) -> list[tuple[str, str, bool]]:
    """The issue's targets, each with the figure measured in this run and whether it is met."""
    out = []
    c = report.get("comparison", {}).get("results", {})
    if "acrlib" in c:
        a = c["acrlib"]
        for other, target in (("sdk-serial", 20), ("sdk-threads", 3)):
            if other in c:
                ratio = c[other]["wall_s"] / a["wall_s"]
                out.append((f"at least {target}x faster than {other}", f"{ratio:.1f}x", ratio >= target))
        out.append(("at most 1.05 requests per page", f"{a['requests_per_page']:.3f}", a["requests_per_page"] <= 1.05))
        lb = a["wall_s"] / a["lower_bound"]["seconds"]
        out.append(("within 1.3x of the lower bound", f"{lb:.2f}x", lb <= 1.3))
    biggest = max(report.get("scale") or [], key=lambda s: s["manifests"], default=None)
    if biggest:
        cpu, rss = biggest["cpu_s_per_million_manifests"], biggest["peak_rss_mb_per_million_manifests"]
        out.append((f"CPU under 10 s per million manifests ({biggest['preset']})", f"{cpu:.1f} s", cpu < 10))
        out.append((f"full collection peak RSS at most 1.2 GB per million manifests ({biggest['preset']})",
                    f"{rss / 1024:.2f} GB", rss <= 1.2 * 1024))
    a = report.get("analysis")
    if a:
        per_million = {name: s / a["manifests"] * 1e6 for name, s in a["seconds"].items()}
        out.append((f"purge_plan at most 0.6 s ({a['preset']})", f"{a['seconds']['purge_plan']:.2f} s",
                    a["seconds"]["purge_plan"] <= 0.6))
        worst = max(per_million, key=per_million.get)
        out.append(("every analysis function at most 1 s per million manifests",
                    f"{per_million[worst]:.2f} s ({worst})", per_million[worst] <= 1.0))
        out.append((f"report from a {a['preset']} snapshot at most 8 s wall", f"{a['report_wall_s']:.1f} s",
                    a["report_wall_s"] <= 8))
    for inc in report.get("incremental") or []:
        target = 0.05 if inc["layers"] else 0.035
        what = f"incremental collection after a day{' with layers' if inc['layers'] else ''} ({inc['preset']})"
        out.append((f"{what}: at most {target} requests per manifest", f"{inc['requests_per_manifest']:.3f}",
                    inc["requests_per_manifest"] <= target))
        if not inc["layers"]:
            cpu = inc["cpu_s_per_million_manifests"]
            out.append((f"{what}: CPU at most 10 s per million manifests", f"{cpu:.1f} s", cpu <= 10))
    return out


def markdown(report: dict) -> str:
    lines = []
    if "comparison" in report:
        c = report["comparison"]
        r = c["results"]
        lines += [f"## {c['preset']} tenant: {c['registries']} registries, {c['repositories']} repositories, "
                  f"{c['manifests']:,} manifests, {c['tags']:,} tags; latency {c['latency_ms']:g} ms, SKU throttling "
                  f"on (bursts of {c['throttle_burst_s']:g} s)", "",
                  "| approach | wall s | CPU s | peak RSS MB | requests | per page | per page w/o 429 | token requests "
                  "| 429s | rows exact |", "|---|---|---|---|---|---|---|---|---|---|"]
        for name, f in r.items():
            cells = [name, f"{f['wall_s']:.1f}", f"{f['cpu_s']:.1f}", f"{f['peak_rss_mb']:.0f}", f"{f['requests']:,}",
                     f"{f['requests_per_page']:.3f}", f"{f['requests_per_page_without_429']:.3f}",
                     f"{f['token_requests']:,}", f"{f['throttled_429']:,}", str(f["rows"]["exact"])]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        if "acrlib" in r:
            for other in ("sdk-serial", "sdk-threads"):
                if other in r:
                    ratio = r[other]["wall_s"] / r["acrlib"]["wall_s"]
                    lines.append(f"- {other} / acrlib wall time: **{ratio:.1f}x**")
            lb = r["acrlib"]["lower_bound"]
            lines.append(f"- lower bound (throttling and latency allow at best): {lb['seconds']:.1f} s "
                         f"(slowest registry {lb['slowest_registry']}); acrlib / lower bound: "
                         f"**{r['acrlib']['wall_s'] / lb['seconds']:.2f}x**")
        lines.append("")
    if report.get("scale"):
        lines += ["## acrlib alone as the tenant grows (no latency, no throttling)", "",
                  "| preset | manifests | wall s | CPU s | peak RSS MB | CPU s per 1M manifests "
                  "| RSS MB per 1M manifests | requests | requests per manifest | requests per page |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for s in report["scale"]:
            lines.append(f"| {s['preset']} | {s['manifests']:,} | {s['wall_s']:.1f} | {s['cpu_s']:.1f} | "
                         f"{s['peak_rss_mb']:.0f} | {s['cpu_s_per_million_manifests']:.1f} | "
                         f"{s['peak_rss_mb_per_million_manifests']:.0f} | {s['requests']:,} | "
                         f"{s['requests_per_manifest']:.3f} | {s['requests_per_page']:.3f} |")
        lines.append("")
    if report.get("floor"):
        f = report["floor"]
        raw, ours = f["raw-aiohttp"]["us_per_request"], f["acrlib-client"]["us_per_request"]
        lines += [f"## Client CPU per one-item GET ({f['requests']:,} single-manifest GETs on {f['registry']}, "
                  f"{f['concurrency']} at a time)", "",
                  f"- raw aiohttp: {raw:.0f} µs; acrlib's client: {ours:.0f} µs "
                  f"(**{ours / raw:.2f}x** the raw transport)"]
        for s in report.get("scale") or []:
            lines.append(f"- {s['preset']}: {s['requests_per_manifest']:.3f} requests per manifest x {raw:.0f} µs = "
                         f"{s['requests_per_manifest'] * raw:.1f} s per million manifests for raw HTTP alone")
        lines.append("")
    if report.get("analysis"):
        a = report["analysis"]
        lines += [f"## Analysis on a {a['preset']} snapshot ({a['manifests']:,} manifests; median of 3)", "",
                  "| function | s | s per 1M manifests |", "|---|---|---|"]
        lines += [f"| {name} | {s:.3f} | {s / a['manifests'] * 1e6:.2f} |" for name, s in a["seconds"].items()]
        lines += ["", f"- the whole report from the snapshot (`acrlib report --source SNAPSHOT`): "
                      f"{a['report_wall_s']:.1f} s wall", ""]
    if report.get("incremental"):
        lines += ["## Incremental collection after one simulated day", "",
                  "| preset | layers | manifests | full: requests per manifest | incremental: requests | "
                  "per manifest | wall s | CPU s | CPU s per 1M | peak RSS MB |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for i in report["incremental"]:
            lines.append(f"| {i['preset']} | {i['layers']} | {i['manifests']:,} | "
                         f"{i['full_requests_per_manifest']:.3f} | {i['requests']:,} | "
                         f"{i['requests_per_manifest']:.3f} | {i['wall_s']:.1f} | {i['cpu_s']:.1f} | "
                         f"{i['cpu_s_per_million_manifests']:.1f} | {i['peak_rss_mb']:.0f} |")
        lines.append("")
    checks = verdicts(report)
    if checks:
        lines += ["## Targets", "", "| target | measured | met |", "|---|---|---|"]
        lines += [f"| {what} | {value} | {'yes' if ok else '**no**'} |" for what, value, ok in checks]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="bench", help="emulator preset for the comparison (default bench)")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="per-request latency (default 20)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--approaches", default=",".join(APPROACHES), help="comma-separated subset to run")
    parser.add_argument("--scale", action="store_true", help="also run acrlib alone on tiny, demo and large")
    parser.add_argument("--scale-presets", default="tiny,demo,large")
    parser.add_argument("--no-compare", action="store_true", help="only the scale (and floor) runs")
    parser.add_argument("--floor", action="store_true",
                        help="also measure client CPU per one-item GET: raw aiohttp against acrlib's client")
    parser.add_argument("--floor-preset", default="demo")
    parser.add_argument("--floor-requests", type=int, default=20_000)
    parser.add_argument("--analysis", action="store_true",
                        help="also time every analysis function and the report on a snapshot of --analysis-preset")
    parser.add_argument("--analysis-preset", default="large")
    parser.add_argument("--incremental", action="store_true",
                        help="also collect --incremental-preset again a simulated day later with previous=")
    parser.add_argument("--incremental-preset", default="large")
    parser.add_argument("--incremental-layers", action="store_true", help="the incremental run with layers too")
    parser.add_argument("--json", default=None, help="where to write the figures (default benchmarks/results/)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--connection", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.connection, args.out)
        return 0
    approaches = [a for a in args.approaches.split(",") if a]
    unknown = set(approaches) - set(APPROACHES)
    if unknown:
        parser.error(f"unknown approaches {sorted(unknown)}; choose from {', '.join(APPROACHES)}")
    report: dict = {"when": dt.datetime.now(dt.UTC).isoformat(), "machine": {"cpus": os.cpu_count()}}
    if not args.no_compare:
        report["comparison"] = compare(args.preset, args.latency_ms, args.seed, approaches)
    if args.scale:
        report["scale"] = scale([p for p in args.scale_presets.split(",") if p], args.seed)
    if args.floor:
        report["floor"] = floor(args.floor_preset, args.seed, args.floor_requests)
    if args.analysis:
        report["analysis"] = analysis(args.analysis_preset, args.seed)
    if args.incremental:
        report["incremental"] = [incremental(args.incremental_preset, args.seed, False)]
        if args.incremental_layers:
            report["incremental"].append(incremental(args.incremental_preset, args.seed, True))
    publish(markdown(report), report, args.json, f"collect_bench-{args.preset}.json")
    return 0


def publish(text: str, report: dict, json_path: str | None, name: str) -> Path:
    """Print a benchmark's markdown and write its figures as JSON (default: benchmarks/results/NAME)."""
    print(text)
    path = Path(json_path) if json_path else ROOT / "benchmarks" / "results" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nfigures: {path}")
    return path


if __name__ == "__main__":
    sys.exit(main())
