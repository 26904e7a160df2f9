"""A source string is parsed once, by one function, into a small value."""

from __future__ import annotations

import pytest

from acrlib import sources


def test_each_form_parses_to_its_kind(tmp_path):
    assert sources.Source.of("azure") == sources.Source("azure")
    assert sources.Source.of("emulator:tiny") == sources.Source("emulator", preset="tiny")
    snapshot = sources.Source.of(str(tmp_path))
    assert snapshot.kind == "snapshot" and snapshot.path == tmp_path.resolve() and not snapshot.collects
    for text in ("azure", "emulator:demo", str(tmp_path)):
        assert str(sources.Source.of(text)) == str(sources.Source.of(str(sources.Source.of(text)))), "round trip"
    value = sources.Source.of("emulator:demo")
    assert sources.Source.of(value) is value


@pytest.mark.parametrize(("text", "message"), [
    ("emulator:gigantic", "unknown emulator preset 'gigantic'"),
    ("nowhere/at/all", "neither 'azure', 'emulator:PRESET' nor an existing snapshot"),
    ("", "source must be"),
    (None, "source must be"),
])
def test_bad_sources_name_the_problem(text, message):
    with pytest.raises(ValueError, match=message):
        sources.Source.of(text)


def test_a_relative_snapshot_path_is_made_absolute(tmp_path, monkeypatch):
    (tmp_path / "snaps").mkdir()
    monkeypatch.chdir(tmp_path)
    assert sources.Source.of("snaps").path == tmp_path / "snaps"
    assert sources.Source.of("snaps").describe() == f"snapshot {tmp_path / 'snaps'}"


def _snapshots(root, count: int = 3):
    import dataclasses
    import datetime as dt

    from inventory_builder import Build

    b = Build()
    b.manifest("app", tags=["v1"])
    inv = b.build()
    for week in range(count):
        dataclasses.replace(inv, collected_at=inv.collected_at + dt.timedelta(weeks=week)).to_parquet(root)
    return inv


@pytest.mark.parametrize("name", ["root", "latest folder"])
def test_a_snapshot_source_reads_each_record_once_and_carries_its_location(tmp_path, monkeypatch, name):
    from acrlib import locations, snapshots

    inv = _snapshots(tmp_path)
    target = tmp_path if name == "root" else snapshots.find(tmp_path)[-1].path
    source = sources.Source.of(str(target))
    assert isinstance(source.location, locations.Location) and source.path == target
    reads: list[str] = []
    original = locations.Location.read_bytes

    def counted(self):
        data = original(self)  # a record that is not there is no read
        if self.path.endswith(snapshots.META_FILE):
            reads.append(self.path)
        return data

    monkeypatch.setattr(locations.Location, "read_bytes", counted)
    latest, history = sources.load_with_history(source)
    assert len(history) == 3 and latest.manifests.equals(inv.manifests)
    assert latest.collected_at == history.times[-1]
    assert sorted(reads) == sorted(set(reads)) and len(reads) == 3, "each inventory.json read once"
