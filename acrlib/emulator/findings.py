"""Defender for Cloud in the emulated tenant: which subscriptions scan their registries, the findings on a share
of their platform images, and the ``securityresources`` rows Resource Graph serves for them, in the shape each
subscription has (see the docs' "Vulnerability findings"):

- by subscription, in order: the current shape; the retired (legacy) shape; scanning off (both plans Free, no
  rows); one the caller may not read (403 on its plans, no rows); then the current shape again. The
  ``defender`` fault sets a registry's subscription to any mode, ``renamed`` included: the current shape with
  ``CvesDetails`` renamed upstream (as ``RENAMED``), which a reader must report rather than read as nothing;
- findings on every second repository's image manifests (index children included: Defender scans platform
  images), a few per image (the ``defender_images`` fault: that many in every repository, to page past
  Resource Graph's 1,000 rows), plus one for a digest the registry no longer holds and one for a registry
  outside the tenant;
- the current shape's JSON strings inside properties, one registry's rows with the other key casing.
Everything derives from the tenant's digests: the same tenant gives the same findings.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from acrlib import media_types as mt

from .model import DAY, TICKS, Tenant

LEGACY_ASSESSMENT = "c0b7cfc6-3172-465a-b378-53c7ff2cc0d5"
MODES = ("current", "legacy", "off", "denied")  # the subscriptions' modes, in order
FAULT_MODES = (*MODES, "renamed")
RENAMED = "Vulnerabilities"  # the name the renamed shape gives ``CvesDetails``
PACKAGES = ("openssl", "zlib", "libc6", "curl", "busybox", "py", "requests", "glibc")
SEVERITY = ("Critical", "High", "Medium", "Low", "Unknown")
GONE = "sha256:" + "d" * 64  # a digest no registry holds (deleted since it was scanned)
OUTSIDE = "otherregistry.azurecr.io"  # a registry host that is not the tenant's


def modes(tenant: Tenant) -> dict[str, str]:
    """Each subscription's Defender mode: current, legacy, off, denied (or renamed, by a fault)."""
    usual = {sub: MODES[i] if i < len(MODES) else "current" for i, (sub, _) in enumerate(tenant.subscriptions)}
    return {**usual, **tenant.defender_modes}


@dataclass(frozen=True)
class Finding:
    subscription: str
    host: str
    repository: str
    digest: str
    cve: str
    severity: str
    cvss: float | None
    package: str
    installed: str
    fixed: str
    fix_status: str  # Defender's word: FixAvailable, NoFixAvailable, WillNotFix
    published: dt.datetime
    pushed: dt.datetime
    shape: str  # current, legacy or renamed
    lower_keys: bool  # this registry's rows spell 'digest' in lower case


def _hash(*parts) -> int:
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:8], "big")


def _when(tenant: Tenant, days: float) -> dt.datetime:
    return dt.datetime.fromtimestamp((tenant.now - days * DAY) / TICKS, dt.UTC)


def findings(tenant: Tenant, login_servers: dict[str, str]) -> list[Finding]:
    """Every finding Defender holds for the tenant's scanning subscriptions."""
    mode = modes(tenant)
    out = []
    for r, reg in enumerate(tenant.registries):
        kind = mode.get(reg.subscription_id)
        if kind not in ("current", "legacy", "renamed"):
            continue
        host = login_servers.get(reg.name, f"{reg.name}.azurecr.io")
        images = []
        for i, repo in enumerate(sorted(reg.repositories.values(), key=lambda x: x.name)):
            if i % 2 and not tenant.defender_images:
                continue
            scanned = sorted((m for m in repo.manifests.values()
                              if m.media_type in mt.IMAGE_MANIFEST_TYPES
                              and m.config_media_type in mt.IMAGE_CONFIG_TYPES and m.subject is None),
                             key=lambda m: m.digest)[:tenant.defender_images or 3]
            images += [(repo.name, m.digest) for m in scanned]
        if images:
            images.append((images[0][0], GONE))
            images.append(("library/nginx", images[0][1]))  # pushed to another registry: not the tenant's
        for repository, digest in images:
            on = OUTSIDE if repository == "library/nginx" else host
            h = _hash(reg.name, repository, digest)
            packages = dict.fromkeys(PACKAGES[(h >> (4 + p)) % len(PACKAGES)] for p in range(1 + h % 2))
            for p, package in enumerate(packages):
                for c in range(1 + (h >> (8 + p)) % 2):
                    f = _hash(digest, package, c)
                    severity = SEVERITY[f % len(SEVERITY)]
                    fixed = "" if f % 3 == 0 else f"1.{f % 10}.{f % 7 + 1}"
                    status = "FixAvailable" if fixed else ("NoFixAvailable", "WillNotFix")[f % 2]
                    out.append(Finding(
                        reg.subscription_id, on, repository, digest, f"CVE-20{22 + f % 4}-{10000 + f % 90000}",
                        severity, None if severity == "Unknown" else round(4 + (f % 60) / 10, 1), package,
                        f"1.{f % 10}.{f % 7}", fixed, status, _when(tenant, 400 + f % 300), _when(tenant, h % 60),
                        kind, r % 2 == 1))
    return out


def _stamp(when: dt.datetime) -> str:
    """Defender's 7-digit fraction."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _resource_group(tenant: Tenant, sub: str) -> str:
    return next((reg.resource_group for reg in tenant.registries if reg.subscription_id == sub), "rg")


def security_rows(tenant: Tenant, login_servers: dict[str, str]) -> list[dict]:
    """Resource Graph's ``securityresources`` rows: current assessments (one per image and package, the CVEs in a
    JSON string) and legacy sub-assessments (one per image and CVE)."""
    rows = []
    groups: dict[tuple, list[Finding]] = {}
    for f in findings(tenant, login_servers):
        if f.shape == "legacy":
            base = (f"/subscriptions/{f.subscription}/resourceGroups/{_resource_group(tenant, f.subscription)}/"
                    f"providers/Microsoft.ContainerRegistry/registries/x/providers/Microsoft.Security/assessments/"
                    f"{LEGACY_ASSESSMENT}/subassessments/{_hash(f.digest, f.package, f.cve):x}")
            rows.append({"id": base, "type": "microsoft.security/assessments/subassessments",
                         "subscriptionId": f.subscription, "properties": {
                             "id": f.cve, "status": {"code": "Unhealthy", "severity": f.severity},
                             "timeGenerated": _stamp(f.pushed), "additionalData": {
                                 "assessedResourceType": "AzureContainerRegistryVulnerability",
                                 "cvssV30Score": f.cvss,
                                 "artifactDetails": {"registryHost": f.host, "repositoryName": f.repository,
                                                     "digest": f.digest, "tags": [],
                                                     "lastPushedToRegistryUTC": _stamp(f.pushed),
                                                     "artifactType": "ContainerImage"},
                                 "vulnerabilityDetails": {"cveId": f.cve, "severity": f.severity,
                                                          "cvss": {"2.0": None, "3.0": {"base": f.cvss}},
                                                          "publishedDate": _stamp(f.published)},
                                 "softwareDetails": {"packageName": f.package, "version": f.installed,
                                                     "fixStatus": f.fix_status, "fixedVersion": f.fixed}}}})
        else:
            groups.setdefault((f.subscription, f.host, f.repository, f.digest, f.package), []).append(f)
    for (sub, host, repository, digest, package), group in groups.items():
        first = group[0]
        cves_key = RENAMED if first.shape == "renamed" else "CvesDetails"
        extra = {("digest" if first.lower_keys else "Digest"): digest,
                 "LastPushedToRegistryUTC": _stamp(first.pushed),
                 "RepositoryDetails": {"RepositoryName": repository, "RegistryHost": host}}
        cves = [{"CveId": f.cve, "Severity": f.severity,
                 "Cvss": [{"Key": "2", "Value": {"Base": 5.0}}, {"Key": "3", "Value": {"Base": f.cvss}}]
                 if f.cvss is not None else None,
                 "FixStatus": f.fix_status, "FixedVersion": f.fixed, "PublishedDate": _stamp(f.published)}
                for f in group]
        fixed = next((f.fixed for f in group if f.fixed), "")
        rows.append({
            "id": f"/subscriptions/{sub}/providers/Microsoft.Security/assessments/{_hash(digest, package):032x}",
            "type": "microsoft.security/assessments", "subscriptionId": sub, "properties": {
                "metadata": {"recommendationCategory": "SoftwareUpdate", "severity": first.severity},
                "status": {"code": "Unhealthy"},
                "resourceDetails": {"ResourceType": ".containerimage", "Source": "Azure",
                                    "ResourceName": repository.rsplit("/", 1)[-1]},
                "resourceAdditionalData": json.dumps(extra),
                "additionalData": {"SoftwareName": package, "PackageType": "deb", "FixedVersion": fixed,
                                   "ScannersDetails": json.dumps({"mdvm": {"DetectedSoftwareVersions": [
                                       first.installed], "FixedVersion": fixed}}),
                                   cves_key: json.dumps(cves)}}})
    return rows


def pricing(tenant: Tenant, sub: str) -> str | None:
    """A subscription's Defender plans' tier (Standard or Free), or None when the caller may not read them."""
    kind = modes(tenant).get(sub)
    return None if kind == "denied" else "Free" if kind == "off" else "Standard"


def truth_tables(tenant: Tenant, login_servers: dict[str, str]) -> dict[str, list[dict]]:
    """``vulnerabilities`` and ``vulnerability_sources`` rows as a collection with ``vulnerabilities=True``
    reads them (its rules: a CVE without a fixed version of its own takes its package's; the current shape's
    installed version is its package's first detected one). A subscription of the renamed shape has no rows
    and status ``unknown-shape``; its ``message`` is the renamed key, which the collected message must name."""
    hosts = {server.lower(): name for name, server in login_servers.items()}
    every = findings(tenant, login_servers)
    renamed = [f for f in every if f.shape == "renamed"]
    every = [f for f in every if f.shape != "renamed"]
    package_fix: dict[tuple, tuple[str, str]] = {}
    for f in every:
        key = (f.subscription, f.host, f.repository, f.digest, f.package)
        fixed, installed = package_fix.get(key, ("", f.installed))
        package_fix[key] = (fixed or f.fixed, installed)
    rows = []
    for f in every:
        fixed, installed = (f.fixed, f.installed) if f.shape == "legacy" else package_fix[
            (f.subscription, f.host, f.repository, f.digest, f.package)]
        fixed = f.fixed or fixed
        status = "fix-available" if fixed else {"NoFixAvailable": "no-fix", "WillNotFix": "will-not-fix"}[f.fix_status]
        rows.append({"registry": hosts.get(f.host.lower()), "login_server": f.host, "repository": f.repository,
                     "digest": f.digest, "cve_id": f.cve, "severity": f.severity, "cvss": f.cvss,
                     "package": f.package, "installed_version": installed, "fixed_version": fixed or None,
                     "fix_status": status, "published_at": f.published,
                     "source": "defender-legacy" if f.shape == "legacy" else "defender", "scanned_at": f.pushed})
    counts: dict[str, int] = {}
    for f in every:
        counts[f.subscription] = counts.get(f.subscription, 0) + 1
    sources = []
    for sub in sorted({reg.subscription_id for reg in tenant.registries}):
        kind = modes(tenant).get(sub, "current")
        status = {"off": "scanning-off", "denied": "no-access"}.get(kind, "ok")
        if kind == "renamed" and any(f.subscription == sub for f in renamed):
            status = "unknown-shape"
        sources.append({"subscription_id": sub, "path": None, "source": "defender-legacy" if kind == "legacy"
                        else "defender", "status": status, "rows": counts.get(sub, 0),
                        "message": f"additionalData.{RENAMED}" if status == "unknown-shape" else ""})
    return {"vulnerabilities": rows, "vulnerability_sources": sources}
