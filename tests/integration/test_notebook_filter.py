"""notebooks/ stays without outputs even when JupyterLab saves them there: `make` installs nbstripout as a git
filter for the notebooks .gitattributes names, so what git stores is stripped."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]


def git(*args, cwd) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def test_make_installs_the_filter_that_gitattributes_names():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"nbstripout --install", makefile), "make installs the filter"
    attributes = (ROOT / ".gitattributes").read_text()
    assert re.search(r"^notebooks/\*\.ipynb filter=nbstripout$", attributes, flags=re.M)


def test_a_notebook_saved_with_outputs_is_stored_without_them(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    git("init", "-q", cwd=tmp_path)
    git("config", "user.email", "test@example.com", cwd=tmp_path)
    git("config", "user.name", "test", cwd=tmp_path)
    shutil.copy(ROOT / ".gitattributes", tmp_path / ".gitattributes")
    subprocess.run([sys.executable, "-m", "nbstripout", "--install", "--python", sys.executable], cwd=tmp_path,
                   check=True)
    node = nbformat.read(ROOT / "notebooks" / "explore.ipynb", as_version=4)
    at = next(i for i, c in enumerate(node.cells) if c.cell_type == "code")
    code = node.cells[at]
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="6.4 MB of charts\n")]
    code.execution_count = 3
    (tmp_path / "notebooks").mkdir()
    nbformat.write(node, tmp_path / "notebooks" / "explore.ipynb")
    git("add", "-A", cwd=tmp_path)
    stored = nbformat.reads(git("show", ":notebooks/explore.ipynb", cwd=tmp_path), as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in stored.cells
               if c.cell_type == "code")
    assert [c.source for c in stored.cells] == [c.source for c in node.cells], "only outputs are dropped"
    assert nbformat.read(tmp_path / "notebooks" / "explore.ipynb", as_version=4).cells[at].outputs, \
        "the working copy keeps its outputs"
