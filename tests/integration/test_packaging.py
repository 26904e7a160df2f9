"""What a pip user gets: a wheel that carries its notebooks and templates and works from any folder, and an
installed package that a folder named ``acrlib`` in the working directory cannot hide."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from acrlib import Inventory

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_wheel_installs_into_a_fresh_virtualenv_and_runs_from_another_folder(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q",
                    "-w", str(dist)], check=True, capture_output=True, timeout=300)
    wheel = next(dist.glob("acrlib-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "acrlib/notebooks/acr_report.ipynb" in names and "acrlib/notebooks/explore.ipynb" in names
    assert any(n.startswith("acrlib/report/templates/acrlib_offline/") for n in names)
    assert "acrlib/collection/workers.py" in names  # worker processes run it as a module

    # A fresh virtualenv that sees this environment's third-party packages (a .pth line: their folder is not a
    # site folder, so the checkout this environment installs in editable mode stays invisible) and gets the
    # wheel alone; `pip check` then proves the wheel's declared requirements are met. Installing every
    # dependency afresh took two minutes of the suite; CI's `make install` resolves them from scratch anyway.
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python, acrlib_cli = env_dir / "bin" / "python", env_dir / "bin" / "acrlib"
    theirs = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                            capture_output=True, text=True, check=True).stdout.strip()
    Path(theirs, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "-q", "--no-deps", str(wheel)], check=True, capture_output=True, timeout=300)
    checked = subprocess.run([*pip, "check"], capture_output=True, text=True, timeout=300)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run([str(python), "-c", "import acrlib; print(acrlib.__file__)"], cwd=elsewhere,
                           capture_output=True, text=True, check=True).stdout
    assert str(env_dir) in where and str(ROOT) not in where, "the wheel's copy, not the checkout"
    version = subprocess.run([str(acrlib_cli), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("acrlib ")

    done = subprocess.run([str(acrlib_cli), "collect", "--source", "emulator:tiny", "--out", "snapshots",
                           "--no-progress"], cwd=elsewhere, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert Inventory.read_parquet(elsewhere / "snapshots").registries.height == 3

    # the dependencies' data files (nbconvert's templates) are where this environment installed them
    env = {**os.environ, "JUPYTER_PATH": str(Path(sys.prefix, "share", "jupyter"))}
    done = subprocess.run([str(acrlib_cli), "report", "--source", "emulator:tiny", "--out", "out",
                           "-p", "history_weeks", "1"], cwd=elsewhere, capture_output=True, text=True, timeout=600,
                          env=env)
    assert done.returncode == 0, done.stderr
    assert (elsewhere / "out" / "acr_report.html").stat().st_size > 100_000


@pytest.mark.slow
def test_a_folder_named_acrlib_in_the_working_directory_does_not_hide_the_package(tmp_path):
    (tmp_path / "acrlib").mkdir()  # what `git clone ... acrlib && cd ..` leaves: no __init__.py at its top
    (tmp_path / "acrlib" / "README.md").write_text("a clone")
    done = subprocess.run([sys.executable, "-m", "acrlib.cli", "report", "--source", "emulator:tiny", "--out",
                           "out", "-p", "history_weeks", "0", "-p", "layers", "false"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "acr_report.html").exists()
