"""acrlib.apply on the emulator's demo tenant with throttling on, against the bound the SKU write rates set.

    python benchmarks/apply_bench.py [--preset demo] [--latency-ms 20] [--json PATH]

One run: collect the tenant, make the report's purge plan (90 days, keep 3, untagged, nothing pulled in 30
days), then apply it for real. The bound is the slowest registry's deletions divided by its SKU's documented
WriteOps (Basic 100, Standard 500, Premium 2,000 a minute); registries run in parallel, so that registry sets
the time. The figure printed is the ratio of the measured time to that bound (target: at most 1.2), beside what
the alternative costs: ``delete_script`` starts one ``az`` process per tag and manifest (the process count is
printed; at the Azure CLI's usual 1-2 s per call that alone is the time it takes). The registry after the run
is checked: a run with a failed action, or a manifest it deleted that is still listed, fails; what it skipped
(a locked repository, an index that stays and its platform images) is printed with the reasons.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    import acrlib
    from acrlib import skus
    from acrlib.analysis import delete_script, pull_protected_plan
    from acrlib.emulator import Emulator

    with Emulator(args.preset, seed=args.seed, latency_ms=args.latency_ms, throttle=True) as emu:
        inv = acrlib.collect(**emu.connection(), progress=False, vulnerabilities=False, deployments=False)
        plan = pull_protected_plan(inv, filters=[".*:.*"], stale_days=90, keep=3, untagged=True,
                                   protect_pulled_days=30)
        deleting = plan.filter(pl.col("action").is_in(["delete_tag", "delete_manifest"]))
        per = (deleting.group_by("registry").len()
               .join(inv.registries.select("registry", "sku"), on="registry")
               .with_columns(pl.col("sku").replace_strict(skus.WRITE_OPS_PER_MIN, return_dtype=pl.Float64)
                             .alias("writes_per_min"))
               .with_columns((pl.col("len") / (pl.col("writes_per_min") / 60.0)).alias("bound_s")))
        bound = float(per["bound_s"].max() or 0.0)
        emu.reset_throttle()
        emu.reset_stats()
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            result = acrlib.apply(plan, **emu.connection(), dry_run=False, journal=Path(tmp) / "journal.jsonl")
            seconds = time.perf_counter() - started
        outcomes = dict(result.actions.group_by("outcome").len().iter_rows())
        skipped = result.skipped
        throttled = emu.stats().filter((pl.col("method") == "DELETE") & (pl.col("status") == 429))["count"].sum()
        after = emu.truth()
        done = set(result.actions.filter((pl.col("outcome") == "done") & (pl.col("action") == "delete_manifest"))
                   .select("registry", "repository", "digest").rows())
        left = done & set(after["manifests"].select("registry", "repository", "digest").rows())
        processes = sum(1 for line in delete_script(plan).splitlines() if line.startswith("az "))
    ratio = seconds / bound if bound else float("nan")
    print(f"apply on {args.preset} (seed {args.seed}), {args.latency_ms:g} ms latency, throttling on\n")
    print("| registry | SKU | deletions | WriteOps/min | bound (s) |\n|---|---|---|---|---|")
    for r in per.sort("registry").iter_rows(named=True):
        print(f"| {r['registry']} | {r['sku']} | {r['len']:,} | {r['writes_per_min']:,.0f} | {r['bound_s']:.1f} |")
    print(f"\n| what | figure |\n|---|---|\n| deletions | {deleting.height:,} |\n| bound (slowest registry) | "
          f"{bound:.1f} s |\n| acrlib apply | {seconds:.1f} s |\n| ratio to the bound | {ratio:.2f} (target <= "
          f"{TARGET}: {'met' if ratio <= TARGET else 'NOT met'}) |\n| 429 answers to deletes | {throttled:,} |\n"
          f"| az processes the delete script starts | {processes:,} |\n| outcomes | {outcomes} |")
    figures = {"preset": args.preset, "deletions": deleting.height, "bound_s": bound, "seconds": seconds,
               "ratio": ratio, "throttled_deletes": int(throttled), "az_processes": processes, "outcomes": outcomes}
    for reason, n in skipped.iter_rows():
        print(f"skipped {n:,}: {reason}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    if left or outcomes.get("failed"):
        print(f"FAILED: {len(left)} deleted manifests still present, {outcomes.get('failed', 0)} failed actions",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
