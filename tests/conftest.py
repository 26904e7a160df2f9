"""Shared fixtures, and the lanes: every test is marked with the folder it lives in (unit, emulator,
integration, report). Emulators are started once per session where tests only read from them, and only when a
test asks for one (the unit lane never does)."""

from __future__ import annotations

from pathlib import Path

import pytest

LANES = ("unit", "emulator", "integration", "report")


def pytest_collection_modifyitems(config, items):
    for item in items:
        lane = Path(str(item.path)).parent.name
        if lane in LANES:
            item.add_marker(getattr(pytest.mark, lane))


@pytest.fixture(scope="session")
def tiny():
    """The `tiny` tenant, healthy, no latency: read-only tests share it."""
    from acrlib.emulator import Emulator

    with Emulator("tiny", seed=7) as emu:
        yield emu


@pytest.fixture(scope="session")
def tiny_truth(tiny):
    return tiny.truth()


@pytest.fixture(scope="session")
def demo():
    from acrlib.emulator import Emulator

    with Emulator("demo", seed=11) as emu:
        yield emu
