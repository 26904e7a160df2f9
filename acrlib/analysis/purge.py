"""`purge_plan`: what ``acr purge`` would delete, computed from an inventory, with reasons and sizes.

Semantics follow Azure/acr-cli's purge (dry run):

- ``--filter "<repo regex>:<tag regex>"``: split at the first ``:`` that is not part of a group such as
  ``(?:...)`` or ``(?i:...)`` or a POSIX class; the repository part is wrapped as ``^<repo>$`` (so ``a|b``
  becomes ``^a|b$``, exactly as acr-cli builds it); the tag part is searched anywhere in the tag name; several
  filters on one repository are OR'ed.
- ``--ago [N]d[Go duration]`` (``30d``, ``2d3h6m``, ``12h``), capped at 150 years; a tag is old enough when its
  ``lastUpdateTime`` is strictly before now - ago.
- ``--keep N``: among the eligible tags (matching, old enough, unlocked), newest first by ``lastUpdateTime``,
  the first N are kept; tags newer than the cutoff survive on top of N.
- Locks: a tag or manifest with delete or write disabled is never touched unless ``include_locked``.
- ``--untagged``: a manifest left without tags (after the plan's tag deletions) and old enough is deleted,
  except index children of a manifest kept for its tags or age (nested indexes followed), OCI referrers
  (a ``subject``: ACR deletes them with their subject), and manifests without a media type. Only repositories
  matched by a filter are considered.

Beyond acr purge: rows with action ``cascade`` list the referrers ACR deletes together with a deleted subject,
and every row carries its size (``imageSize``) so the plan can be weighed before anything is deleted. With
``protect_pulled_within``, what the registries' event logs show pulled in that time is kept (rows with action
``keep`` say when it was pulled), and registries whose logs do not reach back that far are not cleaned on this
basis (their rows have action ``skip``): see ``protect``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import polars as pl

from .. import media_types as mt
from ..inventory import Inventory
from . import protect

MAX_AGO = dt.timedelta(days=150 * 365)
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GO_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
# A ':' that is the separator: not right after "(?" plus flags, not inside "[[:class:]]" brackets.
_NOT_SEPARATOR_BEFORE = re.compile(r"(?:\(\?[imsU-]{0,5}|\[*\^*\[\^*)\Z")
LOCKED_REASON = "locked (delete or write disabled)"

PLAN_SCHEMA = {
    "registry": pl.String(), "repository": pl.String(), "tag": pl.String(), "digest": pl.String(),
    "action": pl.String(), "reason": pl.String(), "size_bytes": pl.Int64(),
    "last_updated_at": pl.Datetime("us", "UTC"),
}
ACTIONS = ("delete_tag", "delete_manifest", "cascade", "keep", "skip")
DELETING = protect.DELETING  # the actions that delete; keep and skip rows explain what a protection spared


class PurgePlan(pl.DataFrame):
    """A purge plan: a polars frame (see :func:`purge_plan`) that also carries the ``parameters`` it was made
    with (derived frames are plain frames)."""

    parameters: dict

    @classmethod
    def of(cls, frame: pl.DataFrame, parameters: dict) -> PurgePlan:
        plan = cls._from_pydf(frame._df)
        plan.parameters = parameters
        return plan


def parse_ago(ago: str) -> dt.timedelta:
    """``[N]d[Go duration]`` as acr purge reads it (``30d``, ``2d3h6m``, ``90m``, ``1.5h``), capped at 150
    years. ``ValueError`` for anything else."""
    if not isinstance(ago, str) or not ago.strip():
        raise ValueError("ago must be a duration like '30d', '2d3h6m' or '12h'")
    text = ago.strip()
    days, rest = 0, text
    m = re.fullmatch(r"([+-]?\d+)d(.*)", text)
    if m:
        days, rest = int(m.group(1)), m.group(2)
    seconds = 0.0
    if rest:
        sign = -1.0 if rest.startswith("-") else 1.0
        body = rest.lstrip("+-")
        if body != "0":
            pos = 0
            for part in _GO_PART.finditer(body):
                if part.start() != pos:
                    break
                seconds += float(part.group(1)) * _GO_UNITS[part.group(2)]
                pos = part.end()
            if pos != len(body) or not body:
                raise ValueError(f"invalid ago {ago!r}: expected [N]d followed by a Go duration such as 3h6m")
        seconds *= sign
    delta = dt.timedelta(days=min(days, MAX_AGO.days)) + dt.timedelta(seconds=seconds)
    if delta < dt.timedelta(0):
        # acr purge would accept it and move the cutoff into the future, purging everything: refuse.
        raise ValueError(f"invalid ago {ago!r}: a negative duration would make every tag stale")
    return min(delta, MAX_AGO)


def split_filter(text: str) -> tuple[str, str]:
    """``repo:tag`` split at the separating colon, as acr purge does; ``ValueError`` naming the problem."""
    if not isinstance(text, str):
        raise ValueError(f"a filter must be a string like 'repo/.*:^v1', not {text!r}")
    separators = [i for i, ch in enumerate(text) if ch == ":" and not _NOT_SEPARATOR_BEFORE.search(text[:i])
                  and not text[i + 1:].startswith("]")]
    if len(separators) != 1:
        raise ValueError(f"unable to parse filter {text!r}: it needs exactly one ':' between the repository "
                         "regex and the tag regex")
    repo, tag = text[:separators[0]], text[separators[0] + 1:]
    if not repo:
        raise ValueError(f"filter {text!r} is missing the repository name/expression")
    if not tag:
        raise ValueError(f"filter {text!r} is missing the tag name/expression")
    return repo, tag


@dataclass(frozen=True)
class Rules:
    filters: tuple[str, ...]
    ago: str
    cutoff: dt.datetime
    keep: int
    untagged: bool
    include_locked: bool
    repo_patterns: tuple[tuple[re.Pattern, str], ...]

    def tag_regex(self, repository: str) -> re.Pattern | None:
        """The OR of the tag regexes of every filter whose repository part matches, or None."""
        parts = [tag for repo, tag in self.repo_patterns if repo.search(repository)]
        return re.compile("|".join(parts)) if parts else None


def rules(filters=(".*:.*",), ago: str = "30d", keep: int = 0, untagged: bool = True, include_locked: bool = False,
          now: dt.datetime | None = None) -> Rules:
    """Validate purge parameters (``ValueError`` naming the problem)."""
    if isinstance(filters, str):
        filters = (filters,)
    filters = tuple(filters)
    if not filters:
        raise ValueError("at least one filter is needed, e.g. '.*:.*' (every tag of every repository)")
    patterns = []
    for text in filters:
        repo, tag = split_filter(text)
        try:
            patterns.append((re.compile("^" + repo + "$"), tag))
            re.compile(tag)
        except re.error as e:
            raise ValueError(f"invalid regex in filter {text!r}: {e}") from None
    if not isinstance(keep, int) or keep < 0:
        raise ValueError(f"keep must be a whole number >= 0, not {keep!r}")
    delta = parse_ago(ago)
    if now is None:
        raise ValueError("now is required")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    return Rules(filters=filters, ago=ago, cutoff=now - delta, keep=keep, untagged=bool(untagged),
                 include_locked=bool(include_locked), repo_patterns=tuple(patterns))


def _days(cutoff_now: dt.datetime, when: dt.datetime | None) -> str:
    return "unknown" if when is None else f"{(cutoff_now - when).total_seconds() / 86400:.0f}"


def purge_plan(inv: Inventory, filters=(".*:.*",), ago: str = "30d", keep: int = 0, untagged: bool = True,
               include_locked: bool = False, now: dt.datetime | None = None, *,
               protect_pulled_within: str | None = None, protect_in_use: bool | None = None) -> PurgePlan:
    """What ``acr purge --filter ... --ago ... [--keep N] [--untagged] [--include-locked]`` would delete in
    every registry of ``inv``, one row per action: registry, repository, tag (null for a manifest), digest,
    action (``delete_tag`` | ``delete_manifest`` | ``cascade``, or ``keep`` | ``skip`` for a deletion a
    protection spared), reason, size_bytes (the manifest's ``imageSize``: a tag row carries the size of the image
    it points at), last_updated_at.

    ``now`` is when the cutoff is measured from (default: when the inventory was collected).
    ``protect_pulled_within``: a duration like ``ago`` (``30d``): keep what the registries' event logs show
    pulled in that time (by digest, or through a tag pulled then), with its index parents and children and its
    referrers; a registry whose logs do not reach back that far (see ``activity_sources``) is not cleaned: its
    rows have action ``skip`` ("no pull logs covering 30d"). Needs ``collect(activity_days=...)`` covering it.
    ``protect_in_use`` (default: whenever deployments were collected): keep what a deployment runs or names (by
    digest, or through a tag it names: the tag, what it points at now, and what runs), with its index parents and
    children; the reason names where it runs. With AKS clusters whose pods are unknown, every deletion's reason
    says so.

    Examples
    --------
    >>> plan = acrlib.purge_plan(inv, ago="90d", keep=3, protect_pulled_within="30d")   # doctest: +SKIP
    >>> plan.filter(pl.col("action") == "keep").select("repository", "tag", "reason")     # doctest: +SKIP
    """
    now = now or inv.collected_at
    r = rules(filters, ago, keep, untagged, include_locked, now)
    within = parse_ago(protect_pulled_within) if protect_pulled_within is not None else None
    plan = _acr_purge(inv, r, now)
    if within is not None:
        plan = protect.pulled(inv, plan, within, protect_pulled_within, now)
    if protect_in_use is None:
        protect_in_use = inv.deployment_sources.height > 0 or inv.deployments.height > 0
    if protect_in_use:
        plan = protect.in_use(inv, plan)
    parameters = {"filters": list(r.filters), "ago": ago, "keep": keep, "untagged": r.untagged,
                  "include_locked": r.include_locked, "now": now, "protect_pulled_within": protect_pulled_within,
                  "protect_in_use": bool(protect_in_use)}
    return PurgePlan.of(plan.sort(["registry", "repository", "action", "tag", "digest"], nulls_last=True), parameters)


def describe(plan: pl.DataFrame) -> str:
    """The rules a plan was made with, in one sentence (for reports and scripts)."""
    p = getattr(plan, "parameters", None)
    if not p:
        return "a plan whose rules are unknown"
    text = (f"acr purge rules: tags matching {', '.join(p['filters'])} not updated for {p['ago']}"
            + (f", keeping the newest {p['keep']} per repository" if p["keep"] else "")
            + (", and untagged manifests as old" if p["untagged"] else "")
            + (", locked ones included" if p["include_locked"] else ""))
    if p.get("protect_pulled_within"):
        text += (f"; never what was pulled in the last {p['protect_pulled_within']} (registries whose pull logs do "
                 "not cover that are left alone)")
    if p.get("protect_in_use"):
        text += "; never what a deployment runs or names"
    return text


def _acr_purge(inv: Inventory, r: Rules, now: dt.datetime) -> pl.DataFrame:
    """acr purge's own rules: the deletion rows."""
    rows: list[tuple] = []
    tag_groups = inv.tags.sort(["registry", "repository", "last_updated_at", "tag"],
                               descending=[False, False, True, False], nulls_last=True).partition_by(
        ["registry", "repository"], as_dict=True, maintain_order=True)
    manifest_groups = inv.manifests.partition_by(["registry", "repository"], as_dict=True, maintain_order=True)
    reference_groups = inv.references.partition_by(["registry", "repository"], as_dict=True)
    repositories = sorted(set(tag_groups) | set(manifest_groups))
    for key in repositories:
        registry, repository = key
        tag_regex = r.tag_regex(repository)
        if tag_regex is None:
            continue
        manifests = manifest_groups.get(key)
        sizes = dict(zip(manifests["digest"], manifests["size_bytes"], strict=True)) if manifests is not None else {}
        deleted_tags: dict[str, int] = {}
        tags = tag_groups.get(key)
        if tags is not None:
            kept = 0
            for t in tags.iter_rows(named=True):
                if not tag_regex.search(t["tag"]):
                    continue
                updated = t["last_updated_at"]
                if updated is None or not updated < r.cutoff:
                    continue
                unlocked = bool(t["delete_enabled"]) and bool(t["write_enabled"])
                if not (r.include_locked or unlocked):
                    continue
                if kept < r.keep:
                    kept += 1
                    continue
                deleted_tags[t["digest"]] = deleted_tags.get(t["digest"], 0) + 1
                rows.append((registry, repository, t["tag"], t["digest"], "delete_tag",
                             f"matches {tag_regex.pattern!r}, last updated {_days(now, updated)} days ago "
                             f"(older than {r.ago})" + ("" if unlocked else ", locked: included"),
                             sizes.get(t["digest"]), updated))
        if r.untagged and manifests is not None:
            refs = reference_groups.get(key)
            children: dict[str, list[str]] = {}
            if refs is not None:
                for index, child in zip(refs["index_digest"], refs["child_digest"], strict=True):
                    children.setdefault(index, []).append(child)
            rows += _untagged(r, now, registry, repository, manifests, children, deleted_tags)
    return pl.DataFrame(rows, schema=PLAN_SCHEMA, orient="row")


def _untagged(r: Rules, now, registry, repository, manifests: pl.DataFrame, children: dict[str, list[str]],
              deleted_tags: dict[str, int]) -> list[tuple]:
    protected: set[str] = set()

    def protect_children(index: str) -> None:
        stack = list(children.get(index, ()))
        while stack:
            digest = stack.pop()
            if digest in protected:
                continue
            protected.add(digest)
            stack += children.get(digest, ())  # nested index: its children too

    candidates = []
    subjects: dict[str, list[dict]] = {}
    for m in manifests.iter_rows(named=True):
        if m["subject"]:
            subjects.setdefault(m["subject"], []).append(m)
        if not r.include_locked and (m["delete_enabled"] is False or m["write_enabled"] is False):
            continue  # acr purge skips locked manifests entirely (it does not look at their children either)
        tags_left = len(m["tags"] or []) - deleted_tags.get(m["digest"], 0)
        updated = m["last_updated_at"]
        young = updated is None or not updated < r.cutoff
        if tags_left > 0 or young:
            if m["media_type"] is None or m["media_type"] in mt.INDEX_TYPES:
                protect_children(m["digest"])
            continue
        if m["media_type"] is None:
            protected.add(m["digest"])  # no media type: kept to be safe
            continue
        if m["subject"]:
            protected.add(m["digest"])  # a referrer: ACR deletes it with its subject
            if m["media_type"] in mt.INDEX_TYPES:
                protect_children(m["digest"])
            continue
        candidates.append(m)
    rows = []
    deleted = set()
    for m in candidates:
        if m["digest"] in protected:
            continue
        deleted.add(m["digest"])
        was_tagged = deleted_tags.get(m["digest"], 0) > 0
        reason = ("untagged once the plan's tags are deleted" if was_tagged else "untagged") + (
            f", last updated {_days(now, m['last_updated_at'])} days ago (older than {r.ago})")
        rows.append((registry, repository, None, m["digest"], "delete_manifest", reason, m["size_bytes"],
                     m["last_updated_at"]))
    # ACR deletes referrers together with their subject (and their referrers in turn).
    stack = list(deleted)
    while stack:
        subject = stack.pop()
        for ref in subjects.get(subject, ()):
            if ref["digest"] in deleted:
                continue
            deleted.add(ref["digest"])
            stack.append(ref["digest"])
            rows.append((registry, repository, None, ref["digest"], "cascade",
                         f"referrer ({ref['kind']}) of {subject[:19]}..., deleted by ACR with it", ref["size_bytes"],
                         ref["last_updated_at"]))
    return rows
