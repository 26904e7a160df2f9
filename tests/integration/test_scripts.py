"""The delete script against arbitrary names (the property the hardening issue asks for): every name is refused
as one ACR would never accept, or reaches a fake ``az`` exactly as intended, in bash; the PowerShell form reads
back to the same words. Runs bash once per example: in the integration lane."""

from __future__ import annotations

import shutil
import subprocess

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acrlib.analysis.commands import DIGEST, PWSH_QUOTES, REGISTRY_NAME, REPOSITORY_NAME, TAG_NAME, delete_script


def lines(script: str) -> list[str]:
    return [line for line in script.splitlines() if line.startswith(("az ", "echo ", "Write-Output "))]


ANY = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)


def names(pattern, size: int):
    """Valid names of ``pattern`` (the grammar ACR accepts), or now and then arbitrary text."""
    valid = st.from_regex(pattern, fullmatch=True).filter(lambda v: len(v) <= size)
    return st.integers(0, 9).flatmap(lambda n: ANY if n == 0 else valid)


ROWS = st.lists(st.fixed_dictionaries({
    "registry": names(REGISTRY_NAME, 50), "repository": names(REPOSITORY_NAME, 60), "tag": names(TAG_NAME, 40),
    "digest": names(DIGEST, 80), "action": st.sampled_from(["delete_tag", "delete_manifest"]),
    "size_bytes": st.integers(0, 10**9)}), min_size=1, max_size=4)


def intended(rows: list[dict]) -> list[list[str]]:
    untag = sorted((r for r in rows if r["action"] == "delete_tag"),
                   key=lambda r: (r["registry"], r["repository"], r["tag"]))
    delete = sorted((r for r in rows if r["action"] == "delete_manifest"),
                    key=lambda r: (r["registry"], r["repository"], r["digest"]))
    return ([["acr", "repository", "untag", "--name", r["registry"], "--image", f"{r['repository']}:{r['tag']}"]
             for r in untag]
            + [["acr", "repository", "delete", "--name", r["registry"], "--image",
                f"{r['repository']}@{r['digest']}", "--yes"] for r in delete])


def pwsh_words(line: str) -> list[str]:
    """The words of a PowerShell command line of the script: bare words, or single-quoted strings in which any
    of PowerShell's single-quote characters is escaped by doubling."""
    words, i = [], 0
    while i < len(line):
        if line[i] == " ":
            i += 1
        elif line[i] in PWSH_QUOTES:
            i, word = i + 1, ""
            while True:
                if line[i] in PWSH_QUOTES:
                    if i + 1 < len(line) and line[i + 1] in PWSH_QUOTES:
                        word, i = word + line[i], i + 2
                        continue
                    i += 1
                    break
                word, i = word + line[i], i + 1
            words.append(word)
        else:
            end = line.find(" ", i)
            end = len(line) if end < 0 else end
            words.append(line[i:end])
            i = end
    return words


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rows=ROWS)
def test_arbitrary_names_are_refused_or_reach_az_exactly_as_intended(rows, tmp_path_factory):
    plan = pl.DataFrame(rows, schema={"registry": pl.String, "repository": pl.String, "tag": pl.String,
                                      "digest": pl.String, "action": pl.String, "size_bytes": pl.Int64})
    try:
        script = delete_script(plan)
    except ValueError as refused:
        assert "ACR would never accept" in str(refused)
        return
    folder = tmp_path_factory.mktemp("run")
    stub = 'az() { printf "%s\\x1f" "$@"; printf "\\x1e"; }\n'  # records every argv, runs nothing
    done = subprocess.run(["bash", "-c", stub + script.split("\n", 1)[1]], cwd=folder, capture_output=True,
                          check=True)
    argv = [record.split(b"\x1f")[:-1] for record in done.stdout.split(b"\x1e")[:-1]]
    assert [[a.decode() for a in record] for record in argv] == intended(rows)
    assert list(folder.iterdir()) == [], "nothing but az ran"
    pwsh = [pwsh_words(line.split("; if ($LASTEXITCODE")[0]) for line in lines(delete_script(plan, shell="pwsh"))]
    assert [words[1:] for words in pwsh] == intended(rows)
