"""Image references as workloads write them: ``[host[:port]/]path[:tag][@digest]``, after an App Service
``DOCKER|`` prefix, parsed by one function with the rules of the distribution reference grammar."""

from __future__ import annotations

import re
from dataclasses import dataclass

DOCKER_HUB = "docker.io"
DOCKER_HUB_ALIASES = ("index.docker.io", "registry-1.docker.io", "docker.io")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_PATH = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")


@dataclass(frozen=True)
class ImageReference:
    """A parsed reference: ``host`` lower case (``docker.io`` for Docker Hub), ``repository`` (``library/nginx``
    for a one-segment Docker Hub name), ``tag`` (``latest`` when neither a tag nor a digest is written) and
    ``digest``."""

    host: str
    repository: str
    tag: str | None
    digest: str | None

    def __str__(self) -> str:
        return f"{self.host}/{self.repository}" + (f":{self.tag}" if self.tag else "") + (
            f"@{self.digest}" if self.digest else "")


def parse_image(text: str) -> ImageReference:
    """``text`` as an :class:`ImageReference`; ``ValueError`` naming what is wrong with it.

    ``DOCKER|`` (App Service) and a ``docker-pullable://`` scheme (older kubelets' image ids) are dropped; after
    ``@`` comes the digest; a ``:`` after the last ``/`` starts the tag; the first segment is a host when it has a
    ``.`` or a ``:`` or is ``localhost``, otherwise the host is Docker Hub (``library/`` before a one-segment
    name)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"not an image reference: {text!r}")
    ref = text.strip()
    if ref.upper().startswith("DOCKER|"):
        ref = ref[len("DOCKER|"):]
    ref = ref.removeprefix("docker-pullable://").removeprefix("docker://")
    digest = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
        if not _DIGEST.match(digest):
            raise ValueError(f"{text!r}: {digest!r} is not a digest")
        digest = digest.lower()
    tag = None
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        ref, tag = ref[:colon], ref[colon + 1:]
        if not _TAG.match(tag):
            raise ValueError(f"{text!r}: {tag!r} is not a tag")
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        host, path = first.lower(), rest
    else:
        host, path = DOCKER_HUB, ref
    if host in DOCKER_HUB_ALIASES:
        host = DOCKER_HUB
        if "/" not in path:
            path = f"library/{path}"
    if not _PATH.match(path):
        raise ValueError(f"{text!r}: {path!r} is not a repository path")
    if tag is None and digest is None:
        tag = "latest"
    return ImageReference(host, path, tag, digest)


def from_container_insights(repository: str, image: str, tag: str, image_id: str) -> str:
    """The reference a Container Insights ``ContainerInventory`` row describes. The agent (Azure/Docker-Provider,
    ``KubernetesContainerInventory``; verified in its source) splits an image string at its FIRST ``/`` and FIRST
    ``:``: ``Repository`` is what precedes the first ``/`` (the registry host, or ``library`` in
    ``library/nginx``, empty without a ``/``), ``Image`` what follows it up to the first ``:``, ``ImageTag`` the
    rest (``latest`` when there is neither a tag nor a digest), ``ImageID`` the digest. A registry host with a port
    (``myreg:5000/app:1``) leaves ``Image`` empty and ``5000/app:1`` in ``ImageTag``: that is undone here. A row
    without a tag names its digest."""
    port = repository.split(":", 1)[1] if ":" in repository else None
    if not image and port is not None and tag.startswith(f"{port}/"):
        written = repository + tag[len(port):]  # the agent's split at the port's ':' undone
        last = written.rsplit("/", 1)[-1]
        return written if ":" in last or not image_id else f"{written}@{image_id}"
    written = f"{repository}/{image}" if repository else image
    if tag:
        return f"{written}:{tag}"
    return f"{written}@{image_id}" if image_id else written
