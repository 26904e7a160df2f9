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
