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


@pytest.fixture(scope="session")
def azurite():
    """Azurite (Microsoft's storage emulator, from npm): one in-memory instance for the session."""
    from azurite import Azurite

    with Azurite() as server:
        yield server


@pytest.fixture
def storage(azurite, monkeypatch, request):
    """Blob Storage reached the documented way (``AZURE_STORAGE_CONNECTION_STRING``), with a fresh container named
    for the test: ``storage.url(path)`` gives its az:// URL."""
    import re
    import uuid

    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-") + "-" + uuid.uuid4().hex[:8]
    container = azurite.container(name)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string())
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_NAME", raising=False)

    class Storage:
        server = azurite
        client = container

        @staticmethod
        def url(path: str = "") -> str:
            return f"az://{name}/{path}".rstrip("/")

    return Storage
