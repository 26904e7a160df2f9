"""The vectorized purge plan equals the row-by-row reading of acr purge it replaced (tests/helpers/
purge_reference.py), on generated inventories: repositories, tags pointing anywhere, indexes (nested too),
referrers (of referrers too), locks on tags and manifests (null included), times on half-day steps (the reasons
round days as Python does), and the parameters acr purge takes."""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from purge_reference import acr_purge as reference

from acrlib import Inventory
from acrlib import media_types as mt
from acrlib.analysis import purge

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
ORDER = ["registry", "repository", "action", "tag", "digest"]
FILTERS = [".*:.*", "app.*:^v", "svc/b:.*", "(app|svc)/.*:latest|v1", "app/a:^(?:v|rc)[0-9]", "none:.*"]
LOCK = st.sampled_from([True, True, True, False, None])
# a time in half days (None one time in ten: a manifest or tag without a time is never old enough)
DAYS = st.integers(0, 9).flatmap(lambda k: st.none() if k == 0 else st.integers(0, 800).map(lambda h: h / 2))


def when(days: float | None) -> dt.datetime | None:
    return None if days is None else NOW - dt.timedelta(days=days)


@st.composite
def inventories(draw) -> Inventory:
    manifests, tags, references = [], [], []
    for registry in draw(st.lists(st.sampled_from(["acra", "acrb"]), min_size=1, max_size=2, unique=True)):
        for repo in draw(st.lists(st.sampled_from(["app/a", "app/b", "svc/b", "tools"]), min_size=1, max_size=3,
                                  unique=True)):
            digests, indexes = [], []
            for i in range(draw(st.integers(1, 8))):
                digest = f"sha256:{registry}{repo}{i}".replace("/", "").ljust(71, "0")
                role = draw(st.sampled_from(["image", "image", "index", "referrer", "referrer-index", "bare"]))
                subject = draw(st.sampled_from(digests)) if role.startswith("referrer") and digests else None
                is_index = role in ("index", "referrer-index")
                media = (mt.OCI_INDEX if is_index else None if role == "bare"
                         else draw(st.sampled_from([mt.DOCKER_MANIFEST, mt.OCI_MANIFEST])))
                if is_index and digests:
                    for child in draw(st.lists(st.sampled_from(digests), max_size=3, unique=True)):
                        references.append({"registry": registry, "repository": repo, "index_digest": digest,
                                           "child_digest": child, "architecture": "amd64", "os": "linux"})
                names = draw(st.lists(st.sampled_from(["latest", "v1", "v2", "rc1", "dev", "stable"]), max_size=2,
                                      unique=True))
                names = [n for n in names if n not in {t["tag"] for t in tags
                                                       if t["registry"] == registry and t["repository"] == repo}]
                for name in names:
                    updated = when(draw(DAYS))
                    tags.append({"registry": registry, "repository": repo, "tag": name, "digest": digest,
                                 "created_at": updated, "last_updated_at": updated, "signed": False,
                                 "delete_enabled": draw(LOCK), "write_enabled": draw(LOCK), "read_enabled": True,
                                 "list_enabled": True})
                updated = when(draw(DAYS))
                manifests.append({
                    "registry": registry, "repository": repo, "digest": digest, "media_type": media,
                    "config_media_type": None, "artifact_type": None,
                    "kind": "index" if is_index else "signature" if subject else "image",
                    "architecture": None, "os": None, "size_bytes": draw(st.integers(0, 10**9)),
                    "created_at": updated, "last_updated_at": updated, "tags": names,
                    "delete_enabled": draw(LOCK), "write_enabled": draw(LOCK), "read_enabled": True,
                    "list_enabled": True, "quarantine_state": None, "subject": subject})
                digests.append(digest)
                if is_index:
                    indexes.append(digest)
    tables = {"manifests": pl.DataFrame(manifests, infer_schema_length=None)}
    if tags:
        tables["tags"] = pl.DataFrame(tags, infer_schema_length=None)
    if references:
        tables["references"] = pl.DataFrame(references)
    return Inventory.from_tables(tables, collected_at=NOW)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inv=inventories(), filters=st.lists(st.sampled_from(FILTERS), min_size=1, max_size=2, unique=True),
       ago=st.sampled_from(["0d", "1d", "30d", "90d", "1d12h", "200d"]), keep=st.integers(0, 3),
       untagged=st.booleans(), include_locked=st.booleans())
def test_the_vectorized_plan_equals_the_row_by_row_reading(inv, filters, ago, keep, untagged, include_locked):
    rules = purge.rules(filters, ago, keep, untagged, include_locked, NOW)
    want = reference(inv, rules, NOW).sort(ORDER, nulls_last=True)
    got = purge._acr_purge(inv, rules, NOW).sort(ORDER, nulls_last=True)
    assert_frame_equal(got, want)


def test_the_generator_reaches_every_kind_of_row():
    """The differential test is only as good as what it generates: each action and reason occurs. Derandomized,
    so the check is the same on every run (40 examples reach every kind; 20 already do today)."""
    seen: set[str] = set()

    @settings(max_examples=40, deadline=None, database=None, derandomize=True)
    @given(inv=inventories())
    def collect(inv):
        plan = purge._acr_purge(inv, purge.rules([".*:.*"], "1d", 1, True, True, NOW), NOW)
        for action, reason in plan.select("action", "reason").iter_rows():
            seen.add(action)
            seen.update(k for k in ("once the plan's tags", "locked: included", "referrer") if k in reason)

    collect()
    assert seen >= {"delete_tag", "delete_manifest", "cascade", "once the plan's tags", "locked: included",
                    "referrer"}
