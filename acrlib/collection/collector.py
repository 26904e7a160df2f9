"""Reading one registry: its catalog, every repository's attributes, manifests and tags, then the index
children and manifest bytes the listings leave out. Every problem becomes a row of the errors table through
:meth:`RegistryResult.problem`, and the registry's status is derived from its problems in one place."""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from .. import media_types as mt
from .. import schema, skus
from ..errors import RequestFailed, SignInRequired, error_row
from . import parse, previous
from .contents import manifests_read
from .discovery import Arm
from .http import Gate, Session, bounded
from .options import Options
from .progress import Progress
from .registry import PagesCut, RegistryClient, check_login_server
from .tokens import EntraToken

# Requests in flight per registry (once throttled, acrlib paces at the SKU's documented ReadOps).
SKU_CONCURRENCY = {"Basic": 8, "Standard": 16, "Premium": 32}
# What identifies an item of each listing: an item without it cannot be told apart from others and is left out.
ITEM_KEYS = {"manifests": ("digest",), "tags": ("tag", "digest")}


@dataclass
class RegistryResult:
    """What one registry's collection produced: its row, its tables, and its problems."""

    row: dict
    on_problem: Callable[[], None] = lambda: None
    failed: bool = False  # nothing of the registry's content could be read
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
    known: previous.Known = field(default_factory=previous.Known.nothing)  # facts a previous snapshot holds
    reused: dict[str, int] = field(default_factory=dict)  # facts taken from it, by kind
    fetched: dict[str, int] = field(default_factory=dict)  # facts fetched, by kind

    @property
    def status(self) -> str:
        """``failed`` when nothing could be read, ``partial`` with any problem, else ``complete``."""
        return "failed" if self.failed else ("partial" if self.errors else "complete")

    def problem(self, stage: str, repository: str | None, code: str, message: str,
                status: int | None = None) -> None:
        """Record one problem as a row of the errors table (secrets that a server echoed are removed)."""
        self.errors.append(error_row(stage, code, message, registry=self.row["registry"], repository=repository,
                                     status=status))
        self.on_problem()

    def failure(self, stage: str, repository: str | None, exc: BaseException) -> None:
        """Record an exception as a problem: a refused or failed request with its status and code, anything
        else (a defect, an unexpected answer) by its type, never silently."""
        if isinstance(exc, RequestFailed):
            self.problem(stage, repository, exc.code, exc.message, exc.status)
        elif isinstance(exc, SignInRequired):
            self.problem(stage, repository, "SIGN_IN_REQUIRED", str(exc))
        elif isinstance(exc, (ValueError, UnicodeDecodeError)):  # an answer that is not what the API returns
            self.problem(stage, repository, "INVALID_ANSWER", f"the {stage} answer is not usable: {exc}", 200)
        else:
            self.problem(stage, repository, type(exc).__name__, traceback.format_exception_only(exc)[-1].strip())


class Collector:
    """Reads registries. Per registry, phase one lists every repository (attributes, manifests, tags); phase
    two resolves, for the whole registry at once, index children and the manifests whose bytes matter."""

    def __init__(self, opts: Options, session: Session, credential, progress: Progress):
        self.opts = opts
        self.session = session
        self.entra = EntraToken(credential)
        self.progress = progress

    async def registry(self, arm: Arm, row: dict) -> RegistryResult:
        result = RegistryResult(row=dict(row), on_problem=self.progress.error)
        try:
            await self._registry(arm, result)
        except Exception as e:
            result.failure("registry", None, e)
        try:
            self.finish(result)
        except Exception as e:
            result.failure("assemble", None, e)
            result.tables = {}
        self.progress.registry_done()
        return result

    async def _registry(self, arm: Arm, result: RegistryResult) -> None:
        row = result.row
        usage = asyncio.ensure_future(arm.list_usages(row["id"]))
        client = None
        try:
            login_server = row.get("login_server")
            if not login_server:
                result.failed = True
                result.problem("catalog", None, "NO_LOGIN_SERVER", "Resource Graph gave no loginServer for this "
                               "registry")
                return
            refused = check_login_server(login_server, self.opts.cloud.acr_suffix, self.opts.arm_endpoint is None)
            if refused:
                result.failed = True
                result.problem("catalog", None, "BAD_LOGIN_SERVER", f"{refused}: nothing was sent to it")
                return
            sku = row.get("sku") or "Basic"
            gate = Gate(SKU_CONCURRENCY.get(sku, 8), skus.READ_OPS_PER_MIN.get(sku, 1_000) / 60.0,
                        dead_after=self.session.limits.dead_after_timeouts)
            client = RegistryClient(self.session, login_server, self.entra, gate, self.opts.page_size)
            names = await self._catalog(client, result)
            if names is None:
                result.failed = True
                return
            row["repository_count"] = len(names)
            self.progress.add_repositories(len(names))
            result.known = previous.known(self.opts.previous, row["registry"])
            client.prefetch_tokens(names)
            buffers = (self._listing(result, "manifests", parse.manifests), self._listing(result, "tags", parse.tags))
            failures = await bounded([(client, result, n, buffers) for n in names], self.list_repository,
                                     client.workers)
            for name, failure in zip(names, failures, strict=True):
                if failure is not None:
                    result.failure("repository", name, failure)
            result.manifests, result.tags = buffers[0].frame(), buffers[1].frame()
            self.reconcile(result)
            children = await self.references(client, result)
            await self.contents(client, result, children)
        finally:
            await self._usage(usage, result)
            if client is not None:
                result.requests = client.requests + client.tokens.requests

    @staticmethod
    async def _catalog(client: RegistryClient, result: RegistryResult) -> list[str] | None:
        """Every repository name; None when none could be read. A page that is not a catalog page costs only
        its names; a listing cut short keeps the pages read."""
        try:
            pages = await client.catalog()
        except PagesCut as e:
            result.failure("catalog", None, e)
            pages = e.pages
        except Exception as e:
            result.failure("catalog", None, e)
            return None
        names: list[str] = []
        bad = 0
        for body in pages:
            try:
                names += parse.catalog(body)
            except (ValueError, UnicodeDecodeError):
                bad += 1
        if bad:
            result.problem("catalog", None, "INVALID_PAGE", f"{bad} of {len(pages)} catalog pages are not catalog "
                           "pages; their repositories are missing", 200)
        if bad == len(pages):
            return None
        return list(dict.fromkeys(names))  # a repository named twice is read once

    @staticmethod
    async def _usage(usage: asyncio.Future, result: RegistryResult) -> None:
        """Billed and included storage from ``listUsages``."""
        try:
            usages = await usage
        except Exception as e:
            result.failure("usage", None, e)
            return
        size = usages.get("Size")
        size = size if isinstance(size, dict) else {}
        result.row["storage_used_bytes"] = parse.typed(size.get("currentValue"), int)
        result.row["storage_included_bytes"] = parse.typed(size.get("limit"), int)
        if not size:
            result.problem("usage", None, "NO_SIZE_USAGE", "listUsages returned no 'Size' usage", 200)
        elif result.row["storage_used_bytes"] is None:
            result.problem("usage", None, "INVALID_ANSWER", "listUsages gave no whole number of bytes for 'Size'",
                           200)

    @staticmethod
    def _listing(result: RegistryResult, stage: str, parser) -> parse.ParseBuffer:
        """A buffer for one kind of listing page: a page that does not parse (not JSON, or JSON of another shape)
        is one INVALID_PAGE row per repository, however many of its pages fail; an item without its key is left
        out and counted; timestamps are parsed per chunk (8 bytes a value instead of a ~28-character string held
        to the end) and their failures counted."""
        reported: set[str] = set()

        def invalid(item: tuple) -> None:
            if item[0] not in reported:
                reported.add(item[0])
                result.problem(stage, item[0], "INVALID_PAGE",
                               f"a page of the {stage} listing is not a {stage} page; left out", 200)

        def finish_chunk(frame: pl.DataFrame) -> pl.DataFrame:
            keyless = pl.any_horizontal(pl.col(k).is_null() for k in ITEM_KEYS[stage])
            for repository, count in frame.filter(keyless).group_by("repository").len().iter_rows():
                result.problem(stage, repository, "INVALID_PAGE", f"{count} items of the {stage} listing have no "
                               f"{' or '.join(ITEM_KEYS[stage])}; left out", 200)
            frame, failures = parse.parse_times(stage, frame.filter(~keyless))
            result.bad_times[stage] = result.bad_times.get(stage, 0) + failures
            return frame

        return parse.ParseBuffer(lambda batch: parser(result.row["registry"], batch), invalid, finish_chunk)

    async def list_repository(self, client: RegistryClient, result: RegistryResult, name: str, buffers) -> None:
        info, mpages, tpages = await asyncio.gather(client.repository(name), client.manifest_pages(name),
                                                    client.tag_pages(name), return_exceptions=True)
        items = 0
        for stage, value in (("repository", info), ("manifests", mpages), ("tags", tpages)):
            if isinstance(value, BaseException):
                if not isinstance(value, Exception):
                    raise value
                result.failure(stage, name, value)
        for buffer, bodies in zip(buffers, (mpages, tpages), strict=True):
            if isinstance(bodies, PagesCut):
                bodies = bodies.pages  # stopped by acrlib, not failed: what was read before is true
            if not isinstance(bodies, BaseException):
                for body in bodies:
                    buffer.add((name, body))
        repo = None
        if not isinstance(info, BaseException):
            try:
                repo = parse.repository_row(result.row["registry"], name, info)
            except (ValueError, UnicodeDecodeError) as e:
                result.failure("repository", name, e)
        if repo is not None:
            repo["listed_manifests"] = not isinstance(mpages, BaseException)
            repo["listed_tags"] = not isinstance(tpages, BaseException)
            result.repositories.append(repo)
            items = (repo.get("manifest_count") or 0) + (repo.get("tag_count") or 0)
        self.progress.repository_done(items)

    @staticmethod
    def reconcile(result: RegistryResult) -> None:
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
                    result.problem("reconcile", repo["repository"], "COUNT_MISMATCH",
                                   f"listed {got} {what} but the repository reports {expected} (pushes or deletes "
                                   "during collection, or items hidden from listing)")

    @staticmethod
    async def _fetch_parsed(result: RegistryResult, stage: str, pairs: list[tuple], fetch, parser,
                            workers: int) -> pl.DataFrame:
        """``fetch(repository, digest)`` for every pair, at most ``workers`` at once, each answer parsed in chunks
        as it arrives (``parser`` gets ``(repository, digest, *answer)`` items, the body last); an error row for
        every pair that failed or whose answer is not JSON."""

        def invalid(item: tuple) -> None:
            result.problem(stage, item[0], "INVALID_MANIFEST", f"{item[1]}: the answer is not a JSON manifest", 200)

        buffer = parse.ParseBuffer(parser, invalid)

        async def one(repository: str, digest: str) -> None:
            answer = await fetch(repository, digest)
            buffer.add((repository, digest, *(answer if isinstance(answer, tuple) else (answer,))))

        failures = await bounded(pairs, one, workers)
        for (repository, _), failure in zip(pairs, failures, strict=True):
            if failure is not None:
                result.failure(stage, repository, failure)
        return buffer.frame()

    async def references(self, client: RegistryClient, result: RegistryResult) -> pl.DataFrame:
        """Children of every index, from the single-manifest GET (the listing does not carry them), or from a
        previous snapshot for indexes it read. Answers are parsed together by polars: no Python object per
        answer."""
        registry = result.row["registry"]
        indexes = result.manifests.filter(pl.col("media_type").is_in(mt.INDEX_TYPES)).select("repository", "digest")
        reused, fetch = previous.reuse(indexes, result.known.indexes)
        fetched = await self._fetch_parsed(result, "references", fetch.rows(), client.manifest_attributes,
                                           lambda batch: parse.references(registry, batch), client.workers)
        kept = result.known.references.join(reused.rename({"digest": "index_digest"}),
                                            on=["repository", "index_digest"], how="semi")
        result.references = pl.concat([fetched, kept.select(fetched.columns)]) if kept.height else fetched
        result.reused["references"], result.fetched["references"] = reused.height, fetch.height
        return result.references.select("repository", pl.col("child_digest").alias("digest"))

    async def contents(self, client: RegistryClient, result: RegistryResult, children: pl.DataFrame) -> None:
        """Manifest bytes where they matter (which ones: :func:`.contents.manifests_read`), to learn OCI
        ``subject`` and ``artifactType`` and, with ``layers=True``, the layers. What a previous snapshot read is
        taken from it (its layers too, when it read them)."""
        wanted = manifests_read(result.manifests, children, layers=self.opts.layers,
                                referrers=self.opts.referrers)
        known = result.known
        usable = known.documents if (known.layers is not None or not self.opts.layers) else known.documents.head(0)
        reused, fetch = previous.reuse(wanted, usable)

        async def content(repo: str, digest: str) -> tuple:
            body, content_type = await client.manifest_content(repo, digest)
            return len(body), content_type, body

        documents = await self._fetch_parsed(result, "content", fetch.rows(), content, parse.manifest_documents,
                                             client.workers)
        kept = usable.join(reused, on=["repository", "digest"], how="semi")
        result.content = pl.concat([documents.select("repository", "digest", "artifact_type", "subject"),
                                    kept.select("repository", "digest", "artifact_type", "subject")])
        result.known = previous.Known.nothing()  # every previous fact this registry needs has been taken
        if self.opts.layers:
            fresh = parse.layers(result.row["registry"], documents)
            old = known.layers(reused.rename({"digest": "manifest_digest"})) \
                if known.layers is not None and reused.height else None
            result.layers = pl.concat([fresh, old.select(fresh.columns)], how="vertical_relaxed") if old is not None \
                else fresh
        result.reused["content"], result.fetched["content"] = reused.height, fetch.height

    @staticmethod
    def finish(result: RegistryResult) -> None:
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
            df, failures = parse.parse_times(name, df)
            failures += result.bad_times.get(name, 0)
            if failures:
                result.problem("parse", None, "BAD_TIMESTAMP", f"{failures} timestamps in {name} could not be parsed")
            df = schema.conform(name, df)
            if name == "manifests":
                df = df.with_columns(mt.kind_expr().alias("kind"))
            df = schema.sort(name, df)  # registries concatenate in name order: globally sorted
            tables[name] = Collector._once(result, name, df)
        result.tables = tables

    @staticmethod
    def _once(result: RegistryResult, name: str, df: pl.DataFrame) -> pl.DataFrame:
        """Each row once per key: a server that lists an item twice (a page served again) is reported, and the
        item kept once. The frame is sorted by its key, so repeats are neighbours: no hashing."""
        keys = schema.KEYS[name]
        if name == "repositories" or df.height < 2:
            return df
        repeat = pl.all_horizontal(pl.col(k).eq_missing(pl.col(k).shift(1)) for k in keys)
        mask = df.select(repeat.fill_null(False)).to_series()
        repeats = int(mask.sum())
        if not repeats:
            return df
        result.problem("parse", None, "DUPLICATE_ITEMS", f"{repeats} {name} rows were listed more than once; "
                       "each is kept once", 200)
        return df.filter(~mask)
