"""The tables acrlib produces, declared once: every column's name, type, unit and meaning.

Every stage (collector, emulator truth, snapshots, analysis) builds its frames through :func:`frame` or
:func:`conform`, so a column is spelled and typed in exactly one place, and the table reference (docs/tables.md) is
:func:`markdown` (a test keeps them equal). Sizes are bytes (Int64); times are ``Datetime("us", "UTC")``.

To add a column: declare it here (a test then fails until ``make docs`` regenerates the docs'
reference), fill it where its table is built (``collection/parse.py`` for listing fields,
``collection/collector.py`` for the rest), and in the emulator's ``truth.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import polars as pl

TIME = pl.Datetime("us", "UTC")
TAG_PAIRS = pl.List(pl.Struct({"key": pl.String(), "value": pl.String()}))


@dataclass(frozen=True)
class Column:
    """One column: its polars type, unit (``bytes``, ``UTC`` or None) and a one-line meaning."""

    name: str
    dtype: pl.DataType
    description: str
    unit: str | None = None


def _c(name: str, dtype: pl.DataType, description: str, unit: str | None = None) -> Column:
    if unit is None and dtype == TIME:
        unit = "UTC"
    return Column(name, dtype, description, unit)


def _flags(what: str) -> list[Column]:
    """ACR's four changeable attributes (a lock is write or delete disabled)."""
    return [
        _c("delete_enabled", pl.Boolean(), f"the {what} can be deleted (false: locked)"),
        _c("write_enabled", pl.Boolean(), f"the {what} can be overwritten or moved (false: locked)"),
        _c("read_enabled", pl.Boolean(), f"the {what} can be pulled"),
        _c("list_enabled", pl.Boolean(), f"the {what} appears in listings"),
    ]


COLUMNS: dict[str, tuple[Column, ...]] = {
    "registries": (
        _c("id", pl.String(), "ARM resource id"),
        _c("tenant_id", pl.String(), "Entra ID tenant"),
        _c("subscription_id", pl.String(), "subscription"),
        _c("subscription_name", pl.String(), "subscription display name"),
        _c("resource_group", pl.String(), "resource group"),
        _c("registry", pl.String(), "registry name"),
        _c("login_server", pl.String(), "data-plane host, e.g. contoso.azurecr.io"),
        _c("location", pl.String(), "Azure region of the home replica"),
        _c("sku", pl.String(), "Basic, Standard or Premium"),
        _c("created_at", TIME, "when the registry was created"),
        _c("provisioning_state", pl.String(), "ARM provisioning state"),
        _c("admin_user_enabled", pl.Boolean(), "the shared admin username/password is on"),
        _c("public_network_access", pl.String(), "Enabled or Disabled"),
        _c("network_default_action", pl.String(), "firewall default action, Allow or Deny (Premium only)"),
        _c("anonymous_pull_enabled", pl.Boolean(), "anyone may pull without signing in"),
        _c("data_endpoint_enabled", pl.Boolean(), "dedicated data endpoints are on"),
        _c("retention_enabled", pl.Boolean(), "untagged manifests are deleted after retention_days"),
        _c("retention_days", pl.Int64(), "retention policy length", "days"),
        _c("soft_delete_enabled", pl.Boolean(), "deleted artifacts are kept for soft_delete_days"),
        _c("soft_delete_days", pl.Int64(), "soft-delete retention", "days"),
        _c("quarantine_enabled", pl.Boolean(), "quarantine policy is on"),
        _c("zone_redundancy", pl.String(), "Enabled or Disabled"),
        _c("tags", TAG_PAIRS, "ARM resource tags, a list of key/value"),
        _c("storage_used_bytes", pl.Int64(), "billed storage, from listUsages", "bytes"),
        _c("storage_included_bytes", pl.Int64(), "storage the SKU includes, from listUsages", "bytes"),
        _c("repository_count", pl.Int64(), "repositories in the catalog"),
        _c("status", pl.String(), "complete, partial (some data) or failed (none): see the errors table"),
    ),
    "repositories": (
        _c("registry", pl.String(), "registry name"),
        _c("repository", pl.String(), "repository name, may contain /"),
        _c("created_at", TIME, "when it was created (ACR may report it after last_updated_at)"),
        _c("last_updated_at", TIME, "last push, tag or attribute change"),
        _c("manifest_count", pl.Int64(), "manifests the repository reports"),
        _c("tag_count", pl.Int64(), "tags the repository reports"),
        *_flags("repository"),
    ),
    "manifests": (
        _c("registry", pl.String(), "registry name"),
        _c("repository", pl.String(), "repository name"),
        _c("digest", pl.String(), "sha256 digest of the manifest's bytes"),
        _c("media_type", pl.String(), "manifest media type (Docker v2, OCI manifest or index, ...)"),
        _c("config_media_type", pl.String(), "media type of the config blob"),
        _c("artifact_type", pl.String(), "OCI artifactType, from the manifest's bytes"),
        _c("kind", pl.String(), "image, index, helm, signature, attestation or artifact"),
        _c("architecture", pl.String(), "CPU architecture (null for an index)"),
        _c("os", pl.String(), "operating system (null for an index)"),
        _c("size_bytes", pl.Int64(), "ACR's imageSize: config + layers + manifest; an index includes its "
                                     "children, so summing it overstates storage", "bytes"),
        _c("created_at", TIME, "when it was pushed"),
        _c("last_updated_at", TIME, "last push, tag move or attribute change"),
        _c("tags", pl.List(pl.String()), "tags pointing at it (empty: untagged)"),
        *_flags("manifest"),
        _c("quarantine_state", pl.String(), "quarantine scan state, e.g. Passed or Quarantined"),
        _c("subject", pl.String(), "digest an OCI referrer points at"),
    ),
    "tags": (
        _c("registry", pl.String(), "registry name"),
        _c("repository", pl.String(), "repository name"),
        _c("tag", pl.String(), "tag name"),
        _c("digest", pl.String(), "manifest it points at"),
        _c("created_at", TIME, "when the tag was created"),
        _c("last_updated_at", TIME, "last time it moved or changed"),
        _c("signed", pl.Boolean(), "ACR's Docker Content Trust flag"),
        *_flags("tag"),
    ),
    "references": (
        _c("registry", pl.String(), "registry name"),
        _c("repository", pl.String(), "repository name"),
        _c("index_digest", pl.String(), "the index or manifest list"),
        _c("child_digest", pl.String(), "a manifest it references"),
        _c("architecture", pl.String(), "the child's platform architecture"),
        _c("os", pl.String(), "the child's platform OS"),
    ),
    "layers": (
        _c("registry", pl.String(), "registry name"),
        _c("repository", pl.String(), "repository name"),
        _c("manifest_digest", pl.String(), "the manifest whose bytes name the blob"),
        _c("blob_digest", pl.String(), "the blob (or manifest, for child and subject)"),
        _c("size_bytes", pl.Int64(), "its size as the descriptor gives it", "bytes"),
        _c("media_type", pl.String(), "its media type"),
        _c("role", pl.String(), "manifest (its own bytes), config, layer, child or subject"),
    ),
    "activity": (
        _c("registry", pl.String(), "registry name"),
        _c("repository", pl.String(), "repository name"),
        _c("digest", pl.String(), "the manifest pulled or pushed (null: a pulled tag that no longer exists)"),
        _c("pulls", pl.Int64(), "successful pulls in the window, by digest or through a tag"),
        _c("pullers", pl.Int64(), "distinct identities that pulled it"),
        _c("first_pulled_at", TIME, "first pull in the window"),
        _c("last_pulled_at", TIME, "last pull in the window"),
        _c("pushes", pl.Int64(), "successful pushes in the window"),
        _c("last_pushed_at", TIME, "last push in the window"),
        _c("tags_pulled", pl.List(pl.String()), "tags it was pulled through"),
        _c("identities", pl.List(pl.String()), "identities (object ids) that pulled it, sorted, at most 20"),
        _c("resolved_from_tag", pl.Boolean(), "some pulls named only a tag: counted for the digest the tag "
                                              "points at in this inventory"),
    ),
    "activity_sources": (
        _c("registry", pl.String(), "registry name"),
        _c("diagnostic_setting", pl.String(), "the diagnostic setting that sends its repository events, or the "
                                              "one that comes closest"),
        _c("workspace_id", pl.String(), "ARM id of the Log Analytics workspace (as the workspace spells it when "
                                        "it could be read, else as the setting writes it)"),
        _c("destination_type", pl.String(), "Dedicated (resource-specific tables) or null (AzureDiagnostics)"),
        _c("status", pl.String(), "ok, not-configured, category-disabled, azure-diagnostics-mode, no-access or "
                                  "error"),
        _c("covered_from", TIME, "the earliest event seen in the window: pulls are known from then on"),
        _c("message", pl.String(), "what the status means, and what to enable"),
    ),
    "deployments": (
        _c("registry", pl.String(), "the tenant's registry the image is in (null: a registry outside the tenant)"),
        _c("host", pl.String(), "the image's registry host as written (docker.io for Docker Hub)"),
        _c("repository", pl.String(), "repository path"),
        _c("tag", pl.String(), "tag as written (latest when neither a tag nor a digest is)"),
        _c("digest", pl.String(), "what runs: the running container's image id where known, else the digest "
                                  "written, else the digest the tag points at now"),
        _c("resolved_from_tag", pl.Boolean(), "the digest is the tag's now, not one seen running"),
        _c("image", pl.String(), "the image reference as the workload writes it"),
        _c("service", pl.String(), "aks, containerapp, containerapp-job, aci, appservice or functions"),
        _c("resource_id", pl.String(), "ARM id of the cluster, app, job, container group or site"),
        _c("cluster", pl.String(), "AKS cluster name"),
        _c("namespace", pl.String(), "Kubernetes namespace"),
        _c("workload", pl.String(), "the Deployment (from its ReplicaSet), or the app, job or site name"),
        _c("container", pl.String(), "container name"),
        _c("init_container", pl.Boolean(), "an init container"),
        _c("source", pl.String(), "resource-graph, arm, container-insights or run-command"),
        _c("seen_at", TIME, "when it was seen running (container-insights, run-command); null for a definition"),
    ),
    "deployment_sources": (
        _c("resource_id", pl.String(), "ARM id of the cluster, app, job, container group or site"),
        _c("name", pl.String(), "its name"),
        _c("service", pl.String(), "aks, containerapp, containerapp-job, aci, appservice or functions"),
        _c("status", pl.String(), "ok, pods-unknown (a cluster without Container Insights or the run command), "
                                  "rows-unreadable (some Container Insights rows could not be read), no-access or "
                                  "error; a purge plan warns of every AKS cluster that is not ok"),
        _c("source", pl.String(), "where its images were read"),
        _c("message", pl.String(), "what the status means"),
    ),
    "vulnerabilities": (
        _c("registry", pl.String(), "the tenant's registry the image is in (null: its login server is not one of "
                                    "the tenant's)"),
        _c("login_server", pl.String(), "the image's registry host as the scanner reports it"),
        _c("repository", pl.String(), "repository path"),
        _c("digest", pl.String(), "the manifest digest the scanner reports (usually a platform image, not its index)"),
        _c("cve_id", pl.String(), "the vulnerability's id (CVE-..., GHSA-..., ...)"),
        _c("severity", pl.String(), "the vulnerability's own severity: Critical, High, Medium, Low or Unknown"),
        _c("cvss", pl.Float64(), "the CVSS v3 base score where the scanner gives one"),
        _c("package", pl.String(), "the vulnerable package"),
        _c("installed_version", pl.String(), "the package version in the image"),
        _c("fixed_version", pl.String(), "the version that fixes it, where one exists"),
        _c("fix_status", pl.String(), "fix-available, no-fix, will-not-fix or unknown (a fixed version means "
                                      "fix-available)"),
        _c("published_at", TIME, "when the vulnerability was published"),
        _c("source", pl.String(), "defender, defender-legacy (Defender for Cloud's current or retired shape), trivy "
                                  "or grype (a scanner report given as scan_results)"),
        _c("scanned_at", TIME, "when the image was scanned"),
    ),
    "vulnerability_sources": (
        _c("subscription_id", pl.String(), "the subscription Defender for Cloud was read for (null for a report)"),
        _c("path", pl.String(), "the report file, a local path or a storage URL (null for Defender)"),
        _c("source", pl.String(), "defender, defender-legacy, trivy, grype, or null when a file is neither"),
        _c("status", pl.String(), "ok, scanning-off (neither Defender plan that scans registries is on), "
                                  "no-access, not-available (the cloud has no Defender for Cloud), unknown-shape "
                                  "(rows or a file acrlib cannot read: the keys found are in the message) or error"),
        _c("rows", pl.Int64(), "findings read from it"),
        _c("message", pl.String(), "the image it names when no manifest of the inventory matches, rows that "
                                   "could not be read, or what went wrong"),
    ),
    "errors": (
        _c("registry", pl.String(), "registry the failure belongs to"),
        _c("repository", pl.String(), "repository, or null for the registry as a whole"),
        _c("stage", pl.String(), "what was being read: catalog, repository, manifests, tags, references, "
                                 "content, reconcile, usage, ..."),
        _c("http_status", pl.Int64(), "HTTP status, null when nothing answered"),
        _c("code", pl.String(), "the service's error code or acrlib's (CONNECTION_ERROR, COUNT_MISMATCH, "
                                "INVALID_PAGE, INVALID_MANIFEST, BAD_TIMESTAMP, ...)"),
        _c("message", pl.String(), "what went wrong, secrets removed"),
        _c("at", TIME, "when it happened"),
    ),
}

TABLES: dict[str, dict[str, pl.DataType]] = {
    table: {c.name: c.dtype for c in columns} for table, columns in COLUMNS.items()
}
FLAGS = tuple(c.name for c in _flags(""))

# What each table holds, one line (the docs' table reference and `describe` show it).
PURPOSE: dict[str, str] = {
    "registries": "one row per registry; fields Resource Graph does not return are null",
    "repositories": "one row per repository",
    "manifests": "one row per manifest (image, index, chart, signature, ...) of each repository",
    "tags": "one row per tag",
    "references": "the children of every index (only the single-manifest GET returns them)",
    "layers": "with `layers=True`: every blob each manifest names",
    "activity": "with `activity_days`: pulls and pushes per image, from the registries' own event logs",
    "activity_sources": "with `activity_days`: where each registry's event log is, and how far back it reaches",
    "deployments": "with `deployments`: every image Azure workloads reference or run, one row per container",
    "deployment_sources": "with `deployments`: every cluster, app, job, container group and container site read",
    "vulnerabilities": "with `vulnerabilities` or `scan_results`: one row per image, package and vulnerability "
                       "Defender for Cloud or a scanner report finds",
    "vulnerability_sources": "with `vulnerabilities` or `scan_results`: one row per subscription Defender was read "
                             "for and per scanner report",
    "errors": "one row per failure; every registry not `complete` has rows here",
}

# The natural key of each table: what makes a row unique and how tables are sorted for comparison.
KEYS: dict[str, list[str]] = {
    "registries": ["registry"],
    "repositories": ["registry", "repository"],
    "manifests": ["registry", "repository", "digest"],
    "tags": ["registry", "repository", "tag"],
    "references": ["registry", "repository", "index_digest", "child_digest"],
    "layers": ["registry", "repository", "manifest_digest", "role", "blob_digest"],
    "activity": ["registry", "repository", "digest"],
    "activity_sources": ["registry"],
    "deployments": ["resource_id", "namespace", "workload", "container", "image", "digest"],
    "deployment_sources": ["resource_id"],
    "vulnerabilities": ["source", "login_server", "repository", "digest", "package", "installed_version", "cve_id"],
    "vulnerability_sources": ["source", "subscription_id", "path"],
    "errors": ["registry", "repository", "stage", "at"],
}

# The keys analyses join on, named for what they identify (the first two rows of KEYS).
REPOSITORY_KEY = KEYS["repositories"]  # registry, repository
MANIFEST_KEY = KEYS["manifests"]  # registry, repository, digest
KINDS = ("image", "index", "helm", "signature", "attestation", "artifact")  # what mt.kind_expr() tells apart
IDENTITIES_KEPT = 20


def schema(table: str) -> pl.Schema:
    """The polars schema of ``table``; raises ``KeyError`` naming the known tables."""
    try:
        return pl.Schema(TABLES[table])
    except KeyError:
        raise KeyError(f"unknown table {table!r}; tables are {', '.join(TABLES)}") from None


def describe(table: str) -> pl.DataFrame:
    """The columns of ``table``: name, type, unit and description."""
    schema(table)
    return pl.DataFrame([(c.name, str(c.dtype), c.unit, c.description) for c in COLUMNS[table]],
                        schema={"column": pl.String, "type": pl.String, "unit": pl.String,
                                "description": pl.String}, orient="row")


def markdown() -> str:
    """The table reference (``docs/tables.md``), generated from the declarations above."""
    parts = []
    for table, columns in COLUMNS.items():
        parts.append(f"**{table}**: {PURPOSE[table]}.\n\n| column | type | unit | meaning |\n|---|---|---|---|")
        for c in columns:
            parts.append(f"| `{c.name}` | {_type_name(c.dtype)} | {c.unit or ''} | {c.description} |")
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def _type_name(dtype: pl.DataType) -> str:
    if dtype == TIME:
        return "datetime"
    if dtype == TAG_PAIRS:
        return "list of key/value"
    if isinstance(dtype, pl.List):
        return f"list of {_type_name(dtype.inner)}"
    return {pl.String(): "string", pl.Int64(): "int64", pl.Boolean(): "bool"}.get(dtype, str(dtype))


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
    """Sort by the table's natural key (for stable comparison and storage), nulls last. Asked only of the
    columns that hold nulls: polars' sort of several columns with ``nulls_last`` everywhere holds about twice
    the memory (measured: 182 MB against 95 MB for one registry's 416,000 layers rows)."""
    keys = KEYS[table]
    nulls = [df[k].null_count() > 0 for k in keys]
    return df.sort(keys, nulls_last=nulls) if any(nulls) else df.sort(keys)


DOCS_START = "<!-- tables: generated from acrlib/schema.py by `make docs` -->"
DOCS_END = "<!-- end of tables -->"


def docs_block() -> str:
    """What stands between the table markers of ``docs/tables.md``."""
    return f"{DOCS_START}\n\n{markdown()}\n{DOCS_END}"


def write_docs(path: str) -> None:
    """Rewrite the table reference between the markers of ``path`` (``docs/tables.md``; ``make docs``)."""
    from pathlib import Path

    page = Path(path)
    text = page.read_text()
    start, end = text.index(DOCS_START), text.index(DOCS_END) + len(DOCS_END)
    page.write_text(text[:start] + docs_block() + text[end:])
