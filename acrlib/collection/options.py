"""What a collection is asked to do: :func:`options` checks every argument of ``collect`` before any request
is sent, and names the problem in a ``ValueError``."""

from __future__ import annotations

import functools
import inspect
import os
import re
from dataclasses import dataclass, field, fields
from typing import Any

from ..clouds import Cloud
from ..clouds import cloud as resolve_cloud
from ..credentials import default_credential
from .http import Limits
from .parse import GUID
from .previous import check_cloud
from .previous import load as load_previous

SUBSCRIPTION_ID = re.compile(GUID)
REGISTRY_NAME = re.compile(r"^[a-zA-Z0-9]{5,50}$")
REFERRER_CHECKS = ("artifacts", "untagged")
MAX_WORKERS = 8  # the default number of processes is the machine's cores, at most this
IN_FLIGHT = 3  # registries read at once by each process when streaming: what bounds memory


@dataclass(frozen=True)
class Options:
    """Every setting of a collection, with its default: the one place a default lives. :func:`acrlib.collect` and
    :func:`acrlib.collect_async` take exactly these keyword arguments (see :func:`takes_options`), the CLI and
    the emulator's truth read their defaults from here. Making one checks every setting before any request
    (a ``ValueError`` naming the problem) and holds it resolved: ``cloud`` a :class:`~acrlib.clouds.Cloud`,
    ``subscriptions`` a tuple, ``registries`` split into ``registry_names`` or ``registry_pattern``, the bounds
    in ``limits``, ``previous`` an Inventory, ``credential`` a TokenCredential."""

    credential: Any = None
    subscriptions: Any = None
    registries: Any = None
    cloud: Any = "public"
    arm_endpoint: str | None = None
    connection_verify: bool | str | None = None
    progress: bool | None = None
    layers: bool = False
    page_size: int = 1000
    referrers: str = "artifacts"
    request_timeout: float = Limits.request_timeout
    max_retry_wait: float = Limits.max_retry_wait
    max_answer_bytes: int = Limits.max_answer_bytes
    activity_days: int = 90  # 0 (or None): no pull activity
    logs_endpoint: str | None = None
    deployments: bool = True
    aks_run_command: bool = False  # the one write acrlib can make: a pod in each cluster without Container Insights
    previous: Any = None  # an Inventory whose content-addressed facts are reused (see collection.previous)
    # Defender for Cloud's findings (read-only: two Resource Graph queries, two ARM reads per subscription)
    vulnerabilities: bool = True
    scan_results: Any = ()  # Trivy / Grype JSON reports: files or folders, local or in Blob Storage
    out: Any = None  # a root of snapshots: each registry's tables are written there as it completes (streaming)
    workers: int | None = None  # processes reading registries; None: the machine's cores with out=, else 1
    in_flight: int | None = None  # registries read at once by each process; None: all, or IN_FLIGHT when streaming
    metadata: Any = None  # extra keys recorded in the inventory's metadata (and its snapshot)
    registry_names: frozenset[str] | None = field(init=False, default=None)
    registry_pattern: re.Pattern | None = field(init=False, default=None)
    limits: Limits = field(init=False, default_factory=Limits)

    def __post_init__(self):
        resolved = _check(self)
        for name, value in resolved.items():
            object.__setattr__(self, name, value)

    def wants(self, name: str) -> bool:
        if self.registry_names is not None:
            return name.lower() in self.registry_names
        if self.registry_pattern is not None:
            return self.registry_pattern.search(name) is not None
        return True

    @property
    def filtered(self) -> bool:
        return self.registry_names is not None or self.registry_pattern is not None

    def processes(self, registries: int) -> int:
        """How many processes read ``registries`` registries: ``workers``; by default, when streaming to a
        snapshot (``out``), the machine's usable cores (at most ``MAX_WORKERS``), else one (an inventory wanted
        in memory would only make the round trip through files). Never more than there are registries."""
        wanted = self.workers
        if wanted is None:
            wanted = min(_cores(), MAX_WORKERS) if self.out is not None else 1
        return max(1, min(wanted, registries))

    def registries_at_once(self, streaming: bool) -> int | None:
        """Registries read at once by one process (None: every registry): ``in_flight``, else ``IN_FLIGHT`` when
        each registry's tables leave memory as it completes (``out``, or other processes), else all."""
        if self.in_flight is not None:
            return self.in_flight
        return IN_FLIGHT if streaming else None

    def describe_filter(self) -> str:
        if self.registry_names is not None:
            return f"registries {sorted(self.registry_names)}"
        return f"registry pattern {self.registry_pattern.pattern!r}"


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


SETTINGS = tuple(f.name for f in fields(Options) if f.init)
DEFAULTS = {f.name: f.default for f in fields(Options) if f.init}


def takes_options(fn):
    """Give ``fn(credential=None, **settings)`` the signature of :class:`Options`' settings (names and defaults),
    so that ``help()``, Jupyter and ``inspect.signature`` show them, and refuse a name that is not one."""
    parameters = [inspect.Parameter("credential", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)]
    parameters += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=DEFAULTS[name])
                   for name in SETTINGS if name != "credential"]

    def check(settings: dict) -> None:
        for name in settings:
            if name not in DEFAULTS or name == "credential":
                raise TypeError(f"{fn.__name__}() got an unexpected keyword argument {name!r}; its settings are "
                                f"{', '.join(SETTINGS[1:])}")

    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def wrapper(credential=None, **settings):
            check(settings)
            return await fn(credential, **settings)
    else:
        @functools.wraps(fn)
        def wrapper(credential=None, **settings):
            check(settings)
            return fn(credential, **settings)

    wrapper.__signature__ = inspect.signature(fn).replace(parameters=parameters)
    return wrapper


def check_filters(subscriptions, registries) -> tuple[tuple[str, ...] | None, frozenset[str] | None,
                                                    re.Pattern | None]:
    """Validate the subscription and registry filters: (subscription ids, registry names, registry regex)."""
    subs = names = pattern = None
    if subscriptions is not None:
        subs = (subscriptions,) if isinstance(subscriptions, str) else tuple(subscriptions)
        if not subs:
            raise ValueError("subscriptions is empty; pass None to search every subscription the credential sees")
        for sub in subs:
            if not isinstance(sub, str) or not SUBSCRIPTION_ID.fullmatch(sub):
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


def _scan_places(places, credential) -> tuple:
    """``scan_results`` as locations: each a report file or a folder of them, local (it must exist) or in Blob
    Storage (signed in with the collection's credential); a ``ValueError`` naming the first bad one."""
    from ..locations import Location

    if places is None or isinstance(places, (str, os.PathLike)):
        places = () if places is None else (places,)
    out = []
    for place in places:
        if not isinstance(place, (str, os.PathLike)):
            raise ValueError(f"scan_results takes report files or folders, not {type(place).__name__}")
        where = Location.of(place, credential=credential)
        if not where.remote and not where.exists():
            raise ValueError(f"scan_results: {place} does not exist (a Trivy or Grype JSON report, or a folder of "
                             "them)")
        out.append(where)
    return tuple(out)


def _check(opts: Options) -> dict:
    """Every setting of ``opts`` checked, before any request, and resolved; a ``ValueError`` names the first
    problem."""
    target = resolve_cloud(opts.cloud.name if isinstance(opts.cloud, Cloud) else opts.cloud)
    subs, names, pattern = check_filters(opts.subscriptions, opts.registries)
    for name in ("arm_endpoint", "logs_endpoint"):
        endpoint = getattr(opts, name)
        if endpoint is not None and (not isinstance(endpoint, str) or not re.match(r"^https://[^/\s]+", endpoint)):
            raise ValueError(f"{name} {endpoint!r} must be an https:// URL: bearer tokens are never sent over "
                             "plain http")
    activity_days = 0 if opts.activity_days is None else opts.activity_days
    if isinstance(activity_days, bool) or not isinstance(activity_days, int) or not 0 <= activity_days <= 730:
        raise ValueError(f"activity_days must be a whole number of days from 0 (no pull activity) to 730, not "
                         f"{activity_days!r}")
    verify = opts.connection_verify
    if isinstance(verify, (str, os.PathLike)) and not os.path.exists(verify):
        raise ValueError(f"connection_verify {str(verify)!r} is not a file (expected a CA bundle)")
    if opts.referrers not in REFERRER_CHECKS:
        raise ValueError(f"referrers must be one of {REFERRER_CHECKS}, not {opts.referrers!r}")
    page_size = opts.page_size
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= 1000:
        raise ValueError(f"page_size must be an integer from 1 to 1000, not {page_size!r}")
    for name in ("deployments", "aks_run_command", "vulnerabilities"):
        if not isinstance(getattr(opts, name), bool):
            raise ValueError(f"{name} must be True or False, not {getattr(opts, name)!r}")
    if opts.progress is not None and not isinstance(opts.progress, bool):
        raise ValueError(f"progress must be True, False or None (automatic), not {opts.progress!r}")
    if opts.aks_run_command and not opts.deployments:
        raise ValueError("aks_run_command reads deployments: it needs deployments=True")
    previous = opts.previous
    if previous is not None:
        previous = load_previous(previous)
        check_cloud(previous, target.name)
    limits = Limits(request_timeout=opts.request_timeout, max_retry_wait=opts.max_retry_wait,
                    max_answer_bytes=opts.max_answer_bytes)
    credential = opts.credential
    if credential is None:
        credential = default_credential(target.authority)
    elif not callable(getattr(credential, "get_token", None)):
        raise ValueError(f"credential must be an azure-core TokenCredential, not {type(credential).__name__}")
    scan_results = _scan_places(opts.scan_results, credential)
    for name in ("workers", "in_flight"):
        value = getattr(opts, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 256):
            raise ValueError(f"{name} must be a whole number from 1 to 256 (or None for the default), not {value!r}")
    if opts.metadata is not None and not (isinstance(opts.metadata, dict)
                                          and all(isinstance(k, str) for k in opts.metadata)):
        raise ValueError(f"metadata must be a dict with string keys, not {type(opts.metadata).__name__}")
    out = opts.out
    if out is not None:
        from ..locations import Location

        if not isinstance(out, (str, os.PathLike, Location)):
            raise ValueError(f"out must be a folder or a storage URL for snapshots, not {type(out).__name__}")
        out = Location.of(out, credential=credential)
        if not out.remote and os.path.isfile(out.path):
            raise ValueError(f"out {out} is a file: it must be a folder of snapshots")
    return {"credential": credential, "scan_results": scan_results, "out": out, "subscriptions": subs,
            "registry_names": names,
            "registry_pattern": pattern, "cloud": target, "activity_days": activity_days, "layers": bool(opts.layers),
            "previous": previous, "limits": limits}
