"""The synthetic tenant: consistent, deterministic, and showing every feature collectors must cope with."""

from __future__ import annotations

import hashlib
import re

import polars as pl
import pytest

from acrlib import media_types as mt
from acrlib import schema
from acrlib.collection.options import DEFAULTS
from acrlib.emulator.generate import generate
from acrlib.emulator.model import format_time
from acrlib.emulator.server.registry import manifest_attributes
from acrlib.emulator.truth import truth_tables


def tables(scale: str, seed: int):
    tenant = generate(scale, seed, now=1_795_000_000 * 10_000_000)
    servers = {r.name: f"127.0.0.1:{i}" for i, r in enumerate(tenant.registries)}
    return tenant, truth_tables(tenant, servers, DEFAULTS["activity_days"])


@pytest.fixture(scope="module", params=[("tiny", 7), ("demo", 11)], ids=["tiny", "demo"])
def tenant_and_truth(request):
    return tables(*request.param)


def test_truth_tables_have_the_declared_schemas(tenant_and_truth):
    _, truth = tenant_and_truth
    for name, df in truth.items():
        assert df.schema == schema.schema(name), name
        assert df.select(schema.KEYS[name]).is_duplicated().sum() == 0 if name != "errors" else True


def test_every_manifest_digest_is_the_sha256_of_its_bytes(tenant_and_truth):
    tenant, _ = tenant_and_truth
    for reg in tenant.registries:
        for repo in reg.repositories.values():
            for m in repo.manifests.values():
                assert m.digest == "sha256:" + hashlib.sha256(m.body).hexdigest()
                if m.config is not None and m.config.content is not None:
                    assert m.config.digest == "sha256:" + hashlib.sha256(m.config.content).hexdigest()


def test_image_size_is_config_plus_layers_plus_manifest_and_indexes_include_children(tenant_and_truth):
    _, truth = tenant_and_truth
    own = truth["layers"].filter(pl.col("role").is_in(["manifest", "config", "layer"])).group_by(
        "registry", "repository", "manifest_digest").agg(pl.sum("size_bytes").alias("own"))
    m = truth["manifests"].join(own, left_on=["registry", "repository", "digest"],
                                right_on=["registry", "repository", "manifest_digest"])
    non_index = m.filter(pl.col("kind") != "index")
    assert (non_index["size_bytes"] == non_index["own"]).all()
    children = truth["references"].join(
        truth["manifests"].select("registry", "repository", pl.col("digest").alias("child_digest"),
                                  pl.col("size_bytes").alias("child_size")),
        on=["registry", "repository", "child_digest"],
    ).group_by("registry", "repository", "index_digest").agg(pl.sum("child_size"))
    idx = m.filter(pl.col("kind") == "index").join(children, left_on=["registry", "repository", "digest"],
                                                   right_on=["registry", "repository", "index_digest"])
    assert idx.height == m.filter(pl.col("kind") == "index").height > 0
    assert (idx["size_bytes"] == idx["own"] + idx["child_size"]).all()


def test_counts_match_listings_and_usage_is_unique_blob_bytes(tenant_and_truth):
    _, truth = tenant_and_truth
    counts = truth["manifests"].group_by("registry", "repository").len("m").join(
        truth["tags"].group_by("registry", "repository").len("t"), on=["registry", "repository"], how="full",
        coalesce=True)
    repos = truth["repositories"].join(counts, on=["registry", "repository"], how="left").fill_null(0)
    assert (repos["manifest_count"] == repos["m"]).all()
    assert (repos["tag_count"] == repos["t"]).all()
    unique = truth["layers"].filter(pl.col("role").is_in(["manifest", "config", "layer"])).unique(
        ["registry", "blob_digest"]).group_by("registry").agg(pl.sum("size_bytes").alias("unique"))
    regs = truth["registries"].join(unique, on="registry")
    assert (regs["storage_used_bytes"] == regs["unique"]).all()
    summed = regs.join(truth["manifests"].group_by("registry").agg(pl.sum("size_bytes")), on="registry")
    assert (summed["size_bytes"] > summed["unique"]).all(), "summing imageSize overstates: layers are shared"


def test_the_tenant_shows_every_feature(tenant_and_truth):
    _tenant, truth = tenant_and_truth
    m, t, repos, regs = truth["manifests"], truth["tags"], truth["repositories"], truth["registries"]
    assert set(regs["sku"]) == {"Basic", "Standard", "Premium"}
    for column in ("admin_user_enabled", "anonymous_pull_enabled", "retention_enabled", "soft_delete_enabled"):
        assert set(regs[column].drop_nulls()) == {True, False}, column
    assert regs["tags"].list.len().min() > 0
    assert repos["repository"].str.contains("/").any()
    assert repos.filter(pl.col("repository").str.count_matches("/") >= 2).height > 0
    assert repos.filter(pl.col("manifest_count") == 0).height >= 1, "an empty repository"
    assert repos["manifest_count"].max() > 1000, "a repository with more than 1000 manifests"
    assert repos.filter(pl.col("created_at") > pl.col("last_updated_at")).height >= 1
    assert {mt.DOCKER_MANIFEST, mt.OCI_MANIFEST, mt.OCI_INDEX} <= set(m["media_type"])
    assert set(m["kind"]) == set(schema.KINDS) - {"artifact"}
    children = truth["references"]["child_digest"]
    assert m.filter(pl.col("digest").is_in(children.implode()))["tags"].list.len().max() == 0, "children untagged"
    assert t.filter(pl.col("tag").str.contains(mt.COSIGN_SIGNATURE_TAG)).height > 0
    assert t.filter(pl.col("tag").str.contains(mt.COSIGN_ATTESTATION_TAG)).height > 0
    referrers = m.filter(pl.col("subject").is_not_null())
    assert referrers.height > 0 and (referrers["tags"].list.len() == 0).all()
    assert set(referrers["artifact_type"]) == {mt.NOTARY_SIGNATURE, mt.SPDX_SBOM}
    leftovers = m.filter((pl.col("tags").list.len() == 0) & pl.col("subject").is_null()
                         & ~pl.col("digest").is_in(children.implode()))
    assert leftovers.height > 0, "untagged leftovers"
    assert t.filter(~pl.col("write_enabled")).height > 0 and m.filter(~pl.col("delete_enabled")).height > 0
    assert set(m["quarantine_state"].drop_nulls()) == {"Passed", "Quarantined"}
    shared = truth["layers"].filter(pl.col("role") == "layer").group_by("registry", "blob_digest").agg(
        pl.col("repository").n_unique().alias("repos"))
    assert shared["repos"].max() > 1, "layers shared across repositories"
    fleet = truth["layers"].filter(pl.col("role") == "layer").group_by("blob_digest").agg(
        pl.col("registry").n_unique().alias("regs"))
    assert fleet["regs"].max() > 1, "the same blobs in several registries"


def test_timestamps_span_three_years_with_variable_fraction_digits(tenant_and_truth):
    tenant, truth = tenant_and_truth
    stamps = [manifest_attributes(mf)["createdTime"] for reg in tenant.registries
              for repo in reg.repositories.values() for mf in repo.manifests.values()]
    digits = {len(s.split(".")[1]) - 1 if "." in s else 0 for s in stamps}
    assert 7 in digits and 0 in digits and len(digits) >= 3
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?Z", s) for s in stamps)
    span = truth["manifests"]["created_at"].max() - truth["manifests"]["created_at"].min()
    assert span.days > 700
    assert format_time(1_700_000_000_123_456_7) == "2023-11-14T22:13:20.1234567Z"
    assert format_time(1_700_000_000 * 10_000_000) == "2023-11-14T22:13:20Z"


def test_deterministic_from_the_seed():
    _, a = tables("tiny", 7)
    _, b = tables("tiny", 7)
    _, c = tables("tiny", 8)
    for name in a:
        assert a[name].equals(b[name]), name
    assert not a["manifests"].equals(c["manifests"])


def test_demo_has_the_documented_size():
    tenant, truth = tables("demo", 11)
    assert len(tenant.subscriptions) == 3 and truth["registries"].height == 6
    assert 250 <= truth["repositories"].height <= 350
    assert 8_000 <= truth["manifests"].height <= 13_000
