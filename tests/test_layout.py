"""How the package is put together: the library core never imports the emulator."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "acrlib"
# Modules allowed to reach the emulator, and only lazily: the CLI and the source resolver it shares with reports.
GLUE = {"cli.py", "sources.py"}


def test_core_modules_do_not_import_the_emulator():
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [f"{node.module or ''}"] + [a.name for a in node.names]
            if any("emulator" in n for n in names):
                assert path.name in GLUE, f"{path.name} imports the emulator"
                assert node.col_offset > 0, f"{path.name} imports the emulator at module level"


def test_importing_and_collecting_does_not_load_the_emulator():
    code = ("import sys, acrlib, acrlib.sources, acrlib.cli\n"
            "print(any(m.startswith('acrlib.emulator') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
