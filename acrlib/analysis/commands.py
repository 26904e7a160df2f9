"""Shell commands that carry out a plan, for a person to read and run: acrlib itself never deletes anything.

Every value in a command is quoted for its shell, always (``shlex.quote`` for bash; for PowerShell single quotes,
with every character PowerShell takes for a single quote doubled: ``'`` and U+2018 to U+201B), so a name or
filter holding ``$(...)``, backticks, ``;`` or a leading ``--`` runs nothing when a command is pasted. Names that
ACR itself would never accept (the OCI distribution grammar of repositories, tags and digests; registry names of
5-50 letters and digits) are refused with a ``ValueError`` naming them: they can only come from a broken or
hostile server.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex

import polars as pl

from ..inventory import Inventory
from .purge import DEFAULT_AGO, DEFAULT_KEEP, rules

SHELLS = ("bash", "pwsh")
# What ACR accepts (the OCI distribution spec's grammar; ACR's registry names): anything else is refused.
REGISTRY_NAME = re.compile(r"[a-zA-Z0-9]{5,50}")
REPOSITORY_NAME = re.compile(r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*")
TAG_NAME = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
# Characters PowerShell reads as a single quote inside a single-quoted string (doubling escapes each).
PWSH_QUOTES = "'\u2018\u2019\u201a\u201b"
# Control characters (line breaks among them) that would end a comment line of a script.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def purge_commands(inv: Inventory, filters=(".*:.*",), ago: str | None = DEFAULT_AGO, keep: int = DEFAULT_KEEP,
                   untagged: bool = True, include_locked: bool = False, *, untagged_only: bool = False,
                   plan: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per registry, the ``az acr run`` command that runs the same ``acr purge`` in that registry:
    ``command`` deletes, ``dry_run`` only lists what it would delete, with acr-cli's flags for every rule
    (``--keep``, ``--untagged`` or ``--untagged-only``, ``--include-locked``).

    With ``plan`` (a :func:`~acrlib.purge_plan`), its own rules are used, and ``note`` says, per registry, what
    the plan keeps that acr purge cannot express and would delete (what was pulled or runs, the platform images
    of an untagged index kept by ``keep``): there, carry the plan out with ``acrlib apply`` instead. ``note`` is
    empty where the command reproduces the plan.

    Every value is quoted for a POSIX shell (``shlex.quote``), the ``--cmd`` string as a whole too, so a filter
    holding ``$(...)``, backticks or ``;`` runs nothing when the command is pasted into bash. Filters with quote
    characters are refused: ``acr purge`` parses its ``--cmd`` string again inside the registry's task runner."""
    if plan is not None:
        p = getattr(plan, "parameters", None)
        if not p:
            raise ValueError("the plan carries no parameters (a filtered or rebuilt frame): pass the purge_plan "
                             "result itself")
        filters, ago, keep, untagged = p["filters"], p["ago"], p["keep"], p["untagged"]
        include_locked, untagged_only = p["include_locked"], p.get("untagged_only", False)
    if isinstance(filters, str):
        filters = (filters,)
    rules(filters, ago, keep, untagged, include_locked, now=dt.datetime.now(dt.UTC), untagged_only=untagged_only)
    for f in filters:
        if "'" in f or '"' in f:
            raise ValueError(f"filter {f!r} contains a quote, which cannot be passed through az acr run --cmd")
    parts = ["acr", "purge", *(p for f in filters for p in ("--filter", f))]
    if ago is not None:
        parts += ["--ago", ago]
    if keep:
        parts += ["--keep", str(keep)]
    if untagged_only:
        parts.append("--untagged-only")
    elif untagged:
        parts.append("--untagged")
    if include_locked:
        parts.append("--include-locked")
    purge = shlex.join(parts)

    def az(registry: str, cmd: str) -> str:
        return shlex.join(["az", "acr", "run", "--registry", registry, "--cmd", cmd, "/dev/null"])

    notes: dict[str, str] = {}
    if plan is not None:
        spared = plan.filter(pl.col("action").is_in(["keep", "skip"]))
        for (registry,), rows in spared.group_by("registry"):
            kinds = sorted({_why(reason) for reason in rows["reason"].to_list()})
            notes[registry] = (f"acr purge would also delete {rows.height:,} item(s) the plan keeps "
                               f"({', '.join(kinds)}): carry the plan out with acrlib apply")
    rows = [(name, az(name, purge), az(name, purge + " --dry-run"), notes.get(name, ""))
            for name in inv.registries["registry"].to_list()]
    return pl.DataFrame(rows, schema={"registry": pl.String, "command": pl.String, "dry_run": pl.String,
                                      "note": pl.String}, orient="row")


def _why(reason: str | None) -> str:
    """The protection a keep or skip row's reason names, in a few words."""
    text = (reason or "").lower()
    for word, kind in (("pulled", "pulled recently"), ("pull logs", "no pull logs to judge by"),
                       ("untagged index kept", "platform images of a kept index")):
        if word in text:
            return kind
    return "runs or is named by a deployment"


def _pwsh(value: str) -> str:
    return "'" + re.sub(f"([{PWSH_QUOTES}])", r"\1\1", value) + "'"


def _checked(kind: str, pattern: re.Pattern, value) -> str:
    """``value`` when ACR could hold it as a ``kind``, else a ``ValueError`` naming it."""
    if not isinstance(value, str) or len(value) > 255 or not pattern.fullmatch(value):
        raise ValueError(f"the plan names a {kind} ACR would never accept ({value!r}): it came from a broken or "
                         "hostile server; no script is written for it")
    return value


def _comment(text: str) -> str:
    """Text for a comment line: control characters (a line break would end the comment) as '?'."""
    return _CONTROL.sub("?", text)


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
        lines += [_comment("# plan: " + ", ".join(f"{k}={v}" for k, v in parameters.items() if v is not None))]
    else:
        lines += ["# plan: parameters unknown (a frame derived from a plan)"]
    image_bytes = int(delete["size_bytes"].fill_null(0).sum() + cascade["size_bytes"].fill_null(0).sum())
    lines += [f"# {untag.height} tags untagged, {delete.height} manifests deleted, {cascade.height} referrers "
              f"deleted by ACR with their subjects; {image_bytes / (1 << 30):,.2f} GiB of image sizes (shared "
              "layers counted per image: acrlib.reclaimable gives what is freed)",
              f"# {spared.height} deletions spared by the plan's protections (keep, skip): not in this script"]
    lines += ["set -euo pipefail"] if shell == "bash" else ["$ErrorActionPreference = 'Stop'"]

    def command(verb: str, options: list[tuple[str, str | None]]) -> str:
        """``az acr repository VERB --option value ...``: the options are acrlib's own, every value quoted."""
        words = ["az", "acr", "repository", verb]
        for option, value in options:
            words += [option] if value is None else [option, quote(value)]
        line = " ".join(words)
        echo = "echo" if shell == "bash" else "Write-Output"
        if dry_run:
            return f"{echo} {quote('would run: ' + line)}"
        return line if shell == "bash" else f"{line}; if ($LASTEXITCODE -ne 0) {{ exit $LASTEXITCODE }}"

    def names(registry, repository) -> tuple[str, str]:
        return _checked("registry name", REGISTRY_NAME, registry), _checked("repository", REPOSITORY_NAME, repository)

    for registry, repository, tag in untag.select("registry", "repository", "tag").iter_rows():
        registry, repository = names(registry, repository)
        image = f"{repository}:{_checked('tag', TAG_NAME, tag)}"
        lines.append(command("untag", [("--name", registry), ("--image", image)]))
    for registry, repository, digest in delete.select("registry", "repository", "digest").iter_rows():
        registry, repository = names(registry, repository)
        image = f"{repository}@{_checked('digest', DIGEST, digest)}"
        lines.append(command("delete", [("--name", registry), ("--image", image), ("--yes", None)]))
    return "\n".join(lines) + "\n"
