"""The one rule for which manifests' bytes a collection reads (full and incremental collection share it)."""

from __future__ import annotations

import polars as pl
from inventory_builder import Build

from acrlib import media_types as mt
from acrlib.collection.contents import manifests_read


def _tenant():
    b = Build()
    names = {
        "docker": b.manifest("app", "docker", tags=["v1"]),
        "oci_image": b.manifest("app", "ociimg", tags=["v2"], media_type=mt.OCI_MANIFEST, config=mt.OCI_CONFIG),
        "helm": b.manifest("chart", "helm", tags=["1.0"], media_type=mt.OCI_MANIFEST, config=mt.HELM_CONFIG),
        "artifact": b.manifest("app", "sbom", media_type=mt.OCI_MANIFEST, config=mt.OCI_EMPTY),
        "no_config": b.manifest("app", "noconfig", media_type=mt.OCI_MANIFEST, config=None),
        "untagged": b.manifest("app", "loose", media_type=mt.OCI_MANIFEST, config=mt.OCI_CONFIG),
        "child": b.manifest("app", "child", media_type=mt.OCI_MANIFEST, config=mt.OCI_CONFIG),
        "untagged_docker": b.manifest("app", "loosedocker"),
    }
    names["index"] = b.manifest("app", "index", tags=["multi"], children=[names["child"]])
    inv = b.build()
    children = inv.references.select("repository", pl.col("child_digest").alias("digest"))
    return inv.manifests, children, {digest: name for name, digest in names.items()}


def _read(**kwargs) -> set[str]:
    manifests, children, names = _tenant()
    read = manifests_read(manifests, children, **kwargs)
    assert read.columns == ["repository", "digest"]
    assert read.height == read.unique().height, "each manifest once"
    return {names[d] for d in read["digest"]}


def test_artifacts_reads_oci_manifests_whose_config_is_no_image_nor_helm():
    assert _read(layers=False, referrers="artifacts") == {"artifact", "no_config"}


def test_untagged_adds_untagged_oci_manifests_that_no_index_references():
    assert _read(layers=False, referrers="untagged") == {"artifact", "no_config", "untagged"}


def test_layers_reads_every_manifest():
    assert _read(layers=True, referrers="artifacts") == {
        "docker", "oci_image", "helm", "artifact", "no_config", "untagged", "child", "untagged_docker", "index"}
