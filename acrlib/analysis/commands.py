"""Shell commands that carry out a plan, for a person to read and run: acrlib itself never deletes anything.

Every value in a command is quoted for its shell (``shlex.quote`` for bash, single quotes with doubled quotes for
PowerShell), so a name or filter holding ``$(...)``, backticks or ``;`` runs nothing when a command is pasted.
"""

from __future__ import annotations

import datetime as dt
import shlex

import polars as pl

from ..inventory import Inventory
from .purge import rules

SHELLS = ("bash", "pwsh")


def purge_commands(inv: Inventory, filters=(".*:.*",), ago: str = "30d", keep: int = 0, untagged: bool = True,
                   include_locked: bool = False) -> pl.DataFrame:
    """Per registry, the ``az acr run`` command that runs the same ``acr purge`` in that registry:
    ``command`` deletes, ``dry_run`` only lists what it would delete.

    Every value is quoted for a POSIX shell (``shlex.quote``), the ``--cmd`` string as a whole too, so a filter
    holding ``$(...)``, backticks or ``;`` runs nothing when the command is pasted into bash. Filters with quote
    characters are refused: ``acr purge`` parses its ``--cmd`` string again inside the registry's task runner."""
    if isinstance(filters, str):
        filters = (filters,)
    rules(filters, ago, keep, untagged, include_locked, now=dt.datetime.now(dt.UTC))  # validates
    for f in filters:
        if "'" in f or '"' in f:
            raise ValueError(f"filter {f!r} contains a quote, which cannot be passed through az acr run --cmd")
    parts = ["acr", "purge", *(p for f in filters for p in ("--filter", f)), "--ago", ago]
    if keep:
        parts += ["--keep", str(keep)]
    if untagged:
        parts.append("--untagged")
    if include_locked:
        parts.append("--include-locked")
    purge = shlex.join(parts)

    def az(registry: str, cmd: str) -> str:
        return shlex.join(["az", "acr", "run", "--registry", registry, "--cmd", cmd, "/dev/null"])

    rows = [(name, az(name, purge), az(name, purge + " --dry-run")) for name in inv.registries["registry"].to_list()]
    return pl.DataFrame(rows, schema={"registry": pl.String, "command": pl.String, "dry_run": pl.String}, orient="row")


def _pwsh(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def delete_script(plan: pl.DataFrame, *, shell: str = "bash", dry_run: bool = False) -> str:
    """A script of ``az acr repository`` commands that carries out ``plan``'s deletions, one per line, for plans
    ``acr purge`` cannot express (pull- or usage-based): ``untag`` for each ``delete_tag`` row, ``delete --image
    repo@digest --yes`` for each ``delete_manifest`` row (ACR deletes its tags and its referrers, the ``cascade``
    rows, with it). ``keep`` and ``skip`` rows are not commands. The header states the plan's parameters (when
    ``plan`` is a :class:`~acrlib.analysis.purge.PurgePlan`) and its totals; the script stops at the first
    failing command. ``dry_run``: the same lines, only printed ("would ...").

    ``shell``: ``bash`` or ``pwsh`` (PowerShell)."""
    if shell not in SHELLS:
        raise ValueError(f"shell must be one of {SHELLS}, not {shell!r}")
    missing = {"registry", "repository", "tag", "digest", "action", "size_bytes"} - set(plan.columns)
    if missing:
        raise ValueError(f"not a purge plan: it lacks {sorted(missing)}")
    untag = plan.filter(pl.col("action") == "delete_tag").sort("registry", "repository", "tag")
    delete = plan.filter(pl.col("action") == "delete_manifest").sort("registry", "repository", "digest")
    cascade = plan.filter(pl.col("action") == "cascade")
    spared = plan.filter(pl.col("action").is_in(["keep", "skip"]))
    quote = shlex.quote if shell == "bash" else _pwsh
    lines = ["#!/usr/bin/env bash" if shell == "bash" else "#Requires -Version 7",
             f"# acrlib delete script{' (dry run: prints, deletes nothing)' if dry_run else ''}: "
             f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"]
    parameters = getattr(plan, "parameters", None)
    if parameters:
        lines += ["# plan: " + ", ".join(f"{k}={v}" for k, v in parameters.items() if v is not None)]
    else:
        lines += ["# plan: parameters unknown (a frame derived from a plan)"]
    image_bytes = int(delete["size_bytes"].fill_null(0).sum() + cascade["size_bytes"].fill_null(0).sum())
    lines += [f"# {untag.height} tags untagged, {delete.height} manifests deleted, {cascade.height} referrers "
              f"deleted by ACR with their subjects; {image_bytes / (1 << 30):,.2f} GiB of image sizes (shared "
              "layers counted per image: acrlib.reclaimable gives what is freed)",
              f"# {spared.height} deletions spared by the plan's protections (keep, skip): not in this script"]
    lines += ["set -euo pipefail"] if shell == "bash" else ["$ErrorActionPreference = 'Stop'"]

    def command(verb: str, *args: str) -> str:
        """``az acr repository VERB ...``; options (``--name``) as they are, every value quoted."""
        line = " ".join(["az", "acr", "repository", verb, *(a if a.startswith("--") else quote(a) for a in args)])
        echo = "echo" if shell == "bash" else "Write-Output"
        if dry_run:
            return f"{echo} {quote('would run: ' + line)}"
        return line if shell == "bash" else f"{line}; if ($LASTEXITCODE -ne 0) {{ exit $LASTEXITCODE }}"

    for registry, repository, tag in untag.select("registry", "repository", "tag").iter_rows():
        lines.append(command("untag", "--name", registry, "--image", f"{repository}:{tag}"))
    for registry, repository, digest in delete.select("registry", "repository", "digest").iter_rows():
        lines.append(command("delete", "--name", registry, "--image", f"{repository}@{digest}", "--yes"))
    return "\n".join(lines) + "\n"
