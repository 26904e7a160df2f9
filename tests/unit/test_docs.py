"""The README cannot drift from the code: the table reference is the schema's, every CLI command and option is
documented, and the set-up section has the two commands."""

from __future__ import annotations

import re
from pathlib import Path

from acrlib import schema
from acrlib.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_the_readme_table_reference_is_the_schema_column_by_column():
    # `make docs` regenerates it; any column added, removed, retyped or re-described fails here until then.
    assert schema.readme_block() in README
    for table, columns in schema.COLUMNS.items():
        block = README[README.index(f"**{table}**"):]
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
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in commands.items():
        assert f"acrlib {name}" in README, name
        for action in sub._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help":
                    assert flag in README, f"{name} {flag}"


def test_the_readme_has_exactly_two_setup_commands_and_ci_runs_the_test_one():
    setup = README[README.index("## Set up"):README.index("## Collect")]
    commands = re.findall(r"^(make \w+)", setup, flags=re.M)
    assert commands == ["make report", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_docstrings_cite_no_file_outside_the_repository():
    for path in (ROOT / "acrlib").rglob("*.py"):
        text = path.read_text()
        assert "shared/reference" not in text and "../shared" not in text, path


def test_every_emulator_fault_is_documented():
    from acrlib.emulator.faults import FAULTS

    knobs = README[README.index("Knobs, off unless asked"):]
    knobs = knobs[:knobs.index("\n\n")]
    for fault in FAULTS:
        assert f"`{fault.name}`" in knobs, fault.name


def test_the_readme_opens_with_a_picture_of_the_reports_first_screen():
    image = re.search(r"!\[[^\]]+\]\((docs/[\w-]+\.png)\)", README[:README.index("## Set up")])
    assert image, "a screenshot before the set-up section"
    png = ROOT / image.group(1)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size < 300_000
