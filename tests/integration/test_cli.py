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


def test_collect_filters_by_registry_regex_and_refuses_both_forms(tmp_path):
    done = run("collect", "--out", str(tmp_path), "--source", "emulator:tiny", "--registry-regex", "dev|shared",
               "--no-progress", "--activity-days", "0", "--no-deployments")
    assert done.returncode == 0, done.stderr
    assert sorted(Inventory.read_parquet(tmp_path).registries["registry"]) == ["contosodevacr", "contososharedacr"]
    done = run("collect", "--out", str(tmp_path), "--source", "emulator:tiny", "--registry-regex", "[",
               "--registry", "contosodevacr")
    assert done.returncode == 2 and "not both" in done.stderr


def test_bad_input_exits_2_with_one_line(tmp_path):
    for args, message in [
        (["--source", "emulator:tiny", "--registry-regex", "["], "invalid registry regex '['"),
        (["--source", "emulator:gigantic"], "unknown emulator preset 'gigantic'"),
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
    assert proc.returncode == 130, "stopped by Ctrl-C, as every command"
    assert not connection_file.exists(), "the connection file (it holds the signing secret) is removed"


def test_an_out_that_is_a_file_is_refused_before_any_collection(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    for command in (["collect", "--source", "emulator:tiny"], ["report", "--source", "emulator:tiny"]):
        started = time.monotonic()
        done = run(*command, "--out", str(target))
        assert done.returncode == 2 and "is a file, not a folder" in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and time.monotonic() - started < 15
    assert target.read_text() == "keep me"


def test_report_parameters_and_timeout_of_the_wrong_type_are_refused(tmp_path):
    for args, message in [
        (["-p", "filters", "{'a:.*'}"], "parameter filters needs list"),
        (["-p", "stale_days", "3.5"], "parameter stale_days needs a whole number"),
        (["-p", "include_untagged", "maybe"], "needs true or false"),
        (["--timeout", "0"], "must be a positive number of seconds"),
        (["--timeout", "-5"], "must be a positive number of seconds"),
        (["--timeout", "soon"], "must be a positive number of seconds"),
    ]:
        done = run("report", "--source", "emulator:tiny", "--out", str(tmp_path), *args)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
    assert not list(tmp_path.iterdir())


def test_server_text_is_printed_without_control_characters():
    from acrlib.cli import printable

    hostile = "repo\x1b[2J\x1b]0;pwned\x07name\nFAKE: all complete\r\x9b31m\x00"
    shown = printable(hostile)
    assert "\x1b" not in shown and "\n" not in shown and "\r" not in shown and "\x9b" not in shown
    assert shown.startswith("reponame") and "FAKE: all complete" in shown


def test_a_collection_whose_out_cannot_be_written_is_kept_not_lost(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    done = subprocess.run([sys.executable, "-m", "acrlib.cli", "collect", "--out", str(tmp_path / "a-file" / "snaps"),
                           "--source", "emulator:tiny", "--no-progress", "--activity-days", "0", "--no-deployments"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot be written" in lines[0] and "acrlib-snapshots" in lines[0]
    assert acrlib.history(tmp_path / "acrlib-snapshots").latest().manifests.height, "the collection is kept"


def test_subscriptions_with_no_visible_registry_say_why():
    import pytest

    from acrlib.emulator import Emulator

    with Emulator("tiny") as emu, pytest.raises(ValueError, match=r"no registry found in subscription\(s\) 0{8}-"):
        acrlib.collect(**emu.connection(), subscriptions=["00000000-0000-0000-0000-0000000000aa"], progress=False)


def test_the_emulators_help_documents_every_option_and_preset():
    from acrlib.cli import EMULATOR_PRESETS, build_parser
    from acrlib.emulator import PRESETS

    assert tuple(PRESETS) == EMULATOR_PRESETS, "the command line names every preset the emulator has"
    text = build_parser()._subparsers._group_actions[0].choices["emulator"].format_help()
    for needed in ("--seed", "default 7", "acrlib-emulator.json", *PRESETS):
        assert needed in text, needed


def test_the_same_seed_gives_the_same_tenant_on_every_run():
    import datetime as dt

    from acrlib.emulator.generate import PRESENT

    first = acrlib.sources.load("emulator:tiny", progress=False, activity_days=0, deployments=False)
    time.sleep(1.5)
    second = acrlib.sources.load("emulator:tiny", progress=False, activity_days=0, deployments=False)
    key = ["registry", "repository", "digest"]
    assert first.manifests.select(key).sort(key).equals(second.manifests.select(key).sort(key))
    assert first.tags.select("registry", "repository", "tag", "digest").sort("tag", "digest").equals(
        second.tags.select("registry", "repository", "tag", "digest").sort("tag", "digest"))
    assert abs(first.collected_at - PRESENT) < dt.timedelta(minutes=5), "the emulator's present, not the day's"
