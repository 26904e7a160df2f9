"""The purge plan agrees with `acr purge` (Azure/acr-cli, dry run) on every rule."""

from __future__ import annotations

import datetime as dt
import shlex
import shutil
import subprocess

import polars as pl
import pytest
from acr_purge import purge_plan
from inventory_builder import NOW, Build

from acrlib import media_types as mt
from acrlib.analysis.commands import purge_commands
from acrlib.analysis.purge import parse_ago, split_filter


def actions(plan: pl.DataFrame) -> set[tuple]:
    return {(r["action"], r["repository"], r["tag"] or r["digest"][7:9]) for r in plan.iter_rows(named=True)}


def deleted_tags(plan) -> set[str]:
    return set(plan.filter(pl.col("action") == "delete_tag")["tag"])


def deleted_manifests(plan) -> set[str]:
    return {d[7:9] for d in plan.filter(pl.col("action") == "delete_manifest")["digest"]}


# --- filters -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "parts"), [
    ("hello-world:.*", ("hello-world", ".*")),
    ("team/.*:^v1", ("team/.*", "^v1")),
    ("repo:(?:v1|v2)", ("repo", "(?:v1|v2)")),  # a non-capturing group's colon is not the separator
    ("(?i:REPO):v", ("(?i:REPO)", "v")),
    ("repo:[[:digit:]]+", ("repo", "[[:digit:]]+")),  # nor a POSIX class's
    (".*:^$", (".*", "^$")),  # untagged only
])
def test_filters_split_at_the_first_colon_outside_groups(text, parts):
    assert split_filter(text) == parts


@pytest.mark.parametrize(("text", "message"), [
    ("no-colon", "exactly one ':'"), ("a:b:c", "exactly one ':'"), (":v1", "missing the repository"),
    ("repo:", "missing the tag"),
])
def test_malformed_filters_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        split_filter(text)


def test_repository_regex_is_anchored_and_tag_regex_is_searched():
    b = Build()
    b.manifest("app", "aa", tags=["v1", "v10", "xv1", "rc"])
    b.manifest("app2", "bb", tags=["v1"])
    plan = purge_plan(b.build(), filters=["app:v1"], ago="1d", untagged=False)
    assert actions(plan) == {("delete_tag", "app", t) for t in ("v1", "v10", "xv1")}, "app2 is not ^app$"


def test_repository_alternation_is_wrapped_like_acr_purge_does():
    # acr purge builds "^" + repo + "$": "a|web" becomes "^a|web$", which also matches "api" and "myweb".
    b = Build()
    for repo in ("api", "myweb", "b"):
        b.manifest(repo, repo * 2, tags=["t"])
    plan = purge_plan(b.build(), filters=["a|web:.*"], ago="1d", untagged=False)
    assert {r for _, r, _ in actions(plan)} == {"api", "myweb"}


def test_several_filters_on_one_repository_are_ored():
    b = Build()
    b.manifest("app", "aa", tags=["dev-1", "pr-2", "v3"])
    plan = purge_plan(b.build(), filters=["app:^dev", "app:^pr"], ago="1d", untagged=False)
    assert deleted_tags(plan) == {"dev-1", "pr-2"}


# --- ago -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "delta"), [
    ("30d", dt.timedelta(days=30)), ("2d3h6m", dt.timedelta(days=2, hours=3, minutes=6)),
    ("12h", dt.timedelta(hours=12)), ("1.5h", dt.timedelta(minutes=90)), ("0d", dt.timedelta(0)),
    ("100000d", dt.timedelta(days=150 * 365)), ("1d90000000h", dt.timedelta(days=150 * 365)),
])
def test_ago_reads_days_plus_a_go_duration_capped_at_150_years(text, delta):
    assert parse_ago(text) == delta


@pytest.mark.parametrize("text", ["", "thirty days", "30", "30x", "d3h", "1h2d", "-5d", "0d-1h"])
def test_bad_ago_is_refused(text):
    with pytest.raises(ValueError, match="ago"):
        parse_ago(text)


def test_a_tag_exactly_at_the_cutoff_is_not_older_than_it():
    b = Build()
    b.manifest("app", "aa", tags=[("at-cutoff", 30), ("older", 30.0001), ("newer", 29.99)])
    assert deleted_tags(purge_plan(b.build(), ago="30d", untagged=False)) == {"older"}


def test_the_cutoff_is_measured_from_collection_time_unless_told():
    b = Build()
    b.manifest("app", "aa", tags=[("t", 20)])
    inv = b.build()
    assert deleted_tags(purge_plan(inv, ago="30d", untagged=False)) == set()
    later = NOW + dt.timedelta(days=15)
    assert deleted_tags(purge_plan(inv, ago="30d", untagged=False, now=later)) == {"t"}


# --- keep and locks ------------------------------------------------------------------------------------------

def test_keep_counts_only_eligible_tags_newest_first():
    b = Build()
    b.manifest("app", "aa", tags=[("fresh", 1), ("t40", 40), ("t50", 50), ("locked45", 45, True), ("t60", 60),
                                  ("t70", 70)])
    plan = purge_plan(b.build(), ago="30d", keep=2, untagged=False)
    # fresh is too new (kept on top of N); locked45 is not eligible; t40 and t50 are the 2 newest eligible.
    assert deleted_tags(plan) == {"t60", "t70"}


def test_locked_tags_are_kept_unless_include_locked():
    b = Build()
    b.manifest("app", "aa", tags=[("locked", 90, True), ("open", 90)])
    assert deleted_tags(purge_plan(b.build(), ago="30d", untagged=False)) == {"open"}
    with_locked = purge_plan(b.build(), ago="30d", untagged=False, include_locked=True)
    assert deleted_tags(with_locked) == {"locked", "open"}
    assert "locked: included" in with_locked.filter(pl.col("tag") == "locked")["reason"][0]


def test_keep_with_include_locked_counts_locked_tags():
    b = Build()
    b.manifest("app", "aa", tags=[("locked40", 40, True), ("t50", 50), ("t60", 60)])
    assert deleted_tags(purge_plan(b.build(), ago="30d", keep=1, untagged=False, include_locked=True)) == {"t50", "t60"}


# --- untagged manifests ----------------------------------------------------------------------------------------

def test_untagged_manifests_older_than_ago_go_newer_ones_stay():
    b = Build()
    b.manifest("app", "aa", days=90)
    b.manifest("app", "bb", days=10)
    b.manifest("app", "cc", days=90, tags=["keep-me"])
    assert deleted_manifests(purge_plan(b.build(), filters=["app:^nothing$"], ago="30d")) == {"aa"}
    assert deleted_manifests(purge_plan(b.build(), ago="30d", untagged=False)) == set()


def test_a_manifest_whose_tags_all_go_is_deleted_too_and_one_keeping_a_tag_is_not():
    b = Build()
    b.manifest("app", "aa", days=90, tags=[("old1", 90), ("old2", 80)])
    b.manifest("app", "bb", days=90, tags=[("old3", 90), ("new", 5)])
    plan = purge_plan(b.build(), ago="30d")
    assert deleted_tags(plan) == {"old1", "old2", "old3"}
    assert deleted_manifests(plan) == {"aa"}
    reason = plan.filter(pl.col("action") == "delete_manifest")["reason"][0]
    assert "untagged once the plan's tags are deleted" in reason


def test_only_repositories_matched_by_a_filter_lose_untagged_manifests():
    b = Build()
    b.manifest("app", "aa", days=90)
    b.manifest("other", "bb", days=90)
    assert deleted_manifests(purge_plan(b.build(), filters=["app:.*"], ago="30d")) == {"aa"}


def test_children_of_a_tagged_index_are_protected_even_nested():
    b = Build()
    leaf1, leaf2 = b.manifest("app", "c1", days=90), b.manifest("app", "c2", days=90)
    inner = b.manifest("app", "ii", days=90, children=[leaf2])
    b.manifest("app", "ix", days=90, children=[leaf1, inner], tags=[("latest", 5)])
    orphan = b.manifest("app", "or", days=90)
    plan = purge_plan(b.build(), ago="30d")
    assert deleted_manifests(plan) == {orphan[7:9]}


def test_children_of_a_too_new_untagged_index_are_protected():
    b = Build()
    child = b.manifest("app", "c1", days=90)
    b.manifest("app", "ix", days=5, children=[child])
    assert deleted_manifests(purge_plan(b.build(), ago="30d")) == set()


def test_an_old_untagged_index_goes_with_its_old_children():
    b = Build()
    c1, c2 = b.manifest("app", "c1", days=90), b.manifest("app", "c2", days=10)
    b.manifest("app", "ix", days=90, children=[c1, c2])
    assert deleted_manifests(purge_plan(b.build(), ago="30d")) == {"ix", "c1"}


def test_referrers_are_never_deleted_and_go_with_their_subject_as_cascade():
    b = Build()
    image = b.manifest("app", "im", days=90, media_type=mt.OCI_MANIFEST, config=mt.OCI_CONFIG)
    sig = b.manifest("app", "sg", days=90, media_type=mt.OCI_MANIFEST, config=mt.OCI_EMPTY, subject=image)
    b.manifest("app", "sb", days=90, media_type=mt.OCI_MANIFEST, config=mt.OCI_EMPTY, subject=sig)  # on the sig
    kept_image = b.manifest("app", "ki", days=90, tags=["v1"], media_type=mt.OCI_MANIFEST, config=mt.OCI_CONFIG)
    b.manifest("app", "ks", days=90, media_type=mt.OCI_MANIFEST, config=mt.OCI_EMPTY, subject=kept_image)
    plan = purge_plan(b.build(), filters=["app:^none$"], ago="30d")
    assert deleted_manifests(plan) == {"im"}
    cascade = {d[7:9] for d in plan.filter(pl.col("action") == "cascade")["digest"]}
    assert cascade == {"sg", "sb"}, "referrers of referrers follow"


def test_an_oci_index_with_a_subject_keeps_its_children():
    b = Build()
    child = b.manifest("app", "c1", days=90, media_type=mt.OCI_MANIFEST, config=mt.OCI_CONFIG)
    b.manifest("app", "ix", days=90, children=[child], subject="sha256:" + "f" * 64)
    assert deleted_manifests(purge_plan(b.build(), ago="30d")) == set()


def test_manifests_without_a_media_type_or_a_time_are_kept():
    b = Build()
    b.manifest("app", "nm", days=90, media_type=None)
    b.manifest("app", "nt", days=None)
    b.manifest("app", "ok", days=90)
    assert deleted_manifests(purge_plan(b.build(), ago="30d")) == {"ok"}


def test_locked_manifests_are_kept_unless_include_locked():
    b = Build()
    b.manifest("app", "ld", days=90, locked=True)
    b.manifest("app", "lw", days=90, write=False)
    assert deleted_manifests(purge_plan(b.build(), ago="30d")) == set()
    assert deleted_manifests(purge_plan(b.build(), ago="30d", include_locked=True)) == {"ld", "lw"}


def test_a_locked_untagged_index_does_not_shield_its_children_as_in_acr_purge():
    # acr purge skips a locked manifest before looking at its children: its untagged old children are purged.
    b = Build()
    child = b.manifest("app", "c1", days=90)
    b.manifest("app", "ix", days=90, children=[child], locked=True)
    assert deleted_manifests(purge_plan(b.build(), ago="30d")) == {"c1"}


# --- rows and commands ----------------------------------------------------------------------------------------

def test_rows_carry_sizes_times_and_reasons():
    b = Build()
    b.manifest("app", "aa", days=90, size=12345, tags=[("old", 90)])
    plan = purge_plan(b.build(), ago="30d")
    assert plan.columns == ["registry", "repository", "tag", "digest", "action", "reason", "size_bytes",
                            "last_updated_at", "critical", "high", "vulnerabilities"]
    assert set(plan["size_bytes"]) == {12345}
    reason = plan.filter(pl.col("action") == "delete_tag")["reason"][0]
    assert reason.startswith("matches '.*', last updated 90 days ago")


def test_az_acr_run_commands_reproduce_the_plan_per_registry():
    inv = _one_registry()
    cmds = purge_commands(inv, filters=["app:^dev", "web:.*"], ago="2d3h", keep=3, include_locked=True)
    argv = shlex.split(cmds["command"][0])
    assert argv[:5] == ["az", "acr", "run", "--registry", "contosoacr"] and argv[-1] == "/dev/null"
    assert shlex.split(argv[6]) == ["acr", "purge", "--filter", "app:^dev", "--filter", "web:.*", "--ago", "2d3h",
                                    "--keep", "3", "--untagged", "--include-locked"]
    assert shlex.split(shlex.split(cmds["dry_run"][0])[6])[-2:] == ["--include-locked", "--dry-run"]
    with pytest.raises(ValueError, match="quote"):
        purge_commands(inv, filters=["app:it's"])


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_a_pasted_command_runs_nothing_a_filter_smuggles_in(tmp_path):
    inv = _one_registry()
    filters = ["app:$(touch pwned1)", "web:`touch pwned2`;touch pwned3", "x:^v1$|\\d && touch pwned4"]
    command = purge_commands(inv, filters=filters, ago="1d")["command"][0]
    # `az` replaced by a function that prints its arguments: what bash hands to the real az
    done = subprocess.run(["bash", "-c", 'az() { printf "%s\\n" "$@"; }; ' + command], cwd=tmp_path,
                          capture_output=True, text=True, check=True)
    assert list(tmp_path.iterdir()) == [], "nothing ran"
    cmd = done.stdout.splitlines()[5]  # acr run --registry R --cmd CMD /dev/null
    assert shlex.split(cmd)[2:8] == ["--filter", filters[0], "--filter", filters[1], "--filter", filters[2]]


def _one_registry():
    b = Build("contosoacr")
    b.manifest("app", "aa")
    return b.build()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"filters": []}, "at least one filter"), ({"filters": ["app:("]}, "invalid regex"), ({"keep": -1}, "keep"),
    ({"ago": "forever"}, "ago"), ({"now": dt.datetime(2026, 1, 1)}, "timezone-aware"),
])
def test_bad_plan_parameters_name_the_problem(kwargs, message):
    with pytest.raises(ValueError, match=message):
        purge_plan(_one_registry(), **kwargs)


# --- acr-cli 0.18 and later: keep for untagged manifests, --untagged-only, the filter dialect, ties ----------------

def test_keep_applies_to_untagged_manifests_newest_first():
    """acr-cli PR #489 (purge_untagged_only_test.go, KeepFunctionalityPreservesRecentManifests): of the untagged
    manifests older than ago, the newest `keep` per repository stay; the count is per repository."""
    b = Build()
    for name, days in (("oa", 700), ("ob", 600), ("oc", 500), ("od", 400), ("oe", 300)):
        b.manifest("app", name, days=days)
    b.manifest("web", "wa", days=700)
    plan = purge_plan(b.build(), filters=["app:^$", "web:^$"], ago="1d", keep=2)
    assert deleted_manifests(plan) == {"oa", "ob", "oc"}, "od and oe are the two newest: kept"
    assert deleted_manifests(purge_plan(b.build(), filters=["app:^$"], ago="1d", keep=5)) == set(), (
        "keep at or above their number deletes none")


def test_keep_counts_only_untagged_manifests_older_than_ago():
    """CombinedAgoAndKeepFiltering: three old enough, two too new, keep=1: the two oldest go."""
    b = Build()
    for name, days in (("v1", 700), ("v2", 670), ("v3", 640), ("r1", 30), ("r2", 15)):
        b.manifest("app", name, days=days)
    assert deleted_manifests(purge_plan(b.build(), filters=["app:^$"], ago="300d", keep=1)) == {"v1", "v2"}


def test_keep_counts_tags_and_untagged_manifests_separately_in_one_plan():
    """With --untagged, acr-cli passes the same keep to the tag pass and to the manifest pass."""
    b = Build()
    b.manifest("app", "t1", days=90, tags=[("a", 90)])
    b.manifest("app", "t2", days=80, tags=[("b", 80)])
    b.manifest("app", "u1", days=70)
    b.manifest("app", "u2", days=60)
    plan = purge_plan(b.build(), ago="30d", keep=1)
    assert deleted_tags(plan) == {"a"}, "b is the newest eligible tag"
    assert deleted_manifests(plan) == {"t1", "u1"}, "of t1 (untagged by the plan), u1 and u2, u2 is the newest"


def test_equal_times_keep_the_smaller_digest_and_the_cutoff_is_strict():
    """acr-cli's sortManifestsByTime: newest first, equal times ordered by digest (the smaller stays); a manifest
    exactly at the cutoff is not before it (EvaluateRetention's Before)."""
    b = Build()
    for name in ("cc", "aa", "bb"):
        b.manifest("app", name, days=100)
    assert deleted_manifests(purge_plan(b.build(), filters=["app:^$"], ago="1d", keep=1)) == {"bb", "cc"}
    b = Build()
    b.manifest("app", "at", days=30)
    b.manifest("app", "ol", days=30.0001)
    assert deleted_manifests(purge_plan(b.build(), filters=["app:^$"], ago="30d")) == {"ol"}


def test_an_untagged_index_kept_by_keep_keeps_its_platform_images():
    """A deliberate difference: acr-cli counts an index's platform images as candidates of their own and deletes
    them when it keeps the index; acrlib keeps them (rows `keep` say why), so the index it keeps still works."""
    b = Build()
    c1, c2 = b.manifest("app", "c1", days=100), b.manifest("app", "c2", days=100)
    b.manifest("app", "ix", days=90, children=[c1, c2])
    b.manifest("app", "ol", days=200)
    plan = purge_plan(b.build(), filters=["app:^$"], ago="1d", keep=1)
    assert deleted_manifests(plan) == {"ol"}
    kept = plan.filter(pl.col("action") == "keep")
    assert {d[7:9] for d in kept["digest"]} == {"c1", "c2"} and "break the index" in kept["reason"][0]


def test_untagged_only_deletes_no_tag_and_reads_only_the_repository_part_of_filters():
    """acr-cli's --untagged-only (purge_untagged_only_test.go): only untagged manifests, with the index, referrer
    and lock rules of --untagged; filters select repositories; ago is optional; keep applies."""
    b = Build()
    b.manifest("app", "tg", days=400, tags=[("old", 400)])
    b.manifest("app", "u1", days=400)
    b.manifest("app", "u2", days=5)
    b.manifest("app", "lk", days=400, locked=True)
    b.manifest("other", "u3", days=400)
    inv = b.build()
    plan = purge_plan(inv, filters=["app:^nothing-matches$"], ago="30d", untagged_only=True)
    assert deleted_tags(plan) == set() and deleted_manifests(plan) == {"u1"}
    assert deleted_manifests(purge_plan(inv, filters=["app:.*"], ago=None, untagged_only=True)) == {"u1", "u2"}, (
        "without ago every untagged manifest is old enough")
    assert deleted_manifests(purge_plan(inv, filters=[".*:.*"], ago=None, untagged_only=True,
                                        include_locked=True)) == {"u1", "u2", "lk", "u3"}
    assert deleted_manifests(purge_plan(inv, filters=["app:.*"], ago=None, keep=1, untagged_only=True)) == {"u1"}
    assert "--untagged-only" in acrlib_describe(purge_plan(inv, filters=["app:.*"], ago=None, untagged_only=True))
    with pytest.raises(ValueError, match="untagged=False contradicts it"):
        purge_plan(inv, untagged=False, untagged_only=True)
    with pytest.raises(ValueError, match="ago is required unless untagged_only"):
        purge_plan(inv, ago=None)


def acrlib_describe(plan) -> str:
    from acrlib.analysis.purge import describe

    return describe(plan)


@pytest.mark.parametrize(("tag_filter", "matching"), [
    ("^[[:alpha:]]+$", {"latest", "stable"}),  # a POSIX class: Python's re reads it as a set of '[:alph'
    ("^v[[:digit:]]+$", {"v1", "v22"}),
    ("^(?!latest$).*$", {"stable", "v1", "v22", "v1-rc"}),  # lookahead
    ("(?<=v|v2)2$", {"v22"}),  # variable-length lookbehind: Python's re refuses it
    ("^v1(?P<rc>-rc)?$", {"v1", "v1-rc"}),  # RE2's named group
])
def test_filters_are_read_in_acr_clis_regexp2_re2_dialect(tag_filter, matching):
    b = Build()
    b.manifest("app", "aa", days=90, tags=[("latest", 90), ("stable", 90), ("v1", 90), ("v22", 90), ("v1-rc", 90)])
    assert deleted_tags(purge_plan(b.build(), filters=[f"app:{tag_filter}"], ago="30d", untagged=False)) == matching


def test_posix_classes_in_the_repository_part_select_repositories():
    b = Build()
    b.manifest("app", "aa", days=90, tags=[("t", 90)])
    b.manifest("app2", "bb", days=90, tags=[("t", 90)])
    plan = purge_plan(b.build(), filters=["[[:alpha:]]+:.*"], ago="30d", untagged=False)
    assert set(plan["repository"]) == {"app"}, "the repository part is anchored: ^[[:alpha:]]+$"


def test_purge_commands_carry_a_plans_own_flags_and_say_what_acr_purge_cannot_express():
    b = Build("contosoacr")
    c1 = b.manifest("app", "c1", days=100)
    b.manifest("app", "ix", days=90, children=[c1])
    b.manifest("app", "ol", days=200)
    inv = b.build()
    only = purge_plan(inv, filters=["app:.*"], ago=None, untagged_only=True)
    cmd = purge_commands(inv, plan=only).row(0, named=True)
    assert shlex.split(shlex.split(cmd["command"])[6]) == ["acr", "purge", "--filter", "app:.*", "--untagged-only"]
    assert cmd["note"] == "", "acr purge reproduces this plan"
    kept = purge_plan(inv, filters=["app:^$"], ago="1d", keep=1)
    cmd = purge_commands(inv, plan=kept).row(0, named=True)
    assert shlex.split(shlex.split(cmd["command"])[6]) == ["acr", "purge", "--filter", "app:^$", "--ago", "1d",
                                                           "--keep", "1", "--untagged"]
    assert "platform images of a kept index" in cmd["note"] and "acrlib apply" in cmd["note"]
    with pytest.raises(ValueError, match="carries no parameters"):
        purge_commands(inv, plan=pl.DataFrame(kept))
