"""Where progress shows: a bar on a terminal, nothing in a pipe (CI, a scheduled run) unless asked, never
escape codes into a notebook (the kernel side is tested with papermill and JupyterLab in tests/report)."""

from __future__ import annotations

import io

import pytest

from acrlib.collection import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("asked", "stream", "shown"), [
    (None, io.StringIO(), progress.OFF), (None, Terminal(), progress.BAR), (True, io.StringIO(), progress.BAR),
    (False, Terminal(), progress.OFF),
])
def test_outside_a_kernel(asked, stream, shown):
    assert progress.mode(asked, stream=stream) == shown


@pytest.mark.parametrize("asked", ["yes", 1, 0.5])
def test_anything_but_true_false_or_none_is_refused(asked):
    with pytest.raises(ValueError, match="progress must be True, False or None"):
        progress.mode(asked)


def test_counts_are_kept_whatever_is_shown():
    p = progress.Progress(False, registries=2)
    p.add_repositories(3)
    p.repository_done(10)
    p.error()
    p.registry_done()
    p.close()
    assert p.text() == "registries 1/2, repositories 1/3, 10 rows, 1 errors"
