"""acrlib.apply against the emulator over HTTPS: a dry run sends no delete; a real run leaves exactly the registry
the plan predicts and touches nothing it protects; premises that changed since the plan are skipped with their
reason; a run killed mid-way resumes from its journal with every action done once; guards refuse before any
request. Each test has an emulator of its own: these tests delete."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

import acrlib
from acrlib.emulator import Emulator

pytestmark = pytest.mark.integration

QUIET = {"progress": False, "activity_days": 0, "deployments": False, "vulnerabilities": False}


def deletes(emu) -> pl.DataFrame:
    return emu.request_log().filter(pl.col("method") == "DELETE")


def small_plan(inv, registries=("contosodevacr",), most: int = 60, **kwargs) -> acrlib.PurgePlan:
    """The plan of whole repositories of ``registries`` (Standard and Premium: deletes are paced at the SKU's
    write rate) up to about ``most`` deletions."""
    plan = acrlib.purge_plan(inv, **{"keep": 0, **kwargs})  # acr purge's own keep unless a test asks
    mine = plan.filter(pl.col("registry").is_in(list(registries)))
    counts = (mine.filter(pl.col("action").is_in(["delete_tag", "delete_manifest"]))
              .group_by("registry", "repository").len().sort("registry", "repository"))
    chosen, total = [], 0
    for registry, repository, n in counts.rows():
        if total + n <= most:
            chosen.append((registry, repository))
            total += n
    keys = pl.DataFrame(chosen, schema={"registry": pl.String, "repository": pl.String}, orient="row")
    return acrlib.PurgePlan.of(mine.join(keys, on=["registry", "repository"], how="semi"), plan.parameters)


def expected_after(truth: dict, plan: pl.DataFrame) -> tuple[set, set]:
    """The manifests and tags the registries hold once the plan's deletions are done, from the truth before it:
    deleted manifests take their tags and (ACR's cascade) their referrers with them."""
    gone = set(plan.filter(pl.col("action").is_in(["delete_manifest", "cascade"]))
               .select("registry", "repository", "digest").rows())
    untagged = set(plan.filter(pl.col("action") == "delete_tag").select("registry", "repository", "tag").rows())
    manifests = {m for m in truth["manifests"].select("registry", "repository", "digest").rows() if m not in gone}
    tags = {(r, p, t) for r, p, t, d in truth["tags"].select("registry", "repository", "tag", "digest").rows()
            if (r, p, t) not in untagged and (r, p, d) not in gone}
    return manifests, tags


def test_a_dry_run_checks_every_premise_and_sends_no_delete(tmp_path):
    with Emulator("tiny", seed=7) as emu:
        inv = acrlib.collect(**emu.connection(), **QUIET)
        plan = small_plan(inv, ago="60d", keep=1)
        emu.reset_stats()
        result = acrlib.apply(plan, **emu.connection(), journal=tmp_path / "dry.jsonl")
        acting = plan.filter(pl.col("action").is_in(["delete_tag", "delete_manifest", "cascade"]))
        assert result.actions.height == acting.height > 0
        assert set(result.actions["outcome"]) == {"would-delete"}
        assert deletes(emu).height == 0, "a dry run deletes nothing"
        lines = [json.loads(x) for x in (tmp_path / "dry.jsonl").read_text().splitlines()]
        assert lines[0]["type"] == "plan" and lines[0]["dry_run"] and lines[-1]["type"] == "end"
        assert sum(x["type"] == "outcome" for x in lines) == acting.height


def test_applied_on_demo_the_registries_hold_what_the_plan_predicts_and_nothing_protected_is_touched(tmp_path):
    with Emulator("demo", seed=11) as emu:
        inv = acrlib.collect(**emu.connection(), progress=False, vulnerabilities=False, layers=True)  # pulls, runs
        plan = small_plan(inv, ("contosoprodacr", "contosodevacr", "contosodataacr", "contosomlacr"), most=200,
                          ago="30d", keep=1, protect_pulled_within="30d")
        before = emu.truth()
        kept = plan.filter(pl.col("action").is_in(["keep", "skip"]))
        assert kept.height and plan.filter(pl.col("action") == "delete_manifest").height, "the test can tell"
        result = acrlib.apply(plan, **emu.connection(), dry_run=False, verify=True, journal=tmp_path / "j.jsonl")
        assert set(result.actions["outcome"]) == {"done"}, result.skipped
        assert result.still_present.height == 0
        after = emu.truth()
        manifests, tags = expected_after(before, plan)
        assert set(after["manifests"].select("registry", "repository", "digest").rows()) == manifests
        assert set(after["tags"].select("registry", "repository", "tag").rows()) == tags
        protected = set(kept.filter(pl.col("tag").is_null()).select("registry", "repository", "digest").rows())
        assert protected <= manifests, "what the plan keeps (pulled, running, skipped) is all still there"
        usage = dict(after["registries"].select("registry", "storage_used_bytes").rows())
        freed = acrlib.reclaimable(inv, plan).registries
        for registry, reclaimable in freed.select("registry", "reclaimable_bytes").rows():
            billed = before["registries"].filter(pl.col("registry") == registry)["storage_used_bytes"][0]
            assert billed - usage[registry] == reclaimable, f"{registry}: billed usage drops by what the plan frees"
        sent = deletes(emu)
        assert sent.filter(pl.col("status") == 202).height == result.actions.filter(
            (pl.col("outcome") == "done") & (pl.col("action") != "cascade")).height, "one request per action"


def test_changes_since_the_plan_are_skipped_with_their_reason(tmp_path):
    with Emulator("tiny", seed=7) as emu:
        inv = acrlib.collect(**emu.connection(), **QUIET)
        plan = small_plan(inv, ago="60d")
        tag_rows = plan.filter(pl.col("action") == "delete_tag").rows(named=True)
        manifests = plan.filter(pl.col("action") == "delete_manifest").rows(named=True)
        assert len(tag_rows) >= 3 and len(manifests) >= 2, "the test can tell"
        moved, locked, gone = tag_rows[0], tag_rows[1], tag_rows[2]
        other = next(m["digest"] for m in inv.manifests.filter(
            (pl.col("registry") == moved["registry"]) & (pl.col("repository") == moved["repository"])
            & (pl.col("digest") != moved["digest"])).iter_rows(named=True))
        emu.change("tag", moved["registry"], moved["repository"], moved["tag"], other)
        emu.change("lock", locked["registry"], locked["repository"], tag=locked["tag"])
        untagged = next(m for m in manifests if m["digest"] not in {t["digest"] for t in tag_rows})
        emu.change("tag", untagged["registry"], untagged["repository"], "hotfix", untagged["digest"])
        lockedm = next(m for m in manifests if m["digest"] != untagged["digest"]
                       and m["digest"] not in {t["digest"] for t in tag_rows})
        emu.change("lock", lockedm["registry"], lockedm["repository"], digest=lockedm["digest"])
        emu.apply_deletions(pl.DataFrame([gone]))  # someone untagged it already
        planned = plan.filter(pl.col("action") == "delete_manifest").select("registry", "repository", "digest")
        family = (inv.references.join(planned.rename({"digest": "index_digest"}), on=["registry", "repository",
                                                                                     "index_digest"])
                  .join(planned.rename({"digest": "child_digest"}), on=["registry", "repository", "child_digest"]))
        index = family.row(0, named=True)  # an index the plan deletes with its platform images
        children = set(family.filter(pl.col("index_digest") == index["index_digest"])["child_digest"])
        emu.change("lock", index["registry"], index["repository"], digest=index["index_digest"])
        result = acrlib.apply(plan, **emu.connection(), dry_run=False, journal=tmp_path / "j.jsonl")
        outcomes = {(r["registry"], r["repository"], r["action"], r["tag"] or r["digest"]): (r["outcome"], r["reason"])
                    for r in result.actions.iter_rows(named=True)}

        def outcome(row: dict) -> tuple[str, str]:
            return outcomes[(row["registry"], row["repository"], row["action"], row["tag"] or row["digest"])]

        assert outcome(moved) == ("skipped", "the tag moved to another digest since the plan")
        assert outcome(locked) == ("skipped", "locked")
        assert outcome(gone) == ("done", "already gone")
        assert outcome(untagged)[0] == "skipped" and "tagged now (hotfix)" in outcome(untagged)[1]
        assert outcome(lockedm) == ("skipped", "locked")
        for child in children:
            reason = outcomes[(index["registry"], index["repository"], "delete_manifest", child)]
            assert reason[0] == "skipped" and "an index that stays" in reason[1], "the index it belongs to stays"
        truth = emu.truth()
        held = set(truth["manifests"]["digest"])
        assert {untagged["digest"], lockedm["digest"], index["index_digest"], *children} <= held, (
            "never deleted: tagged or locked now, or a platform image of an index that stays")
        assert result.skipped.height >= 3


def test_guards_refuse_before_any_request(tmp_path):
    with Emulator("tiny", seed=7) as emu:
        inv = acrlib.collect(**emu.connection(), **QUIET)
        plan = small_plan(inv, ago="60d")
        emu.reset_stats()
        n = plan.filter(pl.col("action").is_in(["delete_tag", "delete_manifest"])).height
        with pytest.raises(ValueError, match=f"deletes {n:,} tags and manifests, more than max_deletions"):
            acrlib.apply(plan, **emu.connection(), dry_run=False, max_deletions=n - 1, journal=tmp_path / "a")
        assert emu.stats().height == 0 and not (tmp_path / "a").exists()
        with pytest.raises(ValueError, match="carries no record of the registries"):
            acrlib.apply(pl.DataFrame(plan), **emu.connection(), dry_run=False)
        stale = acrlib.PurgePlan.of(plan, {**plan.parameters,
                                           "collected_at": plan.parameters["collected_at"] - acrlib_days(3)})
        with pytest.raises(ValueError, match=r"collected 7[0-9.]+ h ago, more than max_plan_age"):
            acrlib.apply(stale, **emu.connection(), dry_run=False, journal=tmp_path / "b")
        foreign = acrlib.PurgePlan.of(plan, {**plan.parameters, "tenant_id": "00000000-0000-0000-0000-000000000001"})
        with pytest.raises(ValueError, match="made from tenant 00000000-0000-0000-0000-000000000001"):
            acrlib.apply(foreign, **emu.connection(), dry_run=False, journal=tmp_path / "c")
        assert deletes(emu).height == 0


def acrlib_days(n: int):
    import datetime as dt

    return dt.timedelta(days=n)


def test_a_run_killed_mid_way_resumes_from_its_journal_with_every_action_done_once(tmp_path):
    with Emulator("tiny", seed=7, latency_ms=40) as emu:
        inv = acrlib.collect(**emu.connection(), **QUIET)
        plan = small_plan(inv, ago="60d", most=80)
        plan.save(tmp_path / "plan.parquet")
        acting = plan.filter(pl.col("action").is_in(["delete_tag", "delete_manifest"]))
        assert acting.height >= 20, "enough to kill it mid-way"
        connection = emu.write_connection_file(tmp_path / "emulator.json")
        journal = tmp_path / "journal.jsonl"
        emu.reset_stats()
        child = subprocess.Popen(
            [sys.executable, "-m", "acrlib.cli", "apply", "--plan", str(tmp_path / "plan.parquet"), "--delete",
             "--yes", "--journal", str(journal), "--connection-file", str(connection)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done = journal.read_text().count('"outcome":"done"') if journal.exists() else 0
            if done >= 8 or child.poll() is not None:
                break
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        first = deletes(emu).height
        assert 0 < first < acting.height, f"killed mid-way ({child.stderr.read().decode()[-2000:]})"
        resumed = acrlib.apply(acrlib.PurgePlan.load(tmp_path / "plan.parquet"), **emu.connection(),
                               dry_run=False, resume=journal)
        assert set(resumed.actions.filter(pl.col("action") != "cascade")["outcome"]) == {"done"}
        sent = deletes(emu)
        assert sent.filter(pl.col("status") == 202)["path"].is_duplicated().sum() == 0, "nothing deleted twice"
        records = [json.loads(x) for x in journal.read_text().splitlines() if x.strip().startswith("{")]
        resumed_at = next(i for i, r in enumerate(records) if r.get("type") == "resume")
        before, after = records[:resumed_at], records[resumed_at:]
        in_flight = ({r["key"] for r in before if r.get("type") == "attempt"}
                     - {r["key"] for r in before if r.get("type") == "outcome"})
        found_gone = {r["key"] for r in after if r.get("type") == "outcome" and r.get("reason") == "already gone"}
        deleted = [r for r in records if r.get("type") == "outcome" and r.get("reason") == "deleted"]
        # a request in flight when the process died was carried out by the registry or not: the fresh listing of
        # the resumed run tells which ("already gone"), and nothing is sent twice
        assert len(deleted) + len(in_flight & found_gone) == sent.filter(pl.col("status") == 202).height, (
            "the journal tells the log's story")
        assert {r["key"] for r in deleted} | {r["key"] for r in records if r.get("reason") == "already gone"} >= {
            k for k in (f"{r['registry']}/{r['repository']}:{r['tag']}" if r["action"] == "delete_tag" else
                        f"{r['registry']}/{r['repository']}@{r['digest']}#{r['action']}"
                        for r in acting.iter_rows(named=True))}
        manifests, tags = expected_after(truth_before(inv), plan)
        after = emu.truth()
        assert set(after["manifests"].select("registry", "repository", "digest").rows()) == manifests
        assert set(after["tags"].select("registry", "repository", "tag").rows()) == tags


def truth_before(inv) -> dict:
    return {"manifests": inv.manifests, "tags": inv.tags}


def test_the_command_line_saves_a_plan_applies_it_dry_and_wants_yes_to_delete(tmp_path):
    from acrlib.cli import main

    with Emulator("tiny", seed=7) as emu:
        inv = acrlib.collect(**emu.connection(), **QUIET)
        root = inv.to_parquet(tmp_path / "snaps")
        connection = emu.write_connection_file(tmp_path / "emulator.json")
        plan_file = tmp_path / "plan.parquet"
        assert main(["purge", "--source", str(root), "--filter", "ci/builds:.*", "--ago", "60d",
                     "--out", str(plan_file)]) == 0
        plan = acrlib.PurgePlan.load(plan_file)
        assert plan.parameters["frees_bytes"] >= 0 and plan.parameters["filters"] == ["ci/builds:.*"]
        emu.reset_stats()
        assert main(["apply", "--plan", str(plan_file), "--connection-file", str(connection),
                     "--journal", str(tmp_path / "dry.jsonl")]) == 0
        assert deletes(emu).height == 0
        assert main(["apply", "--plan", str(plan_file), "--delete", "--connection-file", str(connection)]) == 2
        assert deletes(emu).height == 0, "no --yes and no terminal: refused"
        assert main(["apply", "--plan", str(tmp_path / "missing.parquet")]) == 2
        assert Path(tmp_path / "dry.jsonl").exists()


def test_a_journal_in_blob_storage_is_written_per_repository_and_resumed(storage):
    from acrlib.locations import Location

    with Emulator("tiny", seed=7) as emu:
        inv = acrlib.collect(**emu.connection(), **QUIET)
        plan = small_plan(inv, ago="60d", most=20)
        url = storage.url("journals/apply.jsonl")
        first = acrlib.apply(plan, **emu.connection(), dry_run=False, journal=url)
        lines = [json.loads(x) for x in Location.of(url).read_bytes().decode().splitlines()]
        assert lines[0]["type"] == "plan" and lines[-1]["type"] == "end"
        assert sum(x["type"] == "outcome" for x in lines) == first.actions.height > 0
        sent = deletes(emu).height
        again = acrlib.apply(plan, **emu.connection(), dry_run=False, resume=url)
        assert deletes(emu).height == sent, "a finished run resumed sends nothing"
        columns = ["registry", "repository", "tag", "digest", "action", "outcome", "reason"]
        assert again.actions.select(columns).equals(first.actions.select(columns)), "every outcome carried over"
        assert len(Location.of(url).read_bytes().decode().splitlines()) == len(lines) + 2, "a resume and an end line"
