"""Scanner reports (Trivy, Grype) read defensively into findings: real-shaped reports exactly, arbitrary JSON
without an exception escaping, every finding parsed or counted."""

from __future__ import annotations

import json
import re

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from acrlib import schema
from acrlib.collection import scans

D = "sha256:" + "4af8" * 16
TRIVY = {
    "SchemaVersion": 2, "CreatedAt": "2026-11-30T10:00:00.123456789Z", "ArtifactName": "reg.azurecr.io/app/api:1.2",
    "ArtifactType": "container_image",
    "Metadata": {"ImageID": "sha256:" + "c" * 64, "RepoTags": ["reg.azurecr.io/app/api:1.2"],
                 "RepoDigests": ["mirror.example.com/api@sha256:" + "0" * 64, f"reg.azurecr.io/app/api@{D}"]},
    "Results": [
        {"Target": "reg.azurecr.io/app/api:1.2 (debian 12.5)", "Class": "os-pkgs", "Type": "debian",
         "Vulnerabilities": [
             {"VulnerabilityID": "CVE-2023-5678", "PkgName": "openssl", "InstalledVersion": "3.0.9-1",
              "FixedVersion": "3.0.11-1~deb12u2", "Status": "fixed", "Severity": "HIGH",
              "CVSS": {"redhat": {"V3Score": 5.3}, "nvd": {"V2Score": 5.0, "V3Score": 7.5}},
              "PublishedDate": "2023-11-06T16:15:00Z"},
             {"VulnerabilityID": "CVE-2011-3374", "PkgName": "apt", "InstalledVersion": "2.6.1", "Status": "affected",
              "Severity": "LOW"},
             {"VulnerabilityID": "CVE-2024-0001", "PkgName": "zlib", "Status": "will_not_fix", "Severity": "medium"},
             {"PkgName": "no-id"}, "not an object"]},
        {"Target": "app/requirements.txt", "Class": "lang-pkgs", "Type": "pip"}]}
GRYPE = {
    "matches": [
        {"vulnerability": {"id": "GHSA-xxxx-yyyy-zzzz", "severity": "Critical",
                           "fix": {"versions": ["2.31.0"], "state": "fixed"},
                           "cvss": [{"version": "2.0", "metrics": {"baseScore": 4.3}},
                                    {"version": "3.1", "metrics": {"baseScore": 9.8}}]},
         "artifact": {"name": "requests", "version": "2.25.0", "type": "python"}},
        {"vulnerability": {"id": "CVE-2020-1", "severity": "Negligible", "fix": {"versions": [], "state": "wont-fix"}},
         "artifact": {"name": "bash", "version": "5.1", "type": "deb"}},
        {"vulnerability": None, "artifact": {}}],
    "source": {"type": "image", "target": {"userInput": "reg.azurecr.io/app/api:1.2", "imageID": "sha256:" + "c" * 64,
                                           "manifestDigest": "sha256:" + "c" * 64,
                                           "repoDigests": [f"reg.azurecr.io/app/api@{D}"], "tags": []}},
    "descriptor": {"name": "grype", "version": "0.80.0", "timestamp": "2026-11-30T10:00:00.123456+00:00"}}
REGISTRIES = pl.DataFrame({"registry": ["reg"], "login_server": ["reg.azurecr.io"]})
MANIFESTS = pl.DataFrame({"registry": ["reg"], "repository": ["app/api"], "digest": [D]})


def test_a_trivy_report_reads_exactly():
    report = scans.read_report(json.dumps(TRIVY).encode(), "api.trivy.json")
    assert report.source == "trivy" and report.image == ("reg.azurecr.io", "app/api", D)
    rows = {r["cve_id"]: r for r in report.rows}
    assert set(rows) == {"CVE-2023-5678", "CVE-2011-3374", "CVE-2024-0001"}
    high = rows["CVE-2023-5678"]
    assert (high["severity"], high["cvss"], high["fix_status"], high["fixed_version"]) == (
        "High", 7.5, "fix-available", "3.0.11-1~deb12u2"), "the NVD v3 base, whatever order the sources come in"
    assert rows["CVE-2011-3374"]["fix_status"] == "no-fix" and rows["CVE-2024-0001"]["fix_status"] == "will-not-fix"
    assert rows["CVE-2024-0001"]["severity"] == "Medium"
    assert high["published_at"].isoformat() == "2023-11-06T16:15:00+00:00"
    assert high["scanned_at"].isoformat() == "2026-11-30T10:00:00.123456+00:00"
    assert "2 findings could not be read" in report.source_row()["message"]


def test_a_grype_report_reads_exactly_and_both_join_the_inventory():
    grype = scans.read_report(json.dumps(GRYPE).encode(), "api.grype.json")
    trivy = scans.read_report(json.dumps(TRIVY).encode(), "api.trivy.json")
    rows = {r["cve_id"]: r for r in grype.rows}
    assert rows["GHSA-xxxx-yyyy-zzzz"]["cvss"] == 9.8 and rows["GHSA-xxxx-yyyy-zzzz"]["severity"] == "Critical"
    assert rows["CVE-2020-1"]["severity"] == "Unknown" and rows["CVE-2020-1"]["fix_status"] == "will-not-fix"
    tables = scans.tables([trivy, grype], REGISTRIES, MANIFESTS)
    found = tables["vulnerabilities"]
    assert found.schema == schema.schema("vulnerabilities") and found.height == 5
    assert set(found["registry"]) == {"reg"} and set(found["digest"]) == {D}
    sources = tables["vulnerability_sources"]
    assert sources.select("path", "source", "status", "rows").rows() == [
        ("api.grype.json", "grype", "ok", 2), ("api.trivy.json", "trivy", "ok", 3)]


def test_an_image_outside_the_inventory_is_listed_not_dropped_and_other_files_say_what_they_hold():
    outside = {**GRYPE, "source": {"target": {"repoDigests": ["docker.io/library/nginx@" + D]}}}
    reports = [scans.read_report(json.dumps(outside).encode(), "nginx.json"),
               scans.read_report(b'{"kind": "sbom", "packages": []}', "sbom.json"),
               scans.read_report(b"not json", "broken.json")]
    tables = scans.tables(reports, REGISTRIES, MANIFESTS)
    assert tables["vulnerabilities"]["registry"].null_count() == 2
    sources = {r["path"]: r for r in tables["vulnerability_sources"].iter_rows(named=True)}
    assert sources["nginx.json"]["status"] == "ok" and "no manifest of the inventory" in sources["nginx.json"][
        "message"] and "not the tenant's" in sources["nginx.json"]["message"]
    assert sources["sbom.json"]["status"] == "unknown-shape" and "kind, packages" in sources["sbom.json"]["message"]
    assert sources["broken.json"]["status"] == "error"


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                max_size=4), max_leaves=20)


def mutate(base: dict, path: list, value):
    doc = json.loads(json.dumps(base))
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


PATHS = [["ArtifactName"], ["Metadata"], ["Metadata", "RepoDigests"], ["Results"], ["Results", 0],
         ["Results", 0, "Vulnerabilities"], ["Results", 0, "Vulnerabilities", 0],
         ["Results", 0, "Vulnerabilities", 0, "CVSS"], ["Results", 0, "Vulnerabilities", 0, "Severity"],
         ["Results", 0, "Vulnerabilities", 0, "FixedVersion"], ["CreatedAt"]]
GRYPE_PATHS = [["matches"], ["matches", 0], ["matches", 0, "vulnerability"], ["matches", 0, "vulnerability", "fix"],
               ["matches", 0, "vulnerability", "cvss"], ["matches", 0, "artifact"], ["source"],
               ["source", "target"], ["descriptor"]]


@settings(max_examples=80, deadline=None)
@given(which=st.sampled_from(["trivy", "grype", "any"]), index=st.integers(0, 10), value=JSON)
def test_arbitrary_json_in_a_report_never_raises_and_every_finding_is_read_or_counted(which, index, value):
    if which == "trivy":
        doc = mutate(TRIVY, PATHS[index % len(PATHS)], value)
    elif which == "grype":
        doc = mutate(GRYPE, GRYPE_PATHS[index % len(GRYPE_PATHS)], value)
    else:
        doc = value
    report = scans.read_report(json.dumps(doc).encode(), "x.json")
    row = report.source_row()
    assert row["status"] in ("ok", "unknown-shape", "error") and row["rows"] == len(report.rows)
    for finding in report.rows:
        assert finding["severity"] in ("Critical", "High", "Medium", "Low", "Unknown")
        assert finding["fix_status"] in ("fix-available", "no-fix", "will-not-fix", "unknown")
        assert finding["cvss"] is None or 0 <= finding["cvss"] <= 10
    scans.tables([report], REGISTRIES, MANIFESTS)  # builds its typed frames
    if report.status == "ok":  # every finding of the report is a row, or counted as left out
        if report.source == "trivy":
            results = doc.get("Results") if isinstance(doc.get("Results"), list) else []
            entries = sum(len(r["Vulnerabilities"]) for r in results
                          if isinstance(r, dict) and isinstance(r.get("Vulnerabilities"), list))
        else:
            entries = len(doc["matches"]) if isinstance(doc.get("matches"), list) else 0
        counted = re.search(r"(\d+) findings could not be read", row["message"])
        assert len(report.rows) + (int(counted.group(1)) if counted else 0) == entries
