"""`apply`: carry out a purge plan, safely. The only part of acrlib that deletes, and only when asked twice.

For each repository of the plan, right before its actions: one fresh listing (the repository's attributes, its
tags, its manifests) checks every action's premise. A tag that moved, a manifest that got a tag, a lock set, a
registry that is not the one the plan was made from: skipped, with the reason. A tag or digest already gone
counts as done. Then, in the plan's order: untag; delete indexes, then the other manifests (a referrer goes
with its subject, as ACR deletes it: the plan's ``cascade`` rows are never sent). Deletes go through the
collection's token cache, retries and deadlines, paced under the SKU's documented WriteOps, registries in
parallel. Every step is journalled as it happens; a resumed run repeats nothing that is done.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ..analysis import parse_ago
from ..collection.access import Access
from ..collection.options import Options
from ..errors import RegistryError, redact
from ..media_types import INDEX_TYPES
from .journal import FINAL, Journal, now, state

DELETING = ("delete_tag", "delete_manifest")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
ACTIONS = (*DELETING, "cascade")
REPOSITORIES_AT_ONCE = 4  # per registry: each repository's listing, then its actions
OUTCOMES = {"registry": pl.String, "repository": pl.String, "tag": pl.String, "digest": pl.String,
            "action": pl.String, "outcome": pl.String, "reason": pl.String, "status": pl.Int64,
            "size_bytes": pl.Int64, "at": pl.String}


@dataclass(frozen=True)
class Applied:
    """What :func:`apply` did: ``actions`` (one row per planned action: its outcome ``done``, ``skipped``,
    ``failed`` or, in a dry run, ``would-delete``, with the reason and the registry's answer), ``skipped``
    (counts by reason), ``still_present`` (with ``verify``: deleted items a fresh listing still shows) and
    ``registries`` (per registry: done, skipped, failed, the image bytes deleted, and until when soft delete
    keeps them restorable)."""

    actions: pl.DataFrame
    skipped: pl.DataFrame
    still_present: pl.DataFrame
    registries: pl.DataFrame
    journal: str = ""
    dry_run: bool = True
    frees_bytes: int | None = None

    def summary(self) -> str:
        """The end of a run in a few lines."""
        counts = dict(self.actions.group_by("outcome").len().iter_rows())
        verb = "would delete" if self.dry_run else "done"
        lines = [f"{'dry run: ' if self.dry_run else ''}{counts.get('would-delete' if self.dry_run else 'done', 0):,}"
                 f" {verb}, {counts.get('skipped', 0):,} skipped, {counts.get('failed', 0):,} failed "
                 f"(journal: {self.journal})"]
        lines += [f"  skipped {n:,}: {reason}" for reason, n in self.skipped.iter_rows()]
        if self.frees_bytes is not None:
            lines.append(f"  the plan said it frees {self.frees_bytes:,} bytes")
        for r in self.registries.filter(pl.col("restorable_until").is_not_null()).iter_rows(named=True):
            lines.append(f"  {r['registry']}: soft delete is on, deletions may be restored until "
                         f"{r['restorable_until']}")
        return "\n".join(lines)


def _key(row: dict) -> str:
    where = f"{row['registry']}/{row['repository']}"
    return f"{where}:{row['tag']}" if row["action"] == "delete_tag" else f"{where}@{row['digest']}#{row['action']}"


def fingerprint(plan: pl.DataFrame) -> str:
    """The plan's actions, hashed: a journal resumes only the plan it was written for."""
    rows = plan.filter(pl.col("action").is_in(ACTIONS)).select("registry", "repository", "tag", "digest", "action")
    text = "\n".join(sorted(json.dumps(r) for r in rows.rows()))
    return hashlib.sha256(text.encode()).hexdigest()


def check_plan(plan: pl.DataFrame, *, max_deletions: int | None, max_plan_age: str | None) -> dict:
    """The plan's parameters, when it may be applied: ``ValueError`` naming why not (no request sent)."""
    parameters = getattr(plan, "parameters", None)
    if not isinstance(parameters, dict) or "registries" not in parameters:
        raise ValueError("apply needs a plan made by acrlib.purge_plan (or saved with PurgePlan.save / acrlib purge "
                         "--out): this frame carries no record of the registries it was made from")
    missing = [c for c in ("registry", "repository", "tag", "digest", "action", "size_bytes") if c not in plan.columns]
    if missing:
        raise ValueError(f"the plan lacks the columns {missing}")
    if max_deletions is not None and (isinstance(max_deletions, bool) or not isinstance(max_deletions, int)
                                      or max_deletions < 0):
        raise ValueError(f"max_deletions must be a whole number >= 0, not {max_deletions!r}")
    deleting = plan.filter(pl.col("action").is_in(DELETING)).height
    if max_deletions is not None and deleting > max_deletions:
        raise ValueError(f"the plan deletes {deleting:,} tags and manifests, more than max_deletions "
                         f"({max_deletions:,}): raise it (--max-deletions {deleting}) if that is intended")
    if max_plan_age is not None:
        parse_ago(max_plan_age)  # a bad duration is named before anything is sent
        if not isinstance(parameters.get("collected_at"), dt.datetime):
            raise ValueError("the plan does not say when its inventory was collected: make it again")
    unknown = sorted(set(plan.filter(pl.col("action").is_in(ACTIONS))["registry"].unique()) -
                     set(parameters["registries"]))
    if unknown:
        raise ValueError(f"the plan names registries it holds no record of: {unknown}")
    return parameters


@dataclass
class Run:
    """One apply: the plan's actions, what a resumed journal already did, and the journal."""

    journal: Journal
    dry_run: bool
    prior: dict[str, dict]
    outcomes: list[dict] = field(default_factory=list)

    def record(self, row: dict, outcome: str, reason: str, status: int | None = None) -> str:
        """Journal and keep an action's outcome; returns it."""
        line = {"type": "outcome", "key": _key(row), "registry": row["registry"], "repository": row["repository"],
                "tag": row["tag"], "digest": row["digest"], "action": row["action"], "outcome": outcome,
                "reason": reason, "status": status, "size_bytes": row.get("size_bytes"), "at": now()}
        self.journal.write(line)
        self.outcomes.append(line)
        return outcome

    def carried(self, row: dict) -> bool:
        """An action a resumed journal already finished: its outcome counts again, nothing is sent."""
        before = self.prior.get(_key(row))
        if before and before.get("outcome") in FINAL:
            self.outcomes.append({**{k: before.get(k) for k in OUTCOMES}, "reason": before.get("reason")})
            return True
        return False

    async def send(self, row: dict, call) -> str:
        """Journal the attempt, send ``call()``, journal its outcome (404: already gone, done); returns it."""
        self.journal.write({"type": "attempt", "key": _key(row)})
        try:
            status = await call()
        except RegistryError as e:
            reason = "locked" if e.code == "REGISTRY_DISALLOWED_OPERATION" else redact(f"{e.code}: {e.message}")[:300]
            return self.record(row, "skipped" if reason == "locked" else "failed", reason, e.status)
        return self.record(row, "done", "deleted" if status == 202 else "already gone", status)


async def _repository(run: Run, registry, repository: str, rows: list[dict]) -> None:
    """One repository's actions against a fresh listing."""
    todo = [r for r in rows if not run.carried(r)]
    if not todo:
        return
    try:
        open_, tags, manifests = await registry.listing(repository)
    except RegistryError as e:
        for row in todo:
            run.record(row, "failed", redact(f"the fresh listing failed: {e.code}: {e.message}")[:300], e.status)
        return
    fresh_tags = {t["tag"]: t for t in tags.iter_rows(named=True)}
    fresh = {m["digest"]: m for m in manifests.iter_rows(named=True)}

    def locked(item: dict) -> bool:
        return item.get("delete_enabled") is False or item.get("write_enabled") is False

    tag_rows = [r for r in todo if r["action"] == "delete_tag"]
    for row in tag_rows:
        now_ = fresh_tags.get(row["tag"])
        if now_ is None:
            run.record(row, "done", "already gone")
        elif now_["digest"] != row["digest"]:
            run.record(row, "skipped", "the tag moved to another digest since the plan")
        elif not open_ or locked(now_):
            run.record(row, "skipped", "locked")
        elif run.dry_run:
            run.record(row, "would-delete", "premise holds")
        else:
            await run.send(row, lambda r=row: registry.delete_tag(repository, r["tag"]))
    # the tags this run (or the run it resumes) took off, as (digest, tag): a manifest's remaining tags exclude them
    untagged = {(o["digest"], o["tag"]) for o in run.outcomes if o["action"] == "delete_tag"
                and o["repository"] == repository and o["registry"] == registry.name
                and o["outcome"] in ("done", "would-delete")}
    manifest_rows = [r for r in todo if r["action"] == "delete_manifest"]
    # indexes first, newest first (an index of indexes is pushed after the ones it lists), then the rest
    manifest_rows.sort(key=lambda r: (fresh.get(r["digest"], {}).get("media_type") not in INDEX_TYPES,
                                      -(fresh.get(r["digest"], {}).get("last_updated_at") or _EPOCH).timestamp()))
    deleted_any = False
    kept: dict[str, str] = {}  # platform images of an index that stays -> that index: never deleted
    for row in manifest_rows:
        now_ = fresh.get(row["digest"])
        if now_ is None:
            run.record(row, "done", "already gone")
            continue
        left = [t for t in (now_["tags"] or []) if (row["digest"], t) not in untagged]
        if row["digest"] in kept:
            outcome = run.record(row, "skipped", f"a platform image of {kept[row['digest']][:19]}..., an index "
                                                 "that stays")
        elif left:
            outcome = run.record(row, "skipped", f"tagged now ({', '.join(sorted(left)[:5])}): the plan expected it "
                                                 "untagged")
        elif not open_ or locked(now_):
            outcome = run.record(row, "skipped", "locked")
        elif run.dry_run:
            outcome = run.record(row, "would-delete", "premise holds")
        else:
            outcome = await run.send(row, lambda r=row: registry.delete_manifest(repository, r["digest"]))
        deleted_any = deleted_any or outcome in ("done", "would-delete")
        if outcome not in ("done", "would-delete") and now_.get("media_type") in INDEX_TYPES:
            try:
                for child in await registry.children(repository, row["digest"]):
                    kept.setdefault(child, row["digest"])
            except RegistryError:  # its children are unknown: keep every image of the repository
                kept.update({r["digest"]: row["digest"] for r in manifest_rows if r["digest"] not in kept})
    for row in (r for r in todo if r["action"] == "cascade"):
        if deleted_any or row["digest"] not in fresh:
            run.record(row, "would-delete" if run.dry_run else "done", "deleted by ACR with its subject")
        else:
            run.record(row, "skipped", "its subject was not deleted")


async def _registry(run: Run, access: Access, row: dict | None, problem: str | None, rows: list[dict]) -> None:
    if problem is not None:
        for r in rows:
            if not run.carried(r):
                run.record(r, "skipped", problem)
        return
    registry = access.registry(row)
    by_repo: dict[str, list[dict]] = {}
    for r in rows:
        by_repo.setdefault(r["repository"], []).append(r)
    queue = iter(sorted(by_repo.items()))

    async def worker() -> None:
        for repository, items in queue:
            await _repository(run, registry, repository, items)
            run.journal.sync()

    await asyncio.gather(*(worker() for _ in range(min(REPOSITORIES_AT_ONCE, len(by_repo)) or 1)))


async def _verify(access: Access, outcomes: list[dict], found: dict) -> pl.DataFrame:
    """Deleted items (outcome done) a fresh listing still shows."""
    present = []
    for name, row in found.items():
        registry = access.registry(row)
        repos = sorted({o["repository"] for o in outcomes if o["registry"] == name and o["outcome"] == "done"})
        for repository in repos:
            _, tags, manifests = await registry.listing(repository)
            tag_names, digests = set(tags["tag"]), set(manifests["digest"])
            for o in outcomes:
                if o["registry"] != name or o["repository"] != repository or o["outcome"] != "done":
                    continue
                if (o["action"] == "delete_tag" and o["tag"] in tag_names) or (
                        o["action"] != "delete_tag" and o["digest"] in digests):
                    present.append({k: o.get(k) for k in ("registry", "repository", "tag", "digest", "action")})
    return pl.DataFrame(present, schema={k: pl.String for k in ("registry", "repository", "tag", "digest", "action")},
                        orient="row")


async def _apply(plan: pl.DataFrame, parameters: dict, opts: Options, run: Run, verify: bool,
                 max_plan_age: str | None) -> pl.DataFrame:
    rows = plan.filter(pl.col("action").is_in(ACTIONS)).select(
        "registry", "repository", "tag", "digest", "action", "size_bytes").to_dicts()
    async with Access(opts) as access:
        visible = {r["registry"]: r for r in await access.registries()}
        planned = parameters["registries"]
        tenant = parameters.get("tenant_id")
        if tenant and visible and not any((r.get("tenant_id") or "").lower() == tenant.lower()
                                          for r in visible.values()):
            raise ValueError(f"the plan was made from tenant {tenant}; the credential sees registries of "
                             f"{sorted({r.get('tenant_id') for r in visible.values()})} only: nothing was deleted")
        if max_plan_age is not None:  # the inventory's age on the service's own clock (a skewed local clock
            # neither hides nor invents it)
            age = (access.server_time() or dt.datetime.now(dt.UTC)) - parameters["collected_at"]
            if age > parse_ago(max_plan_age):
                raise ValueError(f"the plan's inventory was collected {age.total_seconds() / 3600:.1f} h ago, more "
                                 f"than max_plan_age ({max_plan_age}): the registries have changed since; collect "
                                 "and plan again (nothing was deleted)")
        found, problems = {}, {}
        for name in sorted({r["registry"] for r in rows}):
            now_row = visible.get(name)
            if now_row is None:
                problems[name] = "the registry is not visible to the credential now"
            elif (now_row.get("id") or "").lower() != (planned[name].get("id") or "").lower():
                problems[name] = "a different registry of that name: not the one the plan was made from"
            else:
                found[name] = now_row
        by_registry: dict[str, list[dict]] = {}
        for r in rows:
            by_registry.setdefault(r["registry"], []).append(r)
        await asyncio.gather(*(_registry(run, access, found.get(name), problems.get(name), items)
                               for name, items in sorted(by_registry.items())))
        if verify and not run.dry_run:
            return await _verify(access, run.outcomes, found)
    return pl.DataFrame(schema={k: pl.String for k in ("registry", "repository", "tag", "digest", "action")})


def default_journal() -> Path:
    return Path("acrlib-journals") / f"apply-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%fZ}.jsonl"


def apply(plan: pl.DataFrame, *, credential=None, dry_run: bool = True, max_deletions: int | None = None,
          journal=None, resume=None, verify: bool = False, max_plan_age: str | None = "24h",
          cloud: str = "public", arm_endpoint: str | None = None, connection_verify=None,
          logs_endpoint: str | None = None) -> Applied:
    """Carry out a purge plan: **this deletes** tags and manifests when ``dry_run=False`` (the default is a dry
    run that checks every premise against the registries and journals what it would do). The identity needs
    ``AcrDelete`` (or a role with the ``Microsoft.ContainerRegistry/registries/repositories/content/delete``
    data action; on registries with ABAC repository permissions, a repository role with ``content/delete``),
    plus Reader to find the registries.

    Right before a repository's actions its tags and manifests are listed again; every action whose premise
    changed is skipped with its reason (a tag that moved, a manifest that got a tag, a lock set); what is
    already gone counts as done. Nothing locked or tagged is ever deleted, and nothing is unlocked.

    ``max_deletions``: refuse a plan with more tag and manifest deletions. ``max_plan_age`` (a duration like
    ``24h``; None: no limit): refuse a plan whose inventory was collected longer ago (on the service's clock).
    A plan made from another tenant is refused. ``journal``: where to write the journal (a path or ``az://``
    URL; default ``acrlib-journals/apply-<time>.jsonl``); ``resume``: a journal of an earlier run of the same
    plan to continue (nothing done is repeated). ``verify``: list the touched repositories again afterwards and
    return what is still there. The other keywords are :func:`acrlib.collect`'s connection settings.

    Examples
    --------
    >>> plan = acrlib.purge_plan(inv, ago="90d", keep=3, protect_pulled_within="30d")  # doctest: +SKIP
    >>> acrlib.apply(plan).actions                        # a dry run: what it would do  # doctest: +SKIP
    >>> acrlib.apply(plan, dry_run=False, max_deletions=500)   # deletes               # doctest: +SKIP
    """
    if not isinstance(dry_run, bool):
        raise ValueError(f"dry_run must be True or False, not {dry_run!r}")
    parameters = check_plan(plan, max_deletions=max_deletions, max_plan_age=max_plan_age)
    opts = Options(credential, cloud=cloud, arm_endpoint=arm_endpoint, connection_verify=connection_verify,
                   logs_endpoint=logs_endpoint, progress=False)
    print_ = fingerprint(plan)
    if resume is not None:
        if journal is not None:
            raise ValueError("give journal or resume, not both: a resumed run continues its own journal")
        book = Journal.open(resume, credential=opts.credential, resume=True)
        records = book.records()
        head = next((r for r in records if r.get("type") == "plan"), None)
        if head is None or head.get("fingerprint") != print_:
            book.close()
            raise ValueError(f"journal {book} was not written for this plan: nothing to resume")
        if bool(head.get("dry_run")) != dry_run:
            book.close()
            raise ValueError(f"journal {book} is of a {'dry' if head.get('dry_run') else 'real'} run; resume it as one")
        prior = state(records)
    else:
        book = Journal.open(journal if journal is not None else default_journal(), credential=opts.credential)
        prior = {}
    run = Run(book, dry_run, prior)
    started = time.perf_counter()
    book.write({"type": "plan" if resume is None else "resume", "fingerprint": print_, "dry_run": dry_run,
                "actions": plan.filter(pl.col("action").is_in(ACTIONS)).height})
    try:
        still = _run_sync(_apply(plan, parameters, opts, run, verify, max_plan_age))
    finally:
        outcomes = pl.DataFrame([{k: o.get(k) for k in OUTCOMES} for o in run.outcomes], schema=OUTCOMES,
                                orient="row")
        book.write({"type": "end", "seconds": round(time.perf_counter() - started, 3),
                    "outcomes": dict(outcomes.group_by("outcome").len().iter_rows())})
        book.close()
    return _result(outcomes, still, parameters, str(book), dry_run)


def _run_sync(coroutine):
    from ..collection.access import run_sync

    return run_sync(coroutine)


def _result(outcomes: pl.DataFrame, still: pl.DataFrame, parameters: dict, journal: str, dry_run: bool) -> Applied:
    skipped = (outcomes.filter(pl.col("outcome") == "skipped").group_by("reason").len()
               .sort("len", "reason", descending=[True, False]).rename({"len": "count"}))
    today = dt.datetime.now(dt.UTC)
    soft = {name: r.get("soft_delete_days") for name, r in parameters["registries"].items()}
    per = (outcomes.group_by("registry").agg(
        (pl.col("outcome") == "done").sum().alias("done"), (pl.col("outcome") == "skipped").sum().alias("skipped"),
        (pl.col("outcome") == "failed").sum().alias("failed"),
        pl.col("size_bytes").filter((pl.col("outcome") == "done") & (pl.col("action") != "delete_tag")).sum()
        .alias("image_bytes_deleted"))
        .with_columns(pl.col("registry").map_elements(
            lambda n: (today + dt.timedelta(days=soft[n])).strftime("%Y-%m-%d") if soft.get(n) and not dry_run
            else None, return_dtype=pl.String).alias("restorable_until"))
        .sort("registry"))
    return Applied(actions=outcomes.sort("registry", "repository", "action", "tag", "digest", nulls_last=True),
                   skipped=skipped, still_present=still, registries=per, journal=journal, dry_run=dry_run,
                   frees_bytes=parameters.get("frees_bytes"))
