"""Running the report notebook with papermill and exporting it to self-contained HTML.

The executed notebook and the HTML go to the output folder (``reports/`` by default, ignored by git); the
HTML has no code cells and embeds plotly.js once, so it opens offline, for people without Python.
"""

from __future__ import annotations

import ast
import importlib.resources
import json
import os
import re
from pathlib import Path
from typing import Any

from .. import sources
from ..errors import ReportError

EXECUTION_TIMEOUT_S = 1800
TITLE = "Azure Container Registry report"


def _kernel_manager_class() -> str | None:
    """On POSIX the kernel talks over local IPC sockets instead of TCP on localhost (no unencrypted port)."""
    return "acrlib.report.run.IpcKernelManager" if os.name == "posix" else None


try:
    from jupyter_client.manager import AsyncKernelManager

    class IpcKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.transport = "ipc"
except ImportError:  # pragma: no cover - jupyter_client comes with papermill
    IpcKernelManager = None


def notebook_path(name: str = "acr_report.ipynb") -> Path:
    """A notebook shipped with acrlib: inside the installed package (a wheel carries ``notebooks/`` as
    ``acrlib/notebooks``), or in the checkout's top-level ``notebooks/`` (a development install)."""
    packaged = importlib.resources.files("acrlib") / "notebooks" / name
    if packaged.is_file():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parents[2] / "notebooks" / name
    if checkout.is_file():
        return checkout
    raise FileNotFoundError(f"acrlib's notebook {name} is neither in the installed package nor in a checkout")


def templates_path() -> Path:
    """The nbconvert templates shipped with the package."""
    return Path(str(importlib.resources.files("acrlib.report") / "templates"))


def declared_parameters(notebook: str | os.PathLike | None = None) -> dict[str, dict]:
    """The notebook's parameters as papermill reads them: name -> {inferred_type_name, default, help}."""
    import papermill

    return papermill.inspect_notebook(str(notebook or notebook_path()))


_TYPES = {"str": str, "int": int, "float": (int, float), "bool": bool, "list": list, "dict": dict,
          "None": type(None), "Optional": type(None)}


def _accepted(kind: str) -> tuple[type, ...] | None:
    """The Python types a parameter's annotation allows (None when it names none acrlib knows)."""
    names = re.findall(r"[A-Za-z]+", kind)
    types = [_TYPES[n] for n in names if n in _TYPES]
    flat = tuple(t for entry in types for t in (entry if isinstance(entry, tuple) else (entry,)))
    return flat or None


def convert(name: str, text: str, spec: dict) -> Any:
    """A command-line string as the parameter's type (from its annotation, else its default's literal);
    ``ValueError`` naming the parameter when the value is not of a type the annotation allows."""
    kind = spec.get("inferred_type_name") or "None"
    if kind == "str":
        return text
    if kind in ("int", "float"):
        try:
            return int(text) if kind == "int" else float(text)
        except ValueError:
            raise ValueError(f"parameter {name} needs a number, not {text!r}") from None
    if kind == "bool":
        lowered = text.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise ValueError(f"parameter {name} needs true or false, not {text!r}")
    try:  # lists, None defaults, unions: a Python or JSON literal, else the plain string
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        try:
            value = json.loads(text)
        except ValueError:
            if "list" in kind and "str" not in kind:
                value = [part.strip() for part in text.split(",") if part.strip()]
            else:
                value = text
    accepted = _accepted(kind)
    if accepted is None:
        return value
    fits = isinstance(value, accepted) and not (isinstance(value, bool) and bool not in accepted)
    if not fits and str in accepted:
        return text  # e.g. a registry name made of digits
    if not fits:
        raise ValueError(f"parameter {name} needs {kind}, not {text!r}")
    return value


def check_parameters(parameters: dict, notebook: str | os.PathLike | None = None) -> dict:
    """``ValueError`` for a parameter the notebook does not declare (papermill would only log it)."""
    notebook = Path(notebook or notebook_path())
    declared = declared_parameters(notebook)
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise ValueError(f"unknown report parameter(s) {', '.join(unknown)}; {notebook.name} declares "
                         f"{', '.join(declared)}")
    return declared


def run_report(source: str | sources.Source = sources.DEFAULT, out: str | os.PathLike = "reports",
               parameters: dict | None = None, notebook: str | os.PathLike | None = None,
               timeout_s: int = EXECUTION_TIMEOUT_S) -> Path:
    """Execute ``notebook`` with papermill (``source`` and ``parameters``), then export HTML without code.
    Returns the HTML path. Raises ``ValueError`` on bad parameters, :class:`ReportError` when a cell fails."""
    import papermill

    notebook = Path(notebook) if notebook is not None else notebook_path()
    if not notebook.exists():
        raise ValueError(f"no report notebook at {notebook}")
    source = sources.parse(source)  # a snapshot path is made absolute: the kernel may run elsewhere
    params = {"source": str(source), "progress": False, **(parameters or {})}
    check_parameters(params, notebook)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    executed = out / notebook.name
    html = out / f"{notebook.stem}.html"
    try:
        manager = _kernel_manager_class()
        extra = {"kernel_manager_class": manager} if manager else {}
        papermill.execute_notebook(str(notebook), str(executed), parameters=params, kernel_name="python3",
                                   execution_timeout=timeout_s, progress_bar=False, cwd=str(Path.cwd()),
                                   log_output=False, report_mode=False, **extra)
    except papermill.PapermillExecutionError as e:
        raise ReportError(f"the report failed in cell {e.exec_count}: {e.ename}: {e.evalue} "
                          f"(the executed notebook is {executed})") from None
    export_html(executed, html)
    return html


# plotly's notebook renderer adds a MathJax <script> from a CDN to every figure; the report has no LaTeX.
_CDN_SCRIPT = re.compile(r'<script src="https://cdn[^"]*"></script>')


def _offline_outputs(node) -> None:
    for cell in node.cells:
        for output in cell.get("outputs", []):
            html = output.get("data", {}).get("text/html")
            if isinstance(html, str):
                output["data"]["text/html"] = _CDN_SCRIPT.sub("", html)


def export_html(executed: str | os.PathLike, html: str | os.PathLike) -> Path:
    """HTML without code cells, prompts or CDN scripts; written to a temporary file and renamed into place."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="acrlib_offline", extra_template_basedirs=[str(templates_path())],
                            exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    node = nbformat.read(str(executed), as_version=4)
    _offline_outputs(node)
    body, _ = exporter.from_notebook_node(node, resources={"metadata": {"name": TITLE}})
    html = Path(html)
    tmp = html.with_suffix(".html.tmp")
    tmp.write_text(body, encoding="utf-8")
    os.replace(tmp, html)
    return html
