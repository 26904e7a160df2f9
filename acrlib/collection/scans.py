"""Scanner reports as vulnerability findings: Trivy (``--format json``, SchemaVersion 2) and Grype (``-o json``)
reports that a team's CI wrote, local or in Blob Storage, read into the ``vulnerabilities`` and
``vulnerability_sources`` tables and joined to the inventory's manifests by login server, repository and digest.

A report is a document a pusher controls: it is parsed defensively. A finding that cannot be read costs that
finding (counted in its source's message), a file that is not a report of either kind is ``unknown-shape``
with the keys it holds, and nothing here raises for what a file says.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from .. import locations, schema
from ..images import parse_image
from .cells import fix_status, score, severity, text
from .logs import parse_time
from .parse import json_value

MAX_REPORT_BYTES = 256 << 20  # a report larger than this is not read (an error row of its source)
MAX_FILES = 10_000  # report files read from the folders given
# Each scanner's word for whether a fix exists, as acrlib's fix_status.
TRIVY_STATUS = {"fixed": "fix-available", "affected": "no-fix", "fix_deferred": "no-fix", "end_of_life": "no-fix",
                "will_not_fix": "will-not-fix"}
GRYPE_STATE = {"fixed": "fix-available", "not-fixed": "no-fix", "wont-fix": "will-not-fix"}


@dataclass
class Report:
    """One report file as read: its findings (rows of ``vulnerabilities`` without ``registry``), and its
    ``vulnerability_sources`` row."""

    path: str
    source: str | None = None
    status: str = "ok"
    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    image: tuple[str | None, str | None, str | None] = (None, None, None)  # login server, repository, digest

    def source_row(self) -> dict:
        return {"subscription_id": None, "path": self.path, "source": self.source, "status": self.status,
                "rows": len(self.rows),
                "message": "; ".join(self.notes)}





def _image(references, prefer: str | None) -> tuple[str | None, str | None, str | None]:
    """(login server, repository, digest) from ``repo@sha256:...`` references, the one of ``prefer``'s
    repository first."""
    parsed = []
    for ref in references if isinstance(references, list) else []:
        try:
            image = parse_image(ref) if isinstance(ref, str) else None
        except ValueError:
            image = None
        if image is not None and image.digest:
            parsed.append(image)
    if not parsed:
        return None, None, None
    wanted = None
    if isinstance(prefer, str):
        try:
            wanted = parse_image(prefer)
        except ValueError:
            wanted = None
    chosen = next((p for p in parsed if wanted and (p.host, p.repository) == (wanted.host, wanted.repository)),
                  parsed[0])
    return chosen.host, chosen.repository, chosen.digest


def _trivy(doc: dict, report: Report) -> None:
    report.source = "trivy"
    meta = doc.get("Metadata") if isinstance(doc.get("Metadata"), dict) else {}
    report.image = _image(meta.get("RepoDigests"), text(doc.get("ArtifactName")))
    scanned = parse_time(doc.get("CreatedAt"))
    bad = 0
    for result in doc.get("Results") if isinstance(doc.get("Results"), list) else []:
        findings = result.get("Vulnerabilities") if isinstance(result, dict) else None
        for v in findings if isinstance(findings, list) else []:
            try:
                cve, package = text(v.get("VulnerabilityID")), text(v.get("PkgName"))
                if cve is None or package is None:
                    raise ValueError("no id or package")
                cvss = v.get("CVSS") if isinstance(v.get("CVSS"), dict) else {}
                scores = [s.get("V3Score") for key in ("nvd", "redhat", "ghsa", *sorted(cvss))
                          if isinstance(s := cvss.get(key), dict)]
                base = next((score(x) for x in scores if score(x) is not None), None)
                fixed = text(v.get("FixedVersion"))
                status = TRIVY_STATUS.get(v.get("Status")) if isinstance(v.get("Status"), str) else None
                report.rows.append(_row(report, cve, severity(v.get("Severity")), base, package,
                                        text(v.get("InstalledVersion")), fixed, fix_status(status, fixed),
                                        parse_time(v.get("PublishedDate")), scanned))
            except (AttributeError, ValueError, TypeError, OverflowError):
                bad += 1
    if bad:
        report.notes.append(f"{bad} findings could not be read and are left out")


def _grype(doc: dict, report: Report) -> None:
    report.source = "grype"
    source = doc.get("source") if isinstance(doc.get("source"), dict) else {}
    target = source.get("target") if isinstance(source.get("target"), dict) else {}
    report.image = _image(target.get("repoDigests"), text(target.get("userInput")))
    descriptor = doc.get("descriptor") if isinstance(doc.get("descriptor"), dict) else {}
    scanned = parse_time(descriptor.get("timestamp"))
    bad = 0
    for match in doc.get("matches") if isinstance(doc.get("matches"), list) else []:
        try:
            v, artifact = match.get("vulnerability"), match.get("artifact")
            cve, package = text(v.get("id")), text(artifact.get("name"))
            if cve is None or package is None:
                raise ValueError("no id or package")
            fix = v.get("fix") if isinstance(v.get("fix"), dict) else {}
            versions = [x for x in fix.get("versions") or [] if isinstance(x, str) and x] \
                if isinstance(fix.get("versions"), list) else []
            scores = [c.get("metrics", {}).get("baseScore") for c in v.get("cvss") or []
                      if isinstance(c, dict) and str(c.get("version", "")).startswith("3")
                      and isinstance(c.get("metrics"), dict)] if isinstance(v.get("cvss"), list) else []
            base = next((score(x) for x in scores if score(x) is not None), None)
            fixed = ", ".join(versions) or None
            state = GRYPE_STATE.get(fix.get("state")) if isinstance(fix.get("state"), str) else None
            report.rows.append(_row(report, cve, severity(v.get("severity")), base, package,
                                    text(artifact.get("version")), fixed, fix_status(state, fixed), None, scanned))
        except (AttributeError, ValueError, TypeError, OverflowError):
            bad += 1
    if bad:
        report.notes.append(f"{bad} findings could not be read and are left out")


def _row(report: Report, cve, level, cvss, package, installed, fixed, fix_status, published, scanned) -> dict:
    server, repository, digest = report.image
    return {"login_server": server, "repository": repository, "digest": digest, "cve_id": cve,
            "severity": level, "cvss": cvss, "package": package, "installed_version": installed,
            "fixed_version": fixed, "fix_status": fix_status, "published_at": published, "source": report.source,
            "scanned_at": scanned}


def read_report(data: bytes, path: str) -> Report:
    """One report file's findings and source row: Trivy (SchemaVersion 2), Grype, or ``unknown-shape``."""
    report = Report(path)
    try:
        doc = json_value(data)
    except ValueError as e:
        report.status = "error"
        report.notes.append(f"not a JSON report: {e}")
        return report
    if isinstance(doc, dict) and doc.get("SchemaVersion") == 2 and "ArtifactName" in doc:
        _trivy(doc, report)
    elif isinstance(doc, dict) and isinstance(doc.get("matches"), list) and isinstance(doc.get("source"), dict):
        _grype(doc, report)
    else:
        keys = sorted(str(k)[:40] for k in doc)[:30] if isinstance(doc, dict) else [type(doc).__name__]
        report.status = "unknown-shape"
        report.notes.append(f"neither a Trivy (SchemaVersion 2) nor a Grype report; keys found: {', '.join(keys)}")
        return report
    if report.image[2] is None:
        report.notes.append("the report names no image digest (RepoDigests / repoDigests): its findings cannot be "
                            "joined to a manifest")
    return report


def files(places) -> list[tuple[str, locations.Location | None, str | None]]:
    """The report files of ``places`` (files, or folders: their ``*.json``), each with its location, or an
    error line for a place that could not be listed."""
    out: list[tuple[str, locations.Location | None, str | None]] = []
    for place in places:
        try:
            if place.is_file():
                out.append((str(place), place, None))
                continue
            for name, is_dir in sorted(place.children()):
                if not is_dir and name.lower().endswith(".json") and len(out) < MAX_FILES:
                    out.append((str(place / name), place / name, None))
        except Exception as e:  # a storage refusal, a vanished folder: that place's error, not the collection's
            out.append((str(place), None, f"cannot list it: {str(e).splitlines()[0][:300]}"))
    return out


def read(places) -> list[Report]:
    """Every report of ``places`` (:class:`~acrlib.locations.Location`\\s), read; never raises."""
    reports = []
    for path, where, problem in files(places):
        if where is None:
            reports.append(Report(path, status="error", notes=[problem]))
            continue
        try:
            data = where.read_bytes()
        except Exception as e:
            reports.append(Report(path, status="error", notes=[f"cannot read it: {str(e).splitlines()[0][:300]}"]))
            continue
        if len(data) > MAX_REPORT_BYTES:
            reports.append(Report(path, status="error", notes=[f"{len(data):,} bytes: larger than "
                                                                f"{MAX_REPORT_BYTES:,}, not read"]))
            continue
        reports.append(read_report(data, path))
    return reports


def tables(reports: list[Report], registries: pl.DataFrame, manifests: pl.DataFrame, *,
           findings: list[dict] = (), sources: list[dict] = ()) -> dict[str, pl.DataFrame]:
    """``vulnerabilities`` (each finding's registry by its login server) and ``vulnerability_sources``, of the
    ``reports`` and of other ``findings`` and ``sources`` rows (Defender's). A report whose image matches no
    manifest of the inventory keeps its rows, and its source says which image it named."""
    servers = dict(registries.select(pl.col("login_server").str.to_lowercase(), "registry").drop_nulls().iter_rows())
    known = set(manifests.select("registry", "repository", "digest").iter_rows())
    for report in reports:
        server, repository, digest = report.image
        registry = servers.get((server or "").lower())
        if report.status == "ok" and digest and (registry, repository, digest) not in known:
            report.notes.append(f"{server}/{repository}@{digest} is no manifest of the inventory"
                                + ("" if registry else " (its registry is not the tenant's)"))
    rows = [row for report in reports for row in report.rows] + list(findings)
    for row in rows:
        row["registry"] = servers.get((row.get("login_server") or "").lower())
    found = schema.frame("vulnerabilities", rows).unique(schema.KEYS["vulnerabilities"], keep="first",
                                                         maintain_order=True)
    return {"vulnerabilities": schema.sort("vulnerabilities", found),
            "vulnerability_sources": schema.sort("vulnerability_sources", schema.frame(
                "vulnerability_sources", [*sources, *(r.source_row() for r in reports)]))}
