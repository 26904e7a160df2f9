"""Which manifests' bytes a collection reads: the one rule, shared by a full collection and by incremental
collection's test of what a previous snapshot read (so the two cannot drift)."""

from __future__ import annotations

import polars as pl

from .. import media_types as mt

# OCI manifests with one of these configs are images or Helm charts, not referrers: their bytes are read only
# with layers=True (or, with referrers="untagged", when untagged and no index's child).
IMAGE_OR_HELM_CONFIGS = [*mt.IMAGE_CONFIG_TYPES, mt.HELM_CONFIG]
DIGEST_KEY = ["repository", "digest"]  # a manifest within one registry


def manifests_read(manifests: pl.DataFrame, children: pl.DataFrame, *, layers: bool,
                   referrers: str) -> pl.DataFrame:
    """``repository, digest`` of the manifests of ``manifests`` whose bytes a collection reads, once each.

    With ``layers`` every manifest. Without: OCI manifests whose config is neither an image nor a Helm config
    (what referrer tools push), and with ``referrers="untagged"`` also every untagged OCI manifest that is no
    index's child (``children``: ``repository, digest`` of index children), which is what ``acr purge``
    checks for a ``subject``."""
    if layers:
        return manifests.select(DIGEST_KEY)
    oci = manifests.filter(pl.col("media_type") == mt.OCI_MANIFEST)
    wanted = oci.filter(~pl.col("config_media_type").fill_null("").is_in(IMAGE_OR_HELM_CONFIGS)).select(DIGEST_KEY)
    if referrers == "untagged":
        untagged = oci.filter(pl.col("tags").list.len() == 0).join(children.select(DIGEST_KEY), on=DIGEST_KEY,
                                                                   how="anti")
        wanted = pl.concat([wanted, untagged.select(DIGEST_KEY)])
    return wanted.unique(maintain_order=True)
