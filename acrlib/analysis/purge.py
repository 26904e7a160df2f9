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
import json
import re
from dataclasses import dataclass

import polars as pl

from .. import media_types as mt
from ..inventory import Inventory
from ..schema import MANIFEST_KEY, REPOSITORY_KEY
from . import dialect, protect, risk

MAX_AGO = dt.timedelta(days=150 * 365)
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GO_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
# A ':' that is the separator: not right after "(?" plus flags, not inside "[[:class:]]" brackets.
_NOT_SEPARATOR_BEFORE = re.compile(r"(?:\(\?[imsU-]{0,5}|\[*\^*\[\^*)\Z")

PLAN_SCHEMA = {
    "registry": pl.String(), "repository": pl.String(), "tag": pl.String(), "digest": pl.String(),
    "action": pl.String(), "reason": pl.String(), "size_bytes": pl.Int64(),
    "last_updated_at": pl.Datetime("us", "UTC"),
}
DEFAULT_AGO, DEFAULT_KEEP, DEFAULT_PULLED = "90d", 3, "30d"  # the report's: one set of defaults, the safe one
AUTO = "auto"
DELETING = protect.DELETING  # the actions that delete; keep and skip rows explain what a protection spared


PLAN_METADATA_KEY = "acrlib.purge_plan"  # the Parquet key-value metadata that holds a saved plan's parameters


class PurgePlan(pl.DataFrame):
    """A purge plan: a polars frame (see :func:`purge_plan`) that also carries the ``parameters`` it was made
    with (derived frames are plain frames): its rules, when it was made, the tenant and, per registry, what
    ``acrlib.apply`` needs to find it again (resource id, login server, SKU, soft-delete days).
    :meth:`save` and :meth:`load` keep both in one Parquet file."""

    parameters: dict

    @classmethod
    def of(cls, frame: pl.DataFrame, parameters: dict) -> PurgePlan:
        plan = cls(frame)
        plan.parameters = parameters
        return plan

    def save(self, path) -> None:
        """The plan and its parameters as one Parquet file (``path``: a local path)."""
        self.write_parquet(path, metadata={PLAN_METADATA_KEY: json.dumps(self.parameters, default=_jsonable)})

    @classmethod
    def load(cls, path) -> PurgePlan:
        """A plan :meth:`save` wrote; ``ValueError`` naming the file when it is not one."""
        try:
            metadata = pl.read_parquet_metadata(path)
            frame = pl.read_parquet(path)
        except FileNotFoundError:
            raise ValueError(f"{path}: no such plan file") from None
        except Exception as e:
            raise ValueError(f"{path} is not a Parquet file: {str(e).splitlines()[0][:200]}") from None
        if PLAN_METADATA_KEY not in metadata:
            raise ValueError(f"{path} is a Parquet file but not a saved purge plan (no {PLAN_METADATA_KEY} "
                             "metadata): write plans with PurgePlan.save or acrlib purge --out")
        missing = [c for c in PLAN_SCHEMA if c not in frame.columns]
        if missing:
            raise ValueError(f"{path}: the plan lacks the columns {missing}")
        parameters = json.loads(metadata[PLAN_METADATA_KEY])
        for key in ("now", "made_at", "collected_at"):
            if isinstance(parameters.get(key), str):
                parameters[key] = dt.datetime.fromisoformat(parameters[key])
        return cls.of(frame, parameters)


def _jsonable(value):
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def plan_context(inv: Inventory) -> dict:
    """What a plan records of the inventory it was made from, for ``acrlib.apply`` to check and to find the
    registries again: the tenant, and per registry its resource id, login server, SKU and soft-delete days."""
    regs = inv.registries.select("registry", "id", "tenant_id", "login_server", "sku", "soft_delete_enabled",
                                 "soft_delete_days")
    tenants = sorted(t for t in regs["tenant_id"].unique().to_list() if t)
    return {"tenant_id": tenants[0] if len(tenants) == 1 else None,
            "registries": {r["registry"]: {"id": r["id"], "login_server": r["login_server"], "sku": r["sku"],
                                           "soft_delete_days": r["soft_delete_days"] if r["soft_delete_enabled"]
                                           else None}
                           for r in regs.iter_rows(named=True)}}


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
    repo_patterns: tuple[tuple[str, str], ...]  # (anchored repository regex, tag regex) per filter
    untagged_only: bool = False

    def tag_regex(self, repository: str) -> str | None:
        """The OR of the tag regexes of every filter whose repository part matches (acr-cli joins them with
        ``|``), or None when no filter selects the repository. In untagged-only mode tags are not read: any
        selecting filter gives ``.*``."""
        parts = [tag for repo, tag in self.repo_patterns if dialect.search(repo, repository)]
        if not parts:
            return None
        return ".*" if self.untagged_only else "|".join(parts)


def rules(filters=(".*:.*",), ago: str | None = "30d", keep: int = 0, untagged: bool = True,
          include_locked: bool = False, now: dt.datetime | None = None, untagged_only: bool = False) -> Rules:
    """Validate purge parameters (``ValueError`` naming the problem). ``untagged_only`` (acr purge's
    ``--untagged-only``): no tag is deleted, only untagged manifests, in the repositories the filters select;
    ``ago`` may then be None (every untagged manifest, however new)."""
    if isinstance(filters, str):
        filters = (filters,)
    filters = tuple(filters)
    if not filters:
        raise ValueError("at least one filter is needed, e.g. '.*:.*' (every tag of every repository)")
    if untagged_only and untagged is False:
        raise ValueError("untagged_only=True deletes only untagged manifests; untagged=False contradicts it")
    patterns = []
    for text in filters:
        repo, tag = split_filter(text)
        try:
            dialect.compile("^" + repo + "$")
            dialect.compile(tag)
        except ValueError as e:
            raise ValueError(f"invalid regex in filter {text!r}: {str(e).split(': ', 1)[-1]}") from None
        patterns.append(("^" + repo + "$", tag))
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
        raise ValueError(f"keep must be a whole number >= 0, not {keep!r}")
    if ago is None and not untagged_only:
        raise ValueError("ago is required unless untagged_only=True (e.g. '30d')")
    delta = parse_ago(ago) if ago is not None else dt.timedelta(0)
    if now is None:
        raise ValueError("now is required")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    return Rules(filters=filters, ago=ago if ago is not None else "0d", cutoff=now - delta, keep=keep,
                 untagged=bool(untagged) or bool(untagged_only), include_locked=bool(include_locked),
                 repo_patterns=tuple(patterns), untagged_only=bool(untagged_only))


def check_purge_rules(filters=(".*:.*",), ago: str | None = DEFAULT_AGO, keep: int = DEFAULT_KEEP) -> None:
    """``ValueError`` naming what is wrong with purge rules (filters in acr purge's dialect, ``ago``, ``keep``),
    without an inventory: for checks made before any work."""
    rules(filters, ago, keep, True, False, now=dt.datetime.now(dt.UTC))


def purge_plan(inv: Inventory, filters=(".*:.*",), ago: str | None = DEFAULT_AGO, keep: int = DEFAULT_KEEP,
               untagged: bool = True, include_locked: bool = False, now: dt.datetime | None = None, *,
               untagged_only: bool = False, protect_pulled_within: str | None = AUTO,
               protect_in_use: bool | None = None) -> PurgePlan:
    """What ``acr purge --filter ... --ago ... [--keep N] [--untagged] [--include-locked]`` would delete in
    every registry of ``inv``, one row per action: registry, repository, tag (null for a manifest), digest,
    action (``delete_tag`` | ``delete_manifest`` | ``cascade``, or ``keep`` | ``skip`` for a deletion a
    protection spared), reason, size_bytes (the manifest's ``imageSize``: a tag row carries the size of the image
    it points at), last_updated_at, and the vulnerability findings of that image: critical, high and
    vulnerabilities (distinct CVEs, an index's platform images included; null when nothing was scanned, see
    ``collect(vulnerabilities=...)``).

    ``keep`` keeps the newest N eligible tags per repository and, with ``untagged``, the newest N untagged
    manifests it would delete (acr-cli 0.18 and later; equal times: the smaller digest stays), and the platform
    images of an index kept that way (rows ``keep``: acr-cli deletes them). ``untagged_only`` is acr purge's
    ``--untagged-only``: no tag is deleted, only untagged manifests, in the repositories the filters' repository
    parts select (their tag parts are not used); ``ago`` may then be None (every untagged manifest).
    The defaults are the report's, the safe ones: 90 days, the newest 3 kept, and whatever was pulled in the last
    30 days kept when pull logs were collected (``protect_pulled_within="auto"``; None: no pull protection).
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
    if protect_pulled_within == AUTO:
        protect_pulled_within = DEFAULT_PULLED if inv.activity_sources.height else None
    r = rules(filters, ago, keep, untagged, include_locked, now, untagged_only)
    within = parse_ago(protect_pulled_within) if protect_pulled_within is not None else None
    plan = _acr_purge(inv, r, now)
    if within is not None:
        plan = protect.pulled(inv, plan, within, protect_pulled_within, now)
    if protect_in_use is None:
        protect_in_use = inv.deployment_sources.height > 0 or inv.deployments.height > 0
    if protect_in_use:
        plan = protect.in_use(inv, plan)
    parameters = {"filters": list(r.filters), "ago": ago, "keep": keep, "untagged": r.untagged,
                  "untagged_only": r.untagged_only, "include_locked": r.include_locked, "now": now,
                  "protect_pulled_within": protect_pulled_within, "protect_in_use": bool(protect_in_use),
                  "made_at": dt.datetime.now(dt.UTC), "collected_at": inv.collected_at, **plan_context(inv)}
    plan = risk.plan_counts(inv, plan.sort(["registry", "repository", "action", "tag", "digest"], nulls_last=True))
    return PurgePlan.of(plan, parameters)


def describe(plan: pl.DataFrame) -> str:
    """The rules a plan was made with, in one sentence (for reports and scripts)."""
    p = getattr(plan, "parameters", None)
    if not p:
        return "a plan whose rules are unknown"
    if p.get("untagged_only"):
        text = (f"acr purge --untagged-only rules: untagged manifests of the repositories {', '.join(p['filters'])} "
                f"select" + (f", not updated for {p['ago']}" if p["ago"] else "")
                + (f", keeping the newest {p['keep']} per repository" if p["keep"] else ""))
    else:
        text = (f"acr purge rules: tags matching {', '.join(p['filters'])} not updated for {p['ago']}"
                + (f", keeping the newest {p['keep']} per repository" if p["keep"] else "")
                + (", and untagged manifests as old" + (f" (again the newest {p['keep']} kept)" if p["keep"] else "")
                   if p["untagged"] else ""))
    text += ", locked ones included" if p["include_locked"] else ""
    if p.get("protect_pulled_within"):
        text += (f"; never what was pulled in the last {p['protect_pulled_within']} (registries whose pull logs do "
                 "not cover that are left alone)")
    if p.get("protect_in_use"):
        text += "; never what a deployment runs or names"
    return text


def _days_text(now: dt.datetime, when: str = "last_updated_at") -> pl.Expr:
    """Whole days from ``when`` to ``now`` as text ("unknown" without a time), rounded as Python's ``%.0f``
    rounds (half to even), from the same two float divisions as the row-by-row reading in
    tests/helpers/purge_reference.py."""
    seconds = (pl.lit(now, dtype=pl.Datetime("us", "UTC")) - pl.col(when)).dt.total_microseconds() / 1e6
    return (pl.when(pl.col(when).is_null()).then(pl.lit("unknown"))
            .otherwise((seconds / 86400).round(0, mode="half_to_even").cast(pl.Int64).cast(pl.String)))


MATCH_ANYTHING = (".*", "(.*)", "(?:.*)", ".*?")  # an empty match at the start: a search finds every string


def _searches(frame: pl.DataFrame, pattern: str, text: str) -> pl.Series:
    """``dialect.search(pattern, text)`` per row, each distinct pair searched once, in acr purge's own dialect
    (polars' regex engine and Python's ``re`` both differ from it)."""
    if frame[pattern].n_unique() == 1 and frame[pattern][0] in MATCH_ANYTHING:
        return pl.Series([True] * frame.height, dtype=pl.Boolean)
    pairs = frame.select(pattern, text).unique()
    compiled = {p: dialect.compile(p) for p in pairs[pattern].unique().to_list()}
    found = pairs.with_columns(pl.Series("_found", [dialect.search(compiled[p], t) for p, t in
                                                    zip(pairs[pattern].to_list(), pairs[text].to_list(), strict=True)],
                                         dtype=pl.Boolean))
    return frame.select(pattern, text).join(found, on=[pattern, text], how="left", maintain_order="left")["_found"]


def _reachable(edges: pl.DataFrame, start: pl.Series) -> pl.Series:
    """Every manifest id reachable from ``start`` by one or more ``edges`` (``parent`` -> ``child`` ids), joined
    until nothing new turns up (cycles end too)."""
    found = start.head(0)
    frontier = pl.DataFrame({"parent": start})
    while frontier.height:
        step = edges.join(frontier, on="parent", how="semi")["child"].unique()
        fresh = step.filter(~step.is_in(found.implode(), nulls_equal=False))
        found = pl.concat([found, fresh])
        frontier = pl.DataFrame({"parent": fresh})
    return found


def _acr_purge(inv: Inventory, r: Rules, now: dt.datetime) -> pl.DataFrame:
    """acr purge's own rules, as joins and window functions: the deletion rows (tests/helpers/purge_reference.py
    is the row-by-row reading this equals). Manifests are numbered once (``_m``), so that everything after the
    first joins on integers rather than on registry, repository and digest."""
    names = pl.concat([inv.tags.select("repository"), inv.manifests.select("repository")]).unique()["repository"]
    scope = [(name, rx) for name in names.to_list() if (rx := r.tag_regex(name)) is not None]
    if not scope:
        return pl.DataFrame(schema=PLAN_SCHEMA)
    scope = pl.DataFrame(scope, schema={"repository": pl.String, "pattern": pl.String}, orient="row")
    scope = scope.with_columns(pl.col("pattern").map_elements(repr, return_dtype=pl.String).alias("quoted"))
    in_scope = pl.col("repository").is_in(scope["repository"].implode())
    manifests = (inv.manifests.filter(in_scope)
                 .select(*MANIFEST_KEY, "media_type", "subject", "kind", "size_bytes", "last_updated_at",
                         "delete_enabled", "write_enabled", pl.col("tags").list.len().fill_null(0).alias("tagged"))
                 .with_row_index("_m"))
    cutoff = pl.lit(r.cutoff, dtype=pl.Datetime("us", "UTC"))

    tags = inv.tags.filter(in_scope).select(*REPOSITORY_KEY, "tag", "digest", "last_updated_at", "delete_enabled",
                                            "write_enabled").join(scope, on="repository")
    unlocked = pl.col("delete_enabled").fill_null(False) & pl.col("write_enabled").fill_null(False)
    if r.untagged_only:  # --untagged-only: no tag is deleted
        tags = tags.head(0)
    eligible = (tags.filter(_searches(tags, "pattern", "tag"))
                .filter(pl.col("last_updated_at").is_not_null() & (pl.col("last_updated_at") < cutoff)
                        & (pl.lit(r.include_locked) | unlocked))
                .sort([*REPOSITORY_KEY, "last_updated_at", "tag"], descending=[False, False, True, False]))
    deleted_tags = (eligible.filter(pl.int_range(pl.len()).over(REPOSITORY_KEY) >= r.keep)
                    .join(manifests.select(*MANIFEST_KEY, "_m", "size_bytes"), on=MANIFEST_KEY, how="left")
                    .select(*REPOSITORY_KEY, "tag", "digest", pl.lit("delete_tag").alias("action"),
                            (pl.lit("matches ") + pl.col("quoted") + pl.lit(", last updated ") + _days_text(now)
                             + pl.lit(f" days ago (older than {r.ago})")
                             + pl.when(unlocked).then(pl.lit("")).otherwise(pl.lit(", locked: included")))
                            .alias("reason"), "size_bytes", "last_updated_at", "_m"))
    rows = [deleted_tags.drop("_m")]
    if r.untagged:
        rows += _untagged(inv, r, now, manifests, deleted_tags)
    return pl.concat(rows, how="vertical_relaxed").cast(PLAN_SCHEMA).select(list(PLAN_SCHEMA))


def _ids(frame: pl.DataFrame, manifests: pl.DataFrame, digest: str, name: str) -> pl.DataFrame:
    """``frame`` with the manifest id of its (registry, repository, ``digest``) as ``name`` (rows without one
    dropped: a digest the listing does not hold is neither deleted nor kept here)."""
    return frame.join(manifests.select(*REPOSITORY_KEY, pl.col("digest").alias(digest), pl.col("_m").alias(name)),
                      on=[*REPOSITORY_KEY, digest])


def _untagged(inv: Inventory, r: Rules, now: dt.datetime, manifests: pl.DataFrame, deleted_tags: pl.DataFrame
              ) -> list[pl.DataFrame]:
    """``--untagged``: manifests left without tags and old enough, except children of what is kept (nested
    indexes followed), referrers and manifests without a media type; then the referrers ACR deletes with them."""
    untagging = deleted_tags.drop_nulls("_m").group_by("_m").agg(pl.len().alias("untagging"))
    m = manifests.join(untagging, on="_m", how="left").with_columns(pl.col("untagging").fill_null(0))
    cutoff = pl.lit(r.cutoff, dtype=pl.Datetime("us", "UTC"))
    locked = pl.col("delete_enabled").eq(False).fill_null(False) | pl.col("write_enabled").eq(False).fill_null(False)
    skipped = pl.lit(False) if r.include_locked else locked  # acr purge skips locked manifests entirely
    keeps = ((pl.col("tagged") - pl.col("untagging")) > 0) | pl.col("last_updated_at").is_null() \
        | (pl.col("last_updated_at") >= cutoff)
    index = pl.col("media_type").is_in(list(mt.INDEX_TYPES))
    m = m.with_columns(skipped.alias("_skipped"), keeps.alias("_keeps"))
    roots = m.filter(~pl.col("_skipped") & (
        (pl.col("_keeps") & (pl.col("media_type").is_null() | index))
        | (~pl.col("_keeps") & pl.col("media_type").is_not_null() & pl.col("subject").is_not_null() & index)))
    edges = _ids(_ids(inv.references.select(*REPOSITORY_KEY, "index_digest", "child_digest"), manifests, "index_digest",
                      "parent"), manifests, "child_digest", "child").select("parent", "child").unique()
    protected = _reachable(edges, roots["_m"])
    deleted = m.filter(~pl.col("_skipped") & ~pl.col("_keeps") & pl.col("media_type").is_not_null()
                       & pl.col("subject").is_null() & ~pl.col("_m").is_in(protected.implode()))
    spared = deleted.head(0)
    if r.keep:  # acr-cli >= 0.18: the newest `keep` candidates per repository stay (ties: the smaller digest)
        ranked = deleted.sort([*REPOSITORY_KEY, "last_updated_at", "digest"], descending=[False, False, True, False])
        kept = ranked.filter(pl.int_range(pl.len()).over(REPOSITORY_KEY) < r.keep)["_m"]
        # acrlib, unlike acr-cli, keeps the platform images of an index it keeps (acr-cli deletes them: the index
        # it kept would point at nothing)
        children = _reachable(edges, deleted.filter(index & pl.col("_m").is_in(kept.implode()))["_m"])
        spared = deleted.filter(pl.col("_m").is_in(children.implode()) & ~pl.col("_m").is_in(kept.implode()))
        deleted = deleted.filter(~pl.col("_m").is_in(kept.implode()) & ~pl.col("_m").is_in(children.implode()))
    rows = deleted.select(
        *REPOSITORY_KEY, pl.lit(None, dtype=pl.String).alias("tag"), "digest",
        pl.lit("delete_manifest").alias("action"),
        (pl.when(pl.col("untagging") > 0).then(pl.lit("untagged once the plan's tags are deleted"))
         .otherwise(pl.lit("untagged")) + pl.lit(", last updated ") + _days_text(now)
         + pl.lit(f" days ago (older than {r.ago})")).alias("reason"), "size_bytes", "last_updated_at")
    # ACR deletes referrers together with their subject (and their referrers in turn), locked or not.
    referrers = _ids(m.filter(pl.col("subject").is_not_null()).select(
        *REPOSITORY_KEY, pl.col("subject").alias("subject_digest"), "digest", "kind", "size_bytes",
        "last_updated_at", "_m"),
        manifests, "subject_digest", "_subject")
    cascaded, done, frontier = [referrers.head(0)], deleted["_m"], deleted["_m"]
    while frontier.len():
        step = referrers.filter(pl.col("_subject").is_in(frontier.implode()) & ~pl.col("_m").is_in(done.implode()))
        cascaded.append(step)
        done, frontier = pl.concat([done, step["_m"]]), step["_m"]
    cascade = pl.concat(cascaded).select(
        *REPOSITORY_KEY, pl.lit(None, dtype=pl.String).alias("tag"), "digest", pl.lit("cascade").alias("action"),
        (pl.lit("referrer (") + pl.col("kind") + pl.lit(") of ") + pl.col("subject_digest").str.slice(0, 19)
         + pl.lit("..., deleted by ACR with it")).alias("reason"), "size_bytes", "last_updated_at")
    kept_children = spared.select(
        *REPOSITORY_KEY, pl.lit(None, dtype=pl.String).alias("tag"), "digest", pl.lit("keep").alias("action"),
        pl.lit(f"platform image of an untagged index kept by keep={r.keep} (acr purge would delete it and break "
               "the index)").alias("reason"), "size_bytes", "last_updated_at")
    return [rows, cascade, kept_children]


def pull_protected_plan(inv: Inventory, *, filters, stale_days: int, keep: int, untagged: bool,
                        protect_pulled_days: int) -> PurgePlan:
    """The report's purge plan: acr purge's rules (tags and, with ``untagged``, untagged manifests not updated
    for ``stale_days`` days, the newest ``keep`` per repository kept), and, whenever pull logs were collected,
    nothing pulled within ``protect_pulled_days`` days (0: no pull protection)."""
    protect = f"{protect_pulled_days}d" if protect_pulled_days and inv.activity_sources.height else None
    return purge_plan(inv, filters=filters, ago=f"{stale_days}d", keep=keep, untagged=untagged,
                      protect_pulled_within=protect)

