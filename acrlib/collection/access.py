"""`Access`: the collection wing's client for what ``acrlib.apply`` needs, and nothing more: find registries
again (Resource Graph), list one repository's tags and manifests afresh (one paged listing each), and send the
two documented deletes, each through the same token cache, retries, deadlines and bounds as a collection.

Deletes are admitted by a second gate per registry that paces at the SKU's documented WriteOps from the first
request; reads keep the ReadOps gate of a collection.
"""

from __future__ import annotations

import polars as pl

from .. import schema, skus
from ..credentials import AsyncCredential
from ..errors import RegistryError
from . import parse
from .collector import SKU_CONCURRENCY
from .discovery import Arm, discover
from .http import Gate, Session
from .options import Options
from .registry import RegistryClient, check_login_server
from .tenant import run as run_sync  # noqa: F401 - apply runs its coroutine as collect does
from .tokens import EntraToken

WRITE_CONCURRENCY = 4  # deletes in flight per registry (ACR's write rate is the bound, not this)
TAG_COLUMNS = ["tag", "digest", "last_updated_at", "delete_enabled", "write_enabled"]
MANIFEST_COLUMNS = ["digest", "media_type", "tags", "last_updated_at", "delete_enabled", "write_enabled"]


def _typed(table: str, df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with every column of ``table`` it lacks (an empty listing has none), null."""
    return df.with_columns(pl.lit(None, dtype=dtype).alias(name) for name, dtype in schema.TABLES[table].items()
                           if name not in df.columns)


class Registry:
    """One registry's data plane for ``apply``: fresh listings and deletes."""

    def __init__(self, session: Session, row: dict, entra: EntraToken):
        self.row = row
        self.name = row["registry"]
        sku = row.get("sku") or "Basic"
        limits = session.limits
        self.reads = Gate(SKU_CONCURRENCY.get(sku, 8), skus.READ_OPS_PER_MIN.get(sku, 1_000) / 60.0,
                          dead_after=limits.dead_after_timeouts)
        self.writes = Gate(WRITE_CONCURRENCY, skus.WRITE_OPS_PER_MIN.get(sku, 100) / 60.0,
                           dead_after=limits.dead_after_timeouts, paced=True)
        self.client = RegistryClient(session, row["login_server"], entra, self.reads)

    async def listing(self, repository: str) -> tuple[bool, pl.DataFrame, pl.DataFrame]:
        """Whether the repository may be deleted from now (False: locked, or gone), its tags (tag, digest,
        last_updated_at, delete_enabled, write_enabled) and its manifests (digest, media_type, tags,
        last_updated_at, delete_enabled, write_enabled); all empty when the repository is gone.
        :class:`~acrlib.errors.RegistryError` when a listing fails."""
        try:
            attributes = parse.repository_row(self.name, repository, await self.client.repository(repository))
            open_ = attributes.get("delete_enabled") is not False and attributes.get("write_enabled") is not False
            tag_pages = await self.client.tag_pages(repository)
            manifest_pages = await self.client.manifest_pages(repository)
        except RegistryError as e:
            if e.status == 404:
                open_, tag_pages, manifest_pages = False, [], []
            else:
                raise
        tags = parse.parse_times("tags", _typed("tags", parse.tags(self.name, [(repository, b) for b in tag_pages])))[0]
        manifests = parse.parse_times("manifests", _typed("manifests", parse.manifests(
            self.name, [(repository, b) for b in manifest_pages])))[0]
        return (open_, tags.select(TAG_COLUMNS).cast({c: schema.TABLES["tags"][c] for c in TAG_COLUMNS}),
                manifests.select(MANIFEST_COLUMNS).cast({c: schema.TABLES["manifests"][c] for c in MANIFEST_COLUMNS}))

    async def children(self, repository: str, digest: str) -> set[str]:
        """The digests an index lists (its ``references``), from the single-manifest GET."""
        body = parse.json_object(await self.client.manifest_attributes(repository, digest))
        manifest = body.get("manifest") if isinstance(body.get("manifest"), dict) else {}
        references = manifest.get("references") if isinstance(manifest.get("references"), list) else []
        return {r["digest"] for r in references if isinstance(r, dict) and isinstance(r.get("digest"), str)}

    async def delete_tag(self, repository: str, tag: str) -> int:
        return await self.client.delete_tag(repository, tag, self.writes)

    async def delete_manifest(self, repository: str, digest: str) -> int:
        return await self.client.delete_manifest(repository, digest, self.writes)

    @property
    def requests(self) -> int:
        return self.client.requests


class Access:
    """``async with Access(options) as access``: the registries the credential sees now
    (:meth:`registries`), and a :class:`Registry` for each one asked for."""

    def __init__(self, opts: Options):
        self.opts = opts
        self._session: Session | None = None

    async def __aenter__(self) -> Access:
        self._session = Session(self.opts.connection_verify, limit=64, limits=self.opts.limits)
        await self._session.__aenter__()
        credential = AsyncCredential(self.opts.credential)
        self.arm = Arm(self._session, credential, self.opts.cloud, self.opts.arm_endpoint)
        self.entra = EntraToken(credential)
        return self

    async def __aexit__(self, *exc) -> None:
        await self._session.__aexit__(*exc)

    def server_time(self):
        """The service's clock, from the first ARM answer's ``Date`` (None before one)."""
        return self.arm.server_time

    async def registries(self, subscriptions=None) -> list[dict]:
        """Every registry the credential can see now: registries-table rows (id, tenant, login server, SKU)."""
        return await discover(self.arm, subscriptions)

    def registry(self, row: dict) -> Registry:
        """The data plane of a registry found by :meth:`registries`; ``ValueError`` for a login server its
        tokens must not be sent to."""
        refused = check_login_server(row.get("login_server") or "", self.opts.cloud.acr_suffix,
                                     self.opts.arm_endpoint is None)
        if refused:
            raise ValueError(f"{row.get('registry')}: {refused}")
        return Registry(self._session, row, self.entra)
