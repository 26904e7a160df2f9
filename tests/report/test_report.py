"""The report: notebooks run with papermill against the emulator; the HTML export works offline in a real
browser; parameters are checked and documented."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest

import acrlib
from acrlib import report

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SCREENSHOTS = ROOT / "reports" / "screenshots"


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report-tiny")
    return report.run_report(source="emulator:tiny", out=out,
                             parameters={"stale_days": 60, "top_n": 5, "history_weeks": 2})


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    # what `make report` produces
    return report.run_report(source="emulator:demo", out=tmp_path_factory.mktemp("report-demo"))


def figure_outputs(executed: Path) -> int:
    node = nbformat.read(executed, as_version=4)
    return sum(1 for cell in node.cells for output in cell.get("outputs", [])
               if "application/vnd.plotly.v1+json" in output.get("data", {}))


def test_notebooks_are_stored_without_outputs():
    assert NOTEBOOKS
    for path in NOTEBOOKS:
        node = nbformat.read(path, as_version=4)
        for cell in node.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path.name} is stored with outputs"


def test_the_report_runs_and_exports_html_without_code(tiny_report):
    html = tiny_report.read_text()
    executed = tiny_report.with_suffix(".ipynb")
    assert executed.exists() and figure_outputs(executed) >= 14
    assert "Billed storage over time" in html and "Storage the purge plan frees" in html
    assert "charts.setup()" not in html and "acrlib.sources.load" not in html, "no code cells"
    for heading in ("Headline numbers", "Storage per registry", "Storage truth", "Age of tags", "Usage",
                    "Stale tags and untagged manifests", "Reclaimable storage", "Top repositories to clean", "Trends",
                    "Fleet duplicates", "Architectures and operating systems", "Artifact kinds", "Security posture",
                    "Cost", "Collection errors"):
        assert heading in html, heading
    assert "No collection errors" in html, "a registry without pull logs is not a collection error"
    assert "not-configured" in html and "never pulled" in html
    assert "never what was pulled in the last 30d" in html, "the plan says it keeps what was pulled"
    assert not re.search(r'<script src="https?://', html), "nothing loaded from the network"
    assert html.count("window.Plotly = Plotly") == 1, "plotly.js embedded once"
    parameters = json.loads(json.dumps(nbformat.read(executed, as_version=4).metadata["papermill"]["parameters"]))
    assert parameters["stale_days"] == 60 and parameters["progress"] is False


def test_the_explore_notebook_runs(tmp_path):
    papermill.execute_notebook(str(ROOT / "notebooks" / "explore.ipynb"), str(tmp_path / "explore.ipynb"),
                               parameters={"source": "emulator:tiny"}, kernel_name="python3",
                               execution_timeout=600, progress_bar=False)


@pytest.mark.slow
def test_html_size_does_not_grow_with_the_tenant(tiny_report, demo_report):
    tiny, demo = tiny_report.stat().st_size, demo_report.stat().st_size
    # demo has 9x the manifests of tiny; charts are aggregated, so the report grows only by a few rows
    assert demo - tiny < 400_000, (tiny, demo)


def test_undeclared_parameters_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"unknown report parameter.*stale_dayz"):
        report.run_report(source="emulator:tiny", out=tmp_path, parameters={"stale_dayz": 3})
    done = subprocess.run([sys.executable, "-m", "acrlib.cli", "report", "--source", "emulator:tiny", "--out",
                           str(tmp_path), "-p", "colour", "red"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "unknown report parameter 'colour'" in done.stderr
    done = subprocess.run([sys.executable, "-m", "acrlib.cli", "report", "--source", "emulator:tiny", "--out",
                           str(tmp_path), "-p", "keep", "many"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "parameter keep needs a number" in done.stderr
    assert not list(tmp_path.glob("*.html"))


@pytest.mark.slow
def test_a_failing_cell_is_reported_with_the_executed_notebook(tmp_path):
    with pytest.raises(acrlib.ReportError, match=r"failed in cell \d+: ValueError: unable to parse filter 'x'"):
        report.run_report(source="emulator:tiny", out=tmp_path, parameters={"filters": ["x"], "history_weeks": 0})
    assert (tmp_path / "acr_report.ipynb").exists()


@pytest.mark.parametrize(("name", "text", "value"), [
    ("stale_days", "30", 30), ("include_untagged", "false", False), ("filters", "app:.*,web:^v", ["app:.*", "web:^v"]),
    ("filters", '["a:.*"]', ["a:.*"]), ("registries", "contosoprodacr", "contosoprodacr"), ("rate_basic", "0.2", 0.2),
    ("subscriptions", "None", None),
])
def test_command_line_values_take_the_parameters_types(name, text, value):
    assert report.convert(name, text, report.declared_parameters()[name]) == value


def test_the_readme_lists_exactly_the_report_parameters():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Report parameters"):]
    section = section[:section.index("\n## ")]
    documented = re.findall(r"^\| `(\w+)` \|", section, flags=re.M)
    declared = list(report.declared_parameters())
    assert documented == declared
    for name, spec in report.declared_parameters().items():
        row = next(line for line in section.splitlines() if line.startswith(f"| `{name}` |"))
        assert f"`{spec['default']}`" in row, f"README default of {name} differs from the notebook"


@pytest.mark.browser
@pytest.mark.slow
def test_the_exported_html_renders_every_figure_offline_in_chromium(demo_report):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    expected = figure_outputs(demo_report.with_suffix(".ipynb"))
    requested, errors = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-sync"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})

            def route(r):
                if r.request.url.startswith("file://"):
                    return r.continue_()
                requested.append(r.request.url)
                return r.abort()

            page.route("**/*", route)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(demo_report.as_uri())
            page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
            page.wait_for_timeout(500)
            plots = page.locator(".js-plotly-plot")
            assert plots.count() == expected >= 14
            marks = ".barlayer .point, .treemaplayer .slice, .heatmaplayer image, .scatterlayer .trace"
            for i in range(plots.count()):
                assert plots.nth(i).locator(marks).count() > 0, f"figure {i} has no data marks"
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "acr_report.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert requested == [], "the report must not reach the network"
