"""Ctrl-C and SIGTERM: one line, exit 130 or 143, and nothing left behind (no temporary emulator folder with its
key, no history folder, no connection file, no out folder), for collect, report and emulator."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _run_and_stop(tmp_path: Path, args: list[str], how: int, ready) -> subprocess.CompletedProcess:
    """Start ``acrlib ARGS`` in a session of its own with a private temporary directory, wait until ``ready()``,
    then send ``how`` to the whole group, as a terminal's Ctrl-C does (SIGTERM: to the process only)."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp), "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen([sys.executable, "-m", "acrlib.cli", *args], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None and not ready(temp):
        time.sleep(0.05)
    assert child.poll() is None, "still running when stopped"
    time.sleep(0.5)
    if how == signal.SIGINT:
        os.killpg(child.pid, signal.SIGINT)
    else:
        child.send_signal(how)
    out, err = child.communicate(timeout=120)
    return subprocess.CompletedProcess(child.args, child.returncode, out, err)


def _emulator_started(temp: Path) -> bool:
    """An emulator's folder exists (the report's kernel makes its own under a folder of the run's)."""
    return any(p.name.startswith("acrlib-emulator-") for p in temp.rglob("acrlib-emulator-*"))


@pytest.mark.parametrize(("how", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_collect_stops_cleanly(tmp_path, how, code):
    done = _run_and_stop(tmp_path, ["collect", "--source", "emulator:demo", "--out", str(tmp_path / "out"),
                                    "--layers", "--no-progress"], how, _emulator_started)
    assert done.returncode == code, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert list((tmp_path / "tmp").iterdir()) == [], "no temporary folder (the emulator's key among them) is left"
    assert not (tmp_path / "out").exists(), "no empty out folder"


@pytest.mark.parametrize(("how", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_report_stops_cleanly(tmp_path, how, code):
    done = _run_and_stop(tmp_path, ["report", "--source", "emulator:demo", "--out", str(tmp_path / "out")], how,
                         _emulator_started)
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.strip().splitlines()[-1].startswith("acrlib report: ")
    assert [p.name for p in (tmp_path / "tmp").iterdir()] == [], "no emulator or history folder left"
    assert not (tmp_path / "out").exists(), "no half-made report folder"


@pytest.mark.parametrize(("how", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_the_emulator_stops_cleanly(tmp_path, how, code):
    done = _run_and_stop(tmp_path, ["emulator", "--scale", "tiny"], how,
                         lambda temp: (tmp_path / "acrlib-emulator.json").exists())
    assert done.returncode == code, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "acrlib-emulator.json").exists(), "the connection file (it holds the secret) is gone"
    assert list((tmp_path / "tmp").iterdir()) == []
