"""Running the report notebook with papermill and exporting it to self-contained HTML.

The executed notebook and the HTML go to the output folder (``reports/`` by default, ignored by git); the
HTML has no code cells and embeds plotly.js once, so it opens offline, for people without Python.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.resources
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import weakref
from dataclasses import dataclass
from html import escape as html_escape
from pathlib import Path
from typing import Any, ClassVar

from .. import sources
from ..errors import ReportError, SignInRequired
from .format import alert

EXECUTION_TIMEOUT_S = 1800
# jsonschema imports the optional rfc3987-syntax (installed with jupyter-server's extras), which builds a grammar
# for 1.1 s at import; nbformat's schemas never check IRIs. The report's own processes (its kernel, and the CLI
# running it) skip it: the kernel through this startup line, the CLI through skip_slow_imports().
SLOW_IMPORT = "rfc3987_syntax"
SKIP_SLOW_IMPORTS = f"import sys; sys.modules.setdefault({SLOW_IMPORT!r}, None)"


def skip_slow_imports() -> None:
    """In a process that only runs the report (``acrlib report``): leave out the 1.1 s import above."""
    sys.modules.setdefault(SLOW_IMPORT, None)


TITLE = "Azure Container Registry report"


def _kernel_manager_class() -> str | None:
    """On POSIX the kernel talks over local IPC sockets instead of TCP on localhost (no unencrypted port)."""
    return "acrlib.report.run.IpcKernelManager" if os.name == "posix" else None


try:
    from jupyter_client.manager import AsyncKernelManager

    class IpcKernelManager(AsyncKernelManager):
        live: ClassVar[weakref.WeakSet] = weakref.WeakSet()  # the kernels this process started, for a stop

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.transport = "ipc"
            IpcKernelManager.live.add(self)

        async def _async_launch_kernel(self, kernel_cmd, **kw):
            # The kernel's own log (a handler's traceback when a run is stopped, warnings) is not for the person
            # running `acrlib report`: what a cell raised is in the executed notebook and the report.
            kw.setdefault("stderr", subprocess.DEVNULL)
            await super()._async_launch_kernel(kernel_cmd, **kw)
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
            raise ValueError(f"parameter {name} needs {'a whole number' if kind == 'int' else 'a number'}, "
                             f"not {text!r}") from None
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


# Whole-number parameters of the report notebook and their smallest value, in the user's terms.
AT_LEAST = {"stale_days": 1, "keep": 0, "top_n": 1, "activity_days": 0, "protect_pulled_days": 0, "history_weeks": 0}
NOT_NEGATIVE = ("rate_basic", "rate_standard", "rate_premium", "overage_per_gib_day")


def _kill_kernels() -> None:
    """End the kernels this run started (a stop may cut the kernel client's own shutdown short): a kernel left
    running would go on collecting, and writing, after the run is gone."""
    for manager in list(getattr(IpcKernelManager, "live", ())):
        process = getattr(getattr(manager, "provisioner", None), "process", None)
        if process is not None and process.poll() is None:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)


def _remove(folder: Path, tries: int = 20, pause_s: float = 0.25) -> None:
    """``folder`` removed, trying again for a few seconds: after a stop, a kernel being shut down (and the
    emulator it started) may still be finishing with files in it."""
    for _ in range(tries):
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            return
        time.sleep(pause_s)


def _writable(out: Path) -> None:
    """``out`` made, and writable (``ValueError`` naming it otherwise), before the kernel starts."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as e:
        raise ValueError(f"--out {out} cannot be written: {e.strerror or e}") from None


def check_values(parameters: dict, source: sources.Source) -> None:
    """Every value the report would otherwise reject only after its kernel started, checked now: ``ValueError``
    naming the parameter, in the report's terms (the same one-line messages as ``collect``)."""
    from .. import locations, snapshots
    from ..analysis import check_purge_rules

    for name, low in AT_LEAST.items():
        value = parameters.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
            raise ValueError(f"-p {name} must be a whole number >= {low}, not {value!r}")
    for name in NOT_NEGATIVE:
        value = parameters.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0):
            raise ValueError(f"-p {name} must be a number >= 0, not {value!r}")
    try:
        sources.check_filters(parameters.get("subscriptions"), parameters.get("registries"))
    except ValueError as e:
        raise ValueError(f"-p subscriptions / registries: {e}") from None
    if "filters" in parameters:
        try:
            check_purge_rules(parameters["filters"])
        except ValueError as e:
            raise ValueError(f"-p filters: {e}") from None
    history = parameters.get("history")
    if history:
        locations.Location.of(history)  # a malformed URL or path is named now
        if source.kind == sources.SNAPSHOT:
            raise ValueError("-p history applies to collections (--source azure or emulator:PRESET); a snapshot "
                             "source reads the history of its own root: drop -p history")
    if source.kind == sources.SNAPSHOT:
        try:
            snapshots.locate(source.location)
        except FileNotFoundError as e:
            raise ValueError(f"--source {source}: {e}; make one with acrlib collect --out") from None


FIRST_SCREEN = "First screen"  # what the cells between the setup and the first "## " section make
HISTORY = "History"  # the cell tagged "history": whether this collection joined its history
FATAL_TAGS = {"setup", "parameters", "injected-parameters"}  # cells without which nothing can be shown


@dataclass(frozen=True)
class Failure:
    """A cell that raised: the ``## `` section it is in (``FIRST_SCREEN`` before the first), or None for a cell
    tagged ``setup`` (collection, the plan) or the parameters: without those no section can be made."""

    section: str | None
    execution_count: int | None
    ename: str
    evalue: str
    stopped: bool = False  # the cell never finished (timeout, dead kernel): no later cell ran


def failures(executed: str | os.PathLike) -> list[Failure]:
    """Every cell of an executed notebook that raised, with its section."""
    import nbformat

    node = nbformat.read(str(executed), as_version=4)
    section, found = FIRST_SCREEN, []
    for cell in node.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell.cell_type == "markdown" and ERROR_TAG not in tags:
            for line in cell.source.splitlines():
                if line.startswith("## "):
                    section = line[3:].strip()
        where = None if tags & FATAL_TAGS else HISTORY if "history" in tags else section
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        for output in errors:
            found.append(Failure(where, cell.get("execution_count"), output.get("ename", ""),
                                 output.get("evalue", "")))
        if not errors and cell.get("metadata", {}).get("papermill", {}).get("exception"):
            found.append(Failure(where, cell.get("execution_count"), "CellExecutionError",
                                 "the cell did not finish (a timeout or a kernel that died)", stopped=True))
    return found


def run_report(source: str | sources.Source = sources.DEFAULT, out: str | os.PathLike = "reports",
               parameters: dict | None = None, notebook: str | os.PathLike | None = None,
               timeout_s: int = EXECUTION_TIMEOUT_S, say=None) -> Path:
    """Execute ``notebook`` with papermill (``source`` and ``parameters``), then export HTML without code.
    Returns the HTML path. ``say``: a function given a line for each phase (e.g. ``print``).

    Raises ``ValueError`` on bad parameters before running anything, and :class:`ReportError` when a cell
    fails: in the setup (the cell tagged ``setup``: collection, the plan), without writing HTML; anywhere else
    (the first screen, a section), after writing the HTML with an error box where it failed and
    everything else complete."""
    import papermill

    say = say or (lambda line: None)
    notebook = Path(notebook) if notebook is not None else notebook_path()
    if not notebook.exists():
        raise ValueError(f"no report notebook at {notebook}")
    source = sources.Source.of(source)  # a snapshot path is made absolute: the kernel may run elsewhere
    out = Path(out)
    params = {"source": str(source), "progress": False, **(parameters or {})}
    if "artifacts" in declared_parameters(notebook) and "artifacts" not in params:  # the plan and script, beside it
        params["artifacts"] = str(out.resolve())
    check_parameters(params, notebook)
    check_values(params, source)
    created = not out.exists()
    _writable(out)
    executed = out / notebook.name
    html = out / f"{notebook.stem}.html"
    started = time.monotonic()
    say(f"running {notebook.name} on {source.describe()} (collection, analysis and charts) ...")
    # The kernel's temporary files (an emulator's folder and key, a simulated history) go to a folder of this
    # run's own, removed whatever happens: a kernel stopped mid-cell cannot clean up after itself.
    private = Path(tempfile.mkdtemp(prefix="acrlib-report-"))
    saved_tmp = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(private)
    try:
        manager = _kernel_manager_class()
        extra = {"kernel_manager_class": manager} if manager else {}
        papermill.execute_notebook(str(notebook), str(executed), parameters=params, kernel_name="python3",
                                   execution_timeout=timeout_s, progress_bar=False, cwd=str(Path.cwd()),
                                   log_output=False, report_mode=False, allow_errors=True,
                                   request_save_on_cell_execute=False,  # one write, not two a cell
                                   extra_arguments=[f"--IPKernelApp.exec_lines={SKIP_SLOW_IMPORTS!r}"], **extra)
    except papermill.PapermillExecutionError:
        pass  # which cells failed is read from the executed notebook below
    except BaseException:  # interrupted or stopped: no kernel, no half-executed notebook, no folder this run made
        _kill_kernels()
        executed.unlink(missing_ok=True)
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        if saved_tmp is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_tmp
        _remove(private)
    failed = failures(executed)
    setup = [f for f in failed if f.section is None or f.stopped]
    if setup:
        first = setup[0]
        if first.ename == "SignInRequired":  # the same exit as collect's: sign in, then run again
            raise SignInRequired(first.evalue)
        raise ReportError(f"the report failed in cell {first.execution_count}: {first.ename}: {first.evalue} "
                          f"(the executed notebook is {executed})")
    say(f"executed in {time.monotonic() - started:.0f} s; exporting HTML ...")
    export_html(executed, html)
    if failed:
        sections = tuple(dict.fromkeys(f.section for f in failed))
        details = "; ".join(f"{f.section}: {f.ename}: {f.evalue}" for f in failed)
        raise ReportError(f"{len(sections)} report section(s) failed ({details}); the rest of the report is "
                          f"written to {html}", html=html, sections=sections)
    say(f"wrote {html} ({html.stat().st_size / 1e6:.1f} MB)")
    return html


# plotly's notebook renderer adds a MathJax <script> from a CDN to every figure; the report has no LaTeX.
_CDN_SCRIPT = re.compile(r'<script src="https://cdn[^"]*"></script>')
ERROR_TAG = "papermill-error-cell-tag"  # the banner cells papermill adds above a failed notebook


def error_box(ename: str, evalue: str) -> str:
    """The short notice a failed part of a section shows in the HTML: the exception's first line, escaped."""
    first = (evalue or "").strip().splitlines()[0] if (evalue or "").strip() else ""
    first = first if len(first) <= 300 else first[:299] + "…"
    return alert(f"<b>This part of the report could not be made.</b> <code>{html_escape(ename)}: "
                 f"{html_escape(first)}</code>")


def _offline_outputs(node) -> None:
    """No CDN scripts, no papermill banners, and an error box for every error output (no tracebacks)."""
    node.cells = [c for c in node.cells if ERROR_TAG not in c.get("metadata", {}).get("tags", [])]
    for cell in node.cells:
        outputs = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output = nbformat_output(error_box(output.get("ename", ""), output.get("evalue", "")))
            html = output.get("data", {}).get("text/html")
            if isinstance(html, str):
                output["data"]["text/html"] = _CDN_SCRIPT.sub("", html)
            outputs.append(output)
        if "outputs" in cell:
            cell["outputs"] = outputs


def nbformat_output(html: str):
    import nbformat

    return nbformat.v4.new_output("display_data", data={"text/html": html})


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


HTML_TYPE = "text/html; charset=utf-8"
NOTEBOOK_TYPE = "application/x-ipynb+json"


def publish(html: str | os.PathLike, url, *, credential=None, notebook: bool = False) -> str:
    """Upload the exported ``html`` (content type ``text/html``) to the folder ``url`` (``az://CONTAINER/PATH``,
    ``abfs://...`` or its parsed :class:`~acrlib.locations.Location`; e.g. a storage account's static website, the
    ``$web`` container, which anyone can read). ``notebook``: also upload the executed notebook beside it (it
    holds full tracebacks and local paths: only when asked). Returns the HTTPS address of the HTML, without any
    query string; :class:`~acrlib.errors.BlobStorageError` naming the URL and the missing permission when the
    upload is refused."""
    from .. import locations

    html = Path(html)
    folder = locations.Location.of(url, credential=credential)
    if not folder.remote:
        raise ValueError(f"publish needs an az:// or abfs:// URL, not {url!r} (a local --out already is the copy)")
    folder.check_container()
    executed = html.with_suffix(".ipynb")
    if notebook and executed.exists():
        (folder / executed.name).write_bytes(executed.read_bytes(), content_type=NOTEBOOK_TYPE)
    target = folder / html.name
    target.write_bytes(html.read_bytes(), content_type=HTML_TYPE)  # last: the page never links a missing file
    return target.address()
