"""`acrlib`: a thin command line over the library. Each command parses arguments and calls one function."""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
import threading
import time
from pathlib import Path

from acrlib._version import __version__

DEFAULT_SOURCE = "azure"  # acrlib.sources.DEFAULT, without importing polars for --help
FALLBACK = "acrlib-snapshots"  # where collect keeps a snapshot its --out URL refused
EMULATOR_PRESETS = ("tiny", "demo", "bench", "large", "huge", "fleet")  # acrlib.emulator.PRESETS, without importing it

# Escape sequences (colours, cursor moves, window titles), then any other C0 or C1 control character.
_ESCAPES = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b\[[0-?]*[ -/]*[@-~]|\x1b.?|\x9b[0-?]*[ -/]*[@-~]")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_RESOURCE_ID = re.compile(r"/subscriptions/[^\s:]*/([^/\s:]+)")


def printable(value) -> str:
    """Text from a server (names, messages) made safe for a terminal: no escape sequences and no control
    characters, line breaks included (a registry cannot recolour the screen, retitle the window or fake a
    line of output)."""
    return _CONTROLS.sub(" ", _ESCAPES.sub("", str(value)))


def _output_folder(out: str):
    """``out`` as a folder to write into (a local ``Path``, or a parsed storage ``Location`` passed on as it
    is), refused before any work when it is an existing file or a malformed storage URL."""
    from acrlib import locations

    if locations.is_url(out):
        return locations.Location.of(out)
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder")
    return path


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text!r}")
    return value


def _emulator(args: argparse.Namespace) -> int:
    from acrlib.emulator import Emulator

    with Emulator(scale=args.scale, seed=args.seed, latency_ms=args.latency_ms, throttle=args.throttle) as emu:
        connection = emu.write_connection_file(Path(args.connection_file).resolve())
        print(f"acrlib emulator ({args.scale}, seed {args.seed}) is serving; Ctrl-C stops it.")
        print(f"  Resource Graph / ARM : {emu.arm_endpoint}")
        print(f"  CA certificate       : {emu.ca_path}")
        for name, endpoint in emu.registries.items():
            print(f"  registry {name:<22}: {endpoint}")
        print(f"  connection file      : {connection}")
        print("  use from Python      : acrlib.collect(**acrlib.emulator.attach(PATH).connection())")
        sys.stdout.flush()
        try:
            while True:
                time.sleep(3600)
        finally:
            connection.unlink(missing_ok=True)


def _collect(args: argparse.Namespace) -> int:
    from acrlib import sources

    source = sources.Source.of(args.source)
    if not source.collects:
        raise ValueError("collect needs 'azure' or 'emulator:PRESET' as --source, not a snapshot")
    out = _output_folder(args.out)
    if args.registry and args.registry_regex:
        raise ValueError("give --registry names or one --registry-regex, not both")
    from acrlib.errors import BlobStorageError, SnapshotUnwritable

    def collect(into):  # each registry's tables are written under `into` as it completes (streaming)
        return sources.load(source, subscriptions=args.subscription or None,
                            registries=args.registry_regex or args.registry or None,
                            progress=False if args.no_progress else None,
                            layers=args.layers, referrers=args.referrers, activity_days=args.activity_days,
                            deployments=args.deployments, aks_run_command=args.aks_run_command,
                            previous=args.previous, vulnerabilities=args.vulnerabilities,
                            scan_results=tuple(args.scan_results or ()), out=into, workers=args.workers,
                            in_flight=args.in_flight)

    try:
        inventory = collect(out)
    except SnapshotUnwritable as e:  # found before any registry was read: collect into a folder that works
        cause = e.cause
        why = printable(cause) if isinstance(cause, BlobStorageError) else \
            f"--out {out} cannot be written ({getattr(cause, 'strerror', None) or cause})"
        inventory = collect(FALLBACK)
        print(f"acrlib collect: {why}; the snapshot is kept in {inventory.snapshot.path} instead", file=sys.stderr)
        return 1
    path = inventory.snapshot.path
    print(inventory)
    for row in inventory.registries.select("registry", "status", "repository_count").iter_rows():
        print(f"  {printable(row[0]):<30} {row[1]:<9} {row[2] if row[2] is not None else '-':>6} repositories")
    if inventory.errors.height:
        print(f"{inventory.errors.height} errors (see the errors table):")
        for row in inventory.errors.head(10).iter_rows(named=True):
            print(f"  {error_line(row)}")
    print(f"snapshot: {path}")
    return exit_code(inventory)


def error_line(row: dict) -> str:
    """One errors-table row as one line: where (the registry and repository, or the stage's own subject), the
    code, the message's first sentence without the JSON a service may have embedded."""
    if row.get("registry"):
        where = f"{row['registry']}/{row['repository']}" if row.get("repository") else row["registry"]
    else:
        where = {"activity": "pull logs", "deployments": "deployments", "vulnerabilities": "vulnerability findings",
                 "history": "history"}.get(row.get("stage"), row.get("stage") or "collection")
    message = str(row.get("message") or "").split(" Inner error:", 1)[0]
    message = message.split("{", 1)[0].rstrip(" :;,") if "{" in message else message
    message = _RESOURCE_ID.sub(lambda m: m.group(1), message)  # a resource by its name, not its full id
    line = f"{where} [{row.get('stage')}] {row.get('code')}: {message}"
    return printable(line if len(line) <= 300 else line[:299] + "…")


def exit_code(inventory) -> int:
    """0: every registry complete, nothing logged; 1: a registry partial or failed (its numbers are lower
    bounds); 3: every registry complete, but a side reading (pull logs, deployments, vulnerability findings,
    the history) logged errors: the registry tables are whole, what those would add is missing."""
    if not bool((inventory.registries["status"] == "complete").all()):
        return 1
    return 3 if inventory.errors.height else 0


def _connection(args: argparse.Namespace) -> dict:
    """Where apply sends its requests: Azure, or a running ``acrlib emulator`` (its connection file)."""
    if getattr(args, "connection_file", None):
        from acrlib.emulator import attach

        return attach(args.connection_file).connection()
    return {}


def _confirm(plan, args: argparse.Namespace) -> None:
    """Deleting needs --yes or, at a terminal, the typed word: after the registries, counts and bytes."""
    import polars as pl

    deleting = plan.filter(pl.col("action").is_in(["delete_tag", "delete_manifest"]))
    per = deleting.group_by("registry").agg(pl.len().alias("n"), pl.col("size_bytes").filter(
        pl.col("action") == "delete_manifest").sum().alias("bytes")).sort("registry")
    lines = [f"  {printable(r['registry']):<30} {r['n']:>8,} tags and manifests, {r['bytes'] or 0:>16,} bytes of images"
             for r in per.iter_rows(named=True)]
    summary = f"THIS DELETES {deleting.height:,} tags and manifests in {per.height} registries:\n" + "\n".join(lines)
    if args.yes:
        print(summary, file=sys.stderr)
        return
    if not sys.stdin.isatty():
        raise ValueError("deleting needs --yes when there is no terminal to confirm at (nothing was deleted)")
    print(summary, file=sys.stderr)
    answer = input("Type DELETE to go on: ")
    if answer.strip() != "DELETE":
        raise ValueError("not confirmed: nothing was deleted")


def _run_apply(plan, args: argparse.Namespace) -> int:
    import acrlib

    dry_run = not args.delete
    if not dry_run:
        _confirm(plan, args)
    result = acrlib.apply(plan, dry_run=dry_run, max_deletions=args.max_deletions, journal=args.journal,
                          resume=args.resume, verify=args.verify, max_plan_age=args.max_plan_age or None,
                          **_connection(args))
    print(printable(result.summary()))
    if result.still_present.height:
        print(f"{result.still_present.height} deleted item(s) are still listed (see the journal)", file=sys.stderr)
    failed = result.actions.filter(result.actions["outcome"] == "failed").height
    return 1 if failed or result.still_present.height else 0


def _apply(args: argparse.Namespace) -> int:
    from acrlib.analysis import PurgePlan

    if args.plan is None and args.resume is None:
        raise ValueError("apply needs --plan PLAN.parquet (or --resume JOURNAL with its --plan)")
    if args.plan is None:
        raise ValueError("--resume needs the --plan the journal was written for")
    return _run_apply(PurgePlan.load(args.plan), args)


def _purge(args: argparse.Namespace) -> int:
    import acrlib
    from acrlib import sources
    from acrlib.analysis import describe

    source = sources.Source.of(args.source)
    if args.apply and source.kind == "emulator":
        raise ValueError("--apply needs --source azure or a snapshot: the emulator of --source emulator:PRESET "
                         "stops when the plan is made (attach to a running one with --connection-file)")
    inv = sources.load(source, progress=False, activity_days=args.protect_pulled_days or 0)
    plan = acrlib.purge_plan(inv, filters=args.filter or [".*:.*"], ago=args.ago, keep=args.keep,
                             untagged=args.untagged, include_locked=args.include_locked,
                             untagged_only=args.untagged_only,
                             protect_pulled_within=f"{args.protect_pulled_days}d" if args.protect_pulled_days
                             else None)
    plan.parameters["frees_bytes"] = int(acrlib.reclaimable(inv, plan).registries["reclaimable_bytes"].sum())
    counts = dict(plan.group_by("action").len().iter_rows())
    print(f"plan: {', '.join(f'{n:,} {a}' for a, n in sorted(counts.items())) or 'nothing to do'}; frees "
          f"{plan.parameters['frees_bytes']:,} bytes ({describe(plan)})")
    if args.out:
        plan.save(args.out)
        print(f"plan: {args.out}")
    return _run_apply(plan, args) if args.apply else 0


def _apply_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--delete", action="store_true",
                     help="DELETE what the plan lists (default: a dry run that checks every premise and journals "
                          "what it would do); also needs --yes or a typed confirmation")
    sub.add_argument("--yes", action="store_true", help="do not ask before deleting (with --delete)")
    sub.add_argument("--max-deletions", type=int, default=1000, metavar="N",
                     help="refuse a plan with more tag and manifest deletions (default 1000)")
    sub.add_argument("--max-plan-age", default="24h", metavar="DURATION",
                     help="refuse a plan whose inventory is older (default 24h; '' for no limit)")
    sub.add_argument("--journal", metavar="PATH", help="where to journal every step (a file or az:// URL; default "
                     "acrlib-journals/apply-<time>.jsonl)")
    sub.add_argument("--resume", metavar="JOURNAL", help="continue the run this journal records (same plan)")
    sub.add_argument("--verify", action="store_true", help="list the touched repositories again afterwards")
    sub.add_argument("--connection-file", metavar="PATH",
                     help="apply against a running `acrlib emulator` (its connection file) instead of Azure")


def _parameter_list(notebook: str | None) -> int:
    from acrlib import report

    declared = report.declared_parameters(notebook)
    width = max(len(name) for name in declared)
    for name, spec in declared.items():
        kind = spec.get("inferred_type_name") or "None"
        print(f"{name:<{width}}  {kind:<24} default {spec.get('default')}  {spec.get('help', '')}".rstrip())
    return 0


def _report(args: argparse.Namespace) -> int:
    from acrlib.report.run import skip_slow_imports

    skip_slow_imports()  # this process only runs the report
    # the kernel client's tasks, cut short by a stop, would each be logged with a traceback: the one line printed
    # and the executed notebook say what happened
    _quiet_after_stop()
    from acrlib import locations, report, sources
    from acrlib.errors import ReportError

    if args.list_parameters:
        return _parameter_list(args.notebook)
    source = sources.Source.of(args.source)
    publish = args.publish
    if locations.is_url(args.out):  # --out az://...: made in reports/ (kept: a build artifact), then published there
        publish, args.out = publish or args.out, "reports"
    if publish:
        if not locations.is_url(publish):
            raise ValueError(f"--publish {publish}: give an az:// or abfs:// URL (a local folder is --out)")
        publish = _output_folder(publish)  # a malformed URL is named before the report runs
    out = _output_folder(args.out)
    if args.notebook and not Path(args.notebook).is_file():
        raise ValueError(f"--notebook {args.notebook}: no such notebook")
    declared = report.declared_parameters(args.notebook)
    parameters = {}
    for name, value in args.parameter or []:
        if name == "source":
            raise ValueError("give the source with --source, not -p source (the two would disagree)")
        if name not in declared:
            raise ValueError(f"unknown report parameter {name!r}; the report declares {', '.join(declared)}")
        parameters[name] = report.convert(name, value, declared[name])
    try:
        html = report.run_report(source=source, out=out, parameters=parameters, notebook=args.notebook,
                                 timeout_s=args.timeout, say=lambda line: print(f"acrlib report: {line}",
                                                                                file=sys.stderr, flush=True))
    except ReportError as e:
        if e.html is None:
            raise
        print(e.html)
        _publish(e.html, publish, args.publish_notebook)
        print(f"acrlib report: {len(e.sections)} section(s) failed: {', '.join(map(printable, e.sections))}; "
              f"each shows an error box in the report ({printable(e)})", file=sys.stderr)
        return 1
    print(html)
    _publish(html, publish, args.publish_notebook)
    return 0


def _publish(html, url, notebook: bool) -> None:
    if url:
        from acrlib import report

        print(report.publish(html, url, notebook=notebook))


def _on(flag: bool) -> str:
    return "on" if flag else "off"


def build_parser() -> argparse.ArgumentParser:
    from acrlib.collection.options import (  # collect's defaults, from their one place
        DEFAULTS,
        IN_FLIGHT,
        MAX_WORKERS,
        REFERRER_CHECKS,
    )

    parser = argparse.ArgumentParser(prog="acrlib", description="Every repository, manifest and tag of every "
                                     "Azure Container Registry in a tenant, as polars tables and reports.")
    parser.add_argument("--version", action="version", version=f"acrlib {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    col = commands.add_parser("collect", help="collect every registry, repository, manifest and tag into a snapshot")
    col.add_argument("--out", required=True, help="snapshot root: a folder, az://CONTAINER/PATH or "
                     "abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH (a snapshot=<time> folder is added)")
    col.add_argument("--source", default=DEFAULT_SOURCE, help=f"{DEFAULT_SOURCE} (default) or emulator:PRESET")
    col.add_argument("--subscription", action="append", help="subscription id to search (repeatable)")
    col.add_argument("--registry", action="append", help="registry name (repeatable)")
    col.add_argument("--registry-regex", metavar="REGEX",
                     help="collect the registries whose name matches this regular expression (searched)")
    col.add_argument("--layers", action=argparse.BooleanOptionalAction, default=DEFAULTS["layers"],
                     help="also record every manifest's blobs (1 request each; default "
                          f"{_on(DEFAULTS['layers'])})")
    col.add_argument("--referrers", choices=REFERRER_CHECKS, default=DEFAULTS["referrers"],
                     help=f"which manifests are read to find OCI referrers (default {DEFAULTS['referrers']})")
    col.add_argument("--activity-days", type=int, default=DEFAULTS["activity_days"], metavar="N",
                     help="days of pulls and pushes to read from the registries' event logs (0: none; default "
                          f"{DEFAULTS['activity_days']})")
    col.add_argument("--deployments", action=argparse.BooleanOptionalAction, default=DEFAULTS["deployments"],
                     help="read what Azure workloads run (AKS, Container Apps, ACI, App Service; default "
                          f"{_on(DEFAULTS['deployments'])})")
    col.add_argument("--aks-run-command", action="store_true",
                     help="list the pods of AKS clusters without Container Insights through the AKS run command: "
                          "THIS CREATES A POD IN EACH SUCH CLUSTER (off by default)")
    col.add_argument("--previous", metavar="SNAPSHOT",
                     help="an earlier snapshot (folder, root or storage URL) of the same tenant: only new digests' "
                          "children and manifest bytes are fetched")
    col.add_argument("--vulnerabilities", action=argparse.BooleanOptionalAction, default=DEFAULTS["vulnerabilities"],
                     help="read Defender for Cloud's findings for container images (read-only; default "
                          f"{_on(DEFAULTS['vulnerabilities'])})")
    col.add_argument("--scan-results", action="append", metavar="PATH",
                     help="a Trivy or Grype JSON report, or a folder of them (local or az://; repeatable): read into "
                          "the vulnerabilities table")
    col.add_argument("--workers", type=int, default=None, metavar="N",
                     help="processes reading registries (default: the machine's cores, at most "
                          f"{MAX_WORKERS}, never more than there are registries)")
    col.add_argument("--in-flight", type=int, default=None, metavar="N",
                     help=f"registries each process reads at once (default {IN_FLIGHT}): what bounds memory")
    col.add_argument("--no-progress", action="store_true",
                     help="no progress bar (there is none anyway when stderr is not a terminal)")
    col.set_defaults(func=_collect)

    rep = commands.add_parser("report", help="run the report notebook and export it to HTML")
    rep.add_argument("--source", default=DEFAULT_SOURCE,
                     help=f"{DEFAULT_SOURCE} (default), emulator:PRESET (the embedded emulator) or a snapshot "
                          "(folder or storage URL)")
    rep.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                     help="a notebook parameter (repeatable), e.g. -p stale_days 30")
    rep.add_argument("--out", default="reports",
                     help="output folder (default reports/), or an az:// / abfs:// URL: made in reports/, then "
                          "published there (as --publish)")
    rep.add_argument("--publish", metavar="URL",
                     help="also upload the HTML (text/html) to this az:// or abfs:// folder, e.g. az://$web/acr "
                          "for the storage account's static website; prints the address")
    rep.add_argument("--publish-notebook", action="store_true",
                     help="also publish the executed notebook beside the HTML (it holds tracebacks and local paths; "
                          "off by default: $web is public)")
    rep.add_argument("--timeout", type=positive_seconds, default=1800, help="seconds a cell may run (default 1800)")
    rep.add_argument("--notebook", help="run this copy of the report notebook instead of acrlib's own")
    rep.add_argument("--list-parameters", action="store_true",
                     help="print the notebook's parameters (type, default, meaning) and exit")
    rep.set_defaults(func=_report)

    pur = commands.add_parser("purge", help="make a purge plan (what acr purge would delete, with protections); "
                              "save it, or apply it")
    pur.add_argument("--source", default=DEFAULT_SOURCE,
                     help=f"{DEFAULT_SOURCE} (default), emulator:PRESET or a snapshot (folder or storage URL)")
    pur.add_argument("--filter", action="append", metavar="REPO:TAG",
                     help="acr purge filter, '<repository regex>:<tag regex>' (repeatable; default '.*:.*')")
    pur.add_argument("--ago", default="90d", help="age of what goes, acr purge's [N]d[Go duration] (default 90d)")
    pur.add_argument("--keep", type=int, default=3, metavar="N", help="keep the newest N per repository (default 3)")
    pur.add_argument("--untagged", action=argparse.BooleanOptionalAction, default=True,
                     help="also delete untagged manifests as old (default on)")
    pur.add_argument("--untagged-only", action="store_true", help="delete only untagged manifests, no tag")
    pur.add_argument("--include-locked", action="store_true", help="plan locked items too (apply never deletes them)")
    pur.add_argument("--protect-pulled-days", type=int, default=30, metavar="N",
                     help="keep what the event logs show pulled within N days (reads N days of logs; default 30, "
                          "0: off)")
    pur.add_argument("--out", metavar="PLAN.parquet", help="save the plan (for acrlib apply --plan)")
    pur.add_argument("--apply", action="store_true", help="carry the plan out (a dry run unless --delete)")
    _apply_arguments(pur)
    pur.set_defaults(func=_purge)

    app = commands.add_parser("apply", help="carry out a saved purge plan: a dry run unless --delete (needs the "
                              "AcrDelete role)")
    app.add_argument("--plan", metavar="PLAN.parquet", help="a plan saved by acrlib purge --out or PurgePlan.save")
    _apply_arguments(app)
    app.set_defaults(func=_apply)

    emu = commands.add_parser("emulator", help="serve the local HTTPS emulator of ACR and Resource Graph")
    emu.add_argument("--scale", default="demo", choices=EMULATOR_PRESETS,
                     help=f"tenant preset: {', '.join(EMULATOR_PRESETS)} (default demo)")
    emu.add_argument("--seed", type=int, default=7,
                     help="the tenant is generated from the preset and this seed (default 7)")
    emu.add_argument("--latency-ms", type=float, default=0, help="latency added to every request (default 0)")
    emu.add_argument("--throttle", action="store_true",
                     help="throttle ReadOps and WriteOps at each SKU's documented rate")
    emu.add_argument("--connection-file", default="acrlib-emulator.json",
                     help="where to write the connection file other processes attach with (default "
                          "acrlib-emulator.json; removed when the emulator stops)")
    emu.set_defaults(func=_emulator)
    return parser


class Stopped(BaseException):
    """SIGTERM, raised where the process is so that every ``finally`` runs (temporary folders, the emulator's
    key and connection file, a journal) before it exits 143."""


def _stop(signum, frame) -> None:
    raise Stopped()


def _quiet_after_stop() -> None:
    """After a stop, tasks cut short (a report's kernel client, say) may still fail as they are collected:
    asyncio would log each with a traceback. The one line printed says what happened."""
    logging.getLogger("asyncio").setLevel(logging.CRITICAL + 1)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # azure-identity logs each credential it tried; the one line below says what to do instead
    logging.getLogger("azure.identity").setLevel(logging.ERROR)
    from acrlib.errors import BlobStorageError, ReportError, RequestFailed, SignInRequired, SnapshotError

    if argv is None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        _quiet_after_stop()
        print(f"acrlib {args.command}: interrupted; nothing half-written is left behind", file=sys.stderr)
        return 130
    except Stopped:
        _quiet_after_stop()
        print(f"acrlib {args.command}: stopped (SIGTERM); nothing half-written is left behind", file=sys.stderr)
        return 143
    except SignInRequired as e:  # no sign-in: what to do, in the terms of the command line
        print(f"acrlib {args.command}: error: {printable(e.cli_message())}", file=sys.stderr)
        return 2
    except ValueError as e:  # bad input: one clear line, no traceback
        print(f"acrlib {args.command}: error: {printable(e)}", file=sys.stderr)
        return 2
    except (ReportError, RequestFailed, SnapshotError, BlobStorageError) as e:  # the report, a service, a snapshot or
        # a storage account failed
        print(f"acrlib {args.command}: {printable(e)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
