"""The row-by-row purge plan acrlib shipped before plans were vectorized: acr purge's rules written the way
acr-cli reads, one repository, tag and manifest at a time. Kept as the reference the vectorized
``acrlib.analysis.purge`` is checked against (tests/unit/test_purge_differential.py); not used by acrlib.

One quirk of this reading is order-dependent and the vectorized plan does not copy it: an old untagged manifest
without a media type blocks the protection of its own children when it is reached first. Only index manifests
have children in real registries, so generated inventories give children to indexes only.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from acrlib import media_types as mt
from acrlib.analysis import dialect
from acrlib.analysis.purge import PLAN_SCHEMA, Rules
from acrlib.inventory import Inventory


def _days(cutoff_now: dt.datetime, when: dt.datetime | None) -> str:
    return "unknown" if when is None else f"{(cutoff_now - when).total_seconds() / 86400:.0f}"


def acr_purge(inv: Inventory, r: Rules, now: dt.datetime) -> pl.DataFrame:
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
        if tags is not None and not r.untagged_only:
            kept = 0
            for t in tags.iter_rows(named=True):
                if not dialect.search(tag_regex, t["tag"]):
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
                             f"matches {tag_regex!r}, last updated {_days(now, updated)} days ago "
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
    candidates = [m for m in candidates if m["digest"] not in protected]
    spared: set[str] = set()
    if r.keep:  # the newest `keep` candidates stay (equal times: the smaller digest first), and an index's children
        candidates.sort(key=lambda m: m["digest"])
        candidates.sort(key=lambda m: m["last_updated_at"], reverse=True)
        kept, candidates = candidates[:r.keep], candidates[r.keep:]
        saved = protected.copy()
        for m in kept:
            protect_children(m["digest"])
        spared = protected - saved
    rows = []
    deleted = set()
    for m in candidates:
        if m["digest"] in protected:
            if m["digest"] in spared:
                rows.append((registry, repository, None, m["digest"], "keep",
                             f"platform image of an untagged index kept by keep={r.keep} (acr purge would delete it "
                             "and break the index)", m["size_bytes"], m["last_updated_at"]))
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
