"""The real azure-containerregistry clients (sync and aio) against the emulator, compared with its truth."""

from __future__ import annotations

import asyncio
import hashlib
import json

import polars as pl
import pytest
from azure.containerregistry import ContainerRegistryClient
from azure.containerregistry.aio import ContainerRegistryClient as AsyncContainerRegistryClient
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from polars.testing import assert_frame_equal
from sdk_helpers import manifest_rows, tag_rows, token_session

from acrlib.media_types import INDEX_TYPES


def json_hook(sink: list):
    """A raw_response_hook collecting the JSON of successful responses (the SDK also sees 401s)."""

    def hook(response):
        if response.http_response.status_code == 200:
            sink.append(json.loads(response.http_response.text()))

    return hook


def client(emu, registry, credential="default"):
    cred = emu.credential() if credential == "default" else credential
    return ContainerRegistryClient(emu.endpoint(registry), cred, connection_verify=emu.ca_path)


def test_every_listing_with_small_pages_equals_the_truth(tiny, tiny_truth):
    page = 7
    for registry in tiny.registries:
        with client(tiny, registry) as c:
            repos = list(c.list_repository_names(results_per_page=2))
            expected = tiny_truth["repositories"].filter(pl.col("registry") == registry)["repository"].to_list()
            assert repos == sorted(expected)
            manifests, tags = [], []
            for repo in repos:
                manifests.append(manifest_rows(registry, repo, c.list_manifest_properties(repo, results_per_page=page)))
                tags.append(tag_rows(registry, repo, c.list_tag_properties(repo, results_per_page=page)))
                props = c.get_repository_properties(repo)
                row = tiny_truth["repositories"].filter(
                    (pl.col("registry") == registry) & (pl.col("repository") == repo)).row(0, named=True)
                assert (props.manifest_count, props.tag_count) == (row["manifest_count"], row["tag_count"])
                assert props.created_on == row["created_at"] and props.last_updated_on == row["last_updated_at"]
        got_m = pl.concat(manifests).sort("repository", "digest")
        want_m = tiny_truth["manifests"].filter(pl.col("registry") == registry).select(got_m.columns)
        assert_frame_equal(got_m, want_m.sort("repository", "digest"))
        got_t = pl.concat(tags).sort("repository", "tag")
        want_t = tiny_truth["tags"].filter(pl.col("registry") == registry).select(got_t.columns)
        assert_frame_equal(got_t, want_t.sort("repository", "tag"))


def test_a_repository_with_more_than_1000_manifests_pages_through_the_1000_cap(tiny, tiny_truth):
    big = tiny_truth["repositories"].filter(pl.col("manifest_count") > 1000).row(0, named=True)
    pages = []
    with client(tiny, big["registry"]) as c:
        listing = c.list_manifest_properties(big["repository"], results_per_page=5000).by_page()
        pages = [len(list(p)) for p in listing]
    assert pages[0] == 1000, "n is capped at 1000"
    assert sum(pages) == big["manifest_count"]


def test_time_ordering_follows_last_update_time(tiny, tiny_truth):
    repo = tiny_truth["repositories"].sort("manifest_count", descending=True).row(1, named=True)
    with client(tiny, repo["registry"]) as c:
        items = list(c.list_manifest_properties(repo["repository"], order_by="timedesc", results_per_page=3))
    stamps = [m.last_updated_on for m in items]
    assert stamps == sorted(stamps, reverse=True)
    assert len(items) == repo["manifest_count"]


def test_index_references_come_only_from_the_single_manifest_get(tiny, tiny_truth):
    refs = tiny_truth["references"]
    index = refs.row(0, named=True)
    captured = []
    with client(tiny, index["registry"]) as c:
        props = c.get_manifest_properties(index["repository"], index["index_digest"],
                                          raw_response_hook=json_hook(captured))
        listed = []
        for _ in c.list_manifest_properties(index["repository"],
                                            raw_response_hook=json_hook(listed)):
            pass
    assert props.digest == index["index_digest"]
    got = {(r["digest"], r["architecture"], r["os"]) for r in captured[-1]["manifest"]["references"]}
    want = refs.filter(pl.col("index_digest") == index["index_digest"])
    assert got == set(zip(want["child_digest"], want["architecture"], want["os"], strict=True))
    assert all("references" not in m for page in listed for m in page["manifests"])
    assert captured[-1]["manifest"]["mediaType"] in INDEX_TYPES


def test_get_manifest_verifies_digest_and_media_type(tiny, tiny_truth):
    rows = tiny_truth["manifests"].group_by("media_type").first()
    for row in rows.iter_rows(named=True):
        with client(tiny, row["registry"]) as c:
            result = c.get_manifest(row["repository"], row["digest"])  # raises DigestValidationError on mismatch
        assert result.digest == row["digest"]
        assert result.media_type == row["media_type"]
        assert result.manifest["mediaType"] == row["media_type"]
    tagged = tiny_truth["tags"].row(0, named=True)
    with client(tiny, tagged["registry"]) as c:
        assert c.get_manifest(tagged["repository"], tagged["tag"]).digest == tagged["digest"]


def test_config_blob_downloads_with_a_matching_digest_and_layer_head_gives_its_size(tiny, tiny_truth):
    layers = tiny_truth["layers"]
    config = layers.filter(pl.col("role") == "config").row(0, named=True)
    with client(tiny, config["registry"]) as c:
        data = b"".join(c.download_blob(config["repository"], config["blob_digest"]))
    assert "sha256:" + hashlib.sha256(data).hexdigest() == config["blob_digest"]
    assert len(data) == config["size_bytes"]
    json.loads(data)
    layer = layers.filter((pl.col("role") == "layer") & (pl.col("registry") == config["registry"])).row(0, named=True)
    s = token_session(tiny, layer["registry"], [f"repository:{layer['repository']}:pull"])
    head = s.head(f"{tiny.endpoint(layer['registry'])}/v2/{layer['repository']}/blobs/{layer['blob_digest']}")
    assert head.status_code == 200
    assert int(head.headers["Content-Length"]) == layer["size_bytes"]
    assert head.headers["Docker-Content-Digest"] == layer["blob_digest"]


def test_anonymous_access_works_only_where_enabled(tiny):
    registries = tiny.truth()["registries"]
    open_regs = registries.filter(pl.col("anonymous_pull_enabled"))["registry"].to_list()
    closed = registries.filter(~pl.col("anonymous_pull_enabled"))["registry"].to_list()
    assert open_regs and closed, "the tiny tenant has registries with and without anonymous pull"
    with ContainerRegistryClient(tiny.endpoint(open_regs[0]), None, connection_verify=tiny.ca_path) as c:
        names = list(c.list_repository_names())
        assert names
        assert list(c.list_tag_properties(names[-1])) is not None
    with (ContainerRegistryClient(tiny.endpoint(closed[0]), None, connection_verify=tiny.ca_path) as c,
          pytest.raises(ClientAuthenticationError)):
        list(c.list_repository_names())


def test_a_token_without_the_needed_scope_gets_401(tiny, tiny_truth):
    import requests  # the token service and the data plane over plain HTTP calls, no SDK in between

    registry = tiny_truth["registries"]["registry"][0]
    endpoint = tiny.endpoint(registry)
    repos = tiny_truth["repositories"].filter(pl.col("registry") == registry)["repository"].to_list()
    service = endpoint.removeprefix("https://")
    aad = tiny.credential().get_token("https://containerregistry.azure.net/.default").token
    s = requests.Session()
    s.verify = tiny.ca_path
    s.trust_env = False
    refresh = s.post(f"{endpoint}/oauth2/exchange", data={"grant_type": "access_token", "service": service,
                                                            "access_token": aad}).json()["refresh_token"]
    token = s.post(f"{endpoint}/oauth2/token", data={"grant_type": "refresh_token", "service": service,
                                                       "scope": f"repository:{repos[0]}:metadata_read",
                                                       "refresh_token": refresh}).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert s.get(f"{endpoint}/acr/v1/{repos[0]}/_tags", headers=auth).status_code == 200
    denied = s.get(f"{endpoint}/acr/v1/{repos[1]}/_tags", headers=auth)
    assert denied.status_code == 401
    challenge = denied.headers["WWW-Authenticate"]
    assert f'scope="repository:{repos[1]}:metadata_read"' in challenge
    assert f'realm="{endpoint}/oauth2/token"' in challenge
    assert denied.json()["errors"][0]["code"] == "UNAUTHORIZED"
    # pull is a different action than metadata_read
    assert s.get(f"{endpoint}/v2/{repos[0]}/manifests/latest", headers=auth).status_code == 401
    # several scopes in one token request are honoured
    multi = s.post(f"{endpoint}/oauth2/token", data=[("grant_type", "refresh_token"), ("service", service),
                                                     ("scope", f"repository:{repos[0]}:metadata_read"),
                                                     ("scope", f"repository:{repos[1]}:metadata_read"),
                                                     ("refresh_token", refresh)]).json()["access_token"]
    auth = {"Authorization": f"Bearer {multi}"}
    assert all(s.get(f"{endpoint}/acr/v1/{r}/_tags", headers=auth).status_code == 200 for r in repos[:2])
    assert s.get(f"{endpoint}/acr/v1/_catalog", headers=auth).status_code == 401
    # an unknown repository is 404 NAME_UNKNOWN once authorised
    missing = s.post(f"{endpoint}/oauth2/token", data={"grant_type": "refresh_token", "service": service,
                                                         "scope": "repository:no/such:metadata_read",
                                                         "refresh_token": refresh}).json()["access_token"]
    r = s.get(f"{endpoint}/acr/v1/no%2Fsuch/_tags", headers={"Authorization": f"Bearer {missing}"})
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "NAME_UNKNOWN"


def test_link_headers_are_relative_and_names_url_encoded(tiny, tiny_truth):
    nested = tiny_truth["repositories"].filter(pl.col("repository").str.contains("/") & (pl.col("manifest_count") > 2))
    row = nested.row(0, named=True)
    links = []
    with client(tiny, row["registry"]) as c:
        for _ in c.list_manifest_properties(row["repository"], results_per_page=1,
                                            raw_response_hook=lambda r: r.http_response.status_code == 200
                                            and links.append(r.http_response.headers.get("Link"))):
            pass
    encoded = row["repository"].replace("/", "%2F")
    assert links[0].startswith(f"</acr/v1/{encoded}/_manifests?last=sha256%3A")
    assert links[0].endswith('>; rel="next"') and "&n=1&orderby=" in links[0]
    assert links[-1] is None, "no Link header on the last page"


def test_async_client_lists_the_same_as_the_truth(tiny, tiny_truth):
    registry = list(tiny.registries)[1]

    async def collect():
        async with tiny.async_credential() as cred, AsyncContainerRegistryClient(
            tiny.endpoint(registry), cred, connection_verify=tiny.ca_path
        ) as c:
            names = [n async for n in c.list_repository_names(results_per_page=3)]
            frames = []
            for name in names:
                items = [m async for m in c.list_manifest_properties(name, results_per_page=4)]
                frames.append(manifest_rows(registry, name, items))
            index = tiny_truth["references"].filter(pl.col("registry") == registry)
            if index.height:
                props = await c.get_manifest_properties(index["repository"][0], index["index_digest"][0])
                assert props.digest == index["index_digest"][0]
            return names, pl.concat(frames)

    names, got = asyncio.run(collect())
    truth = tiny_truth["manifests"].filter(pl.col("registry") == registry)
    assert names == sorted(tiny_truth["repositories"].filter(pl.col("registry") == registry)["repository"])
    assert_frame_equal(got.sort("repository", "digest"), truth.select(got.columns).sort("repository", "digest"))


def test_unknown_manifest_and_tag_are_404(tiny, tiny_truth):
    row = tiny_truth["repositories"].filter(pl.col("tag_count") > 0).row(0, named=True)
    with client(tiny, row["registry"]) as c:
        with pytest.raises(ResourceNotFoundError):
            c.get_manifest_properties(row["repository"], "sha256:" + "0" * 64)
        with pytest.raises(ResourceNotFoundError):
            c.get_tag_properties(row["repository"], "no-such-tag")
        with pytest.raises(HttpResponseError):
            c.get_manifest(row["repository"], "sha256:" + "0" * 64)
