"""Raw answers into frames: one bad document costs only itself."""

from __future__ import annotations

from acrlib import pages


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
