"""The emulator's deletes, driven by the stock azure-containerregistry client: untag and manifest delete answer
202 and show in listings, truth and billed usage; 404 for what is not there (the SDK treats it as done); a lock
refuses with ACR's documented code; deletes spend the SKU's WriteOps when throttled."""

from __future__ import annotations

import polars as pl
import pytest
from azure.containerregistry import ContainerRegistryClient
from azure.core.exceptions import HttpResponseError
from sdk_helpers import token_session

from acrlib.emulator import Emulator

pytestmark = pytest.mark.emulator
PREMIUM = "contosoprodacr"


def client(emu, registry: str = PREMIUM) -> ContainerRegistryClient:
    return ContainerRegistryClient(emu.endpoint(registry), emu.credential(), connection_verify=emu.ca_path)


def test_the_stock_client_untags_and_deletes_and_the_emulator_reflects_it():
    with Emulator("tiny", seed=7) as emu:
        before = emu.truth()
        tags = before["tags"].filter(pl.col("registry") == PREMIUM)
        manifests = before["manifests"].filter((pl.col("registry") == PREMIUM) & (pl.col("tags").list.len() > 1))
        untag = tags.row(0, named=True)
        target = manifests.filter(pl.col("digest") != untag["digest"]).row(0, named=True)
        with client(emu) as c:
            c.delete_tag(untag["repository"], untag["tag"])
            c.delete_manifest(target["repository"], target["digest"])
            c.delete_tag(untag["repository"], untag["tag"])  # 404: the SDK counts it as done
            c.delete_manifest(target["repository"], target["digest"])
            assert untag["tag"] not in {t.name for t in c.list_tag_properties(untag["repository"])}
        after = emu.truth()
        assert after["tags"].height == before["tags"].height - 1 - len(target["tags"])
        assert target["digest"] not in set(after["manifests"]["digest"])
        assert not set(target["tags"]) & set(after["tags"].filter(
            pl.col("repository") == target["repository"])["tag"]), "a deleted manifest's tags go with it"
        used = dict(after["registries"].select("registry", "storage_used_bytes").rows())
        assert used[PREMIUM] <= before["registries"].filter(pl.col("registry") == PREMIUM)["storage_used_bytes"][0]
        log = emu.request_log().filter((pl.col("method") == "DELETE") & (pl.col("status") != 401))  # challenges
        assert log["status"].to_list() == [202, 202, 404, 404]


def test_a_lock_refuses_with_acrs_code_and_a_token_without_delete_is_challenged():
    with Emulator("tiny", seed=7) as emu:
        tag = emu.truth()["tags"].filter(pl.col("registry") == PREMIUM).row(0, named=True)
        emu.change("lock", PREMIUM, tag["repository"], tag=tag["tag"])
        with client(emu) as c, pytest.raises(HttpResponseError) as refused:
            c.delete_tag(tag["repository"], tag["tag"])
        assert "REGISTRY_DISALLOWED_OPERATION" in str(refused.value)
        s = token_session(emu, PREMIUM, [f"repository:{tag['repository']}:metadata_read"])
        r = s.delete(f"{emu.endpoint(PREMIUM)}/acr/v1/{tag['repository']}/_tags/{tag['tag']}")
        assert r.status_code == 401 and ":delete" in r.headers["WWW-Authenticate"]


def test_deletes_spend_the_skus_write_operations():
    with Emulator("tiny", seed=7, throttle=1.0) as emu:  # bursts of 1 s worth
        tags = emu.truth()["tags"].filter(pl.col("registry") == "contosodevacr").head(20)  # Standard: 500/min
        s = token_session(emu, "contosodevacr", sorted({f"repository:{r}:delete" for r in tags["repository"]}))
        statuses = [s.delete(f"{emu.endpoint('contosodevacr')}/acr/v1/{r}/_tags/{t}").status_code
                    for r, t in tags.select("repository", "tag").rows()]
        assert 429 in statuses and 8 <= statuses.index(429) <= 12, "a burst of 1 s worth (8.3), then throttled"
