"""Shared fixtures: emulators are started once per session where tests only read from them."""

from __future__ import annotations

import pytest

from acrlib.emulator import Emulator


@pytest.fixture(scope="session")
def tiny():
    """The `tiny` tenant, healthy, no latency: read-only tests share it."""
    with Emulator("tiny", seed=7) as emu:
        yield emu


@pytest.fixture(scope="session")
def tiny_truth(tiny):
    return tiny.truth()


@pytest.fixture(scope="session")
def demo():
    with Emulator("demo", seed=11) as emu:
        yield emu
