"""The tables acrlib produces, declared once.

Every stage (collector, emulator truth, snapshots, analysis) builds its frames through :func:`frame` or
:func:`conform`, so a column is spelled and typed in exactly one place. Sizes are bytes (Int64); times are
``Datetime("us", "UTC")``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import polars as pl

TIME = pl.Datetime("us", "UTC")

# The four changeable attributes ACR keeps on repositories, manifests and tags (locks are write/delete off).
FLAGS: dict[str, pl.DataType] = {
    "delete_enabled": pl.Boolean(),
    "write_enabled": pl.Boolean(),
    "read_enabled": pl.Boolean(),
    "list_enabled": pl.Boolean(),
}

TAG_PAIRS = pl.List(pl.Struct({"key": pl.String(), "value": pl.String()}))

REGISTRIES: dict[str, pl.DataType] = {
    "id": pl.String(),
    "tenant_id": pl.String(),
    "subscription_id": pl.String(),
    "subscription_name": pl.String(),
    "resource_group": pl.String(),
    "registry": pl.String(),
    "login_server": pl.String(),
    "location": pl.String(),
    "sku": pl.String(),
    "created_at": TIME,
    "provisioning_state": pl.String(),
    "admin_user_enabled": pl.Boolean(),
    "public_network_access": pl.String(),
    "network_default_action": pl.String(),
    "anonymous_pull_enabled": pl.Boolean(),
    "data_endpoint_enabled": pl.Boolean(),
    "retention_enabled": pl.Boolean(),
    "retention_days": pl.Int64(),
    "soft_delete_enabled": pl.Boolean(),
    "soft_delete_days": pl.Int64(),
    "quarantine_enabled": pl.Boolean(),
    "zone_redundancy": pl.String(),
    "tags": TAG_PAIRS,
    "storage_used_bytes": pl.Int64(),
    "storage_included_bytes": pl.Int64(),
    "repository_count": pl.Int64(),
    "status": pl.String(),  # complete | partial | failed
}

REPOSITORIES: dict[str, pl.DataType] = {
    "registry": pl.String(),
    "repository": pl.String(),
    "created_at": TIME,
    "last_updated_at": TIME,
    "manifest_count": pl.Int64(),
    "tag_count": pl.Int64(),
    **FLAGS,
}

MANIFESTS: dict[str, pl.DataType] = {
    "registry": pl.String(),
    "repository": pl.String(),
    "digest": pl.String(),
    "media_type": pl.String(),
    "config_media_type": pl.String(),
    "artifact_type": pl.String(),
    "kind": pl.String(),  # image | index | helm | signature | attestation | artifact
    "architecture": pl.String(),
    "os": pl.String(),
    "size_bytes": pl.Int64(),
    "created_at": TIME,
    "last_updated_at": TIME,
    "tags": pl.List(pl.String()),
    **FLAGS,
    "quarantine_state": pl.String(),
    "subject": pl.String(),  # digest of the manifest this referrer points at (OCI `subject`)
}

TAGS: dict[str, pl.DataType] = {
    "registry": pl.String(),
    "repository": pl.String(),
    "tag": pl.String(),
    "digest": pl.String(),
    "created_at": TIME,
    "last_updated_at": TIME,
    "signed": pl.Boolean(),
    **FLAGS,
}

REFERENCES: dict[str, pl.DataType] = {
    "registry": pl.String(),
    "repository": pl.String(),
    "index_digest": pl.String(),
    "child_digest": pl.String(),
    "architecture": pl.String(),
    "os": pl.String(),
}

LAYERS: dict[str, pl.DataType] = {
    "registry": pl.String(),
    "repository": pl.String(),
    "manifest_digest": pl.String(),
    "blob_digest": pl.String(),
    "size_bytes": pl.Int64(),
    "media_type": pl.String(),
    "role": pl.String(),  # manifest | config | layer | child | subject
}

ERRORS: dict[str, pl.DataType] = {
    "registry": pl.String(),
    "repository": pl.String(),
    "stage": pl.String(),
    "http_status": pl.Int64(),
    "code": pl.String(),
    "message": pl.String(),
    "at": TIME,
}

TABLES: dict[str, dict[str, pl.DataType]] = {
    "registries": REGISTRIES,
    "repositories": REPOSITORIES,
    "manifests": MANIFESTS,
    "tags": TAGS,
    "references": REFERENCES,
    "layers": LAYERS,
    "errors": ERRORS,
}

# The natural key of each table: what makes a row unique and how tables are sorted for comparison.
KEYS: dict[str, list[str]] = {
    "registries": ["registry"],
    "repositories": ["registry", "repository"],
    "manifests": ["registry", "repository", "digest"],
    "tags": ["registry", "repository", "tag"],
    "references": ["registry", "repository", "index_digest", "child_digest"],
    "layers": ["registry", "repository", "manifest_digest", "role", "blob_digest"],
    "errors": ["registry", "repository", "stage", "at"],
}

STATUSES = ("complete", "partial", "failed")
KINDS = ("image", "index", "helm", "signature", "attestation", "artifact")
ROLES = ("manifest", "config", "layer", "child", "subject")


def schema(table: str) -> pl.Schema:
    """The polars schema of ``table``; raises ``KeyError`` naming the known tables."""
    try:
        return pl.Schema(TABLES[table])
    except KeyError:
        raise KeyError(f"unknown table {table!r}; tables are {', '.join(TABLES)}") from None


def empty(table: str) -> pl.DataFrame:
    """An empty frame with the table's schema."""
    return pl.DataFrame(schema=schema(table))


def frame(table: str, rows: Iterable[Mapping] | None = None) -> pl.DataFrame:
    """Build ``table`` from row dicts (missing keys become null, extra keys are an error)."""
    rows = list(rows or ())
    if not rows:
        return empty(table)
    return pl.DataFrame(rows, schema=schema(table), orient="row")


def conform(table: str, df: pl.DataFrame) -> pl.DataFrame:
    """Select and cast ``df`` to the table's columns, in order; absent columns become null."""
    target = schema(table)
    exprs = []
    for name, dtype in target.items():
        if name in df.columns:
            exprs.append(pl.col(name).cast(dtype, strict=False) if df.schema[name] != dtype else pl.col(name))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
    return df.select(exprs)


def concat(table: str, frames: Iterable[pl.DataFrame]) -> pl.DataFrame:
    """Concatenate frames of one table, conformed to its schema."""
    parts = [conform(table, f) for f in frames if f is not None and f.height]
    if not parts:
        return empty(table)
    return pl.concat(parts, how="vertical", rechunk=True)


def sort(table: str, df: pl.DataFrame) -> pl.DataFrame:
    """Sort by the table's natural key (for stable comparison and storage)."""
    return df.sort(KEYS[table], nulls_last=True)
