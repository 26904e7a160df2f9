"""Defender for Cloud's container image findings, from Resource Graph's ``securityresources``, parsed in Python.

Two shapes, whichever a tenant returns (see the docs' "Vulnerability findings"):

- current: ``microsoft.security/assessments`` rows of the ``SoftwareUpdate`` category for container images, one
  per image and vulnerable package, the CVEs in ``additionalData.CvesDetails`` (a JSON string, or JSON);
- legacy: ``microsoft.security/assessments/subassessments`` under assessment ``c0b7cfc6-...``, one per image and
  CVE (retired by Microsoft on 2026-07-31; sovereign clouds and lagging tenants may still return them).

Servers filter only on the type and the category or assessment key; everything else is read here, defensively:
key casing varies between tenants, JSON comes inside strings or as objects, fields get renamed. A row that
cannot be read costs that row (counted); a row of an unknown shape says which keys it holds.
"""

from __future__ import annotations

import re

from ..errors import error_row
from .cells import fix_status, score, severity, text
from .logs import parse_time
from .parse import json_value

LEGACY_ASSESSMENT = "c0b7cfc6-3172-465a-b378-53c7ff2cc0d5"
CURRENT_QUERY = ("securityresources | where type =~ 'microsoft.security/assessments' "
                 "| where properties.metadata.recommendationCategory =~ 'SoftwareUpdate' "
                 "| project id, type, subscriptionId, properties | order by id asc")
LEGACY_QUERY = ("securityresources | where type =~ 'microsoft.security/assessments/subassessments' "
                f"| where id contains '{LEGACY_ASSESSMENT}' "
                "| project id, type, subscriptionId, properties | order by id asc")
PRICINGS_API = "2024-01-01"
PLANS = ("Containers", "CloudPosture")  # registry image scanning needs one of them on
FIX_STATUS = {"fixavailable": "fix-available", "nofix": "no-fix", "nofixavailable": "no-fix",
              "willnotfix": "will-not-fix", "wontfix": "will-not-fix"}


class Shape(ValueError):
    """A row whose properties are not of a shape acrlib reads: ``keys`` are what it found."""

    def __init__(self, keys: list[str]):
        super().__init__(f"unknown shape; keys found: {', '.join(keys) or 'none'}")
        self.keys = keys


def _get(obj, *names):
    """``obj[name]`` for the first of ``names`` present, compared case-insensitively (tenants differ)."""
    if not isinstance(obj, dict):
        return None
    lowered = {k.lower(): v for k, v in obj.items() if isinstance(k, str)}
    for name in names:
        if name.lower() in lowered:
            return lowered[name.lower()]
    return None


def _json(value):
    """A JSON value that may arrive as a string holding JSON."""
    if isinstance(value, str):
        try:
            return json_value(value)
        except ValueError:
            return None
    return value





def _fix(status, fixed: str | None) -> str:
    """Defender's FixStatus (spelled in several ways between tenants) as acrlib's fix_status."""
    key = re.sub(r"[^a-z]", "", status.lower()) if isinstance(status, str) else ""
    return fix_status(FIX_STATUS.get(key), fixed)


def _cvss_v3(cvss) -> float | None:
    """The CVSS v3 base of a ``Cvss`` list (``[{"Key": "3", "Value": {"Base": 7.5}}]``, any order) or mapping
    (``{"2.0": ..., "3.0": {"base": 7.5}}``)."""
    pairs = []
    if isinstance(cvss, list):
        pairs = [(_get(item, "Key"), _get(item, "Value")) for item in cvss if isinstance(item, dict)]
    elif isinstance(cvss, dict):
        pairs = list(cvss.items())
    for key, value in sorted(pairs, key=lambda p: str(p[0]), reverse=True):
        if str(key).startswith("3"):
            base = score(_get(value, "Base", "baseScore"))
            if base is not None:
                return base
    return None


def _image(registry_host, repository, digest) -> tuple[str | None, str | None, str | None]:
    return text(registry_host), text(repository), text(digest)


def current_rows(properties) -> list[dict]:
    """The findings of one current-shape assessment row: one per CVE of its package. :class:`Shape` when it is
    not one."""
    props = properties if isinstance(properties, dict) else {}
    extra = _json(_get(props, "resourceAdditionalData"))
    additional = _json(_get(props, "additionalData"))
    details = _json(_get(additional, "CvesDetails"))
    repo = _get(extra, "RepositoryDetails")
    server, repository, digest = _image(_get(repo, "RegistryHost"), _get(repo, "RepositoryName"),
                                        _get(extra, "Digest"))
    package = text(_get(additional, "SoftwareName"))
    if not (isinstance(details, list) and digest and repository and package):
        raise Shape(sorted({*map(str, props)} | {f"additionalData.{k}" for k in (additional or {})
                                                  if isinstance(additional, dict)}))
    scanners = _json(_get(additional, "ScannersDetails"))
    detected = [v for s in (scanners or {}).values() if isinstance(s, dict)
                for v in (_get(s, "DetectedSoftwareVersions") or []) if isinstance(v, str)] \
        if isinstance(scanners, dict) else []
    installed = detected[0] if detected else text(_get(additional, "SoftwareVersion"))
    scanned = parse_time(_get(extra, "LastPushedToRegistryUTC", "LastPublishedToRegistryUTC"))
    out = []
    for cve in details:
        cve_id = text(_get(cve, "CveId"))
        if cve_id is None:
            raise Shape(sorted(str(k) for k in cve) if isinstance(cve, dict) else [type(cve).__name__])
        fixed = text(_get(cve, "FixedVersion")) or text(_get(additional, "FixedVersion"))
        out.append({"login_server": server, "repository": repository, "digest": digest, "cve_id": cve_id,
                    "severity": severity(_get(cve, "Severity")), "cvss": _cvss_v3(_get(cve, "Cvss")),
                    "package": package, "installed_version": installed, "fixed_version": fixed,
                    "fix_status": _fix(_get(cve, "FixStatus"), fixed),
                    "published_at": parse_time(_get(cve, "PublishedDate")),
                    "source": "defender", "scanned_at": scanned})
    return out


def legacy_rows(properties) -> list[dict]:
    """The one finding of a legacy sub-assessment row. :class:`Shape` when it is not one."""
    props = properties if isinstance(properties, dict) else {}
    additional = _get(props, "additionalData")
    artifact = _get(additional, "artifactDetails")
    vulnerability = _get(additional, "vulnerabilityDetails")
    software = _get(additional, "softwareDetails")
    server, repository, digest = _image(_get(artifact, "registryHost"), _get(artifact, "repositoryName"),
                                        _get(artifact, "digest"))
    cve_id = text(_get(vulnerability, "cveId")) or text(_get(props, "id"))
    package = text(_get(software, "packageName"))
    if not (digest and repository and cve_id and package):
        raise Shape(sorted({*map(str, props)} | {f"additionalData.{k}" for k in additional}
                           if isinstance(additional, dict) else set(map(str, props))))
    fixed = text(_get(software, "fixedVersion"))
    level = _get(vulnerability, "severity") or _get(_get(props, "status"), "severity")
    cvss = _cvss_v3(_get(vulnerability, "cvss"))
    if cvss is None:
        cvss = score(_get(additional, "cvssV30Score"))
    return [{"login_server": server, "repository": repository, "digest": digest, "cve_id": cve_id,
             "severity": severity(level), "cvss": cvss, "package": package,
             "installed_version": text(_get(software, "version")), "fixed_version": fixed,
             "fix_status": _fix(_get(software, "fixStatus"), fixed),
             "published_at": parse_time(_get(vulnerability, "publishedDate")), "source": "defender-legacy",
             "scanned_at": parse_time(_get(artifact, "lastPushedToRegistryUTC", "lastPublishedToRegistryUTC"))}]


def findings(rows: list, legacy: bool) -> tuple[list[dict], dict[str, dict]]:
    """Findings of Resource Graph ``rows`` (one shape) and, per subscription, what was read: ``rows``, ``bad``
    (rows that could not be read) and ``keys`` (of the first row of an unknown shape). Never raises."""
    parse = legacy_rows if legacy else current_rows
    out: list[dict] = []
    per: dict[str, dict] = {}
    for row in rows:
        sub = text(row.get("subscriptionId")) if isinstance(row, dict) else None
        seen = per.setdefault((sub or "").lower(), {"rows": 0, "bad": 0, "keys": None})
        try:
            found = parse(row.get("properties") if isinstance(row, dict) else None)
        except Shape as e:
            seen["bad"] += 1
            seen["keys"] = seen["keys"] or e.keys
            continue
        except Exception:  # any other oddity costs the row
            seen["bad"] += 1
            continue
        seen["rows"] += len(found)
        out += found
    return out, per


class DefenderReader:
    """Reads Defender for Cloud's findings for the ``subscriptions`` of a collection: each subscription's plans
    (one ARM read each), then the two shapes' rows (Resource Graph, paged), into finding rows and one
    ``vulnerability_sources`` row per subscription. Failures become status rows and error rows, never raise."""

    def __init__(self, arm, cloud: str, subscriptions: list[str]):
        self.arm = arm
        self.cloud = cloud
        self.subscriptions = sorted({s.lower(): s for s in subscriptions if s}.values())
        self.findings: list[dict] = []
        self.sources: list[dict] = []
        self.errors: list[dict] = []

    def error(self, code: str, message: str, status: int | None = None) -> None:
        self.errors.append(error_row("vulnerabilities", code, message, status=status))

    def source(self, sub: str, status: str, rows: int = 0, message: str = "", source: str = "defender") -> None:
        self.sources.append({"subscription_id": sub, "path": None, "source": source, "status": status,
                             "rows": rows, "message": message})

    async def read(self) -> None:
        import asyncio

        from ..errors import RequestFailed

        if self.cloud == "china":  # Defender for Cloud is retired in Azure China (2026-08-18): nothing to ask
            for sub in self.subscriptions:
                self.source(sub, "not-available", message="Defender for Cloud is retired in Azure China")
            return
        if not self.subscriptions:
            return
        plans = dict(zip(self.subscriptions, await asyncio.gather(*(self._plans(s) for s in self.subscriptions)),
                         strict=True))
        results = {}
        for legacy, query in ((False, CURRENT_QUERY), (True, LEGACY_QUERY)):
            try:
                rows = await self.arm.query(query, self.subscriptions)
            except RequestFailed as e:
                self.error(e.code, f"Resource Graph (security findings): {e.message}", e.status)
                for sub in self.subscriptions:
                    plans[sub] = plans[sub] or ("error", f"the security findings could not be read: {e.code}")
                continue
            found, per = findings(rows, legacy)
            self.findings += found
            results[legacy] = per
        for sub in self.subscriptions:
            current, legacy = (results.get(flag, {}).get(sub.lower(), {"rows": 0, "bad": 0, "keys": None})
                               for flag in (False, True))
            rows, bad = current["rows"] + legacy["rows"], current["bad"] + legacy["bad"]
            source = "defender-legacy" if legacy["rows"] and not current["rows"] else "defender"
            status, message = plans[sub] or ("ok", "")
            if bad:
                keys = current["keys"] or legacy["keys"]
                note = f"{bad} finding rows could not be read and are left out" + (
                    f"; keys found: {', '.join(keys)}" if keys else "")
                message = f"{message}; {note}" if message else note
                if not rows and status == "ok":
                    status = "unknown-shape"
            self.source(sub, status, rows, message, source)

    async def _plans(self, sub: str) -> tuple[str, str] | None:
        """None when a plan that scans registries is on; else (status, message)."""
        from ..errors import RequestFailed

        tiers = {}
        for plan in PLANS:
            try:
                answer = await self.arm.get(f"/subscriptions/{sub}/providers/Microsoft.Security/pricings/{plan}",
                                            PRICINGS_API, "Defender for Cloud plans")
            except RequestFailed as e:
                if e.status in (401, 403):
                    return "no-access", ("the identity may not read the subscription's Defender plans (it needs "
                                         "Reader or Security Reader)")
                if e.status == 404:
                    tiers[plan] = None
                    continue
                self.error(e.code, f"Defender plan {plan} of subscription {sub}: {e.message}", e.status)
                return "error", f"the Defender plans could not be read: {e.code}"
            props = answer.get("properties") if isinstance(answer.get("properties"), dict) else {}
            tiers[plan] = props.get("pricingTier") if isinstance(props.get("pricingTier"), str) else None
        if any(str(tier).lower() == "standard" for tier in tiers.values()):
            return None
        return "scanning-off", ("registry image scanning is off: enable the Defender for Containers or the Defender "
                                "CSPM plan on this subscription")
