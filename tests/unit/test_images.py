"""The one image-reference parser: hosts, Docker Hub defaults, tags, digests, App Service prefixes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acrlib.images import ImageReference, parse_image

D = "sha256:" + "a" * 64


@pytest.mark.parametrize(("text", "parsed"), [
    ("nginx", ("docker.io", "library/nginx", "latest", None)),
    ("nginx:1.27", ("docker.io", "library/nginx", "1.27", None)),
    ("bitnami/redis:7.4", ("docker.io", "bitnami/redis", "7.4", None)),
    ("docker.io/nginx", ("docker.io", "library/nginx", "latest", None)),
    ("index.docker.io/library/nginx:1.25", ("docker.io", "library/nginx", "1.25", None)),
    ("contoso.azurecr.io/team/api:1.2.0", ("contoso.azurecr.io", "team/api", "1.2.0", None)),
    ("Contoso.AzureCR.io/team/api", ("contoso.azurecr.io", "team/api", "latest", None)),
    (f"contoso.azurecr.io/team/api@{D}", ("contoso.azurecr.io", "team/api", None, D)),
    (f"contoso.azurecr.io/team/api:1.2@{D}", ("contoso.azurecr.io", "team/api", "1.2", D)),
    ("localhost/app", ("localhost", "app", "latest", None)),
    ("localhost:5000/app:dev", ("localhost:5000", "app", "dev", None)),
    ("127.0.0.1:8443/a/b/c:v1", ("127.0.0.1:8443", "a/b/c", "v1", None)),
    ("DOCKER|contoso.azurecr.io/web:2", ("contoso.azurecr.io", "web", "2", None)),
    ("docker|mcr.microsoft.com/dotnet/aspnet:8.0", ("mcr.microsoft.com", "dotnet/aspnet", "8.0", None)),
    (f"docker-pullable://contoso.azurecr.io/api@{D}", ("contoso.azurecr.io", "api", None, D)),
    ("mcr.microsoft.com/azure-cli", ("mcr.microsoft.com", "azure-cli", "latest", None)),
])
def test_references_parse_as_the_distribution_grammar_says(text, parsed):
    assert parse_image(text) == ImageReference(*parsed)


@pytest.mark.parametrize("text", ["", "   ", "UPPER/Case", "app:tag with space", "app@sha256:xyz", "a//b",
                                  "app:" + "t" * 200, None, 5])
def test_what_is_not_a_reference_is_refused_by_name(text):
    with pytest.raises(ValueError):
        parse_image(text)


@given(st.text(max_size=60))
def test_any_text_is_a_reference_or_a_value_error(text):
    try:
        ref = parse_image(text)
    except ValueError:
        return
    assert ref.repository and ref.host and (ref.tag or ref.digest)
    assert parse_image(str(ref)) == ref, "what it prints parses back to itself"


# --- Container Insights: the agent's split of an image string, and acrlib's way back ---

from acrlib.collection.deployments import container_name, docker_style  # noqa: E402
from acrlib.emulator.workloads import agent_image_fields  # noqa: E402
from acrlib.images import from_container_insights  # noqa: E402

NAME = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
HOST = st.sampled_from(["contoso.azurecr.io", "mcr.microsoft.com", "docker.io", "127.0.0.1:40441", "myreg:5000",
                        ""])


@given(host=HOST, path=st.lists(NAME, min_size=1, max_size=3), tag=st.one_of(st.none(), NAME),
       digest=st.booleans())
def test_what_the_agent_splits_acrlib_puts_back_together(host, path, tag, digest):
    written = "/".join(([host] if host else []) + path)
    if tag:
        written += f":{tag}"
    if digest:
        written += f"@{D}"
    fields = agent_image_fields(written)
    back = parse_image(from_container_insights(fields["Repository"], fields["Image"], fields["ImageTag"],
                                               fields["ImageID"] or D))
    want = parse_image(written)
    assert (back.host, back.repository) == (want.host, want.repository)
    if tag:
        assert back.tag == tag
    elif digest:
        assert back.digest == D


def test_the_container_is_named_as_in_its_pod_spec():
    docker = "k8s_api_shop-api-5c7b9d8f6-33c50_shop_" + "f" * 64 + "_2"
    assert docker_style(docker) == ("api", "shop-api-5c7b9d8f6-33c50", "shop")
    assert container_name("0b2f6b7c-1f0e-4a53-9d1a-6f43b0b0e7a1/api", docker) == "api"
    assert container_name(None, docker) == "api", "without its pod row, the Docker-style name says it"
    assert container_name(None, "api") == "api" and docker_style("k8s_only_three") is None
