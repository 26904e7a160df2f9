"""Failures stay confined: affected registries are marked and explained in `errors`, the others are exact."""

from __future__ import annotations

import polars as pl
import pytest
from truth_helpers import assert_matches_truth

import acrlib
from acrlib.emulator import Emulator, Faults
from acrlib.emulator.generate import generate

TENANT = generate("tiny", 7)
PREMIUM, STANDARD, BASIC = (r.name for r in TENANT.registries)


def collect_with(faults, **emulator_args):
    with Emulator("tiny", seed=7, faults=faults, **emulator_args) as emu:
        inventory = acrlib.collect(**emu.connection(), progress=False)
        return inventory, emu.truth(), emu.stats()


def status(inventory) -> dict[str, str]:
    return dict(inventory.registries.select("registry", "status").iter_rows())


def test_a_registry_refusing_access_fails_alone():
    inventory, truth, _ = collect_with(Faults(denied=(STANDARD,)))
    assert status(inventory) == {PREMIUM: "complete", STANDARD: "failed", BASIC: "complete"}
    errors = inventory.errors.filter(pl.col("registry") == STANDARD)
    assert errors.filter(pl.col("stage") == "catalog").row(0, named=True) | {"at": None} == {
        "registry": STANDARD, "repository": None, "stage": "catalog", "http_status": 403, "code": "DENIED",
        "message": errors.filter(pl.col("stage") == "catalog")["message"][0], "at": None}
    assert "is not allowed access" in errors["message"][0]
    assert_matches_truth(inventory, truth, registries=[PREMIUM, BASIC])
    assert inventory.manifests.filter(pl.col("registry") == STANDARD).height == 0
    row = inventory.registries.filter(pl.col("registry") == STANDARD).row(0, named=True)
    assert row["public_network_access"] == "Disabled" and row["storage_used_bytes"] is not None


def test_a_registry_that_vanished_after_discovery_fails_alone():
    inventory, truth, _ = collect_with(Faults(vanished=(BASIC,)))
    assert status(inventory) == {PREMIUM: "complete", STANDARD: "complete", BASIC: "failed"}
    stages = dict(inventory.errors.filter(pl.col("registry") == BASIC).select("stage", "code").iter_rows())
    # ARM says 404 for its usage and for its diagnostic settings (the pull activity)
    assert stages == {"catalog": "CONNECTION_ERROR", "usage": "ResourceNotFound", "activity": "ResourceNotFound"}
    assert_matches_truth(inventory, truth, registries=[PREMIUM, STANDARD])


@pytest.mark.slow
def test_a_registry_that_fails_mid_way_is_partial_and_keeps_what_it_read():
    inventory, truth, _ = collect_with(Faults(fail_after={PREMIUM: 12}))
    assert status(inventory) == {PREMIUM: "partial", STANDARD: "complete", BASIC: "complete"}
    errors = inventory.errors.filter(pl.col("registry") == PREMIUM)
    assert errors.height > 0 and set(errors["http_status"].drop_nulls()) == {503}
    assert_matches_truth(inventory, truth, registries=[STANDARD, BASIC])
    # what was read before the failure is kept, and it is true
    got = inventory.manifests.filter(pl.col("registry") == PREMIUM)
    assert got.height > 0
    listed = ["registry", "repository", "digest", "media_type", "size_bytes", "created_at", "last_updated_at"]
    assert got.select(listed).join(truth["manifests"].select(listed), on=listed, how="anti").height == 0


def test_random_server_errors_and_resets_are_retried_to_an_exact_result():
    inventory, truth, stats = collect_with(Faults(error_rate=0.1, reset_rate=0.05, seed=5))
    assert stats.filter(pl.col("status") >= 500)["count"].sum() > 0
    assert stats.filter(pl.col("status") == 0)["count"].sum() > 0
    assert inventory.errors.height == 0, inventory.errors
    assert_matches_truth(inventory, truth)


def test_tokens_that_expire_early_are_fetched_again():
    inventory, truth, stats = collect_with(Faults(token_lifetime_s=0.25), latency_ms=50)
    assert stats.filter(pl.col("status") == 401)["count"].sum() > 0
    assert inventory.errors.height == 0, inventory.errors
    assert_matches_truth(inventory, truth)


def test_a_repository_without_permission_is_reported_and_the_rest_is_exact():
    repos = sorted(TENANT.registry(PREMIUM).repositories)
    inventory, truth, _ = collect_with(Faults(denied_repositories={PREMIUM: (repos[1],)}))
    assert status(inventory)[PREMIUM] == "partial"
    errors = inventory.errors.filter(pl.col("registry") == PREMIUM)
    assert set(errors["repository"]) == {repos[1]} and set(errors["http_status"]) == {401}
    assert set(errors["stage"]) == {"repository", "manifests", "tags"}
    others = truth["manifests"].filter((pl.col("registry") != PREMIUM) | (pl.col("repository") != repos[1]))
    got = inventory.manifests.filter((pl.col("registry") != PREMIUM) | (pl.col("repository") != repos[1]))
    assert got.equals(others)


def test_a_count_mismatch_is_an_error_row_not_a_silent_gap():
    inventory, truth, _ = collect_with(Faults(hidden_manifests={BASIC: 2}))
    assert status(inventory)[BASIC] == "partial"
    mismatch = inventory.errors.filter(pl.col("code") == "COUNT_MISMATCH")
    assert mismatch.height >= 1 and set(mismatch["registry"]) == {BASIC}
    assert "listed" in mismatch["message"][0] and "reports" in mismatch["message"][0]
    assert_matches_truth(inventory, truth, registries=[PREMIUM, STANDARD])


def test_a_listing_page_that_is_not_json_is_reported_and_the_rest_is_exact():
    repos = sorted(TENANT.registry(PREMIUM).repositories)
    inventory, truth, _ = collect_with(Faults(truncated_listings={PREMIUM: (repos[1],)}))
    assert status(inventory) == {PREMIUM: "partial", STANDARD: "complete", BASIC: "complete"}
    assert inventory.errors.select("registry", "repository", "stage", "http_status", "code").rows() == [
        (PREMIUM, repos[1], "manifests", 200, "INVALID_PAGE")]
    assert_matches_truth(inventory, truth, registries=[STANDARD, BASIC])
    lost = (pl.col("registry") == PREMIUM) & (pl.col("repository") == repos[1])
    assert inventory.manifests.filter(lost).height == 0
    assert inventory.manifests.filter(~lost).equals(truth["manifests"].filter(~lost))
    assert inventory.tags.equals(truth["tags"])


def test_timestamps_that_do_not_parse_are_counted_once_and_left_null():
    repos = sorted(TENANT.registry(BASIC).repositories)
    inventory, truth, _ = collect_with(Faults(garbled_times={BASIC: (repos[0],)}))
    garbled = (pl.col("registry") == BASIC) & (pl.col("repository") == repos[0])
    expected = truth["manifests"].filter(garbled).height
    assert expected > 0
    assert status(inventory) == {PREMIUM: "complete", STANDARD: "complete", BASIC: "partial"}
    assert inventory.errors.select("registry", "stage", "code", "message").rows() == [
        (BASIC, "parse", "BAD_TIMESTAMP", f"{expected} timestamps in manifests could not be parsed")]
    got = inventory.manifests
    assert got.filter(garbled)["created_at"].null_count() == expected
    assert got.drop("created_at").equals(truth["manifests"].drop("created_at"))
    assert got.filter(~garbled).equals(truth["manifests"].filter(~garbled))


@pytest.mark.parametrize("faults", [Faults(denied=(PREMIUM, STANDARD, BASIC))])
def test_when_every_registry_fails_the_inventory_still_comes_back(faults):
    inventory, _, _ = collect_with(faults)
    assert set(inventory.registries["status"]) == {"failed"}
    assert inventory.errors.filter(pl.col("stage") == "catalog").height == 3
    assert not inventory.complete
