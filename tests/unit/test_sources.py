"""A source string is parsed once, by one function, into a small value."""

from __future__ import annotations

import pytest

from acrlib import sources


def test_each_form_parses_to_its_kind(tmp_path):
    assert sources.parse("azure") == sources.Source("azure")
    assert sources.parse("emulator:tiny") == sources.Source("emulator", preset="tiny")
    snapshot = sources.parse(str(tmp_path))
    assert snapshot.kind == "snapshot" and snapshot.path == tmp_path.resolve() and not snapshot.collects
    for text in ("azure", "emulator:demo", str(tmp_path)):
        assert str(sources.parse(text)) == str(sources.parse(str(sources.parse(text)))), "round trip"
    value = sources.parse("emulator:demo")
    assert sources.parse(value) is value


@pytest.mark.parametrize(("text", "message"), [
    ("emulator:huge", "unknown emulator preset 'huge'"),
    ("nowhere/at/all", "neither 'azure', 'emulator:PRESET' nor an existing snapshot"),
    ("", "source must be"),
    (None, "source must be"),
])
def test_bad_sources_name_the_problem(text, message):
    with pytest.raises(ValueError, match=message):
        sources.parse(text)


def test_a_relative_snapshot_path_is_made_absolute(tmp_path, monkeypatch):
    (tmp_path / "snaps").mkdir()
    monkeypatch.chdir(tmp_path)
    assert sources.parse("snaps").path == tmp_path / "snaps"
    assert sources.parse("snaps").describe() == f"snapshot {tmp_path / 'snaps'}"
