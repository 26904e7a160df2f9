"""Defender for Cloud's findings, both shapes, parsed defensively: real-shaped rows exactly (the reference's
examples), renamed or retyped fields as an unknown shape with the keys found, arbitrary JSON never raising."""

from __future__ import annotations

import copy
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from acrlib.collection import defender

D = "sha256:" + "4af8" * 16
S = "00000000-0000-4000-8000-000000000002"
CURRENT = {
    "id": f"/subscriptions/{S}/resourceGroups/rg/providers/Microsoft.Security/assessments/1",
    "type": "microsoft.security/assessments", "subscriptionId": S,
    "properties": {
        "metadata": {"recommendationCategory": "SoftwareUpdate", "severity": "High"}, "status": {"code": "Unhealthy"},
        "resourceDetails": {"ResourceType": ".containerimage", "Source": "Azure", "ResourceName": "api"},
        "resourceAdditionalData": json.dumps({"Digest": D, "LastPushedToRegistryUTC": "2026-08-02T10:11:12.1234567Z",
                                              "RepositoryDetails": {"RepositoryName": "app/api",
                                                                    "RegistryHost": "reg.azurecr.io"}}),
        "additionalData": {
            "SoftwareName": "openssl", "PackageType": "deb", "FixedVersion": "3.0.11-1~deb12u2",
            "ScannersDetails": json.dumps({"mdvm": {"DetectedSoftwareVersions": ["3.0.9-1"],
                                                    "FixedVersion": "3.0.11-1~deb12u2"}}),
            "CvesDetails": json.dumps([
                {"CveId": "CVE-2023-5678", "Severity": "High",
                 "Cvss": [{"Key": "2", "Value": {"Base": 5.0}}, {"Key": "3", "Value": {"Base": 7.5}}],
                 "FixStatus": "FixAvailable", "FixedVersion": "3.0.11-1~deb12u2",
                 "PublishedDate": "2023-11-06T16:15:00Z"},
                {"CveId": "CVE-2024-0002", "Severity": "Unknown", "Cvss": None, "FixStatus": "NoFixAvailable",
                 "FixedVersion": ""}])}}}
LEGACY = {
    "id": f"/subscriptions/{S}/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/reg/providers/"
          f"Microsoft.Security/assessments/{defender.LEGACY_ASSESSMENT}/subassessments/9",
    "type": "microsoft.security/assessments/subassessments", "subscriptionId": S,
    "properties": {"id": "CVE-2022-42969", "status": {"code": "Unhealthy", "severity": "High"},
                   "timeGenerated": "2023-09-12T13:36:15.0772799Z",
                   "additionalData": {"assessedResourceType": "AzureContainerRegistryVulnerability",
                                      "cvssV30Score": 7.5,
                                      "artifactDetails": {"registryHost": "reg.azurecr.io", "repositoryName": "app/api",
                                                          "digest": D, "tags": ["1.2.0"],
                                                          "lastPushedToRegistryUTC": "2023-09-04T16:05:32.8223098Z",
                                                          "artifactType": "ContainerImage"},
                                      "vulnerabilityDetails": {"cveId": "CVE-2022-42969", "severity": "High",
                                                               "cvss": {"2.0": None, "3.0": {"base": 7.5}},
                                                               "publishedDate": "2022-10-16T06:15:00Z"},
                                      "softwareDetails": {"packageName": "py", "version": "1.11.0.0",
                                                          "fixStatus": "FixAvailable", "fixedVersion": ""}}}}


def test_the_current_shape_is_one_row_per_cve_of_the_package():
    rows, per = defender.findings([CURRENT], legacy=False)
    assert per[S] == {"rows": 2, "bad": 0, "keys": None}
    high, unknown = sorted(rows, key=lambda r: r["cve_id"])
    assert (high["login_server"], high["repository"], high["digest"], high["package"]) == (
        "reg.azurecr.io", "app/api", D, "openssl")
    assert (high["severity"], high["cvss"], high["fix_status"], high["installed_version"]) == (
        "High", 7.5, "fix-available", "3.0.9-1"), "the CVE's own severity and its v3 base, whatever the order"
    assert unknown["severity"] == "Unknown" and unknown["cvss"] is None
    assert unknown["fix_status"] == "fix-available", "the package's fixed version still fixes it"
    assert high["scanned_at"].isoformat() == "2026-08-02T10:11:12.123456+00:00" and high["source"] == "defender"


def test_the_legacy_shape_and_the_other_key_casing_and_an_object_instead_of_a_string():
    rows, _ = defender.findings([LEGACY], legacy=True)
    assert [(r["cve_id"], r["cvss"], r["fix_status"], r["source"]) for r in rows] == [
        ("CVE-2022-42969", 7.5, "fix-available", "defender-legacy")]
    row = copy.deepcopy(CURRENT)
    extra = json.loads(row["properties"]["resourceAdditionalData"])
    extra["digest"] = extra.pop("Digest")  # key casing varies between tenants
    row["properties"]["resourceAdditionalData"] = extra  # sometimes an object, not a string
    row["properties"]["additionalData"]["CvesDetails"] = json.loads(row["properties"]["additionalData"]["CvesDetails"])
    rows, per = defender.findings([row], legacy=False)
    assert len(rows) == 2 and rows[0]["digest"] == D and per[S]["bad"] == 0


def test_a_renamed_field_is_an_unknown_shape_with_the_keys_found():
    row = copy.deepcopy(CURRENT)
    row["properties"]["additionalData"]["CveDetailsV2"] = row["properties"]["additionalData"].pop("CvesDetails")
    rows, per = defender.findings([row, CURRENT], legacy=False)
    assert len(rows) == 2 and per[S]["bad"] == 1
    assert "additionalData.CveDetailsV2" in per[S]["keys"]


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                max_size=4), max_leaves=20)
CURRENT_PATHS = [["properties"], ["properties", "additionalData"], ["properties", "resourceAdditionalData"],
                 ["properties", "additionalData", "CvesDetails"], ["properties", "additionalData", "SoftwareName"],
                 ["properties", "additionalData", "ScannersDetails"], ["subscriptionId"]]
LEGACY_PATHS = [["properties"], ["properties", "additionalData"], ["properties", "additionalData", "artifactDetails"],
                ["properties", "additionalData", "vulnerabilityDetails"],
                ["properties", "additionalData", "vulnerabilityDetails", "cvss"],
                ["properties", "additionalData", "softwareDetails"], ["properties", "status"]]


def mutate(base: dict, path: list, value) -> dict:
    doc = copy.deepcopy(base)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


@settings(max_examples=100, deadline=None)
@given(legacy=st.booleans(), index=st.integers(0, 6), value=JSON, whole=st.booleans())
def test_arbitrary_json_never_raises_and_every_row_is_read_or_counted(legacy, index, value, whole):
    base, paths = (LEGACY, LEGACY_PATHS) if legacy else (CURRENT, CURRENT_PATHS)
    row = value if whole else mutate(base, paths[index], value)
    rows, per = defender.findings([row, base], legacy=legacy)
    assert sum(p["bad"] for p in per.values()) <= 1, "the good row is read whatever the other holds"
    assert sum(p["rows"] for p in per.values()) == len(rows) >= (1 if legacy else 2)
    for finding in rows:
        assert finding["severity"] in ("Critical", "High", "Medium", "Low", "Unknown")
        assert finding["fix_status"] in ("fix-available", "no-fix", "will-not-fix", "unknown")
        assert finding["cvss"] is None or 0 <= finding["cvss"] <= 10
