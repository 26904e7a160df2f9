"""Raw ACR JSON answers straight into polars frames (polars parses the JSON; no Python object per item), in
chunks as they arrive (:class:`ParseBuffer`).

Timestamps stay strings here and are parsed once per table (:func:`parse_times`), truncated to microseconds
like every other client (ACR prints up to 7 fraction digits).
"""

from __future__ import annotations

import io
import json

import polars as pl

from .. import schema

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


def _read_wrapped(rows: list[tuple], fields: dict, name: str, body_schema: pl.Struct) -> pl.DataFrame:
    """One frame row per ``(*values, body)``: the values as ``fields``, the raw JSON ``body`` parsed as ``name``.
    The bodies are joined as NDJSON unchanged and read in one call (a server's raw CR and LF are only whitespace
    in JSON, so one body is one line), and the values attached as columns after: no body is copied to wrap it
    (measured by benchmarks/scale_bench.py: 17% less CPU than wrapping each in an object). A body that is not
    one JSON object fails the whole read (``ValueError``), and ``parse_batch`` then finds it."""
    frame_schema = {**fields, name: body_schema}
    if not rows:
        return pl.DataFrame(schema=frame_schema)
    data = b"\n".join(row[-1].replace(b"\n", b" ").replace(b"\r", b" ") for row in rows)
    bodies = pl.read_ndjson(io.BytesIO(data), schema=dict(body_schema))
    if bodies.height != len(rows):  # an empty or blank body is no line at all
        raise ValueError(f"{len(rows) - bodies.height} answers hold no JSON document")
    columns = [pl.Series(field, [row[i] for row in rows], dtype=dtype) for i, (field, dtype) in
               enumerate(fields.items())]
    return pl.DataFrame(columns).with_columns(bodies.to_struct(name))


def compact(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` copied into buffers of its own size. The string columns polars' JSON reader returns are views into
    buffers far larger than their data, and every later select, join or sort keeps those buffers alive (measured:
    a 3 MB references frame held 25 MB; on the large tenant this was a third of peak memory). An Arrow IPC round
    trip in memory writes only the bytes the views use."""
    buffer = io.BytesIO()
    df.write_ipc(buffer, compression="uncompressed")
    buffer.seek(0)
    return pl.read_ipc(buffer)


def _items(pages: list[tuple[str, bytes]], page_schema: dict, key: str) -> pl.DataFrame:
    """All items of many pages, with the repository each page was asked for, parsed in one call."""
    raw = _read_wrapped(pages, {"repository": pl.String}, "page", pl.Struct(page_schema))
    items = (raw.select("repository", pl.col("page").struct.field(key).alias("item"))
             .explode("item").filter(pl.col("item").is_not_null()).unnest("item"))
    return compact(items.unnest("changeableAttributes").rename(lambda c: _RENAME.get(c, c)))


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


INT64 = (-(1 << 63), (1 << 63) - 1)


# A GUID (subscription ids, workspace customer ids): one pattern for every check of one.
GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


def typed(value, kind: type):
    """``value`` when it is a ``kind`` (an int also within int64, a bool never an int); None otherwise. Rows
    built in Python from server answers go through this, so one odd value cannot break a frame."""
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool) and INT64[0] <= value <= INT64[1]
        return value if ok else None
    return value if isinstance(value, kind) else None


def json_value(body: bytes | str):
    """``body`` parsed as JSON: the one place a server's JSON answer is parsed. Any failure (not JSON, not
    UTF-8, nested deeper than the parser recurses) is a ``ValueError``; callers turn it into their documented
    error for that item."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError, TypeError) as e:
        raise ValueError(f"not a JSON answer ({type(e).__name__})") from None


def json_object(body: bytes | str) -> dict:
    """``body`` as a JSON object; ``ValueError`` when it is not JSON or not an object."""
    value = json_value(body)
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value


def catalog(body: bytes) -> list[str]:
    """The repository names of one catalog page; ``ValueError`` when it is not one."""
    names = json_object(body).get("repositories") or []
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise ValueError("'repositories' is not a list of names")
    return names


def repository_row(registry: str, repository: str, body: bytes) -> dict:
    """A repositories-table row from the repository's attributes (``ValueError`` when the answer is not a JSON
    object; a field of the wrong type is null). The name is the one asked for, whatever the answer says."""
    info = json_object(body)
    flags = info.get("changeableAttributes")
    flags = flags if isinstance(flags, dict) else {}
    return {
        "registry": registry, "repository": repository, "created_at": typed(info.get("createdTime"), str),
        "last_updated_at": typed(info.get("lastUpdateTime"), str),
        "manifest_count": typed(info.get("manifestCount"), int), "tag_count": typed(info.get("tagCount"), int),
        "delete_enabled": typed(flags.get("deleteEnabled"), bool),
        "write_enabled": typed(flags.get("writeEnabled"), bool), "read_enabled": typed(flags.get("readEnabled"), bool),
        "list_enabled": typed(flags.get("listEnabled"), bool),
    }


def parse_times(table: str, df: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Parse the table's time columns that are still strings: ACR's format first, any ISO-8601 form second.
    Returns the frame and how many non-empty values could not be parsed (left null, to be reported)."""
    columns = [name for name, dtype in schema.TABLES[table].items()
               if dtype == schema.TIME and name in df.columns and df.schema[name] == pl.String]
    if not columns:
        return df, 0
    parsed = df.with_columns(pl.col(c).str.to_datetime(TIME_FORMAT, time_unit="us", time_zone="UTC", strict=False)
                             for c in columns)
    # any other ISO-8601 form, only for columns where ACR's own did not parse everything (a second full parse of
    # every column cost as much as the first: 1.8 s of an incremental collection of large)
    missed = [c for c in columns if (df[c].is_not_null() & (df[c] != "") & parsed[c].is_null()).any()]
    if missed:
        parsed = parsed.with_columns(
            pl.coalesce(pl.col(c), df[c].str.to_datetime(time_unit="us", time_zone="UTC", strict=False)).alias(c)
            for c in missed)
    failures = sum(int((df[c].is_not_null() & (df[c] != "") & parsed[c].is_null()).sum()) for c in missed)
    return parsed, failures


_DESCRIPTOR = pl.Struct({"mediaType": pl.String, "digest": pl.String, "size": pl.Int64})
_REFERENCE = pl.Struct({"digest": pl.String, "architecture": pl.String, "os": pl.String})
_ATTRIBUTES_DOC = pl.Struct({"manifest": pl.Struct({"references": pl.List(_REFERENCE)})})
_MANIFEST_DOC = pl.Struct({
    "mediaType": pl.String, "artifactType": pl.String, "config": _DESCRIPTOR, "layers": pl.List(_DESCRIPTOR),
    "manifests": pl.List(_DESCRIPTOR), "subject": _DESCRIPTOR,
})


def _documents(items: list[tuple], doc_schema: pl.Struct, extra: dict) -> pl.DataFrame:
    """One frame row per ``(repository, digest, *extra values, body)``, the body parsed as ``doc``."""
    return _read_wrapped(items, {"repository": pl.String, "digest": pl.String, **extra}, "doc", doc_schema)


def references(registry: str, items: list[tuple[str, str, bytes]]) -> pl.DataFrame:
    """References-table rows from single-manifest GET answers ``(repository, index digest, body)``."""
    df = _documents(items, _ATTRIBUTES_DOC, {})
    return compact(df.select("repository", pl.col("digest").alias("index_digest"),
                             pl.col("doc").struct.field("manifest").struct.field("references").alias("ref"))
                   .explode("ref").filter(pl.col("ref").is_not_null()).unnest("ref")
                   .rename({"digest": "child_digest"}).filter(pl.col("child_digest").is_not_null())
                   .select(pl.lit(registry).alias("registry"), "repository", "index_digest", "child_digest",
                           "architecture", "os"))


def manifest_documents(items: list[tuple[str, str, int, str | None, bytes]]) -> pl.DataFrame:
    """Manifest bytes ``(repository, digest, length, content type, body)`` parsed: repository, digest,
    artifact_type, subject, and the descriptors (for the layers table)."""
    df = _documents(items, _MANIFEST_DOC, {"length": pl.Int64, "content_type": pl.String})
    doc = pl.col("doc")
    return compact(df.select(
        "repository", "digest", "length",
        pl.coalesce(doc.struct.field("mediaType"), pl.col("content_type")).alias("media_type"),
        doc.struct.field("artifactType").alias("artifact_type"),
        doc.struct.field("subject").struct.field("digest").alias("subject"),
        doc.struct.field("config").alias("config"), doc.struct.field("layers").alias("layers"),
        doc.struct.field("manifests").alias("children"), doc.struct.field("subject").alias("subject_descriptor"),
    ))


def layers(registry: str, documents: pl.DataFrame) -> pl.DataFrame:
    """Layers-table rows (manifest, config, layer, child, subject) from :func:`manifest_documents`."""
    base = [pl.lit(registry).alias("registry"), "repository", pl.col("digest").alias("manifest_digest")]

    def descriptors(column: str, role: str, many: bool) -> pl.DataFrame:
        df = documents.select(*base, pl.col(column).alias("d"))
        if many:
            df = df.explode("d")
        return (df.filter(pl.col("d").is_not_null()).unnest("d")
                .select("registry", "repository", "manifest_digest", pl.col("digest").alias("blob_digest"),
                        pl.col("size").alias("size_bytes"), pl.col("mediaType").alias("media_type"),
                        pl.lit(role).alias("role")))

    own = documents.select(*base, pl.col("digest").alias("blob_digest"), pl.col("length").alias("size_bytes"),
                           "media_type", pl.lit("manifest").alias("role"))
    return pl.concat([own, descriptors("config", "config", False), descriptors("layers", "layer", True),
                      descriptors("children", "child", True), descriptors("subject_descriptor", "subject", False)])


def parse_batch(items: list[tuple], parse) -> tuple[pl.DataFrame, list[tuple]]:
    """``parse(items)`` in one go; when that fails for any reason (a body that is not JSON, or JSON of another
    shape: a string where a list belongs, a number beyond int64), parse them one by one so that only the bad
    ones are left out. Returns the frame and the items that could not be parsed."""
    try:
        return parse(items), []
    except Exception:
        good, bad = [], []
        for item in items:
            try:
                parse([item])
                good.append(item)
            except Exception:
                bad.append(item)
        return parse(good), bad


class ParseBuffer:
    """Answers parsed into frames in chunks as they arrive, so that raw JSON (several times the size of the
    frame it becomes) never piles up for a whole registry. ``parse(items)`` makes a frame of items whose last
    element is the raw body; an item that is not valid JSON is left out and handed to ``invalid``, the rest of
    its chunk is kept. ``then(frame)``, when given, finishes each chunk's frame."""

    CHUNK_BYTES = 2 << 20

    def __init__(self, parse, invalid, then=None):
        self._parse = parse
        self._invalid = invalid
        self._then = then or (lambda frame: frame)
        self._pending: list[tuple] = []
        self._size = 0
        self._frames: list[pl.DataFrame] = []

    def add(self, item: tuple) -> None:
        self._pending.append(item)
        self._size += len(item[-1])
        if self._size >= self.CHUNK_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending, self._size = self._pending, [], 0
        frame, bad = parse_batch(pending, self._parse)
        self._frames.append(self._then(frame))
        for item in bad:
            self._invalid(item)

    def frame(self) -> pl.DataFrame:
        """Everything added so far, as one frame (an empty one of the parser's shape when nothing was)."""
        self.flush()
        if not self._frames:
            return self._then(self._parse([]))
        frames, self._frames = self._frames, []
        return pl.concat(frames, how="vertical", rechunk=False)
