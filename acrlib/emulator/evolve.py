"""The tenant over simulated time: pushes, tag moves, clean-ups, new repositories and pulls (``advance``), and
deletions applied on request (``delete``, a test-only hook: acrlib itself never deletes). Every change is also
an event in the registries' resource log (see ``activity``)."""

from __future__ import annotations

import random
from collections import Counter

from . import activity
from .model import DAY, TICKS, Registry, Repository, Tag, Tenant

NEW_REPOSITORY_STYLES = ["app"] * 6 + ["multiarch", "helm", "signed"]


class Recorder:
    """Writes what a change does to one registry into the tenant's event log, at time ``when``."""

    def __init__(self, tenant: Tenant, reg: Registry, when: int):
        self.tenant, self.reg, self.when = tenant, reg, activity.quiet(when)

    def untag(self, repo: Repository, tag: str, digest: str) -> None:
        activity.record_untag(self.tenant, self.reg, repo, tag, digest, self.when)

    def delete(self, repo: Repository, digest: str) -> None:
        activity.record_delete(self.tenant, self.reg, repo, digest, self.when)


def delete_tag(repo: Repository, name: str, when: int, record: Recorder | None = None) -> bool:
    tag = repo.tags.pop(name, None)
    if tag is None:
        return False
    if record is not None:
        record.untag(repo, name, tag.digest)
    manifest = repo.manifests.get(tag.digest)
    if manifest is not None:
        manifest.tags.remove(name)
        manifest.updated = max(manifest.updated, when)
        manifest.listing = None
    repo.changed()
    return True


def delete_manifest(repo: Repository, digest: str, record: Recorder | None = None) -> int:
    """Delete a manifest with its tags, and (as ACR does) its referrers and theirs. Returns how many."""
    deleted = 0
    stack = [digest]
    while stack:
        current = stack.pop()
        manifest = repo.manifests.pop(current, None)
        if manifest is None:
            continue
        deleted += 1
        if record is not None:
            record.delete(repo, current)
        for name in list(manifest.tags):
            repo.tags.pop(name, None)
        stack += [m.digest for m in repo.manifests.values() if m.subject == current]
    repo.changed()
    return deleted


def delete(tenant: Tenant, manifests: list, tags: list) -> dict:
    """Apply deletions: ``manifests`` and ``tags`` are ``[registry, repository, digest or tag]`` triples."""
    summary: Counter = Counter()
    by_name = {r.name: r for r in tenant.registries}
    when = tenant.now - 1  # just before the present: the event log sees it at once
    for registry, repository, name in tags:
        repo = by_name[registry].repositories.get(repository)
        if repo is not None and delete_tag(repo, name, tenant.now, Recorder(tenant, by_name[registry], when)):
            summary["tags"] += 1
    for registry, repository, digest in manifests:
        repo = by_name[registry].repositories.get(repository)
        if repo is not None:
            summary["manifests"] += delete_manifest(repo, digest, Recorder(tenant, by_name[registry], when))
    return dict(summary)


def _cleanup(rng: random.Random, repo: Repository, now: int, summary: Counter, record: Recorder) -> None:
    """What teams do now and then: drop old CI tags, delete old untagged leftovers."""
    if rng.random() < 0.15:
        ci = sorted((t for t in repo.tags.values() if t.name.startswith(("main-", "build-"))), key=lambda t: t.updated)
        for tag in ci[:2]:
            if tag.delete_enabled and tag.write_enabled and delete_tag(repo, tag.name, record.when, record):
                summary["tags deleted"] += 1
    if rng.random() < 0.08:
        children = {c for m in repo.manifests.values() for c, _, _ in m.children}
        leftovers = sorted((m for m in repo.manifests.values()
                            if not m.tags and m.subject is None and m.digest not in children and m.delete_enabled
                            and m.write_enabled and m.updated < now - 30 * DAY), key=lambda m: m.updated)
        for m in leftovers[:3]:
            summary["manifests deleted"] += delete_manifest(repo, m.digest, record)


def advance(tenant: Tenant, days: float, seed: int = 0) -> dict:
    """Move the tenant ``days`` forward: teams push new versions (``latest`` and ``stable`` move), some
    clean up, new repositories appear. Deterministic from the tenant and ``seed``."""
    if days <= 0:
        raise ValueError("days must be positive")
    generator = tenant.generator
    start, end = tenant.now, tenant.now + int(days * DAY)
    rng = random.Random(f"advance/{generator.scale}/{generator.seed}/{start}/{seed}")
    generator.rng = generator.build.rng = rng
    generator.now = end
    summary: Counter = Counter()
    weeks = days / 7
    for reg in tenant.registries:
        if reg.discovery_only:
            continue
        record = Recorder(tenant, reg, end - 1)
        for repo in list(reg.repositories.values()):
            plan = repo.plan
            if plan is None or plan.style == "mirror":
                continue
            rate = 8.0 if plan.style == "bulk" else (1.5 if rng.random() < 0.35 else 0.0)
            pushes = int(rate * weeks + rng.random())
            for t in sorted(activity.quiet(rng.randint(start + 1, end - 1)) for _ in range(pushes)):
                if generator.push(reg, repo, t) is not None:
                    summary["pushes"] += 1
            if "stable" in repo.tags and "latest" in repo.tags and rng.random() < 0.1 * weeks:
                latest, stable = repo.tags["latest"], repo.tags["stable"]
                if stable.digest != latest.digest:
                    record.untag(repo, "stable", stable.digest)
                repo.tag("stable", latest.digest, stable.created, latest.updated)
                summary["tags moved"] += 1
            _cleanup(rng, repo, end, summary, record)
            _touch(repo)
        for _ in range(int(rng.random() * 2 * weeks + 0.5)):
            _new_repository(generator, reg, rng, start, end, summary)
    summary["pulls"] = activity.pulls(tenant, start, end, seed)
    tenant.now = end
    return dict(summary)


def _new_repository(generator, reg: Registry, rng: random.Random, start: int, end: int, summary: Counter) -> None:
    from .generate import SERVICES, TEAMS

    name = f"{rng.choice(TEAMS)}/{rng.choice(SERVICES)}-{len(reg.repositories)}"
    if name in reg.repositories:
        return
    created = activity.quiet(rng.randint(start + 1, end - 60 * TICKS))
    saved = generator.preset
    try:
        # a young repository: a handful of pushes between its creation and now
        generator.preset = type(saved)(**{**saved.__dict__, "versions": (1, 4)})
        generator._repository(reg, name, rng.choice(NEW_REPOSITORY_STYLES), created=created)
    finally:
        generator.preset = saved
    summary["repositories created"] += 1


def _touch(repo: Repository) -> None:
    times = [*(m.updated for m in repo.manifests.values()), *(t.updated for t in repo.tags.values())]
    if times:
        repo.updated = max(repo.updated, max(times))


def change(tenant: Tenant, op: str, registry: str, repository: str, tag: str | None = None,
           digest: str | None = None) -> None:
    """A team's change between a plan and its apply (a test-only hook): ``tag`` points ``tag`` at ``digest``
    (moving it, or adding it), ``lock`` locks the tag (or, without one, the manifest ``digest``)."""
    repo = tenant.registry(registry).repositories[repository]
    when = tenant.now
    if op == "tag":
        old = repo.tags.get(tag)
        if old is not None:
            previous = repo.manifests.get(old.digest)
            if previous is not None and tag in previous.tags:
                previous.tags.remove(tag)
                previous.listing = None
        manifest = repo.manifests[digest]
        repo.tags[tag] = Tag(tag, digest, when, when)
        manifest.tags.append(tag)
        manifest.listing = None
    elif op == "lock":
        item = repo.tags[tag] if tag else repo.manifests[digest]
        item.delete_enabled = item.write_enabled = False
        item.listing = None
    else:
        raise ValueError(f"unknown change {op!r}: tag or lock")
    repo.changed()
