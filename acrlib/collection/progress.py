"""Progress of a long collection, shown the way the place it runs in can show it.

``progress=None`` (the default) chooses: widgets in JupyterLab (a kernel with a Jupyter server or VS Code
behind it and ipywidgets installed; one updating text line without ipywidgets), a bar on a terminal, and
nothing where nobody watches (papermill, nbconvert, CI, a pipe). ``True`` asks for progress where it would be
off (a kernel without a frontend gets the updating line: escape codes never land in a notebook's outputs);
``False`` turns it off.
"""

from __future__ import annotations

import os
import sys
import time

WIDGETS, LINE, BAR, OFF = "widgets", "line", "bar", "off"
LINE_EVERY_S = 0.5  # the text line is redrawn at most this often


def _kernel() -> bool:
    """Running inside a Jupyter kernel (IPython with a kernel attached)."""
    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _frontend() -> bool:
    """A person is looking: the kernel was started by a Jupyter server (JupyterLab, Notebook) or VS Code.
    papermill and nbconvert start kernels themselves, without either."""
    return bool(os.environ.get("JPY_SESSION_NAME") or os.environ.get("VSCODE_PID"))


def _ipywidgets() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def mode(progress: bool | None, *, stream=None) -> str:
    """How to show progress here: ``widgets``, ``line``, ``bar`` or ``off``."""
    if progress is not None and not isinstance(progress, bool):
        raise ValueError(f"progress must be True, False or None (automatic), not {progress!r}")
    if progress is False:
        return OFF
    if _kernel():
        if not _frontend():
            return LINE if progress else OFF
        return WIDGETS if _ipywidgets() else LINE
    stream = stream if stream is not None else sys.stderr
    interactive = getattr(stream, "isatty", lambda: False)()
    return BAR if progress or interactive else OFF


class _Line:
    """One line of text in a notebook output, replaced in place (no widgets, no escape codes)."""

    def __init__(self):
        from IPython.display import display

        self._handle = display({"text/plain": "collecting ..."}, raw=True, display_id=True)
        self._last = 0.0

    def show(self, text: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last >= LINE_EVERY_S:
            self._last = now
            self._handle.update({"text/plain": text}, raw=True)


class Progress:
    """Registries done, repositories done (total grows as catalogs arrive), rows collected, errors."""

    def __init__(self, progress: bool | None, registries: int):
        self.rows = 0
        self.errors = 0
        self.registries_total = registries
        self.registries_done = 0
        self.repositories_total = 0
        self.repositories_done = 0
        self.mode = mode(progress)
        self._registries = self._repositories = self._line = None
        if self.mode in (WIDGETS, BAR):
            if self.mode == WIDGETS:
                from tqdm.notebook import tqdm
            else:
                from tqdm.std import tqdm
            self._registries = tqdm(total=registries, desc="registries", unit="registry", position=0)
            self._repositories = tqdm(total=0, desc="repositories", unit="repo", position=1)
        elif self.mode == LINE:
            self._line = _Line()

    def text(self) -> str:
        return (f"registries {self.registries_done:,}/{self.registries_total:,}, repositories "
                f"{self.repositories_done:,}/{self.repositories_total:,}, {self.rows:,} rows, "
                f"{self.errors:,} errors")

    def _changed(self, *, force: bool = False) -> None:
        if self._repositories is not None:
            self._repositories.set_postfix(rows=self.rows, errors=self.errors, refresh=False)
        if self._line is not None:
            self._line.show(self.text(), force=force)

    def add_repositories(self, count: int) -> None:
        self.repositories_total += count
        if self._repositories is not None:
            self._repositories.total += count
            self._repositories.refresh()
        self._changed()

    def repository_done(self, rows: int) -> None:
        self.rows += rows
        self.repositories_done += 1
        if self._repositories is not None:
            self._repositories.update(1)
        self._changed()

    def error(self) -> None:
        self.errors += 1
        self._changed()

    def registry_done(self) -> None:
        self.registries_done += 1
        if self._registries is not None:
            self._registries.update(1)
        self._changed()

    def close(self) -> None:
        for bar in (self._repositories, self._registries):
            if bar is not None:
                bar.close()
        if self._line is not None:
            self._line.show(self.text(), force=True)
