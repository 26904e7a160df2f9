"""Chart labels come from whoever pushed (architectures, OS names, repository names): plotly renders a subset
of HTML in them, so every label is escaped and shows as the text it is."""

from __future__ import annotations

import shutil

import pytest
from inventory_builder import Build

from acrlib.report import charts

BOLD = "<b>bold</b>"
LINK = "<a href='https://evil.example/'>click</a>"
STYLED = "<span style='font-size:80px'>big</span> & co"


def hostile_inventory():
    b = Build(registry="contosoacr")
    b.manifest(f"team/{BOLD}", tags=["v1"], days=10)
    inv = b.build()
    manifests = inv.manifests.with_columns(
        charts.pl.lit(LINK).alias("architecture"), charts.pl.lit(STYLED).alias("os"))
    return type(inv).from_tables({**inv.tables(), "manifests": manifests}, collected_at=inv.collected_at)


def test_every_text_column_is_escaped_before_plotting():
    figure = charts.platforms(hostile_inventory())
    text = " ".join(str(value) for trace in figure.to_dict()["data"] for value in trace.values())
    assert "<a href" not in text and "<span" not in text
    assert "&lt;a href='https://evil.example/'&gt;click&lt;/a&gt;" in text
    assert "&lt;span style='font-size:80px'&gt;big&lt;/span&gt; &amp; co" in text


@pytest.mark.browser
def test_a_browser_shows_the_labels_as_text(tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    inv = hostile_inventory()
    path = tmp_path / "chart.html"
    figures = [charts.platforms(inv), charts.kinds(inv)]
    path.write_text("".join(f.to_html(include_plotlyjs=(i == 0), full_html=False) for i, f in enumerate(figures)))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu",
                                                                    "--disable-background-networking"])
        try:
            page = browser.new_page()
            page.goto(path.as_uri())
            page.wait_for_selector(".js-plotly-plot .main-svg")
            labels = " ".join(page.locator(".js-plotly-plot svg text").all_text_contents())
            assert "click" in labels and "<a href='https://evil.example/'>click</a>" in labels
            assert "<span style='font-size:80px'>big</span> & co" in labels
            assert page.locator(".js-plotly-plot svg a").count() == 0, "no link was made from a label"
            assert page.locator(".js-plotly-plot svg tspan[style*='80px']").count() == 0
        finally:
            browser.close()
