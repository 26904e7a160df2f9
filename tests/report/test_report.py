"""The report: notebooks run with papermill against the emulator; the HTML export works offline in a real
browser; parameters are checked and documented."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import polars as pl
import pytest
from browser import browser_page

import acrlib
from acrlib import report
from acrlib.collection.options import DEFAULTS
from acrlib.report import format as fmt
from acrlib.report import overview

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SCREENSHOTS = ROOT / "reports" / "screenshots"
FAST = {"layers": False, "activity_days": 0, "deployments": False}  # where a test needs the report, not the data


def cli(*args, cwd=None, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "acrlib.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def headings(path: Path) -> list[str]:
    node = nbformat.read(path, as_version=4)
    return [line[3:].strip() for cell in node.cells if cell.cell_type == "markdown"
            for line in cell.source.splitlines() if line.startswith("## ")]


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


def test_the_report_sections_are_its_table_of_contents():
    assert headings(ROOT / "notebooks" / "acr_report.ipynb") == list(overview.SECTIONS)


def test_the_report_runs_and_exports_html_without_code(tiny_report):
    html = tiny_report.read_text()
    executed = tiny_report.with_suffix(".ipynb")
    assert executed.exists() and figure_outputs(executed) >= 14
    assert "Billed storage over time" in html and "Storage the purge plan frees" in html
    assert "charts.setup()" not in html and "acrlib.sources.load" not in html, "no code cells"
    for section in overview.SECTIONS:
        assert f'id="{overview.anchor(section)}"' in html, section
        assert f'href="#{overview.anchor(section)}"' in html, f"the contents link to {section}"
    first = html.index("acrlib-first-screen")
    assert first < html.index('id="Purge-plan"'), "tiles and key findings come first"
    assert "Key findings" in html and html.count('class="acrlib-tile"') >= 4
    assert "No collection errors" in html, "a registry without pull logs is not a collection error"
    assert "not-configured" in html and "never pulled" in html
    assert "never what was pulled in the last 30d" in html, "the plan says it keeps what was pulled"
    assert "acrlib-error" not in html and "Traceback" not in html
    assert not re.search(r'<script src="https?://', html), "nothing loaded from the network"
    assert html.count("window.Plotly = Plotly") == 1, "plotly.js embedded once"
    assert "\x1b[" not in executed.read_text() and "\u001b[" not in executed.read_text(), "no escape codes"
    parameters = json.loads(json.dumps(nbformat.read(executed, as_version=4).metadata["papermill"]["parameters"]))
    assert parameters["stale_days"] == 60 and parameters["progress"] is False
    saved = acrlib.PurgePlan.load(tiny_report.parent / "purge-plan.parquet")  # beside the report, for apply
    assert saved.parameters["ago"] == "60d" and "acrlib apply --plan purge-plan.parquet --delete" in html
    script = (tiny_report.parent / "delete-script.sh").read_text()
    assert script.count("az acr repository") == saved.filter(pl.col("action").is_in(
        ["delete_tag", "delete_manifest"])).height and "az acr repository" not in html, "written, not inlined"


def test_the_first_screen_carries_the_analysis_numbers(tiny):
    inv = acrlib.collect(**tiny.connection(), progress=False, layers=True)
    plan = acrlib.purge_plan(inv, ago="60d", keep=2, protect_pulled_within=None)
    screen = overview.first_screen(acrlib.Analysis(inv, plan, stale_days=60), source="tiny", keep=2)
    tiles = {t.label: t for t in screen.tiles}
    assert tiles["Billed storage"].value == fmt.size(inv.registries["storage_used_bytes"].sum())
    freed = acrlib.reclaimable(inv, plan).registries["reclaimable_bytes"].sum()
    assert tiles["Reclaimable by the purge plan"].value == fmt.size(freed) and freed > 0
    assert tiles["Stale tags"].value == fmt.count(plan.filter(pl.col("action") == "delete_tag").height)
    assert tiles["Monthly cost"].value == fmt.money(acrlib.cost(inv)["monthly"].sum())
    risk = tiles["Running with fixable critical/high CVEs"]
    assert risk.value == fmt.count(acrlib.exposure(inv, plan).running_fixable.height)
    critical = inv.vulnerabilities.filter(pl.col("registry").is_not_null() & (pl.col("severity") == "Critical"))
    gone = critical.join(plan.filter(pl.col("action").is_in(["delete_manifest", "cascade"])),
                         on=["registry", "repository", "digest"], how="semi")
    assert f"{critical.unique(['registry', 'repository', 'digest', 'cve_id']).height:,} critical" in risk.detail
    removes = gone.unique(["registry", "repository", "digest", "cve_id"]).height
    assert f"the plan removes {removes:,}" in risk.detail and removes > 0
    assert f"{acrlib.posture(inv).height:,} posture finding" in risk.detail
    assert 4 <= len(screen.tiles) <= 6 and 3 <= len(screen.findings) <= 7
    unscanned = acrlib.collect(**tiny.connection(), progress=False, vulnerabilities=False)
    plain = {t.label: t for t in overview.first_screen(acrlib.Analysis(unscanned), source="tiny").tiles}
    assert plain["Security findings"].value == fmt.count(acrlib.posture(unscanned).height)
    assert "Running with fixable critical/high CVEs" not in plain
    assert all(f.section in overview.SECTIONS for f in screen.findings + screen.tiles)
    ranks = [f.rank for f in screen.findings]
    assert ranks == sorted(ranks), "ranked: gaps, then money, then risk, then the rest"
    assert any(fmt.size(freed) in f.sentence for f in screen.findings), "the plan's finding says what it frees"


def test_a_tidy_tenant_still_gets_three_findings_and_hostile_names_stay_text():
    from inventory_builder import Build

    b = Build(registry="<b>acr</b>")
    b.manifest("app", tags=["v1"], days=1)
    inv = b.build()
    screen = overview.first_screen(acrlib.Analysis(inv, acrlib.purge_plan(inv, ago="90d")),
                                   source="<script>x</script>")
    assert len(screen.findings) >= 3
    html = screen._repr_html_()
    assert "<script>x" not in html and "&lt;script&gt;x" in html and "<b>acr" not in html


def test_the_explore_notebook_runs_with_papermill(tmp_path):
    papermill.execute_notebook(str(ROOT / "notebooks" / "explore.ipynb"), str(tmp_path / "explore.ipynb"),
                               parameters={"source": "emulator:tiny"}, kernel_name="python3",
                               execution_timeout=600, progress_bar=False)
    outputs = [o for c in nbformat.read(tmp_path / "explore.ipynb", as_version=4).cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error" or o.get("name") == "stderr"], "no errors, no warnings"
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs), "the what-if panel"


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
    assert done.returncode == 2 and "parameter keep needs a whole number" in done.stderr
    assert not list(tmp_path.glob("*.html"))


@pytest.mark.slow
def test_a_failing_setup_is_reported_with_the_executed_notebook_and_no_html(tmp_path):
    # a registry regex that matches nothing passes every check made before the kernel; the collection then fails
    with pytest.raises(acrlib.ReportError, match=r"failed in cell \d+: ValueError: no registry matches"):
        report.run_report(source="emulator:tiny", out=tmp_path, parameters={"registries": "^nothing-matches$",
                                                                             "history_weeks": 0})
    assert (tmp_path / "acr_report.ipynb").exists() and not (tmp_path / "acr_report.html").exists()


@pytest.mark.slow
def test_a_failing_section_shows_an_error_box_and_the_rest_of_the_report_is_written(tmp_path):
    node = nbformat.read(ROOT / "notebooks" / "acr_report.ipynb", as_version=4)
    at = next(i for i, c in enumerate(node.cells) if c.cell_type == "markdown" and c.source.startswith("## Cost"))
    node.cells.insert(at + 1, nbformat.v4.new_code_cell('raise RuntimeError("<b>injected</b> failure")'))
    copy = tmp_path / "my_report.ipynb"
    nbformat.write(node, copy)
    done = cli("report", "--source", "emulator:tiny", "--notebook", str(copy), "--out", str(tmp_path / "out"),
               *[a for name, value in {**FAST, "history_weeks": 0}.items() for a in ("-p", name, str(value))])
    assert done.returncode == 1, done.stderr
    assert "1 section(s) failed: Cost" in done.stderr and "Traceback" not in done.stderr
    html_path = Path(done.stdout.strip().splitlines()[-1])
    html = html_path.read_text()
    assert html.count('class="acrlib-error"') == 1
    assert "RuntimeError: &lt;b&gt;injected&lt;/b&gt; failure" in html, "the exception line, escaped"
    box = html.index('class="acrlib-error"')
    assert html.index('id="Cost"') < box < html.index('id="In-use"'), "the box is in the failed section"
    assert "Cost per registry per month" in html, "the rest of the section is there"
    assert 'id="Collection-errors"' in html and "Artifact kinds per registry" in html, "later sections ran"
    assert "An Exception was encountered" not in html, "papermill's banner stays in the executed notebook"


def trends_shown(html: str) -> None:
    assert "Billed storage over time" in html and "Tag churn between snapshots" in html
    assert "no trend yet" in html or "not growing" in html or "full on" in html or "over its" in html
    assert "acrlib-error" not in html


def test_scheduled_runs_add_one_snapshot_each_to_the_history(tmp_path):
    history = tmp_path / "history"
    for run, expected in enumerate([3, 4]):
        html = report.run_report(source="emulator:tiny", out=tmp_path / f"out-{run}", parameters={
            **FAST, "history": str(history), "history_weeks": 2})
        assert len(acrlib.history(history)) == expected
    trends_shown(html.read_text())


def test_scheduled_runs_keep_their_history_in_blob_storage_and_publish_the_html(storage, tmp_path):
    """Three runs on an ephemeral machine: the history lives in a storage account (Azurite), the last run
    publishes its HTML there too, through the CLI."""
    history = storage.url("history")
    for run in range(2):
        report.run_report(source="emulator:tiny", out=tmp_path / f"out-{run}", parameters={
            **FAST, "history": history, "history_weeks": 0})
        assert len(acrlib.history(history)) == run + 1
    done = cli("report", "--source", "emulator:tiny", "--out", storage.url("site"), "-p", "history", history,
               *[a for name, value in {**FAST, "history_weeks": 0}.items() for a in ("-p", name, str(value))],
               cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(acrlib.history(history)) == 3
    local = tmp_path / "reports" / "acr_report.html"  # kept locally too (a build artifact)
    trends_shown(local.read_text())
    address = f"{storage.server.endpoint}/{storage.url('site').removeprefix('az://')}/acr_report.html"
    printed = done.stdout.split()
    assert len(printed) == 2 and tmp_path / printed[0] == local and printed[1] == address
    blob = storage.client.get_blob_client("site/acr_report.html")
    assert blob.get_blob_properties().content_settings.content_type.startswith("text/html")
    assert blob.download_blob().readall() == local.read_bytes()
    assert not storage.client.get_blob_client("site/acr_report.ipynb").exists(), (
        "$web is public: the executed notebook (tracebacks, local paths) is published only when asked")
    report.publish(local, storage.url("site"), notebook=True)
    executed = storage.client.get_blob_client("site/acr_report.ipynb").download_blob().readall()
    assert nbformat.reads(executed.decode(), as_version=4).cells


def test_a_history_that_cannot_be_written_fails_the_run_but_keeps_the_report(storage, tmp_path):
    missing = "az://no-such-container/history"
    with pytest.raises(acrlib.ReportError) as raised:
        report.run_report(source="emulator:tiny", out=tmp_path, parameters={
            **FAST, "history": missing, "history_weeks": 0})
    line = f"{missing}: the container 'no-such-container' does not exist in storage account devstoreaccount1"
    assert raised.value.sections == ("History",) and line in str(raised.value)
    html = raised.value.html.read_text()
    warning = html.index("The history was not updated")
    assert warning < html.index("Key findings") and line in html, "the report leads with the same line"
    assert "local emulator (tiny tenant)" in html and "No collection errors" in html, "the collection is there"


def test_list_parameters_prints_each_parameter_with_type_default_and_meaning():
    done = cli("report", "--list-parameters")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    declared = report.declared_parameters()
    assert [line.split()[0] for line in lines] == list(declared)
    row = next(line for line in lines if line.startswith("stale_days"))
    assert "int" in row and "default 90" in row and "not updated for this many days" in row


def test_one_default_source_everywhere():
    from acrlib import cli as acrlib_cli

    declared = report.declared_parameters()
    assert acrlib_cli.DEFAULT_SOURCE == acrlib.sources.DEFAULT == json.loads(declared["source"]["default"])
    explore = report.declared_parameters(ROOT / "notebooks" / "explore.ipynb")
    assert json.loads(explore["source"]["default"]) == acrlib.sources.DEFAULT


def test_no_sign_in_exits_2_from_the_report_too(tmp_path):
    env_free = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("AZURE_", "IDENTITY_"))}
    done = subprocess.run([sys.executable, "-m", "acrlib.cli", "report", "--source", "azure", "--out",
                           str(tmp_path)], capture_output=True, text=True, timeout=300,
                          env={**env_free, "HOME": str(tmp_path), "AZURE_CONFIG_DIR": str(tmp_path / "az")})
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("No Azure credential is available") == 1 and "Traceback" not in done.stderr
    assert "AzureCliCredential" not in done.stderr and "az login" in done.stderr, "the command line's own terms"


@pytest.mark.parametrize(("name", "text", "value"), [
    ("stale_days", "30", 30), ("include_untagged", "false", False), ("filters", "app:.*,web:^v", ["app:.*", "web:^v"]),
    ("filters", '["a:.*"]', ["a:.*"]), ("registries", "contosoprodacr", "contosoprodacr"), ("rate_basic", "0.2", 0.2),
    ("subscriptions", "None", None),
])
def test_command_line_values_take_the_parameters_types(name, text, value):
    assert report.convert(name, text, report.declared_parameters()[name]) == value


def test_the_docs_list_exactly_the_report_parameters():
    page = (ROOT / "docs" / "report.md").read_text()
    section = page[page.index("## Report parameters"):]
    section = section[:section.index("\n\n", section.index("|---|"))]
    documented = re.findall(r"^\| `(\w+)` \|", section, flags=re.M)
    declared = list(report.declared_parameters())
    assert documented == declared
    for name, spec in report.declared_parameters().items():
        row = next(line for line in section.splitlines() if line.startswith(f"| `{name}` |"))
        assert f"`{spec['default']}`" in row, f"the documented default of {name} differs from the notebook"


# What the page shows, measured in the browser: tiles, findings, every figure's width, plot area and title box,
# and every table cell.
MEASURE = """() => {
  const box = e => e.getBoundingClientRect();
  const figures = Array.from(document.querySelectorAll('.js-plotly-plot')).map(f => {
    const svg = box(f.querySelector('.main-svg')), title = f.querySelector('.gtitle');
    const area = f.querySelector('.nsewdrag') || f.querySelector('.treemaplayer');
    const marks = f.querySelectorAll(
      '.barlayer .point, .treemaplayer .slice, .heatmaplayer image, .scatterlayer .trace').length;
    return {width: box(f).width, area: area ? box(area).width : 0, marks,
            title: title ? [box(title).top - svg.top, svg.right - box(title).right, box(title).left - svg.left] : null};
  });
  const tables = Array.from(document.querySelectorAll('table.acrlib-table')).map(t => ({
    head: Array.from(t.querySelectorAll('th')).map(h => h.textContent),
    cells: Array.from(t.querySelectorAll('tbody tr')).map(r => Array.from(r.querySelectorAll('td')).map(
      d => d.textContent.trim()))}));
  const anchors = Array.from(document.querySelectorAll('a[href^="#"]')).map(a => a.getAttribute('href').slice(1));
  return {figures, tables, missing: anchors.filter(id => !document.getElementById(id)),
          tiles: Array.from(document.querySelectorAll('.acrlib-tile-value')).map(e => e.textContent),
          findings: Array.from(document.querySelectorAll('.acrlib-findings li')).map(e => e.textContent),
          overflow: document.documentElement.scrollWidth - window.innerWidth};
}"""
RAW_BYTES = re.compile(r"^-?\d{1,3}(,\d{3}){2,}$|^-?\d{7,}$")  # a count of bytes shown as it is


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("width", [1280, 390])
def test_the_exported_html_reads_well_offline_on_a_desktop_and_a_phone(demo_report, width):
    expected = figure_outputs(demo_report.with_suffix(".ipynb"))
    with browser_page(width, 900) as visit:
        visit.page.goto(demo_report.as_uri())
        visit.page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
        visit.page.wait_for_timeout(500)
        seen = visit.page.evaluate(MEASURE)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        visit.page.screenshot(path=str(SCREENSHOTS / f"acr_report-{width}.png"), full_page=True)
    assert visit.errors == [] and visit.requested == [], "no page errors, nothing from the network"
    assert 4 <= len(seen["tiles"]) <= 6 and all(re.search(r"\d", t) for t in seen["tiles"]), seen["tiles"]
    assert 3 <= len(seen["findings"]) <= 7 and all(re.search(r"\d", f) for f in seen["findings"])
    assert seen["missing"] == [], "every link of the first screen leads to its section"
    figures = seen["figures"]
    assert len(figures) == expected >= 14
    for i, f in enumerate(figures):
        assert f["marks"] > 0, f"figure {i} has no data marks"
        assert f["width"] >= min(300, width) and f["area"] >= 300, (i, f)
        top, right, left = f["title"]
        assert top >= 0 and right >= 0 and left >= 0, f"figure {i}'s title is clipped: {f}"
    assert seen["overflow"] <= 1, "nothing wider than the screen but the tables, which scroll inside themselves"
    for t in seen["tables"]:
        for row in t["cells"]:
            for label, cell in zip(t["head"], row, strict=False):
                assert not RAW_BYTES.match(cell), f"raw byte count {cell!r} in column {label!r}"
                if "GiB" in label:
                    assert cell == "" or re.search(r"(KiB|MiB|GiB|TiB|bytes)$", cell), (label, cell)


@pytest.mark.parametrize(("progress", "shown"), [(None, False), (True, True)])
def test_progress_in_a_kernel_without_a_person_is_off_or_one_plain_line(tmp_path, progress, shown):
    node = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import acrlib\n"
        f"inv = acrlib.sources.load('emulator:tiny', progress={progress}, activity_days=0, deployments=False)")])
    node.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    papermill.execute_notebook(node, str(tmp_path / "out.ipynb"), kernel_name="python3", progress_bar=False,
                               execution_timeout=300)
    outputs = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[0].outputs
    text = json.dumps(outputs)
    assert "\\u001b" not in text and "IProgress" not in text and "widget-view" not in text
    lines = [o["data"]["text/plain"] for o in outputs if o.output_type in ("display_data", "update_display_data")]
    if shown:  # one output, updated in place, ending with the final counts
        assert len(outputs) == 1 and re.fullmatch(r"registries 3/3, repositories (\d+)/\1, [\d,]+ rows, 0 errors",
                                                  lines[0]), outputs
    else:
        assert outputs == []


# The report reads layers by default (exact storage and reclaimable bytes are its point); collect does not (one
# request per manifest). Every other collection setting the notebook declares has collect's default.
REPORT_DIFFERS = {"layers"}


def test_the_report_notebooks_collection_parameters_have_collects_defaults():
    declared = report.declared_parameters(None)
    shared = set(declared) & set(DEFAULTS)
    assert {"activity_days", "deployments", "layers", "progress"} <= shared
    for name in shared - REPORT_DIFFERS:
        assert ast.literal_eval(declared[name]["default"]) == DEFAULTS[name], name


@pytest.mark.parametrize("layers", [True, False])
def test_numbers_on_the_first_screen_can_be_true_with_and_without_layers(tiny, layers):
    inv = acrlib.collect(**tiny.connection(), progress=False, layers=layers)
    plan = acrlib.analysis.pull_protected_plan(inv, filters=[".*:.*"], stale_days=30, keep=0, untagged=True,
                                               protect_pulled_days=0)
    a = acrlib.Analysis(inv, plan, stale_days=30)
    screen = overview.first_screen(a, source="tiny", keep=0)
    text = " ".join([f.sentence for f in screen.findings] + [f"{t.value} {t.detail}" for t in screen.tiles])
    shares = [float(x) for x in re.findall(r"(-?[\d.]+)%", text)]
    assert shares and all(0 <= x <= 100 for x in shares), shares
    numbers = a.headline
    assert numbers.reclaimable_share is not None and 0 <= numbers.reclaimable_share <= 1
    billed = dict(inv.registries.select("registry", "storage_used_bytes").rows())
    for registry, freed in a.freed.registries.select("registry", "reclaimable_bytes").rows():
        assert freed <= billed[registry], "never reclaimable beyond what the registry bills"
    for frame in (a.summary, a.freed):  # every total is the sum of its rows
        for column in ("manifests", "tags", "stale_tags", "manifests_deleted"):
            if column in frame.registries.columns and column in frame.repositories.columns:
                assert frame.registries[column].sum() == frame.repositories[column].sum(), column
    if layers:
        assert a.storage.registries["difference_bytes"].null_count() == 0
    else:
        assert "estimates from image sizes" in text and "≈" in text
        assert a.storage.registries["difference_bytes"].null_count() == a.storage.registries.height, (
            "summed image sizes are not compared with billed storage")
        assert "billed storage lags" not in " ".join(a.storage.registries["explanation"].to_list())
    cascades = plan.filter(pl.col("action") == "cascade").height
    finding = next(f.sentence for f in screen.findings if f.sentence.startswith("The purge plan deletes"))
    assert f"{numbers.stale_manifests:,} manifest" in finding and (not cascades or f"{cascades:,} referrer" in finding)


@pytest.mark.parametrize(("arguments", "message"), [
    (["-p", "registries", "["], "invalid registry regex"),
    (["-p", "subscriptions", "not-a-guid"], "malformed subscription id"),
    (["-p", "stale_days", "-5"], "-p stale_days must be a whole number >= 1"),
    (["-p", "stale_days", "30.5"], "stale_days needs a whole number"),
    (["-p", "filters", "[bad"], "-p filters: "),
    (["-p", "history", "abfs://bad"], "abfs://bad"),
    (["-p", "source", "emulator:tiny"], "not -p source"),
    (["--publish", "reports-copy"], "give an az:// or abfs:// URL"),
    (["--notebook", "missing.ipynb"], "no such notebook"),
])
def test_report_input_is_checked_before_the_kernel_starts(tmp_path, arguments, message):
    started = __import__("time").monotonic()
    done = cli("report", "--source", "emulator:tiny", "--out", str(tmp_path / "out"), *arguments, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists(), "nothing left behind"
    assert __import__("time").monotonic() - started < 15, "no kernel was started"


def test_an_empty_snapshot_folder_is_named_before_the_kernel_starts(tmp_path):
    (tmp_path / "empty").mkdir()
    done = cli("report", "--source", str(tmp_path / "empty"), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 2 and "holds no acrlib snapshot" in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()


def test_a_local_history_that_cannot_be_written_still_writes_the_report(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(acrlib.ReportError) as raised:
        report.run_report(source="emulator:tiny", out=tmp_path / "out", parameters={
            **FAST, "history": str(tmp_path / "a-file" / "history"), "history_weeks": 0})
    assert raised.value.sections == ("History",) and "cannot be written" in str(raised.value)
    assert raised.value.html.exists() and "The history was not updated" in raised.value.html.read_text()


def test_an_out_folder_that_cannot_be_written_is_named_before_the_kernel_starts(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    done = cli("report", "--source", "emulator:tiny", "--out", str(tmp_path / "a-file" / "out"), cwd=tmp_path)
    assert done.returncode == 2 and "cannot be written" in done.stderr and "Traceback" not in done.stderr


def test_a_history_beside_a_snapshot_source_is_refused_not_ignored(tiny, tmp_path):
    acrlib.collect(**tiny.connection(), progress=False, **FAST).to_parquet(tmp_path / "snaps")
    done = cli("report", "--source", str(tmp_path / "snaps"), "--out", str(tmp_path / "out"), "-p", "history",
               str(tmp_path / "other"), cwd=tmp_path)
    assert done.returncode == 2 and "drop -p history" in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()
