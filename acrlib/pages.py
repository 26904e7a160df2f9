"""Raw ACR JSON pages straight into polars frames (polars parses the JSON; no Python object per item).

Timestamps stay strings here and are parsed once per table (:func:`parse_times`), truncated to microseconds
like every other client (ACR prints up to 7 fraction digits).
"""

from __future__ import annotations

import io
import json

import polars as pl

from . import schema

_FLAGS = pl.Struct({
    "deleteEnabled": pl.Boolean, "writeEnabled": pl.Boolean, "readEnabled": pl.Boolean, "listEnabled": pl.Boolean,
    "quarantineState": pl.String,
})
_MANIFEST = pl.Struct({
    "digest": pl.String, "imageSize": pl.Int64, "createdTime": pl.String, "lastUpdateTime": pl.String,
    "architecture": pl.String, "os": pl.String, "mediaType": pl.String, "configMediaType": pl.String,
    "tags": pl.List(pl.String), "changeableAttributes": _FLAGS,
})
_TAG = pl.Struct({
    "name": pl.String, "digest": pl.String, "createdTime": pl.String, "lastUpdateTime": pl.String,
    "signed": pl.Boolean, "changeableAttributes": _FLAGS,
})
MANIFEST_PAGE = {"manifests": pl.List(_MANIFEST)}
TAG_PAGE = {"tags": pl.List(_TAG)}
_RENAME = {"createdTime": "created_at", "lastUpdateTime": "last_updated_at", "deleteEnabled": "delete_enabled",
           "writeEnabled": "write_enabled", "readEnabled": "read_enabled", "listEnabled": "list_enabled",
           "quarantineState": "quarantine_state", "imageSize": "size_bytes", "mediaType": "media_type",
           "configMediaType": "config_media_type", "name": "tag"}
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.fZ"


def _items(pages: list[tuple[str, bytes]], page_schema: dict, key: str) -> pl.DataFrame:
    """All items of many pages, with the repository each page was asked for, parsed in one call."""
    struct = pl.Struct(page_schema)
    if pages:
        # One JSON document per line (raw newlines in JSON are only whitespace) wrapping each page with the
        # repository it belongs to.
        lines = b"\n".join(
            b'{"repository":' + json.dumps(repo).encode() + b',"page":' + body.replace(b"\n", b" ") + b"}"
            for repo, body in pages
        )
        raw = pl.read_ndjson(io.BytesIO(lines), schema={"repository": pl.String, "page": struct})
    else:
        raw = pl.DataFrame(schema={"repository": pl.String, "page": struct})
    items = (raw.select("repository", pl.col("page").struct.field(key).alias("item"))
             .explode("item").filter(pl.col("item").is_not_null()).unnest("item"))
    return items.unnest("changeableAttributes").rename(lambda c: _RENAME.get(c, c))


def manifests(registry: str, pages: list[tuple[str, bytes]]) -> pl.DataFrame:
    """Manifests-table columns from ``(repository, _manifests page)`` pairs (kind, subject and artifact type
    are filled later)."""
    df = _items(pages, MANIFEST_PAGE, "manifests")
    return df.with_columns(
        pl.lit(registry).alias("registry"), pl.col("tags").fill_null(pl.lit([], dtype=pl.List(pl.String))),
    )


def tags(registry: str, pages: list[tuple[str, bytes]]) -> pl.DataFrame:
    """Tags-table columns from ``(repository, _tags page)`` pairs."""
    df = _items(pages, TAG_PAGE, "tags").drop("quarantine_state")
    return df.with_columns(pl.lit(registry).alias("registry"))


def repository_row(registry: str, body: dict) -> dict:
    flags = body.get("changeableAttributes") or {}
    return {
        "registry": registry, "repository": body.get("imageName"), "created_at": body.get("createdTime"),
        "last_updated_at": body.get("lastUpdateTime"), "manifest_count": body.get("manifestCount"),
        "tag_count": body.get("tagCount"), "delete_enabled": flags.get("deleteEnabled"),
        "write_enabled": flags.get("writeEnabled"), "read_enabled": flags.get("readEnabled"),
        "list_enabled": flags.get("listEnabled"),
    }


def parse_times(table: str, df: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Parse the table's time columns that are still strings: ACR's format first, any ISO-8601 form second.
    Returns the frame and how many non-empty values could not be parsed (left null, to be reported)."""
    columns = [name for name, dtype in schema.TABLES[table].items()
               if dtype == schema.TIME and name in df.columns and df.schema[name] == pl.String]
    if not columns:
        return df, 0
    parsed = df.with_columns(
        pl.coalesce(
            pl.col(c).str.to_datetime(TIME_FORMAT, time_unit="us", time_zone="UTC", strict=False),
            pl.col(c).str.to_datetime(time_unit="us", time_zone="UTC", strict=False),
        ).alias(c)
        for c in columns
    )
    failures = sum(int((df[c].is_not_null() & (df[c] != "") & parsed[c].is_null()).sum()) for c in columns)
    return parsed, failures
