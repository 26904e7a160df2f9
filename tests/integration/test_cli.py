"""The command line: a thin layer over the library, with clear errors and exit codes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import polars as pl

import acrlib
from acrlib import Inventory
from acrlib.emulator import attach


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "acrlib.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_collect_from_the_emulator_writes_a_snapshot(tmp_path):
    done = run("collect", "--out", str(tmp_path), "--source", "emulator:tiny", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "snapshot:" in done.stdout and "complete" in done.stdout
    inventory = Inventory.read_parquet(tmp_path)
    assert inventory.registries.height == 3 and inventory.complete
    assert inventory.metadata["source"] == "emulator:tiny"


def test_collect_filters_by_registry(tmp_path):
    done = run("collect", "--out", str(tmp_path), "--source", "emulator:tiny", "--registry", "contosodevacr",
               "--no-progress")
    assert done.returncode == 0, done.stderr
    assert Inventory.read_parquet(tmp_path).registries["registry"].to_list() == ["contosodevacr"]


def test_bad_input_exits_2_with_one_line(tmp_path):
    for args, message in [
        (["--source", "emulator:huge"], "unknown emulator preset 'huge'"),
        (["--source", "nowhere/at/all"], "neither 'azure', 'emulator:PRESET' nor an existing snapshot"),
        (["--source", "emulator:tiny", "--subscription", "x"], "malformed subscription id 'x'"),
    ]:
        done = run("collect", "--out", str(tmp_path), *args)
        assert done.returncode == 2
        assert message in done.stderr and "Traceback" not in done.stderr


def test_emulator_command_serves_until_interrupted_and_other_processes_attach(tmp_path):
    connection_file = tmp_path / "emu.json"
    proc = subprocess.Popen([sys.executable, "-m", "acrlib.cli", "emulator", "--scale", "tiny",
                             "--connection-file", str(connection_file)], stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        deadline = time.time() + 120
        while time.time() < deadline and not any("connection file" in line for line in lines):
            lines.append(proc.stdout.readline())
        text = "".join(lines)
        assert "Resource Graph / ARM : https://127.0.0.1:" in text and "CA certificate" in text
        assert oct(connection_file.stat().st_mode & 0o777) == "0o600"
        assert set(json.loads(connection_file.read_text())) >= {"arm_endpoint", "ca_path", "registries"}
        inventory = acrlib.collect(**attach(connection_file).connection(), progress=False)
        assert inventory.complete and inventory.manifests.filter(pl.col("kind") == "index").height > 0
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0
    assert not connection_file.exists(), "the connection file (it holds the signing secret) is removed"
