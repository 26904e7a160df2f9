"""The benchmark keeps working: a run on the tiny tenant completes (the comparison, the floor, the analysis
timings and the incremental collection, with and without layers), checks rows and writes its figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "collect_bench.py"


@pytest.mark.slow
def test_benchmark_runs_on_tiny(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, str(BENCH), "--preset", "tiny", "--latency-ms", "2", "--floor",
                           "--floor-preset", "tiny", "--floor-requests", "300", "--analysis", "--analysis-preset",
                           "tiny", "--incremental", "--incremental-preset", "tiny", "--incremental-layers",
                           "--json", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())
    results = figures["comparison"]["results"]
    assert list(results) == ["sdk-serial", "sdk-threads", "acrlib"]
    for name, r in results.items():
        assert r["rows"]["exact"] is True, name
        assert r["rows"]["manifests"] == figures["comparison"]["manifests"]
        assert r["wall_s"] > 0 and r["cpu_s"] > 0 and r["peak_rss_mb"] > 0 and r["requests"] > 0
    assert results["sdk-serial"]["requests_per_page"] > 3.5
    assert "| acrlib |" in done.stdout and "lower bound" in done.stdout
    floor = figures["floor"]
    assert floor["requests"] == 300
    assert floor["raw-aiohttp"]["us_per_request"] > 0 and floor["acrlib-client"]["us_per_request"] > 0
    assert "| within 1.3x of the lower bound |" in done.stdout and "raw aiohttp:" in done.stdout
    analysis = figures["analysis"]
    assert analysis["manifests"] > 0 and analysis["report_wall_s"] > 0
    assert set(analysis["seconds"]) >= {"purge_plan", "summary", "storage", "reclaimable", "duplicates", "growth"}
    assert "| purge_plan |" in done.stdout and "report from a" in done.stdout
    plain, layered = figures["incremental"]
    for run in (plain, layered):  # rows were checked against the truth inside; fewer requests than in full
        assert 0 < run["requests"] < run["full_requests"] and run["cpu_s"] > 0 and run["peak_rss_mb"] > 0
    assert layered["layers"] is True and layered["full_requests"] > plain["full_requests"]
    assert "Incremental collection after one simulated day" in done.stdout


SCALE = BENCH.parent / "scale_bench.py"


@pytest.mark.slow
def test_scale_benchmark_runs_on_tiny(tmp_path):
    out = tmp_path / "scale.json"
    done = subprocess.run([sys.executable, str(SCALE), "--preset", "tiny", "--json", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())
    for run in ("memory", "out", "out-w2", "incremental"):  # rows were checked against the truth inside
        assert figures[run]["cpu_s"] > 0 and figures[run]["peak_rss_mb"] > 0 and figures[run]["requests"] > 0
    assert len(figures["out-w2"]["worker_peaks_mb"]) == 2  # its workers reported their peaks
    assert figures["incremental"]["requests"] < figures["out"]["requests"]
    parsers = figures["parsers"]
    assert parsers["polars-wrapped"]["same_frame"] and parsers["polars-joined"]["same_frame"]
    for name in ("polars-wrapped", "polars-joined", "pyarrow-json", "msgspec"):
        entry = parsers[name]
        assert entry.get("same_frame") or "not installed" in entry.get("error", ""), (name, entry)
    assert figures["analysis"]["per_registry_equals_whole"] and figures["analysis"]["lazy_equals_whole"]
    for target in ("peak RSS", "raw-HTTP floor", "incremental after a day", "`workers=2`"):
        assert target in done.stdout, target
