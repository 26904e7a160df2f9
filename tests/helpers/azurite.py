"""Azurite, Microsoft's Azure Storage emulator (npm package pinned in tests/azurite, installed by make), as a real
Blob Storage server for the tests: one process on a free loopback port, data in memory."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

# Azurite's well-known development account (public, documented; not a secret).
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
BINARY = Path(__file__).resolve().parents[1] / "azurite" / "node_modules" / ".bin" / "azurite-blob"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Azurite:
    """``with Azurite() as az:`` a Blob Storage server; ``az.connection_string()`` reaches it."""

    def __init__(self):
        if not BINARY.exists():
            raise RuntimeError(f"Azurite is not installed at {BINARY}: run `make test` (it runs npm ci in "
                               "tests/azurite), or `npm ci --prefix tests/azurite`")
        self.port = free_port()
        self.process = None

    def connection_string(self, key: str = KEY) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={key};"
                f"BlobEndpoint=http://127.0.0.1:{self.port}/{ACCOUNT};")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    def __enter__(self) -> Azurite:
        self.process = subprocess.Popen(
            [str(BINARY), "--inMemoryPersistence", "--blobHost", "127.0.0.1", "--blobPort", str(self.port),
             "--skipApiVersionCheck", "--loose", "--silent"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "NODE_NO_WARNINGS": "1"})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Azurite exited: {self.process.stdout.read().decode(errors='replace')[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError("Azurite did not listen within 30 s")

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process.stdout.close()

    def service(self, key: str = KEY):
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string(key))

    def container(self, name: str):
        """A new, empty container ``name`` (created)."""
        client = self.service().get_container_client(name)
        client.create_container()
        return client
