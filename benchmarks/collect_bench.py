"""acrlib against the stock Azure SDK approach, side by side, on the emulator.

    python benchmarks/collect_bench.py [--preset bench] [--latency-ms 20] [--scale] [--json PATH]

In one run, with per-request latency and SKU throttling on, it measures three ways of listing every
repository, manifest and tag of the tenant:

  sdk-serial   Resource Graph SDK for discovery, then ContainerRegistryClient per registry:
               list_repository_names, and per repository list_manifest_properties and list_tag_properties,
               one after the other, default settings (what Microsoft's docs lead to)
  sdk-threads  the same calls spread over a thread pool of 8 workers
  acrlib       acrlib.collect(**emulator.connection())

Each runs in its own process (clean CPU and peak-RSS figures) against the same emulator, whose throttle
buckets are refilled in between. Rows are checked against the emulator's truth: a run that loses or
duplicates a row fails. ``--scale`` adds acrlib alone on tiny, demo and large (no latency or throttling: the
client's own cost as the tenant grows). Figures are printed as a markdown table with ratios measured in this
one run, and written as JSON.
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


def run_acrlib(conn) -> dict:
    import acrlib

    inv = acrlib.collect(**conn.connection(), progress=False)
    return {"inventory": inv}


def worker(approach: str, connection_file: str, out: str) -> None:
    from acrlib.emulator import attach

    conn = attach(connection_file)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    threads = THREADS if approach == "sdk-threads" else None
    result = run_acrlib(conn) if approach == "acrlib" else run_sdk(conn, threads)
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
    registry = stats.filter(pl.col("registry") != "arm")
    requests = int(registry["count"].sum())
    pages = int(registry.filter(~pl.col("endpoint").is_in(TOKEN_ENDPOINTS) & (pl.col("status") == 200))["count"].sum())
    return {
        "requests": requests + int(stats.filter(pl.col("registry") == "arm")["count"].sum()),
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
    from acrlib.collection import SKU_CONCURRENCY
    from acrlib.skus import READ_OPS_PER_MIN

    skus = dict(truth["registries"].select("registry", "sku").iter_rows())
    per_registry = stats.filter((pl.col("registry") != "arm") & (pl.col("status") != 429)).group_by(
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


def run_child(approach: str, connection_file: Path, workdir: Path) -> dict:
    out = workdir / f"{approach}.json"
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
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="bench", help="emulator preset for the comparison (default bench)")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="per-request latency (default 20)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--approaches", default=",".join(APPROACHES), help="comma-separated subset to run")
    parser.add_argument("--scale", action="store_true", help="also run acrlib alone on tiny, demo and large")
    parser.add_argument("--scale-presets", default="tiny,demo,large")
    parser.add_argument("--no-compare", action="store_true", help="only the scale run")
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
    text = markdown(report)
    print(text)
    path = Path(args.json) if args.json else ROOT / "benchmarks" / "results" / f"collect_bench-{args.preset}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nfigures: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
