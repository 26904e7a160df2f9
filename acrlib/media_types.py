"""Media types found in container registries, and how acrlib tells artifact kinds apart."""

from __future__ import annotations

import polars as pl

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
COSIGN_SIGNATURE_LAYER = "application/vnd.dev.cosign.simplesigning.v1+json"
DSSE_ENVELOPE = "application/vnd.dsse.envelope.v1+json"
NOTARY_SIGNATURE = "application/vnd.cncf.notary.signature"
COSIGN_SIGNATURE_ARTIFACT = "application/vnd.dev.cosign.artifact.sig.v1+json"
SPDX_SBOM = "application/spdx+json"
CYCLONEDX_SBOM = "application/vnd.cyclonedx+json"
IN_TOTO = "application/vnd.in-toto+json"

INDEX_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)
IMAGE_MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
IMAGE_CONFIG_TYPES = (DOCKER_CONFIG, OCI_CONFIG)
SIGNATURE_ARTIFACT_TYPES = (NOTARY_SIGNATURE, COSIGN_SIGNATURE_ARTIFACT)
ATTESTATION_ARTIFACT_TYPES = (SPDX_SBOM, CYCLONEDX_SBOM, IN_TOTO)

# cosign's tag scheme: the subject's digest with ':' replaced by '-', then the artifact suffix.
COSIGN_SIGNATURE_TAG = r"^sha256-[0-9a-f]{64}\.sig$"
COSIGN_ATTESTATION_TAG = r"^sha256-[0-9a-f]{64}\.(att|sbom)$"


def kind_expr() -> pl.Expr:
    """Polars expression classifying a manifests frame into ``image | index | helm | signature |
    attestation | artifact`` from ``media_type``, ``config_media_type``, ``artifact_type`` and ``tags``."""
    tags = pl.col("tags").fill_null(pl.lit([], dtype=pl.List(pl.String())))
    signature_tag = tags.list.eval(pl.element().str.contains(COSIGN_SIGNATURE_TAG)).list.any()
    attestation_tag = tags.list.eval(pl.element().str.contains(COSIGN_ATTESTATION_TAG)).list.any()
    artifact_type = pl.col("artifact_type")
    return (
        pl.when(pl.col("media_type").is_in(INDEX_TYPES))
        .then(pl.lit("index"))
        .when(artifact_type.is_in(SIGNATURE_ARTIFACT_TYPES) | signature_tag)
        .then(pl.lit("signature"))
        .when(artifact_type.is_in(ATTESTATION_ARTIFACT_TYPES) | attestation_tag)
        .then(pl.lit("attestation"))
        .when(pl.col("config_media_type") == HELM_CONFIG)
        .then(pl.lit("helm"))
        .when(
            pl.col("media_type").is_in(IMAGE_MANIFEST_TYPES)
            & pl.col("config_media_type").is_in(IMAGE_CONFIG_TYPES)
            & artifact_type.is_null()
        )
        .then(pl.lit("image"))
        .otherwise(pl.lit("artifact"))
    )
