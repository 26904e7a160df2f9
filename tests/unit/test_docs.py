"""The docs cannot drift from the code: the table reference is the schema's, every CLI command and option is
documented, the README keeps to its pitch, two set-up commands, tour and map, and every page it links exists.
(`make test` also builds the docs site with every warning an error: broken links between pages fail there.)"""

from __future__ import annotations

import re
from pathlib import Path

from acrlib import schema
from acrlib.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
DOCS = ROOT / "docs"


def page(name: str) -> str:
    return (DOCS / name).read_text()


def test_the_table_reference_is_the_schema_column_by_column():
    # `make docs` regenerates it; any column added, removed, retyped or re-described fails here until then.
    tables = page("tables.md")
    assert schema.docs_block() in tables
    for table, columns in schema.COLUMNS.items():
        block = tables[tables.index(f"**{table}**"):]
        block = block[:block.index("\n\n", block.index("|---|"))]
        rows = re.findall(r"^\| `(\w+)` \| ([^|]*) \| ([^|]*) \| (.*) \|$", block, flags=re.M)
        assert [r[0] for r in rows] == [c.name for c in columns], table
        for (name, _, unit, meaning), column in zip(rows, columns, strict=True):
            assert meaning == column.description and unit.strip() == (column.unit or ""), (table, name)


def test_every_column_has_a_description_and_times_and_bytes_have_units():
    for table, columns in schema.COLUMNS.items():
        for column in columns:
            assert column.description, (table, column.name)
            if column.dtype == schema.TIME:
                assert column.unit == "UTC", (table, column.name)
            if column.name.endswith("_bytes"):
                assert column.unit == "bytes", (table, column.name)


def test_every_cli_command_and_option_is_documented():
    cli = page("cli.md") + page("report.md")
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in commands.items():
        assert f"acrlib {name}" in cli, name
        for action in sub._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help":
                    assert flag in cli, f"{name} {flag}"


def test_the_readme_has_exactly_two_setup_commands_and_ci_runs_the_test_one():
    setup = README[README.index("## Set up"):README.index("## A ten-line tour")]
    commands = re.findall(r"^(make \w+)", setup, flags=re.M)
    assert commands == ["make report", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_the_readme_is_short_and_every_page_it_links_exists():
    assert len(README.splitlines()) < 250, "the reference belongs in docs/"
    headings = re.findall(r"^## (.+)$", README, flags=re.M)
    assert len(headings) == len(set(headings)), "no heading twice"
    links = re.findall(r"\]\(((?:docs/)[^)#]+)", README)
    assert len(links) >= 8
    for link in links:
        assert (ROOT / link).exists(), link
    listed = set(re.findall(r"^([a-z_]+)$", page("index.md"), flags=re.M))
    assert {p.stem for p in DOCS.glob("*.md")} - {"index"} == listed, "every page is in the site's contents"


def test_docstrings_cite_no_file_outside_the_repository():
    for path in (ROOT / "acrlib").rglob("*.py"):
        text = path.read_text()
        assert "shared/reference" not in text and "../shared" not in text, path


def test_every_emulator_fault_is_documented():
    from acrlib.emulator.faults import FAULTS

    emulator = page("emulator.md")
    knobs = emulator[emulator.index("Knobs, off unless asked"):]
    knobs = knobs[:knobs.index("\n\n")]
    for fault in FAULTS:
        assert f"`{fault.name}`" in knobs, fault.name


def test_the_readme_opens_with_a_picture_of_the_reports_first_screen():
    image = re.search(r"!\[[^\]]+\]\((docs/[\w-]+\.png)\)", README[:README.index("## Set up")])
    assert image, "a screenshot before the set-up section"
    png = ROOT / image.group(1)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size < 300_000
