"""delete_script: the exact az commands of a plan, every value quoted, with its parameters and totals."""

from __future__ import annotations

import shlex
import shutil
import subprocess

import polars as pl
import pytest
from acr_purge import purge_plan
from inventory_builder import Build

from acrlib.analysis.commands import delete_script

HOSTILE_REPO = "team/app__x.y-z"  # valid names, with every separator the grammar allows
HOSTILE_TAG = "v1_rc.2-final"


def hostile_plan():
    b = Build()
    b.logs()
    b.manifest(HOSTILE_REPO, "d1", days=200, tags=[HOSTILE_TAG, "v0"])
    b.manifest("app", "d2", days=200, tags=["old"])
    kept = b.manifest("app", "p1", days=200, tags=["pulled"])
    b.manifest("app", "r1", days=200, subject="sha256:d2".ljust(71, "0"),
               media_type="application/vnd.oci.image.manifest.v1+json")
    b.pulled("app", kept, days=2)
    return purge_plan(b.build(), ago="30d", protect_pulled_within="30d")


def lines(script: str) -> list[str]:
    return [line for line in script.splitlines() if line.startswith(("az ", "echo ", "Write-Output "))]


def test_one_command_per_deletion_with_the_plans_parameters_and_totals_in_the_header():
    plan = hostile_plan()
    script = delete_script(plan)
    header = script.splitlines()[:5]
    assert header[0] == "#!/usr/bin/env bash" and "protect_pulled_within=30d" in header[2]
    assert "3 tags untagged, 2 manifests deleted, 1 referrers deleted by ACR" in header[3]
    assert "2 deletions spared" in header[4]
    commands = [shlex.split(line) for line in lines(script)]
    assert commands == [
        ["az", "acr", "repository", "untag", "--name", "contosoacr", "--image", "app:old"],
        ["az", "acr", "repository", "untag", "--name", "contosoacr", "--image", f"{HOSTILE_REPO}:v0"],
        ["az", "acr", "repository", "untag", "--name", "contosoacr", "--image", f"{HOSTILE_REPO}:{HOSTILE_TAG}"],
        ["az", "acr", "repository", "delete", "--name", "contosoacr", "--image",
         "app@sha256:d2" + "0" * 62, "--yes"],
        ["az", "acr", "repository", "delete", "--name", "contosoacr", "--image",
         f"{HOSTILE_REPO}@sha256:d1" + "0" * 62, "--yes"],
    ]
    assert "p1" not in script and "pulled" not in "".join(lines(script)), "what the plan keeps is not touched"


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("dry_run", [False, True])
def test_bash_runs_exactly_these_commands_and_nothing_a_name_smuggles_in(tmp_path, dry_run):
    script = delete_script(hostile_plan(), dry_run=dry_run)
    stub = 'az() { printf "%s\\x1f" "$@"; printf "\\n"; }\n'
    done = subprocess.run(["bash", "-c", stub + script.split("\n", 1)[1]], cwd=tmp_path, capture_output=True,
                          text=True, check=True)
    assert list(tmp_path.iterdir()) == [], "nothing ran"
    out = done.stdout.splitlines()
    if dry_run:
        assert all(line.startswith("would run: az acr repository ") for line in out) and len(out) == 5
        assert shlex.split(out[2].removeprefix("would run: "))[-1] == f"{HOSTILE_REPO}:{HOSTILE_TAG}"
    else:
        args = [line.rstrip("\x1f").split("\x1f") for line in out]
        assert args[2] == ["acr", "repository", "untag", "--name", "contosoacr", "--image",
                           f"{HOSTILE_REPO}:{HOSTILE_TAG}"]


def test_powershell_quotes_with_single_quotes_and_checks_each_exit_code():
    b = Build()
    b.logs()
    b.manifest("team/its", "d1", days=200, tags=["v_1"])
    script = delete_script(purge_plan(b.build(), ago="30d"), shell="pwsh")
    commands = lines(script)
    assert commands[0] == ("az acr repository untag --name 'contosoacr' --image 'team/its:v_1'; "
                           "if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }")
    assert "$ErrorActionPreference = 'Stop'" in script and script.startswith("#Requires -Version 7")
    dry = lines(delete_script(purge_plan(b.build(), ago="30d"), shell="pwsh", dry_run=True))
    assert dry[0].startswith("Write-Output 'would run: az acr repository untag --name ''contosoacr''")


@pytest.mark.parametrize(("column", "value"), [
    ("repository", "team/$(touch pwned)"), ("repository", "--x$(touch f)"), ("tag", "t;touch f"),
    ("tag", "--force"), ("registry", "--name"), ("digest", "sha256:x y"), ("tag", "a\nrm -rf /"),
])
def test_names_acr_would_never_accept_are_refused_by_name(column, value):
    plan = pl.DataFrame([{"registry": "contosoacr", "repository": "app", "tag": "v1", "digest": "sha256:" + "a" * 64,
                          "action": "delete_tag" if column != "digest" else "delete_manifest", "size_bytes": 1,
                          column: value}])
    for shell in ("bash", "pwsh"):
        with pytest.raises(ValueError, match="ACR would never accept") as refused:
            delete_script(plan, shell=shell)
        assert repr(value) in str(refused.value)


def test_a_derived_frame_says_its_parameters_are_unknown_and_bad_input_is_refused():
    plan = hostile_plan()
    assert "parameters unknown" in delete_script(plan.filter(pl.col("action") == "delete_tag"))
    with pytest.raises(ValueError, match="shell must be one of"):
        delete_script(plan, shell="cmd")
    with pytest.raises(ValueError, match="not a purge plan"):
        delete_script(pl.DataFrame({"x": [1]}))
