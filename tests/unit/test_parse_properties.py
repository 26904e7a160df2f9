"""Property-based: whatever JSON a server puts in any field of a listing page or a manifest document, the
parsers never raise, and every item is either in the frame or reported."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acrlib.collection import parse

SCALARS = st.none() | st.booleans() | st.integers(-(2 ** 80), 2 ** 80) | st.floats() | st.text(max_size=8)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
MANIFEST_FIELDS = ["digest", "imageSize", "createdTime", "lastUpdateTime", "architecture", "os", "mediaType",
                   "configMediaType", "tags", "changeableAttributes"]
TAG_FIELDS = ["name", "digest", "createdTime", "lastUpdateTime", "signed", "changeableAttributes"]


def item(fields: list[str]):
    """A listing item whose fields are right, absent or any JSON at all."""
    honest = {"digest": st.just("sha256:" + "a" * 64), "name": st.text(min_size=1, max_size=5),
              "imageSize": st.integers(0, 10 ** 9), "tags": st.lists(st.text(max_size=5), max_size=2)}
    return st.fixed_dictionaries({}, optional={f: honest.get(f, JSON) | JSON for f in fields})


def page(key: str, fields: list[str]):
    items = st.lists(item(fields) | JSON, max_size=4)
    return st.one_of(st.fixed_dictionaries({key: items}), st.fixed_dictionaries({key: JSON}), JSON)


def encoded(value) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pages=st.lists(st.tuples(st.sampled_from(["app/a", "web"]), page("manifests", MANIFEST_FIELDS)), max_size=5))
def test_manifest_pages_never_raise_and_every_page_is_parsed_or_reported(pages):
    items = [(repo, encoded(value)) for repo, value in pages]
    frame, bad = parse.parse_batch(items, lambda batch: parse.manifests("r", batch))
    good = [value for (repo, value), raw in zip(pages, items, strict=True) if raw not in bad]
    listed = sum(len([i for i in v["manifests"] if i is not None]) if isinstance(v, dict)
                 and isinstance(v.get("manifests"), list) else 0 for v in good)
    assert frame.height == listed, "every item of a parsed page is in the frame"
    assert len(bad) + len(good) == len(pages)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pages=st.lists(st.tuples(st.sampled_from(["app/a", "web"]), page("tags", TAG_FIELDS)), max_size=5))
def test_tag_pages_never_raise(pages):
    items = [(repo, encoded(value)) for repo, value in pages]
    frame, bad = parse.parse_batch(items, lambda batch: parse.tags("r", batch))
    assert frame.height >= 0 and len(bad) <= len(pages)


DOCUMENT = st.fixed_dictionaries({}, optional={
    "mediaType": JSON | st.just("application/vnd.oci.image.manifest.v1+json"), "artifactType": JSON,
    "config": JSON | st.fixed_dictionaries({"digest": JSON, "size": JSON, "mediaType": JSON}),
    "layers": JSON | st.lists(st.fixed_dictionaries({"digest": JSON, "size": JSON}), max_size=3),
    "manifests": JSON, "subject": JSON | st.fixed_dictionaries({"digest": JSON}),
})


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents=st.lists(DOCUMENT | JSON, max_size=5))
def test_manifest_documents_never_raise_and_each_is_kept_or_reported(documents):
    items = [("app", f"sha256:{i}", 10, None, encoded(doc)) for i, doc in enumerate(documents)]
    frame, bad = parse.parse_batch(items, parse.manifest_documents)
    assert frame.height + len(bad) == len(documents)
    parse.layers("r", frame)  # and the layers built from them


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents=st.lists(st.fixed_dictionaries({"manifest": JSON | st.fixed_dictionaries(
    {"references": JSON | st.lists(st.fixed_dictionaries({}, optional={"digest": JSON, "os": JSON}), max_size=3)})}
) | JSON, max_size=5))
def test_index_answers_never_raise(documents):
    items = [("app", f"sha256:{i}", encoded(doc)) for i, doc in enumerate(documents)]
    frame, bad = parse.parse_batch(items, lambda batch: parse.references("r", batch))
    assert frame["child_digest"].null_count() == 0 and len(bad) <= len(documents)


@given(body=JSON)
def test_repository_attributes_are_a_row_or_a_value_error(body):
    try:
        row = parse.repository_row("r", "app", encoded(body))
    except ValueError:
        assert not isinstance(body, dict)
        return
    assert row["repository"] == "app"
    assert row["manifest_count"] is None or isinstance(row["manifest_count"], int)


@given(body=JSON)
def test_catalog_pages_are_names_or_a_value_error(body):
    try:
        names = parse.catalog(encoded(body))
    except ValueError:
        return
    assert all(isinstance(n, str) and n for n in names)
