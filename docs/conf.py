"""Sphinx configuration of acrlib's documentation site: Markdown pages (MyST) and API pages from the docstrings.
Built by `make docs` and, with every warning an error, by `make test`."""

from __future__ import annotations

import acrlib

project = "acrlib"
author = "the acrlib authors"
release = version = acrlib.__version__
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "screenshot.py"]
myst_heading_anchors = 3  # links to a page's sections (`collect.md#signing-in`)
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the docstrings say what each argument is, with its units
napoleon_numpy_docstring = True
napoleon_google_docstring = False
html_theme = "alabaster"
html_static_path: list[str] = []
suppress_warnings = ["myst.header"]  # pages moved from the README start at a second-level heading in places
