"""Scanner reports given to collect (scan_results): read from files and folders, joined to the manifests the
collection found, equal to what the reports say; a bad path is refused before any request."""

from __future__ import annotations

import json

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import acrlib

QUIET = {"progress": False, "activity_days": 0, "deployments": False, "vulnerabilities": False}  # reports alone


def trivy(image: str, digest: str, findings: list[tuple[str, str, str, str]]) -> dict:
    repository = image.rsplit(":", 1)[0]
    return {"SchemaVersion": 2, "CreatedAt": "2026-11-30T10:00:00Z", "ArtifactName": image,
            "Metadata": {"RepoTags": [image], "RepoDigests": [f"{repository}@{digest}"]},
            "Results": [{"Target": image, "Class": "os-pkgs", "Vulnerabilities": [
                {"VulnerabilityID": cve, "PkgName": package, "InstalledVersion": "1.0", "FixedVersion": fixed,
                 "Severity": severity, "Status": "fixed" if fixed else "affected"}
                for cve, package, severity, fixed in findings]}]}


def test_reports_in_a_folder_join_the_collected_manifests(tiny, tiny_truth, tmp_path):
    registry = tiny_truth["registries"].row(0, named=True)
    manifest = tiny_truth["manifests"].filter((pl.col("registry") == registry["registry"])
                                              & (pl.col("kind") == "image")).row(0, named=True)
    image = f"{registry['login_server']}/{manifest['repository']}:scanned"
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "app.json").write_text(json.dumps(trivy(image, manifest["digest"], [
        ("CVE-2024-1", "openssl", "CRITICAL", "3.0.12"), ("CVE-2024-2", "zlib", "LOW", "")])))
    (folder / "outside.json").write_text(json.dumps(trivy("docker.io/library/nginx:1.27", "sha256:" + "e" * 64, [
        ("CVE-2024-3", "nginx", "HIGH", "1.27.1")])))
    (folder / "notes.txt").write_text("not a report")
    inv = acrlib.collect(**tiny.connection(), **QUIET, scan_results=[folder])
    found = inv.vulnerabilities.sort("cve_id")
    assert found.select("registry", "repository", "digest", "cve_id", "severity", "fix_status").rows() == [
        (registry["registry"], manifest["repository"], manifest["digest"], "CVE-2024-1", "Critical", "fix-available"),
        (registry["registry"], manifest["repository"], manifest["digest"], "CVE-2024-2", "Low", "no-fix"),
        (None, "library/nginx", "sha256:" + "e" * 64, "CVE-2024-3", "High", "fix-available")]
    sources = {row["path"].rsplit("/", 1)[-1]: row for row in inv.vulnerability_sources.iter_rows(named=True)}
    assert set(sources) == {"app.json", "outside.json"}, "only *.json files of the folder"
    assert sources["app.json"]["message"] == "" and "no manifest of the inventory" in sources["outside.json"]["message"]
    assert inv.complete
    back = acrlib.Inventory.read_parquet(inv.to_parquet(tmp_path / "snapshots"))
    assert back.vulnerabilities.equals(inv.vulnerabilities), "the snapshot keeps them"


def test_a_report_path_that_does_not_exist_is_refused_before_any_request(tiny, tmp_path):
    tiny.reset_stats()
    with pytest.raises(ValueError, match=r"scan_results: .*missing\.json does not exist"):
        acrlib.collect(**tiny.connection(), **QUIET, scan_results=[tmp_path / "missing.json"])
    assert tiny.stats().height == 0


def test_the_emulators_trivy_and_grype_reports_read_exactly(tiny, tmp_path):
    expected = tiny.scan_reports(tmp_path / "reports")
    inv = acrlib.collect(**tiny.connection(), **QUIET, scan_results=[tmp_path / "reports"])
    assert_frame_equal(inv.vulnerabilities, expected["vulnerabilities"])
    assert set(inv.vulnerabilities["source"]) == {"trivy", "grype"}
    found, want = (frame.sort("path") for frame in (inv.vulnerability_sources, expected["vulnerability_sources"]))
    assert_frame_equal(found.drop("message"), want.drop("message"))
    for got, outside in zip(found["message"], want["message"], strict=True):
        assert (outside in got and "no manifest of the inventory" in got) if outside else got == ""
    exposed = acrlib.exposure(inv).images.filter(pl.col("vulnerabilities") > 0)
    assert exposed.height == len(tiny.truth()["registries"]), "one scanned image per registry, joined to it"
