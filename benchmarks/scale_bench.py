"""Tenants larger than memory: streaming collection, worker processes, the listing parser and analysis beyond
memory, measured side by side in one run against the emulator (no latency, no throttling: the client's own
cost).

    python benchmarks/scale_bench.py [--preset large] [--huge] [--layers] [--json PATH]

Each collection runs in its own process (clean CPU and peak-RSS figures: the process's own peak, its worker
processes' largest peak, and their sum as what a container must give). Rows are checked against the
emulator's truth. In order, on ``--preset`` (default ``large``):

  memory      collect() held in memory, one process (how acrlib collected before streaming)
  out         collect(out=ROOT, workers=1): each registry's tables written as it completes
  out-w2      collect(out=ROOT, workers=2): two processes
  floor       client CPU of one single-manifest GET through raw aiohttp (the transport): x the requests per
              manifest of ``out`` = what any aiohttp-based collector spends on HTTP alone
  incremental a simulated day later, collect(out=ROOT, previous=ROOT, workers=1)
  parsers     the listing pages of the biggest registry through four parsers (benchmarks/parsers.py)
  analysis    summary and storage on the ``out`` snapshot three ways: read whole, registry by registry
              (Inventory.of_registry), and a lazy scan of the Parquet parts
  --layers    a full collection with layers, a simulated day, then an incremental one with layers
  --huge      the ``huge`` preset (about 2 million manifests) with out= (default workers)

It prints each figure, then the targets of the issue with their verdicts, and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import collect_bench as cb
import polars as pl

# --- children --------------------------------------------------------------------------------------------------


def _usage() -> dict:
    """CPU of this process and of the processes it waited for; its peak memory from VmHWM (ru_maxrss carries the
    parent's peak over fork and exec on Linux: a benchmark driver holding the truth would inflate it)."""
    from acrlib.collection.workers import peak_rss_mb

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"cpu_self_s": me.ru_utime + me.ru_stime, "cpu_children_s": kids.ru_utime + kids.ru_stime,
            "peak_rss_mb": peak_rss_mb() or me.ru_maxrss / 1024}


def child_collect(job: dict) -> dict:
    import acrlib
    from acrlib.emulator import attach

    conn = attach(job["connection"])
    settings = {k: job[k] for k in ("out", "workers", "in_flight", "layers", "previous") if job.get(k) is not None}
    before = _usage()
    wall = time.perf_counter()
    inv = acrlib.collect(**conn.connection(), progress=False, activity_days=0, deployments=False,
                         vulnerabilities=False, **settings)
    wall = time.perf_counter() - wall
    after = _usage()
    snapshot = str(inv.snapshot.path) if inv.snapshot is not None else str(inv.to_parquet(job["scratch"]))
    workers = inv.metadata.get("workers") or {}
    return {"wall_s": wall, "cpu_s": after["cpu_self_s"] - before["cpu_self_s"]
            + after["cpu_children_s"] - before["cpu_children_s"],
            "peak_rss_mb": after["peak_rss_mb"], "worker_peaks_mb": workers.get("peak_rss_mb", []),
            "snapshot": snapshot, "metadata": {k: inv.metadata.get(k) for k in ("requests", "previous")}}


def child_analysis(job: dict) -> dict:
    import acrlib

    way, path = job["way"], job["snapshot"]
    started = time.perf_counter()
    if way == "whole":
        inv = acrlib.Inventory.read_parquet(path)
        result = {"summary": acrlib.summary(inv).registries, "storage": acrlib.storage(inv).registries}
    elif way == "per-registry":
        inv = acrlib.Inventory.open(path)
        parts = [(acrlib.summary(one).registries, acrlib.storage(one).registries)
                 for one in (inv.of_registry(r) for r in inv.registries["registry"])]
        result = {"summary": pl.concat([s for s, _ in parts]), "storage": pl.concat([s for _, s in parts])}
    else:  # lazy: the same functions over LazyFrames of the snapshot's files, polars' streaming engine
        lazy = acrlib.Inventory.open(path).lazy()
        result = {"summary": acrlib.summary(lazy).registries.collect(engine="streaming"),
                  "storage": acrlib.storage(lazy).registries.collect(engine="streaming")}
    seconds = time.perf_counter() - started
    out = Path(job["scratch"])
    for name, frame in result.items():
        frame.write_parquet(out.with_suffix(f".{name}.parquet"))
    return {"seconds": seconds, "peak_rss_mb": _usage()["peak_rss_mb"]}


def child_parsers(job: dict) -> dict:
    import parsers

    pages = pickle.loads(Path(job["pages"]).read_bytes())
    return parsers.measure(pages)


CHILDREN = {"collect": child_collect, "analysis": child_analysis, "parsers": child_parsers}


def run(kind: str, job: dict, workdir: Path) -> dict:
    job_file = workdir / f"{kind}-{time.monotonic_ns()}.json"
    job_file.write_text(json.dumps(job, default=str))
    done = subprocess.run([sys.executable, __file__, "--child", kind, str(job_file)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{done.stderr[-3000:]}")
    return json.loads(job_file.with_suffix(".out.json").read_text())


# --- the driver -------------------------------------------------------------------------------------------------


def server_cpu(emu) -> float:
    """CPU seconds the emulator's server process has used (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{emu._proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, AttributeError, ValueError, IndexError):
        return 0.0


def measured(emu, job: dict, workdir: Path) -> dict:
    """One collection in its own process, with the registry requests and the emulator's CPU it cost."""
    emu.reset_stats()
    before = server_cpu(emu)
    figures = run("collect", job, workdir)
    figures["server_cpu_s"] = server_cpu(emu) - before
    figures["requests"] = cb.request_figures(emu.stats())["registry_requests"]
    return figures


def check(snapshot: str, truth: dict) -> None:
    from acrlib import Inventory

    inv = Inventory.read_parquet(snapshot)
    for table in ("repositories", "manifests", "tags", "references"):
        assert inv.tables()[table].equals(truth[table]), f"{table} differs from the truth"


def collections(preset: str, seed: int, workdir: Path, layers: bool) -> dict:
    from acrlib.emulator import Emulator

    figures: dict = {}
    with Emulator(preset, seed=seed) as emu:
        connection = str(emu.write_connection_file(workdir / "emulator.json"))
        truth = emu.truth()
        manifests = truth["manifests"].height
        figures["tenant"] = {"preset": preset, "registries": truth["registries"].height, "manifests": manifests,
                             "tags": truth["tags"].height}
        base = {"connection": connection, "scratch": str(workdir / "scratch")}
        plans = {
            "memory": {"workers": 1},
            "out": {"workers": 1, "out": str(workdir / "out")},
            "out-w2": {"workers": 2, "out": str(workdir / "out-w2")},
        }
        for name, job in plans.items():
            print(f"{preset}: {name} ...", file=sys.stderr, flush=True)
            figures[name] = measured(emu, {**base, **job}, workdir)
            check(figures[name]["snapshot"], truth)
        print(f"{preset}: floor ...", file=sys.stderr, flush=True)
        figures["floor"] = floor(emu, truth, connection, workdir)
        print(f"{preset}: parsers ...", file=sys.stderr, flush=True)
        figures["parsers"] = parser_figures(emu, truth, workdir)
        emu.advance(1, seed=1)
        truth = emu.truth()
        print(f"{preset}: incremental ...", file=sys.stderr, flush=True)
        figures["incremental"] = measured(emu, {**base, "workers": 1, "out": str(workdir / "out"),
                                                "previous": str(workdir / "out")}, workdir)
        figures["incremental"]["manifests"] = truth["manifests"].height
        check(figures["incremental"]["snapshot"], truth)
    if layers:
        with Emulator(preset, seed=seed) as emu:
            connection = str(emu.write_connection_file(workdir / "emulator-layers.json"))
            base = {"connection": connection, "scratch": str(workdir / "scratch")}
            print(f"{preset}: full with layers ...", file=sys.stderr, flush=True)
            figures["layers-full"] = measured(emu, {**base, "layers": True, "out": str(workdir / "layers")},
                                              workdir)
            emu.advance(1, seed=1)
            print(f"{preset}: incremental with layers ...", file=sys.stderr, flush=True)
            for name, workers in (("layers-incremental", 1), ("layers-incremental-w2", 2)):
                figures[name] = measured(emu, {**base, "layers": True, "workers": workers,
                                               "out": str(workdir / f"layers-{name}"),
                                               "previous": str(workdir / "layers")}, workdir)
            check(figures["layers-incremental"]["snapshot"], emu.truth())
    return figures


def floor(emu, truth: dict, connection: str, workdir: Path, sample: int = 20_000) -> dict:
    from acrlib import media_types as mt

    indexes = truth["manifests"].filter(pl.col("media_type").is_in(mt.INDEX_TYPES))
    registry = indexes["registry"].value_counts(sort=True)["registry"][0]
    pairs = indexes.filter(pl.col("registry") == registry).select("repository", "digest").rows()
    pairs = (pairs * (sample // len(pairs) + 1))[:sample]
    login = truth["registries"].filter(pl.col("registry") == registry)["login_server"][0]
    return cb.run_child("floor", Path(connection), workdir, {"login_server": login, "pairs": pairs})


def parser_figures(emu, truth: dict, workdir: Path) -> dict:
    """The ``_manifests`` pages of the registry with the most manifests, fetched once with acrlib's client, then
    parsed four ways in a child process."""
    import asyncio

    from acrlib.collection.http import Gate, Session, bounded
    from acrlib.collection.registry import RegistryClient
    from acrlib.collection.tokens import EntraToken
    from acrlib.credentials import AsyncCredential

    registry = truth["manifests"]["registry"].value_counts(sort=True)["registry"][0]
    login = truth["registries"].filter(pl.col("registry") == registry)["login_server"][0]
    repos = truth["repositories"].filter(pl.col("registry") == registry)["repository"].to_list()
    conn = emu.connection()

    async def fetch() -> list[tuple[str, bytes]]:
        async with Session(conn["connection_verify"]) as session:
            client = RegistryClient(session, login, EntraToken(AsyncCredential(conn["credential"])), Gate(16))
            pages = await bounded([(r,) for r in repos], client.manifest_pages, 16)
        return [(repo, body) for repo, bodies in zip(repos, pages, strict=True) for body in bodies]

    pages = asyncio.run(fetch())
    path = workdir / "pages.pickle"
    path.write_bytes(pickle.dumps(pages))
    return {"registry": registry, **run("parsers", {"pages": str(path)}, workdir)}


def analysis(snapshot: str, workdir: Path) -> dict:
    out = {}
    for way in ("whole", "per-registry", "lazy"):
        print(f"analysis: {way} ...", file=sys.stderr, flush=True)
        out[way] = run("analysis", {"way": way, "snapshot": snapshot, "scratch": str(workdir / way)}, workdir)
    whole = {n: pl.read_parquet(workdir / f"whole.{n}.parquet") for n in ("summary", "storage")}
    per = {n: pl.read_parquet(workdir / f"per-registry.{n}.parquet") for n in ("summary", "storage")}
    lazy = {n: pl.read_parquet(workdir / f"lazy.{n}.parquet") for n in ("summary", "storage")}
    out["per_registry_equals_whole"] = all(whole[n].equals(per[n]) for n in whole)
    out["lazy_equals_whole"] = all(whole[n].equals(lazy[n]) for n in whole)
    return out


def huge(seed: int, workdir: Path) -> dict:
    from acrlib.emulator import Emulator

    print("huge: generating the tenant ...", file=sys.stderr, flush=True)
    with Emulator("huge", seed=seed) as emu:
        connection = str(emu.write_connection_file(workdir / "emulator-huge.json"))
        manifests = emu.truth()["manifests"].height
        base = {"connection": connection, "scratch": str(workdir / "scratch")}
        print("huge: out, one process ...", file=sys.stderr, flush=True)
        one = {"manifests": manifests, **measured(emu, {**base, "out": str(workdir / "huge-w1"), "workers": 1},
                                                  workdir)}
        print("huge: out, default workers ...", file=sys.stderr, flush=True)
        figures = measured(emu, {**base, "out": str(workdir / "huge")}, workdir)
    return {"manifests": manifests, **figures, "workers=1": one}


# --- the report -------------------------------------------------------------------------------------------------


def total_rss(f: dict) -> float:
    """What a container must give: the collecting process's peak plus each worker's (a conservative sum: the
    peaks need not coincide)."""
    return f["peak_rss_mb"] + sum(f.get("worker_peaks_mb") or [])


def verdicts(r: dict) -> list[tuple[str, str, str, bool]]:
    out = []
    millions = r["tenant"]["manifests"] / 1e6
    preset = r["tenant"]["preset"]
    rss = total_rss(r["out"])
    out.append((f"full collection of `{preset}` with `out=`: peak RSS", f"{r['memory']['peak_rss_mb']:.0f} MB in "
                "memory", f"{rss:.0f} MB", rss <= 450))
    if "huge" in r:
        h = r["huge"]
        for label, f in (("workers=1", h.get("workers=1")), (f"default workers={len(h['worker_peaks_mb']) or 1}, "
                                                             "every process summed", h)):
            if f is not None:
                rss = total_rss(f)
                out.append((f"a synthetic tenant of {h['manifests'] / 1e6:.1f} million manifests with `out=`: peak "
                            f"RSS ({label})", "-", f"{rss:.0f} MB", rss <= 600))
    raw_us = r["floor"]["raw-aiohttp"]["us_per_request"]
    per_manifest = r["out"]["requests"] / r["tenant"]["manifests"]
    floor_s = per_manifest * raw_us  # per million manifests
    cpu = r["out"]["cpu_s"] / millions
    out.append(("full collection CPU per million manifests, against the raw-HTTP floor",
                f"{r['memory']['cpu_s'] / millions / floor_s:.1f}x in memory",
                f"{cpu:.1f} s = {cpu / floor_s:.2f}x the floor ({floor_s:.1f} s)", cpu / floor_s <= 1.8))
    inc = r["incremental"]
    cpu = inc["cpu_s"] / (inc["manifests"] / 1e6)
    out.append(("incremental after a day: CPU per million manifests", "20.6 s", f"{cpu:.1f} s", cpu <= 10))
    ratio = r["out"]["wall_s"] / r["out-w2"]["wall_s"]
    w2 = r["out-w2"]
    bound = (w2["cpu_s"] + w2.get("server_cpu_s", 0)) / (os.cpu_count() or 1)  # the machine's least wall time
    out.append((f"`workers=2` on {os.cpu_count()} cores: throughput against `workers=1`", "1 core",
                f"{ratio:.2f}x (the emulator on the same cores: at best {r['out']['wall_s'] / bound:.2f}x)",
                ratio >= 1.6))
    if "layers-incremental" in r:
        rss = total_rss(r["layers-incremental"])
        out.append(("incremental with `layers`: peak RSS", "2.5 GB", f"{rss:.0f} MB", rss <= 600))
    return out


def markdown(r: dict) -> str:
    t = r["tenant"]
    lines = [f"## `{t['preset']}`: {t['registries']} registries, {t['manifests']:,} manifests, {t['tags']:,} tags "
             f"(no latency, no throttling; {os.cpu_count()} cores)", "",
             "| run | wall s | CPU s (all processes) | CPU s per 1M manifests | peak RSS MB (process / workers) "
             "| registry requests | emulator CPU s |", "|---|---|---|---|---|---|---|"]
    for name in ("memory", "out", "out-w2", "incremental", "layers-full", "layers-incremental",
                 "layers-incremental-w2", "huge-w1", "huge"):
        f = r.get("huge", {}).get("workers=1") if name == "huge-w1" else r.get(name)
        if f is None:
            continue
        manifests = f.get("manifests", t["manifests"])
        worker = " + ".join(f"{p:.0f}" for p in f.get("worker_peaks_mb") or []) or "-"
        lines.append(f"| {name} | {f['wall_s']:.1f} | {f['cpu_s']:.1f} | {f['cpu_s'] / manifests * 1e6:.1f} | "
                     f"{f['peak_rss_mb']:.0f} / {worker} | {f.get('requests', '-')} | "
                     f"{f['server_cpu_s']:.1f} |" if "server_cpu_s" in f else
                     f"{f['peak_rss_mb']:.0f} / {worker} | {f.get('requests', '-')} | - |")
    fl = r["floor"]
    lines += ["", f"- raw-HTTP floor: {fl['raw-aiohttp']['us_per_request']:.0f} µs of client CPU per GET through "
              f"aiohttp alone, {fl['acrlib-client']['us_per_request']:.0f} µs through acrlib's client"]
    p = r["parsers"]
    lines += ["", f"## Listing parsers: {p['pages']:,} `_manifests` pages of {p['registry']} "
              f"({p['bytes'] / 1e6:.1f} MB, {p['rows']:,} manifests, {p['chunks']} chunks as acrlib parses them)", "",
              "| parser | CPU s | vs polars-wrapped (before) | same frame | not JSON costs its page "
              "| wrong type costs at most its page | a page `null` costs that page |",
              "|---|---|---|---|---|---|---|"]
    import parsers
    ref = p["polars-wrapped"]["cpu_s"]
    for name in parsers.PARSERS:
        f = p[name]
        if "error" in f:
            lines.append(f"| {name} | {f['error']} | | | | | |")
            continue
        g = f["guarantees"]
        lines.append(f"| {name} | {f['cpu_s']:.3f} | {f['cpu_s'] / ref:.2f}x | {f['same_frame']} | "
                     f"{g['not JSON costs its page']} | {g['wrong type costs at most its page']} | "
                     f"{g['a page that is null costs that page']} |")
    if "analysis" in r:
        a = r["analysis"]
        lines += ["", "## Analysis of the snapshot: summary and storage", "", "| way | s | peak RSS MB |",
                  "|---|---|---|"]
        lines += [f"| {way} | {a[way]['seconds']:.2f} | {a[way]['peak_rss_mb']:.0f} |"
                  for way in ("whole", "per-registry", "lazy")]
        lines += ["", f"- registry by registry equals the whole: {a['per_registry_equals_whole']}; lazily, over the "
                  f"snapshot's files: {a['lazy_equals_whole']}"]
    lines += ["", "## Targets", "", "| what | before | now | target met |", "|---|---|---|---|"]
    lines += [f"| {what} | {before} | {now} | {'yes' if ok else '**no**'} |" for what, before, now, ok in verdicts(r)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="large")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--layers", action="store_true", help="also the collections with layers")
    parser.add_argument("--huge", action="store_true", help="also the huge preset (about 2 million manifests)")
    parser.add_argument("--json", default=None)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, job_file = args.child
        result = CHILDREN[kind](json.loads(Path(job_file).read_text()))
        Path(job_file).with_suffix(".out.json").write_text(json.dumps(result, default=str))
        return 0
    with tempfile.TemporaryDirectory(prefix="acrlib-scale-") as tmp:
        workdir = Path(tmp)
        report = collections(args.preset, args.seed, workdir, args.layers)
        report["out-w2"]["workers"] = 2
        report["analysis"] = analysis(report["out"]["snapshot"], workdir)
        if args.huge:
            report["huge"] = huge(args.seed, workdir)
    report["when"] = dt.datetime.now(dt.UTC).isoformat()
    cb.publish(markdown(report), report, args.json, f"scale_bench-{args.preset}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
