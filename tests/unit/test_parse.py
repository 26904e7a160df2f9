"""Raw answers into frames: one bad document costs only itself."""

from __future__ import annotations

from acrlib.collection import parse as pages


def test_a_document_that_is_not_json_is_left_out_and_named():
    items = [
        ("app", "sha256:good1", 60, None,
         b'{"mediaType": "application/vnd.oci.image.manifest.v1+json",\n "layers": []}'),
        ("app", "sha256:bad", 24, "text/html", b"<html>proxy error</html>"),
        ("web", "sha256:good2", 55, "application/vnd.oci.image.manifest.v1+json",
         b'{"subject": {"digest": "sha256:s", "size": 2}, "artifactType": "x"}'),
    ]
    frame, bad = pages.parse_batch(items, pages.manifest_documents)
    assert [b[1] for b in bad] == ["sha256:bad"]
    assert frame["digest"].to_list() == ["sha256:good1", "sha256:good2"]
    assert frame["subject"].to_list() == [None, "sha256:s"]
    assert frame["media_type"].to_list() == ["application/vnd.oci.image.manifest.v1+json"] * 2


def test_timestamps_with_any_number_of_fraction_digits_parse_and_failures_are_counted():
    import polars as pl

    df = pl.DataFrame({"created_at": ["2024-03-05T10:11:12.1234567Z", "2024-03-05T10:11:12Z",
                                      "2024-03-05T10:11:12.5+00:00", "yesterday", None]})
    parsed, failures = pages.parse_times("tags", df)
    assert failures == 1
    assert parsed["created_at"].dt.microsecond().to_list() == [123456, 0, 500000, None, None]


def _page(*digests: str) -> bytes:
    items = ",".join(f'{{"digest": "{d}", "imageSize": 10, "createdTime": "2024-01-01T00:00:00Z"}}' for d in digests)
    return f'{{"manifests": [{items}]}}'.encode()


def test_the_parse_buffer_parses_in_chunks_and_leaves_out_only_the_bad_page(monkeypatch):
    bad, chunks = [], []
    buffer = pages.ParseBuffer(lambda batch: pages.manifests("reg", batch), bad.append,
                               lambda frame: chunks.append(frame.height) or frame)
    monkeypatch.setattr(buffer, "CHUNK_BYTES", 300)  # a few pages per chunk
    for i in range(12):
        buffer.add((f"repo{i}", _page(f"sha256:{i:02d}a", f"sha256:{i:02d}b")))
        if i == 5:
            buffer.add(("broken", b'{"manifests": [{"digest": '))  # cut off mid-answer
    frame = buffer.frame()
    assert len(chunks) > 2, "parsed as it went, not at the end"
    assert [item[0] for item in bad] == ["broken"]
    assert frame.height == 24 and sorted(frame["repository"].unique()) == sorted(f"repo{i}" for i in range(12))


def test_an_empty_parse_buffer_gives_an_empty_frame_of_the_parsers_shape():
    buffer = pages.ParseBuffer(lambda batch: pages.manifests("reg", batch), lambda item: None)
    frame = buffer.frame()
    assert frame.height == 0 and {"digest", "repository", "registry", "size_bytes"} <= set(frame.columns)
