"""`collect`: every registry, repository, manifest and tag of a tenant, in one call, as polars tables.

Resource Graph finds the registries; each registry is then read concurrently (asyncio) through acrlib's own
client. A failure is confined to what it hit: it becomes a row in ``errors`` and marks its registry
``partial`` (or ``failed`` when nothing could be read), and everything else completes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import os
import re
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from . import __version__, pages, schema, skus
from . import media_types as mt
from .acr_auth import EntraToken
from .acr_client import AcrRequestError, RegistryClient
from .clouds import Cloud
from .clouds import cloud as resolve_cloud
from .discovery import Arm, ArmError, discover
from .errors import RequestFailed, SignInRequired
from .http import AsyncCredential, Gate, Session, bounded
from .inventory import Inventory
from .progress import Progress

SUBSCRIPTION_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
REGISTRY_NAME = re.compile(r"^[a-zA-Z0-9]{5,50}$")
# Requests in flight per registry (once throttled, acrlib paces at the SKU's documented ReadOps).
SKU_CONCURRENCY = {"Basic": 8, "Standard": 16, "Premium": 32}
NON_IMAGE_CONFIGS = set(mt.IMAGE_CONFIG_TYPES) | {mt.HELM_CONFIG}


@dataclass(frozen=True)
class Options:
    credential: Any
    subscriptions: tuple[str, ...] | None
    registry_names: frozenset[str] | None
    registry_pattern: re.Pattern | None
    cloud: Cloud
    arm_endpoint: str | None
    connection_verify: bool | str | None
    progress: bool
    layers: bool
    page_size: int
    referrers: str

    def wants(self, name: str) -> bool:
        if self.registry_names is not None:
            return name.lower() in self.registry_names
        if self.registry_pattern is not None:
            return self.registry_pattern.search(name) is not None
        return True

    @property
    def filtered(self) -> bool:
        return self.registry_names is not None or self.registry_pattern is not None

    def describe_filter(self) -> str:
        if self.registry_names is not None:
            return f"registries {sorted(self.registry_names)}"
        return f"registry pattern {self.registry_pattern.pattern!r}"


REFERRER_CHECKS = ("artifacts", "untagged")


def check_filters(subscriptions, registries) -> tuple[tuple[str, ...] | None, frozenset[str] | None,
                                                    re.Pattern | None]:
    """Validate the subscription and registry filters: (subscription ids, registry names, registry regex)."""
    subs = names = pattern = None
    if subscriptions is not None:
        subs = (subscriptions,) if isinstance(subscriptions, str) else tuple(subscriptions)
        if not subs:
            raise ValueError("subscriptions is empty; pass None to search every subscription the credential sees")
        for sub in subs:
            if not isinstance(sub, str) or not SUBSCRIPTION_ID.match(sub):
                raise ValueError(f"malformed subscription id {sub!r}: expected a GUID like "
                                 "'00000000-0000-0000-0000-000000000000'")
    if isinstance(registries, str):
        try:
            pattern = re.compile(registries)
        except re.error as e:
            raise ValueError(f"invalid registry regex {registries!r}: {e}") from None
    elif registries is not None:
        listed = list(registries)
        if not listed:
            raise ValueError("registries is an empty list: nothing would be collected (pass None for all)")
        for name in listed:
            if not isinstance(name, str) or not REGISTRY_NAME.match(name):
                raise ValueError(f"invalid registry name {name!r}: registry names are 5-50 letters and digits "
                                 "(pass a single string to filter with a regex)")
        names = frozenset(n.lower() for n in listed)
    return subs, names, pattern


def options(credential=None, subscriptions=None, registries=None, cloud="public", arm_endpoint=None,
            connection_verify=None, progress=True, layers=False, page_size=1000, referrers="artifacts") -> Options:
    """Validate :func:`collect`'s arguments; every problem is a ``ValueError`` naming it, before any network."""
    target = resolve_cloud(cloud)
    subs, names, pattern = check_filters(subscriptions, registries)
    if arm_endpoint is not None and (not isinstance(arm_endpoint, str)
                                     or not re.match(r"^https://[^/\s]+", arm_endpoint)):
        raise ValueError(f"arm_endpoint {arm_endpoint!r} must be an https:// URL: bearer tokens are never sent over "
                         "plain http")
    if isinstance(connection_verify, (str, os.PathLike)) and not os.path.exists(connection_verify):
        raise ValueError(f"connection_verify {str(connection_verify)!r} is not a file (expected a CA bundle)")
    if referrers not in REFERRER_CHECKS:
        raise ValueError(f"referrers must be one of {REFERRER_CHECKS}, not {referrers!r}")
    if not isinstance(page_size, int) or not 1 <= page_size <= 1000:
        raise ValueError(f"page_size must be an integer from 1 to 1000, not {page_size!r}")
    if credential is None:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential(authority=target.authority)
    elif not callable(getattr(credential, "get_token", None)):
        raise ValueError(f"credential must be an azure-core TokenCredential, not {type(credential).__name__}")
    return Options(credential=credential, subscriptions=subs, registry_names=names, registry_pattern=pattern,
                   cloud=target, arm_endpoint=arm_endpoint, connection_verify=connection_verify,
                   progress=bool(progress), layers=bool(layers), page_size=page_size, referrers=referrers)


def collect(credential=None, subscriptions=None, registries=None, cloud="public", arm_endpoint=None,
            connection_verify=None, progress=True, *, layers=False, page_size=1000,
            referrers="artifacts") -> Inventory:
    """Collect every registry, repository, manifest and tag the credential can see.

    credential: an azure-core TokenCredential (sync or async); default ``DefaultAzureCredential``.
    subscriptions: subscription ids to search; None = every subscription the credential sees.
    registries: a list of registry names, or one regex searched in each name; None = all.
    cloud: ``public``, ``china`` or ``usgov`` (ARM endpoint, token scope, authority).
    arm_endpoint, connection_verify: overrides (an emulator, a private CA bundle).
    progress: show tqdm progress bars.
    layers: also fetch every manifest's content and fill the ``layers`` table (one more request per
        manifest).
    page_size: items per listing page (ACR caps it at 1000).
    referrers: which manifests' bytes are read to find OCI ``subject``/``artifactType``: ``artifacts``
        (OCI manifests whose config is neither an image nor a Helm config: what referrer tools push) or
        ``untagged`` (also every untagged OCI image manifest, as ``acr purge`` does; one request each).

    Returns an :class:`~acrlib.Inventory`. Registries that fail are marked ``partial`` or ``failed`` and
    explained in ``errors``; the others are complete.
    """
    opts = options(credential, subscriptions, registries, cloud, arm_endpoint, connection_verify, progress,
                   layers, page_size, referrers)
    return run(collect_async(opts))


def run(coroutine):
    """Run a coroutine to completion, also from inside a running event loop (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="acrlib") as pool:
        return pool.submit(asyncio.run, coroutine).result()


class ParseBuffer:
    """Answers parsed into frames in chunks as they arrive, so that raw JSON (several times the size of the
    frame it becomes) never piles up for a whole registry. ``parse(items)`` makes a frame of items whose last
    element is the raw body; an item that is not valid JSON is left out and handed to ``invalid``, the rest of
    its chunk is kept. ``then(frame)``, when given, finishes each chunk's frame."""

    CHUNK_BYTES = 2 << 20

    def __init__(self, parse, invalid, then=None):
        self._parse = parse
        self._invalid = invalid
        self._then = then or (lambda frame: frame)
        self._pending: list[tuple] = []
        self._size = 0
        self._frames: list[pl.DataFrame] = []

    def add(self, item: tuple) -> None:
        self._pending.append(item)
        self._size += len(item[-1])
        if self._size >= self.CHUNK_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending, self._size = self._pending, [], 0
        frame, bad = pages.parse_batch(pending, self._parse)
        self._frames.append(self._then(frame))
        for item in bad:
            self._invalid(item)

    def frame(self) -> pl.DataFrame:
        self.flush()
        if not self._frames:
            return self._then(self._parse([]))
        frames, self._frames = self._frames, []
        return pl.concat(frames, how="vertical", rechunk=False)


@dataclass
class RegistryResult:
    row: dict
    status: str = "complete"
    repositories: list[dict] = field(default_factory=list)
    manifests: pl.DataFrame | None = None
    tags: pl.DataFrame | None = None
    references: pl.DataFrame | None = None
    layers: pl.DataFrame | None = None
    content: pl.DataFrame | None = None  # repository, digest, artifact_type, subject
    errors: list[dict] = field(default_factory=list)
    bad_times: dict[str, int] = field(default_factory=dict)  # table -> timestamps that did not parse
    requests: int = 0
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)


class Collector:
    """Reads registries. Per registry, phase one lists every repository (attributes, manifests, tags); phase
    two resolves, for the whole registry at once, index children and the manifests whose bytes matter."""

    def __init__(self, opts: Options, session: Session, credential: AsyncCredential, progress: Progress):
        self.opts = opts
        self.session = session
        self.entra = EntraToken(credential)
        self.progress = progress

    def error(self, result: RegistryResult, stage: str, repository: str | None, exc: BaseException) -> None:
        if isinstance(exc, RequestFailed):
            status, code, message = exc.status, exc.code, exc.message
        elif isinstance(exc, SignInRequired):
            status, code, message = None, "SIGN_IN_REQUIRED", str(exc)
        else:  # a defect or an unexpected answer: still one row, never silence
            status, code = None, type(exc).__name__
            message = traceback.format_exception_only(exc)[-1].strip()
        result.errors.append({"registry": result.row["registry"], "repository": repository, "stage": stage,
                              "http_status": status, "code": code, "message": message[:1000],
                              "at": dt.datetime.now(dt.UTC)})
        self.progress.error()

    async def registry(self, arm: Arm, row: dict) -> RegistryResult:
        result = RegistryResult(row=dict(row))
        try:
            await self._registry(arm, result)
        except Exception as e:
            self.error(result, "registry", None, e)
        try:
            self.finish(result)
        except Exception as e:
            self.error(result, "assemble", None, e)
            result.tables = {}
        failed = result.status == "failed"
        result.status = "failed" if failed else ("partial" if result.errors else "complete")
        self.progress.registry_done()
        return result

    async def _registry(self, arm: Arm, result: RegistryResult) -> None:
        row = result.row
        usage = asyncio.ensure_future(arm.list_usages(row["id"]))
        client = None
        try:
            login_server = row.get("login_server")
            if not login_server:
                raise AcrRequestError(None, "NO_LOGIN_SERVER", "Resource Graph gave no loginServer for this registry")
            sku = row.get("sku") or "Basic"
            gate = Gate(SKU_CONCURRENCY.get(sku, 8), skus.READ_OPS_PER_MIN.get(sku, 1_000) / 60.0)
            client = RegistryClient(self.session, login_server, self.entra, gate, self.opts.page_size)
            try:
                names = await client.catalog()
            except Exception as e:
                result.status = "failed"
                self.error(result, "catalog", None, e)
                return
            row["repository_count"] = len(names)
            self.progress.add_repositories(len(names))
            client.prefetch_tokens(names)
            reported: set[tuple[str, str]] = set()

            def listing(stage: str, parse) -> ParseBuffer:
                def invalid(item: tuple) -> None:
                    if (item[0], stage) not in reported:  # one row per repository, however many bad pages
                        reported.add((item[0], stage))
                        self.error(result, stage, item[0], AcrRequestError(
                            200, "INVALID_PAGE", f"a page of the {stage} listing is not valid JSON; left out"))

                def times(frame: pl.DataFrame) -> pl.DataFrame:
                    # Parsed per chunk: 8 bytes a value instead of a ~28-character string held until the end.
                    frame, failures = pages.parse_times(stage, frame)
                    result.bad_times[stage] = result.bad_times.get(stage, 0) + failures
                    return frame

                return ParseBuffer(lambda batch: parse(row["registry"], batch), invalid, times)

            buffers = (listing("manifests", pages.manifests), listing("tags", pages.tags))
            failures = await bounded([(client, result, n, buffers) for n in names], self.list_repository,
                                     client.workers)
            for name, failure in zip(names, failures, strict=True):
                if failure is not None:
                    self.error(result, "repository", name, failure)
            result.manifests, result.tags = buffers[0].frame(), buffers[1].frame()
            self.reconcile(result)
            children = await self.references(client, result)
            await self.contents(client, result, children)
        finally:
            try:
                usages = await usage
                size = usages.get("Size") or {}
                row["storage_used_bytes"] = size.get("currentValue")
                row["storage_included_bytes"] = size.get("limit")
                if not size:
                    raise ArmError(200, "NO_SIZE_USAGE", "listUsages returned no 'Size' usage")
            except Exception as e:
                self.error(result, "usage", None, e)
            if client is not None:
                result.requests = client.requests + client.tokens.requests

    async def list_repository(self, client: RegistryClient, result: RegistryResult, name: str, buffers) -> None:
        info, mpages, tpages = await asyncio.gather(client.repository(name), client.manifest_pages(name),
                                                    client.tag_pages(name), return_exceptions=True)
        items = 0
        for stage, value in (("repository", info), ("manifests", mpages), ("tags", tpages)):
            if isinstance(value, BaseException):
                if not isinstance(value, Exception):
                    raise value
                self.error(result, stage, name, value)
        for buffer, bodies in zip(buffers, (mpages, tpages), strict=True):
            if not isinstance(bodies, BaseException):
                for body in bodies:
                    buffer.add((name, body))
        if not isinstance(info, BaseException):
            repo = pages.repository_row(result.row["registry"], info)
            repo["listed_manifests"] = not isinstance(mpages, BaseException)
            repo["listed_tags"] = not isinstance(tpages, BaseException)
            result.repositories.append(repo)
            items = (repo.get("manifest_count") or 0) + (repo.get("tag_count") or 0)
        self.progress.repository_done(items)

    def reconcile(self, result: RegistryResult) -> None:
        """Listed manifests and tags must match each repository's own counts: a gap is reported, not hidden
        (once: a listing already reported as failed is not compared)."""
        failed = {(e["repository"], e["stage"]) for e in result.errors}
        listed = {
            "manifests": dict(result.manifests.group_by("repository").len().iter_rows()),
            "tags": dict(result.tags.group_by("repository").len().iter_rows()),
        }
        for repo in result.repositories:
            for what, flag, count in (("manifests", "listed_manifests", "manifest_count"),
                                      ("tags", "listed_tags", "tag_count")):
                expected, got = repo.get(count), listed[what].get(repo["repository"], 0)
                complete = repo.pop(flag, False) and (repo["repository"], what) not in failed
                if complete and expected is not None and got != expected:
                    self.error(result, "reconcile", repo["repository"], AcrRequestError(
                        None, "COUNT_MISMATCH", f"listed {got} {what} but the repository reports {expected} "
                        "(pushes or deletes during collection, or items hidden from listing)"))

    async def _fetch_parsed(self, result: RegistryResult, stage: str, pairs: list[tuple], fetch, parse,
                            workers: int) -> pl.DataFrame:
        """``fetch(repository, digest)`` for every pair, at most ``workers`` at once, each answer parsed in chunks
        as it arrives (``parse`` gets ``(repository, digest, *answer)`` items, the body last); an error row for
        every pair that failed or whose answer is not JSON."""

        def invalid(item: tuple) -> None:
            self.error(result, stage, item[0], AcrRequestError(
                200, "INVALID_MANIFEST", f"{item[1]}: the answer is not a JSON manifest"))

        buffer = ParseBuffer(parse, invalid)

        async def one(repository: str, digest: str) -> None:
            answer = await fetch(repository, digest)
            buffer.add((repository, digest, *(answer if isinstance(answer, tuple) else (answer,))))

        failures = await bounded(pairs, one, workers)
        for (repository, _), failure in zip(pairs, failures, strict=True):
            if failure is not None:
                self.error(result, stage, repository, failure)
        return buffer.frame()

    async def references(self, client: RegistryClient, result: RegistryResult) -> pl.DataFrame:
        """Children of every index, from the single-manifest GET (the listing does not carry them). Answers
        are parsed together by polars: no Python object per answer."""
        registry = result.row["registry"]
        indexes = result.manifests.filter(pl.col("media_type").is_in(mt.INDEX_TYPES))
        pairs = indexes.select("repository", "digest").rows()
        result.references = await self._fetch_parsed(result, "references", pairs, client.manifest_attributes,
                                                      lambda batch: pages.references(registry, batch),
                                                      client.workers)
        return result.references.select("repository", pl.col("child_digest").alias("digest"))

    async def contents(self, client: RegistryClient, result: RegistryResult, children: pl.DataFrame) -> None:
        """Manifest bytes where they matter, to learn OCI ``subject`` and ``artifactType``: OCI manifests whose
        config is neither an image nor a Helm config (what referrer tools push); with ``referrers="untagged"``
        also every untagged OCI image manifest that no index references (what ``acr purge`` checks); with
        ``layers=True`` every manifest."""
        m = result.manifests
        if self.opts.layers:
            wanted = m.select("repository", "digest")
        else:
            oci = m.filter(pl.col("media_type") == mt.OCI_MANIFEST)
            wanted = oci.filter(~pl.col("config_media_type").fill_null("").is_in(list(NON_IMAGE_CONFIGS)))
            if self.opts.referrers == "untagged":
                untagged = oci.filter(pl.col("tags").list.len() == 0).join(children, on=["repository", "digest"],
                                                                           how="anti")
                wanted = pl.concat([wanted, untagged])
            wanted = wanted.select("repository", "digest").unique(maintain_order=True)
        pairs = wanted.rows()

        async def content(repo: str, digest: str) -> tuple:
            body, content_type = await client.manifest_content(repo, digest)
            return len(body), content_type, body

        documents = await self._fetch_parsed(result, "content", pairs, content, pages.manifest_documents,
                                             client.workers)
        result.content = documents.select("repository", "digest", "artifact_type", "subject")
        if self.opts.layers:
            result.layers = pages.layers(result.row["registry"], documents)

    def finish(self, result: RegistryResult) -> None:
        """This registry's typed tables (times parsed, kinds classified), built as soon as it is done."""
        tables: dict[str, pl.DataFrame] = {}
        if result.manifests is not None:
            content = result.content if result.content is not None else pl.DataFrame(schema={
                "repository": pl.String, "digest": pl.String, "artifact_type": pl.String, "subject": pl.String})
            tables["manifests"] = result.manifests.join(content, on=["repository", "digest"], how="left")
            tables["tags"] = result.tags
        if result.repositories:
            tables["repositories"] = pl.DataFrame(result.repositories, infer_schema_length=None, schema_overrides={
                "created_at": pl.String, "last_updated_at": pl.String})
        for name in ("references", "layers"):
            if getattr(result, name) is not None:
                tables[name] = getattr(result, name)
        result.manifests = result.tags = result.references = result.content = result.layers = None
        result.repositories = []
        for name, df in tables.items():
            df, failures = pages.parse_times(name, df)
            failures += result.bad_times.get(name, 0)
            if failures:
                self.error(result, "parse", None, AcrRequestError(
                    None, "BAD_TIMESTAMP", f"{failures} timestamps in {name} could not be parsed"))
            df = schema.conform(name, df)
            if name == "manifests":
                df = df.with_columns(mt.kind_expr().alias("kind"))
            tables[name] = schema.sort(name, df)  # registries concatenate in name order: globally sorted
        result.tables = tables


async def collect_async(opts: Options) -> Inventory:
    """The coroutine behind :func:`collect` (for callers already in an event loop of their own)."""
    started = time.perf_counter()
    local_start = dt.datetime.now(dt.UTC)
    credential = AsyncCredential(opts.credential)
    async with Session(opts.connection_verify, limit=256) as session:
        arm = Arm(session, credential, opts.cloud, opts.arm_endpoint)
        found = await discover(arm, opts.subscriptions)
        collected_at = collection_time(arm.server_time, local_start)
        selected = [row for row in found if opts.wants(row["registry"] or "")]
        if opts.filtered and not selected:
            available = sorted(r["registry"] for r in found)
            raise ValueError(f"no registry matches {opts.describe_filter()}; the credential sees "
                             f"{len(available)} registries: {', '.join(available[:30]) or 'none'}")
        progress = Progress(opts.progress, len(selected))
        try:
            collector = Collector(opts, session, credential, progress)
            results = await asyncio.gather(*(collector.registry(arm, row) for row in selected))
        finally:
            progress.close()
    metadata = {
        "acrlib_version": __version__, "cloud": opts.cloud.name, "subscriptions": list(opts.subscriptions or []),
        "registry_filter": opts.describe_filter() if opts.filtered else None,
        "layers": opts.layers, "referrers": opts.referrers, "duration_s": round(time.perf_counter() - started, 3),
        "requests": {"arm": arm.requests, "registries": sum(r.requests for r in results)},
    }
    return assemble(results, collected_at, metadata)


def collection_time(server: dt.datetime | None, local: dt.datetime) -> dt.datetime:
    """When the collection started, by Azure's clock (the Date header of Resource Graph's first answer, to
    the second) with the local clock's sub-second part (snapshot names stay unique); the local clock alone
    when the server sent no usable Date."""
    if server is None or server.tzinfo is None:
        return local
    return server.astimezone(dt.UTC).replace(microsecond=local.microsecond)


def assemble(results: list[RegistryResult], collected_at: dt.datetime, metadata: dict) -> Inventory:
    """Per-registry tables into one inventory, sorted by each table's key (each registry's tables are
    already sorted, so concatenating them in registry order is enough: no copy of the whole tenant)."""
    results = sorted(results, key=lambda r: r.row["registry"] or "")
    rows = [{**r.row, "status": r.status} for r in results]
    registries = pl.DataFrame(rows, infer_schema_length=None) if rows else schema.empty("registries")
    registries, _ = pages.parse_times("registries", registries)
    tables = {"registries": schema.sort("registries", schema.conform("registries", registries))}
    for name in ("repositories", "manifests", "tags", "references", "layers"):
        frames = [r.tables.pop(name) for r in results if name in r.tables]
        frames = [f for f in frames if f.height]
        tables[name] = pl.concat(frames, rechunk=False) if frames else schema.empty(name)
    errors = [e for r in results for e in r.errors]
    tables["errors"] = schema.sort("errors", schema.frame("errors", errors))
    return Inventory.from_tables(tables, collected_at=collected_at, metadata=metadata)
