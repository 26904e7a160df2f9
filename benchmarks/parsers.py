"""Four ways to turn ``_manifests`` listing pages into the manifests frame, measured side by side on the same
pages (``scale_bench.py --parsers``), each checked to give the same frame as acrlib's own.

  polars-wrapped   how acrlib read them before: each page wrapped in ``{"repository": ..., "page": ...}``, one
                   NDJSON document per page, read by polars with the page's schema, exploded, compacted
  polars-joined    acrlib now (``parse.manifests``): the pages joined as NDJSON unchanged (pages hold no raw
                   newline outside a string, so one page is one line), read by polars with the page's schema;
                   the repository each page was asked for attached afterwards as a column (no bytes copied)
  pyarrow-json     the same joined bytes through pyarrow's JSON reader with an explicit schema
  msgspec          every page decoded into typed structs (msgspec), then columns built from them in Python

The guarantees each must keep are acrlib's (see ``acrlib.collection.parse``): a page that is not JSON costs
that page alone; a field of the wrong type becomes null, not the page; items are counted against the
repositories' own counts. ``guarantees()`` checks the first two on every parser with the same bad pages.
"""

from __future__ import annotations

import io
import json
import time

import polars as pl

from acrlib.collection import parse

PARSERS = ("polars-wrapped", "polars-joined", "pyarrow-json", "msgspec")
COLUMNS = ["repository", "digest", "size_bytes", "created_at", "last_updated_at", "architecture", "os",
           "media_type", "config_media_type", "tags", "delete_enabled", "write_enabled", "read_enabled",
           "list_enabled", "quarantine_state"]


def _joined(pages: list[tuple[str, bytes]]) -> bytes:
    return b"\n".join(body.replace(b"\n", b" ").replace(b"\r", b" ") for _, body in pages)


def _finish(items: pl.DataFrame) -> pl.DataFrame:
    items = items.filter(pl.col("item").is_not_null()).unnest("item").unnest("changeableAttributes")
    items = items.rename(lambda c: parse._RENAME.get(c, c)).select(COLUMNS)
    return parse.compact(items.with_columns(pl.col("tags").fill_null(pl.lit([], dtype=pl.List(pl.String)))))


def polars_wrapped(pages: list[tuple[str, bytes]]) -> pl.DataFrame:
    schema = {"repository": pl.String, "page": pl.Struct(parse.MANIFEST_PAGE)}
    if not pages:
        return _finish(pl.DataFrame(schema=schema).select("repository", pl.col("page").struct.field("manifests")
                                                          .alias("item")).explode("item"))
    lines = b"\n".join(b'{"repository":' + json.dumps(repo).encode() + b',"page":'
                       + body.replace(b"\n", b" ").replace(b"\r", b" ") + b"}" for repo, body in pages)
    raw = pl.read_ndjson(io.BytesIO(lines), schema=schema)
    return _finish(raw.select("repository", pl.col("page").struct.field("manifests").alias("item")).explode("item"))


def polars_joined(pages: list[tuple[str, bytes]]) -> pl.DataFrame:
    return parse.manifests("r", pages).select(COLUMNS)


def pyarrow_json(pages: list[tuple[str, bytes]]) -> pl.DataFrame:
    import pyarrow as pa
    import pyarrow.json as pj

    flags = pa.struct([(n, pa.bool_()) for n in ("deleteEnabled", "writeEnabled", "readEnabled", "listEnabled")]
                      + [("quarantineState", pa.string())])
    manifest = pa.struct([("digest", pa.string()), ("imageSize", pa.int64()), ("createdTime", pa.string()),
                          ("lastUpdateTime", pa.string()), ("architecture", pa.string()), ("os", pa.string()),
                          ("mediaType", pa.string()), ("configMediaType", pa.string()),
                          ("tags", pa.list_(pa.string())), ("changeableAttributes", flags)])
    schema = pa.schema([("manifests", pa.list_(manifest))])
    # one block for the whole buffer: pyarrow infers nothing and splits nothing
    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    data = _joined(pages)
    table = pj.read_json(pa.BufferReader(data), parse_options=options,
                         read_options=pj.ReadOptions(block_size=max(len(data) + 1, 1 << 20)))
    raw = pl.from_arrow(table).with_columns(pl.Series("repository", [repo for repo, _ in pages], dtype=pl.String))
    return _finish(raw.select("repository", pl.col("manifests").alias("item")).explode("item"))


try:
    import msgspec
except ImportError:  # measured only where installed (pip install -e '.[bench]')
    msgspec = None
else:
    class Flags(msgspec.Struct):
        deleteEnabled: bool | None = None
        writeEnabled: bool | None = None
        readEnabled: bool | None = None
        listEnabled: bool | None = None
        quarantineState: str | None = None

    class Manifest(msgspec.Struct):
        digest: str | None = None
        imageSize: int | None = None
        createdTime: str | None = None
        lastUpdateTime: str | None = None
        architecture: str | None = None
        os: str | None = None
        mediaType: str | None = None
        configMediaType: str | None = None
        tags: list[str] | None = None
        changeableAttributes: Flags | None = None

    class Page(msgspec.Struct):
        manifests: list[Manifest] | None = None


def msgspec_structs(pages: list[tuple[str, bytes]]) -> pl.DataFrame:
    if msgspec is None:
        raise ImportError("msgspec", name="msgspec")
    decoder = msgspec.json.Decoder(Page)
    cols: dict[str, list] = {c: [] for c in COLUMNS}
    empty_flags = None
    for repo, body in pages:
        page = decoder.decode(body)
        for m in page.manifests or ():
            flags = m.changeableAttributes or empty_flags
            cols["repository"].append(repo)
            cols["digest"].append(m.digest)
            cols["size_bytes"].append(m.imageSize)
            cols["created_at"].append(m.createdTime)
            cols["last_updated_at"].append(m.lastUpdateTime)
            cols["architecture"].append(m.architecture)
            cols["os"].append(m.os)
            cols["media_type"].append(m.mediaType)
            cols["config_media_type"].append(m.configMediaType)
            cols["tags"].append(m.tags if m.tags is not None else [])
            for name, attr in (("delete_enabled", "deleteEnabled"), ("write_enabled", "writeEnabled"),
                               ("read_enabled", "readEnabled"), ("list_enabled", "listEnabled"),
                               ("quarantine_state", "quarantineState")):
                cols[name].append(getattr(flags, attr) if flags is not None else None)
    schema = polars_wrapped([]).schema
    return pl.DataFrame(cols, schema=schema)


FUNCTIONS = {"polars-wrapped": polars_wrapped, "polars-joined": polars_joined, "pyarrow-json": pyarrow_json,
             "msgspec": msgspec_structs}


def measure(pages: list[tuple[str, bytes]], runs: int = 3, chunk_bytes: int = parse.ParseBuffer.CHUNK_BYTES) -> dict:
    """CPU seconds of each parser over ``pages`` in acrlib's chunks (median of ``runs``), and whether each gives
    the frame acrlib's own parser gives."""
    chunks, chunk, size = [], [], 0
    for page in pages:
        chunk.append(page)
        size += len(page[1])
        if size >= chunk_bytes:
            chunks.append(chunk)
            chunk, size = [], 0
    if chunk:
        chunks.append(chunk)
    reference = pl.concat([polars_joined(c) for c in chunks])
    figures = {}
    for name in PARSERS:
        fn = FUNCTIONS[name]
        try:
            got = pl.concat([fn(c) for c in chunks])
        except ImportError as e:
            figures[name] = {"error": f"not installed: {e.name} (pip install -e '.[bench]')"}
            continue
        except Exception as e:  # a parser that cannot read the pages at all
            figures[name] = {"error": f"{type(e).__name__}: {str(e)[:120]}"}
            continue
        times = []
        for _ in range(runs):
            started = time.process_time()
            for c in chunks:
                fn(c)
            times.append(time.process_time() - started)
        times.sort()
        figures[name] = {"cpu_s": times[len(times) // 2], "same_frame": got.equals(reference),
                         "guarantees": {**guarantees(fn), "a page that is null costs that page": survives(name)}}
    return {"pages": len(pages), "bytes": sum(len(b) for _, b in pages), "rows": reference.height,
            "chunks": len(chunks), **figures}


def survives(name: str) -> bool:
    """Whether the parser, in a process of its own, survives a page whose body is JSON ``null`` (what a broken
    proxy or server can answer): it may fail the page, but the process must live on. pyarrow 26's JSON reader
    with an explicit schema ends the process with a segmentation fault."""
    import subprocess
    import sys
    from pathlib import Path

    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import parsers\n"
            f"from acrlib.collection import parse\n"
            f"parse.parse_batch([('a', b'null')], parsers.FUNCTIONS[{name!r}])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    return done.returncode == 0


def guarantees(fn) -> dict[str, bool]:
    """What acrlib's parsing promises, through its own batch fallback (``parse.parse_batch``: a batch that fails
    is parsed page by page): a page that is not JSON costs that page alone, and so does a page with a field of
    the wrong type (``imageSize`` as text); the good page beside them is read whole."""
    good = json.dumps({"registry": "r", "imageName": "a", "manifests": [
        {"digest": "sha256:1", "imageSize": 10, "tags": ["x"]}, {"digest": "sha256:2", "imageSize": 20}]}).encode()
    odd = json.dumps({"registry": "r", "imageName": "b", "manifests": [
        {"digest": "sha256:3", "imageSize": "large", "tags": ["y"]}]}).encode()
    cut = good[: len(good) // 2]
    try:
        frame, bad = parse.parse_batch([("a", good), ("b", odd), ("c", cut)], fn)
        kept = frame.filter(pl.col("repository") == "a").height == 2
        odd_rows = frame.filter(pl.col("repository") == "b")
        odd_ok = ("b", odd) in bad or odd_rows["size_bytes"].to_list() == [None]
        cut_ok = [item[0] for item in bad if item[0] == "c"] == ["c"]
    except Exception:
        kept = odd_ok = cut_ok = False
    return {"not JSON costs its page": cut_ok and kept, "wrong type costs at most its page": odd_ok and kept}
