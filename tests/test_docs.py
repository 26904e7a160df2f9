"""The README cannot drift from the code: every table column and every CLI command and option is documented."""

from __future__ import annotations

import re
from pathlib import Path

from acrlib import schema
from acrlib.cli import build_parser

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(f"**{title}**")
    end = README.find("\n\n**", start + 1)
    return " ".join(README[start:end if end > 0 else len(README)].split())


def test_every_column_of_every_table_is_documented_under_its_table():
    for table, columns in schema.TABLES.items():
        text = section(table)
        for column in columns:
            if column in schema.FLAGS:
                assert "four flags" in text or f"`{column}`" in text, (table, column)
            else:
                assert f"`{column}`" in text, f"README does not document {table}.{column}"


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
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert "make test" in ci
