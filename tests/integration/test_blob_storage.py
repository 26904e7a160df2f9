"""Snapshots and history in Azure Blob Storage, against Azurite (Microsoft's storage emulator, a real server):
what is written reads back equal, nobody sees half a snapshot, and a refused storage account is one clear line
naming the URL while the collection is kept."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time

import polars as pl
import pytest
from slow_proxy import SlowProxy

import acrlib
from acrlib import schema, snapshots
from acrlib.errors import BlobStorageError

QUIET = {"progress": False, "activity_days": 0, "deployments": False}


@pytest.fixture(scope="module")
def inventory(tiny):
    return acrlib.collect(**tiny.connection(), **QUIET)


def blobs(storage, prefix: str = "") -> set[str]:
    return {b.name for b in storage.client.list_blobs(name_starts_with=prefix)}


def same(a: acrlib.Inventory, b: acrlib.Inventory) -> None:
    for name, table in a.tables().items():
        assert b.tables()[name].equals(table), name
    assert (a.collected_at, a.metadata) == (b.collected_at, b.metadata)


def same_tables(a: acrlib.Inventory, b: acrlib.Inventory) -> None:
    for name, table in a.tables().items():
        assert b.tables()[name].equals(table), name


def test_a_snapshot_in_blob_storage_reads_back_equal_to_the_local_one(inventory, storage, tmp_path):
    local = acrlib.Inventory.read_parquet(inventory.to_parquet(tmp_path))
    url = inventory.to_parquet(storage.url("acr"))
    folder = snapshots.folder_name(inventory.collected_at)
    assert url == storage.url(f"acr/{folder}")
    assert blobs(storage) == {f"acr/{folder}/{t}.parquet" for t in schema.TABLES} | {f"acr/{folder}/inventory.json"}
    same(local, acrlib.Inventory.read_parquet(url))
    same(local, acrlib.Inventory.read_parquet(storage.url("acr")))  # a root stands for its latest snapshot
    same(local, acrlib.sources.load(storage.url("acr")))  # the CLI's and the report's source
    # the ADLS Gen2 form of the same place, and the history over it
    container = storage.url().removeprefix("az://")
    abfs = f"abfs://{container}@devstoreaccount1.dfs.core.windows.net/acr"
    same(local, acrlib.Inventory.read_parquet(abfs))
    later = acrlib.Inventory.from_tables(inventory.tables(), inventory.collected_at + dt.timedelta(days=1),
                                         inventory.metadata)
    later.to_parquet(abfs)
    history = acrlib.history(storage.url("acr"))
    assert history.times == [inventory.collected_at, later.collected_at]
    assert history.scan("manifests").collect().height == 2 * inventory.manifests.height
    with pytest.raises(FileExistsError):
        inventory.to_parquet(storage.url("acr"))


def test_a_writer_killed_mid_write_leaves_nothing_readers_see(inventory, storage, tmp_path, monkeypatch):
    inventory.to_parquet(storage.url("acr"))
    local = inventory.to_parquet(tmp_path)
    later = inventory.collected_at + dt.timedelta(days=1)
    # The writer reaches Azurite through a proxy that holds each chunk 0.3 s: it is stopped after its first
    # table is stored, long before the last one and the marker.
    with SlowProxy(storage.server.port, 0.3) as proxy:
        slow = storage.server.connection_string().replace(f":{storage.server.port}/", f":{proxy.port}/")
        script = ("import datetime as dt, sys, acrlib\n"
                  "inv = acrlib.Inventory.read_parquet(sys.argv[1])\n"
                  "inv.collected_at += dt.timedelta(days=1)\n"
                  "inv.to_parquet(sys.argv[2])\n")
        writer = subprocess.Popen([sys.executable, "-c", script, str(local), storage.url("acr")],
                                  env={**os.environ, "AZURE_STORAGE_CONNECTION_STRING": slow})
        prefix = f"acr/{snapshots.folder_name(later)}/"
        deadline = time.monotonic() + 120
        while not [b for b in blobs(storage, prefix) if b.endswith(".parquet")] and writer.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.02)
        writer.kill()
        writer.wait(30)
    left = blobs(storage, prefix)
    assert [b for b in left if b.endswith(".parquet")] and f"{prefix}inventory.json" not in left, left
    assert f"{prefix}.writer" in left  # who was writing: host and process
    history = acrlib.history(storage.url("acr"))
    assert history.times == [inventory.collected_at]
    same(inventory, acrlib.Inventory.read_parquet(storage.url("acr")))
    # a writer of another machine may still be at work: the next write keeps its fresh leftover, and removes it
    # once older than an hour
    record = json.loads(storage.client.download_blob(f"{prefix}.writer").readall())
    assert record["pid"] == writer.pid
    storage.client.upload_blob(f"{prefix}.writer", json.dumps({**record, "host": "another-machine"}), overwrite=True)
    inventory.metadata["n"] = 2
    third = acrlib.Inventory.from_tables(inventory.tables(), later + dt.timedelta(days=1), inventory.metadata)
    third.to_parquet(storage.url("acr"))
    assert blobs(storage, prefix) == left
    monkeypatch.setattr(snapshots, "LEFTOVER_AGE_S", 0)
    fourth = acrlib.Inventory.from_tables(inventory.tables(), later + dt.timedelta(days=2), inventory.metadata)
    fourth.to_parquet(storage.url("acr"))
    assert not blobs(storage, prefix)
    assert acrlib.history(storage.url("acr")).times == [inventory.collected_at, third.collected_at,
                                                        fourth.collected_at]


def test_a_dead_writer_of_this_machine_is_cleaned_at_once(inventory, storage, monkeypatch):
    import socket

    later = inventory.collected_at + dt.timedelta(days=3)
    prefix = f"acr/{snapshots.folder_name(later)}/"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    storage.client.upload_blob(f"{prefix}manifests/part-00000.parquet", b"PAR1")
    storage.client.upload_blob(f"{prefix}.writer", json.dumps({"host": socket.gethostname(),
                                                                "pid": int(dead.stdout)}))
    inventory.to_parquet(storage.url("acr"))  # a fresh leftover, but its writer is gone: removed
    assert not blobs(storage, prefix)
    assert [f"acr/{snapshots.folder_name(inventory.collected_at)}/inventory.json"] == \
        [b for b in blobs(storage, "acr/") if b.endswith("inventory.json")]


def test_a_missing_container_or_a_wrong_key_is_one_line_naming_the_url(inventory, storage, azurite, monkeypatch):
    missing = "az://no-such-container/acr"
    expected = r"^az://no-such-container/acr: the container 'no-such-container' does not exist in storage account " \
        r"devstoreaccount1: create it"
    for call in (lambda: inventory.to_parquet(missing), lambda: acrlib.Inventory.read_parquet(missing),
                 lambda: acrlib.history(missing)):
        with pytest.raises(BlobStorageError, match=expected) as raised:
            call()
        assert "\n" not in str(raised.value)
    inventory.to_parquet(storage.url("acr"))
    wrong = "A" * 86 + "=="
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string(key=wrong))
    for call in (lambda: inventory.to_parquet(storage.url("other")),
                 lambda: acrlib.Inventory.read_parquet(storage.url("acr"))):
        with pytest.raises(BlobStorageError, match=rf"^{storage.url('')}/\w+: storage account devstoreaccount1 refused "
                                               "the credential") as raised:
            call()
        assert wrong not in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize("url, problem", [
    ("az:///path", "names no container"),
    ("az://Bad_Name/x", "not a valid container name"),
    ("abfs://c0ntainer@host.example.com/x", "not a storage account host"),
    ("az://history/acr?sv=2024&sig=abc", "must not carry a query"),
    ("s3://bucket/x", "unknown scheme"),
    ("abfs://c0ntainer@acct.blob.core.attacker.example/x", "not a storage account host"),
    ("abfs://c0ntainer@acct.dfs.core.windows.net.attacker.example/x", "not a storage account host"),
    ("az://history/../victim/x", "'.' and '..'"),
    ("az://history/%2e%2e/victim", "'.' and '..'"),
    ("az://history/./x", "'.' and '..'"),
    ("abfs://history@otheraccount.dfs.core.windows.net/x", "signs in to 'devstoreaccount1'"),
])
def test_a_malformed_url_is_named_before_any_request(url, problem, storage):
    from acrlib import locations

    with pytest.raises(ValueError, match=problem) as raised:
        locations.Location.of(url)
    assert "sig=abc" not in str(raised.value)


def test_without_an_account_an_az_url_says_which_settings_name_one(monkeypatch):
    from acrlib import locations

    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_NAME", raising=False)
    with pytest.raises(ValueError, match=r"which storage account.*AZURE_STORAGE_ACCOUNT_NAME"):
        locations.Location.of("az://history/acr")
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_NAME", "contosoreports")
    assert locations.Location.of("az://history/acr").account == "contosoreports"
    assert locations.Location.of("abfss://history@other.dfs.core.windows.net/acr").account == "other"


def test_the_cli_collects_into_blob_storage_and_keeps_a_refused_snapshot(storage, azurite, tmp_path):
    def collect(out, env):
        return subprocess.run([sys.executable, "-m", "acrlib.cli", "collect", "--source", "emulator:tiny", "--out",
                               out, "--activity-days", "0", "--no-deployments", "--no-progress"],
                              capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)

    done = collect(storage.url("acr"), os.environ)
    assert done.returncode == 0, done.stderr
    assert f"snapshot: {storage.url('acr')}/snapshot=" in done.stdout
    assert len(acrlib.history(storage.url("acr"))) == 1
    wrong = {**os.environ, "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string(key="B" * 86 + "==")}
    done = collect(storage.url("acr"), wrong)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"acrlib collect: {storage.url('acr')}: storage account "
                                                   "devstoreaccount1 refused the credential"), done.stderr
    kept = acrlib.history(tmp_path / "acrlib-snapshots")  # nothing lost
    assert len(kept) == 1 and kept.latest().manifests.height


def test_a_published_address_never_carries_the_sas_of_a_connection_string(storage, tmp_path, monkeypatch):
    from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas
    from azurite import ACCOUNT, KEY

    from acrlib.report import publish

    sas = generate_account_sas(ACCOUNT, KEY, ResourceTypes(service=True, container=True, object=True),
                               AccountSasPermissions(read=True, write=True, list=True, create=True),
                               expiry=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING",
                       f"BlobEndpoint={storage.server.endpoint};SharedAccessSignature={sas}")
    html = tmp_path / "acr_report.html"
    html.write_text("<html>report</html>")
    address = publish(html, storage.url("site"))
    assert address == f"{storage.server.endpoint}/{storage.url('site').removeprefix('az://')}/acr_report.html"
    assert "?" not in address and "sig=" not in address
    assert storage.client.get_blob_client("site/acr_report.html").download_blob().readall() == html.read_bytes()


def test_planted_or_broken_history_folders_cost_themselves_never_the_run(storage, tmp_path):
    """A record that is not JSON, a naive collected_at, and a name the leftover cleanup would once have handed
    to a glob: each is left out with a warning row; the next scheduled run collects and joins the history."""
    history = storage.url("history")
    first, _ = acrlib.sources.load_with_history("emulator:tiny", history=history, weeks=0, **QUIET)
    planted = {"history/snapshot=20250101T000000000000Z/inventory.json": b"not json {",
               "history/snapshot=20250102T000000000000Z/inventory.json": b'{"collected_at": "2025-01-02T00:00:00"}',
               "history/snapshot=**Z/inventory.json.bak": b"x", "outside/snapshot=20250103T000000000000Z/x": b"y"}
    for name, data in planted.items():
        storage.client.upload_blob(name, data)
    removed = snapshots.remove_leftovers(history, older_than_s=0)
    assert removed == [], "only names of the snapshot pattern are leftovers, and never through a glob"
    assert blobs(storage) >= set(planted), "nothing planted was deleted, nothing outside the history touched"
    second, past = acrlib.sources.load_with_history("emulator:tiny", history=history, weeks=0, **QUIET)
    assert second.history_error is None, second.history_error
    assert len(past) == 2 and past.times[0] == first.collected_at
    warnings = second.errors.filter(pl.col("stage") == "history")
    assert warnings.height == 2 and set(warnings["code"]) == {"SKIPPED_SNAPSHOT"}
    assert all("skipped" in m for m in warnings["message"])
    assert second.registries["status"].to_list() == ["complete"] * second.registries.height


def test_a_streamed_collection_into_blob_storage_equals_one_in_memory(tiny, inventory, storage):
    streamed = acrlib.collect(**tiny.connection(), **QUIET, out=storage.url("acr"), workers=2)
    assert streamed.snapshot.location.remote
    same_tables(inventory, streamed)
    written = blobs(storage, "acr/")
    assert {b.rsplit("/", 1)[-1] for b in written if "/manifests/" in b} == {
        f"part-0000{i}.parquet" for i in range(3)}
    assert not [b for b in written if b.endswith(".writer")]
    # the next run reads it as its previous, registry by registry, straight from the storage account
    again = acrlib.collect(**tiny.connection(), **QUIET, out=storage.url("acr"), workers=1,
                           previous=storage.url("acr"))
    same_tables(inventory, again)
    assert again.metadata["previous"]["fetched"] == {"references": 0, "content": 0}
