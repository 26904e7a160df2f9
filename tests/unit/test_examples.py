"""The ready-to-copy schedules under examples/: valid YAML (and a valid shell script), and every acrlib command
they run is one the CLI's own argument parser accepts, with options that exist."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from acrlib.cli import build_parser

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DOCS = "".join(p.read_text() for p in (Path(__file__).resolve().parents[2] / "docs").glob("*.md"))


def acrlib_commands(script: str) -> list[list[str]]:
    """The acrlib command lines of a shell script (continuation lines joined), as arguments."""
    joined = re.sub(r"\\\n\s*", " ", script)
    return [shlex.split(line.strip())[1:] for line in joined.splitlines() if line.strip().startswith("acrlib ")]


def parses(args: list[str]) -> None:
    try:
        build_parser().parse_args(args)
    except SystemExit as e:  # argparse's way to refuse
        pytest.fail(f"the CLI refuses {shlex.join(args)} (exit {e.code})")


def test_the_github_actions_workflow_signs_in_with_oidc_and_runs_the_documented_cli():
    flow = yaml.safe_load((EXAMPLES / "github-actions" / "acr-report.yml").read_text())
    triggers = flow.get("on", flow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert triggers["schedule"][0]["cron"].count(" ") == 4
    assert flow["permissions"]["id-token"] == "write"
    steps = flow["jobs"]["report"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("azure/login@") for u in uses)
    assert any(u.startswith("actions/upload-artifact@") for u in uses)
    login = next(s for s in steps if s.get("uses", "").startswith("azure/login@"))
    assert set(login["with"]) == {"client-id", "tenant-id", "subscription-id"}, "OIDC: no client secret"
    commands = [c for s in steps if "run" in s for c in acrlib_commands(s["run"])]
    assert commands, "the workflow runs acrlib"
    for args in commands:
        parses(args)
    report = next(a for a in commands if a[0] == "report")
    assert "history" in report and report[report.index("history") + 1].startswith("az://")
    assert "--publish" in report and report[report.index("--publish") + 1].startswith("az://$web/")
    artifact = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert artifact["with"]["path"].rstrip("/") == report[report.index("--out") + 1]


def test_the_azure_devops_pipeline_runs_the_documented_cli_on_a_schedule():
    pipeline = yaml.safe_load((EXAMPLES / "azure-devops" / "azure-pipelines.yml").read_text())
    assert pipeline["schedules"][0]["cron"].count(" ") == 4 and pipeline["trigger"] == "none"
    tasks = [s for s in pipeline["steps"] if s.get("task", "").startswith("AzureCLI@")]
    assert tasks, "signs in through a service connection"
    commands = [c for t in tasks for c in acrlib_commands(t["inputs"]["inlineScript"])]
    assert commands
    for args in commands:
        parses(args)
    assert any("publish" in s for s in pipeline["steps"]), "the HTML is kept as an artifact"


def test_the_container_apps_job_image_runs_the_documented_cli():
    dockerfile = (EXAMPLES / "container-apps-job" / "Dockerfile").read_text()
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", dockerfile, re.M)[1])
    command = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.M)[1])
    assert entrypoint[0] == "acrlib"
    parses(entrypoint[1:] + command)
    script = EXAMPLES / "container-apps-job" / "create-job.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    text = script.read_text()
    assert "az containerapp job create" in text and "--trigger-type Schedule" in text
    for role in ("Reader", "AcrPull", "Log Analytics Reader", "Storage Blob Data Contributor"):
        assert f'--role {role}' in text or f'--role "{role}"' in text, role


def test_the_docs_show_the_three_schedules_and_the_storage_url_forms():
    for path in ("examples/github-actions/acr-report.yml", "examples/azure-devops/azure-pipelines.yml",
                 "examples/container-apps-job/Dockerfile", "examples/container-apps-job/create-job.sh"):
        assert path in DOCS, path
    assert "az://CONTAINER/PATH" in DOCS and "abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH" in DOCS
