"""Example scanner reports for the emulated tenant, as a team's CI writes them: Trivy (``trivy image --format
json``, SchemaVersion 2) and Grype (``grype -o json``) reports for a few of its images, and one for an image
that is not in the tenant. Shapes follow the scanners' documented JSON output (see the docs' "Vulnerability
findings"); the findings themselves are made up, from the digests, so the same tenant gives the same reports.

:func:`write_reports` writes them into a folder and returns the ``vulnerabilities`` and
``vulnerability_sources`` rows a collection given that folder (``collect(scan_results=[folder])``) reads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import polars as pl

from acrlib import schema

OUTSIDE_IMAGE = "docker.io/library/nginx"
OUTSIDE_DIGEST = "sha256:" + "e" * 64
PACKAGES = ("openssl", "libssl3", "zlib1g", "libexpat1", "busybox", "ncurses-base")
LEVELS = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")


def _number(*parts) -> int:
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:6], "big")


def _findings(digest: str) -> list[dict]:
    """Two to four findings for an image: CVE, package, severity, CVSS v3 (None for unknown), versions."""
    out = []
    for i in range(2 + _number(digest) % 3):
        n = _number(digest, i)
        level = LEVELS[n % len(LEVELS)]
        fixed = "" if n % 3 == 0 else f"3.0.{n % 17 + 1}"
        out.append({"cve": f"CVE-2025-{20000 + n % 70000}", "package": PACKAGES[(n >> 3) % len(PACKAGES)],
                    "severity": level, "cvss": None if level == "UNKNOWN" else round(3 + (n % 70) / 10, 1),
                    "installed": f"3.0.{n % 17}", "fixed": fixed,
                    "published": dt.datetime(2025, 1 + n % 12, 1 + n % 28, tzinfo=dt.UTC)})
    return out


def _stamp(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def trivy(image: str, digest: str, scanned: dt.datetime) -> dict:
    """A Trivy (SchemaVersion 2) report of ``image`` (``host/repository:tag``) whose manifest is ``digest``."""
    repository = image.rsplit(":", 1)[0]
    return {
        "SchemaVersion": 2, "CreatedAt": _stamp(scanned), "ArtifactName": image, "ArtifactType": "container_image",
        "Metadata": {"OS": {"Family": "debian", "Name": "12.8"}, "ImageID": "sha256:" + digest[-64:][::-1],
                     "RepoTags": [image], "RepoDigests": [f"{repository}@{digest}"]},
        "Results": [{"Target": f"{image} (debian 12.8)", "Class": "os-pkgs", "Type": "debian", "Vulnerabilities": [
            {"VulnerabilityID": f["cve"], "PkgName": f["package"], "InstalledVersion": f["installed"],
             **({"FixedVersion": f["fixed"]} if f["fixed"] else {}),
             "Status": "fixed" if f["fixed"] else "affected", "Severity": f["severity"],
             "PublishedDate": _stamp(f["published"]),
             **({"CVSS": {"nvd": {"V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                                  "V3Score": f["cvss"]}}} if f["cvss"] is not None else {})}
            for f in _findings(digest)]}]}


def grype(image: str, digest: str, scanned: dt.datetime) -> dict:
    """A Grype report of ``image`` whose manifest is ``digest``."""
    repository = image.rsplit(":", 1)[0]
    return {
        "matches": [{
            "vulnerability": {"id": f["cve"], "dataSource": f"https://nvd.nist.gov/vuln/detail/{f['cve']}",
                              "namespace": "debian:distro:debian:12", "severity": f["severity"].title(),
                              "fix": {"versions": [f["fixed"]] if f["fixed"] else [],
                                      "state": "fixed" if f["fixed"] else "not-fixed"},
                              "cvss": [{"version": "3.1", "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                                        "metrics": {"baseScore": f["cvss"]}}] if f["cvss"] is not None else []},
            "artifact": {"name": f["package"], "version": f["installed"], "type": "deb"}}
            for f in _findings(digest)],
        "source": {"type": "image", "target": {"userInput": image, "repoDigests": [f"{repository}@{digest}"],
                                               "tags": [image]}},
        "distro": {"name": "debian", "version": "12"},
        "descriptor": {"name": "grype", "version": "0.86.1", "timestamp": _stamp(scanned)}}


def _rows(report: dict, kind: str, login_server: str | None, registry: str | None, repository: str, digest: str,
          scanned: dt.datetime) -> list[dict]:
    """The vulnerabilities rows a reader makes of one of these reports."""
    return [{"registry": registry, "login_server": login_server, "repository": repository, "digest": digest,
             "cve_id": f["cve"], "severity": f["severity"].title(), "cvss": f["cvss"], "package": f["package"],
             "installed_version": f["installed"], "fixed_version": f["fixed"] or None,
             "fix_status": "fix-available" if f["fixed"] else "no-fix",
             "published_at": f["published"] if kind == "trivy" else None, "source": kind, "scanned_at": scanned}
            for f in _findings(digest)]


def write_reports(truth: dict[str, pl.DataFrame], folder: str | Path) -> dict[str, pl.DataFrame]:
    """Write reports into ``folder`` for the first tagged single-platform image of each registry (Trivy and
    Grype in turn) and one image outside the tenant; return the ``vulnerabilities`` and
    ``vulnerability_sources`` rows a collection reads from them (``path`` is each file's path in ``folder``;
    ``message`` says which image matched no manifest)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    servers = dict(truth["registries"].select("registry", "login_server").iter_rows())
    images = (truth["manifests"].filter((pl.col("kind") == "image") & (pl.col("tags").list.len() > 0))
              .sort("registry", "repository", "digest").unique("registry", keep="first", maintain_order=True))
    scanned = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    vulnerabilities, sources = [], []
    jobs = [(servers[m["registry"]], m["registry"], m["repository"], m["tags"][0], m["digest"])
            for m in images.iter_rows(named=True)]
    jobs.append(("docker.io", None, "library/nginx", "1.27", OUTSIDE_DIGEST))
    for i, (server, registry, repository, tag, digest) in enumerate(jobs):
        kind = "trivy" if i % 2 == 0 else "grype"
        image = f"{server}/{repository}:{tag}"
        report = (trivy if kind == "trivy" else grype)(image, digest, scanned)
        name = f"{i:02d}-{kind}-{(registry or 'outside')}.json"
        (folder / name).write_text(json.dumps(report, indent=1))
        rows = _rows(report, kind, server, registry, repository, digest, scanned)
        vulnerabilities += rows
        sources.append({"subscription_id": None, "path": str(folder / name), "source": kind, "status": "ok",
                        "rows": len(rows), "message": "" if registry else f"{server}/{repository}@{digest}"})
    found = schema.frame("vulnerabilities", vulnerabilities).unique(schema.KEYS["vulnerabilities"], keep="first",
                                                                    maintain_order=True)
    return {"vulnerabilities": schema.sort("vulnerabilities", found),
            "vulnerability_sources": schema.sort("vulnerability_sources",
                                                 schema.frame("vulnerability_sources", sources))}
