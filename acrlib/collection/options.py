"""What a collection is asked to do: :func:`options` checks every argument of ``collect`` before any request
is sent, and names the problem in a ``ValueError``."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from ..clouds import Cloud
from ..clouds import cloud as resolve_cloud
from ..credentials import default_credential
from .http import Limits
from .previous import check_cloud
from .previous import load as load_previous

SUBSCRIPTION_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
REGISTRY_NAME = re.compile(r"^[a-zA-Z0-9]{5,50}$")
REFERRER_CHECKS = ("artifacts", "untagged")


@dataclass(frozen=True)
class Options:
    credential: Any
    subscriptions: tuple[str, ...] | None
    registry_names: frozenset[str] | None
    registry_pattern: re.Pattern | None
    cloud: Cloud
    arm_endpoint: str | None
    connection_verify: bool | str | None
    progress: bool | None
    layers: bool
    page_size: int
    referrers: str
    limits: Limits = field(default_factory=Limits)
    activity_days: int = 0  # 0: no pull activity
    logs_endpoint: str | None = None
    deployments: bool = False
    aks_run_command: bool = False  # the one write acrlib can make: a pod in each cluster without Container Insights
    previous: Any = None  # an Inventory whose content-addressed facts are reused (see collection.previous)

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


def options(credential=None, *, subscriptions=None, registries=None, cloud="public", arm_endpoint=None,
            connection_verify=None, progress=None, layers=False, page_size=1000, referrers="artifacts",
            request_timeout=Limits.request_timeout, max_retry_wait=Limits.max_retry_wait,
            max_answer_bytes=Limits.max_answer_bytes, activity_days=90, logs_endpoint=None, deployments=True,
            aks_run_command=False, previous=None) -> Options:
    """Validate :func:`acrlib.collect`'s arguments; every problem is a ``ValueError`` naming it, before any
    request."""
    target = resolve_cloud(cloud)
    subs, names, pattern = check_filters(subscriptions, registries)
    for name, endpoint in (("arm_endpoint", arm_endpoint), ("logs_endpoint", logs_endpoint)):
        if endpoint is not None and (not isinstance(endpoint, str) or not re.match(r"^https://[^/\s]+", endpoint)):
            raise ValueError(f"{name} {endpoint!r} must be an https:// URL: bearer tokens are never sent over "
                             "plain http")
    if activity_days is None:
        activity_days = 0
    if isinstance(activity_days, bool) or not isinstance(activity_days, int) or not 0 <= activity_days <= 730:
        raise ValueError(f"activity_days must be a whole number of days from 0 (no pull activity) to 730, not "
                         f"{activity_days!r}")
    if isinstance(connection_verify, (str, os.PathLike)) and not os.path.exists(connection_verify):
        raise ValueError(f"connection_verify {str(connection_verify)!r} is not a file (expected a CA bundle)")
    if referrers not in REFERRER_CHECKS:
        raise ValueError(f"referrers must be one of {REFERRER_CHECKS}, not {referrers!r}")
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= 1000:
        raise ValueError(f"page_size must be an integer from 1 to 1000, not {page_size!r}")
    for name, value in (("deployments", deployments), ("aks_run_command", aks_run_command)):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be True or False, not {value!r}")
    if progress is not None and not isinstance(progress, bool):
        raise ValueError(f"progress must be True, False or None (automatic), not {progress!r}")
    if aks_run_command and not deployments:
        raise ValueError("aks_run_command reads deployments: it needs deployments=True")
    if previous is not None:
        previous = load_previous(previous)
        check_cloud(previous, target.name)
    limits = Limits(request_timeout=request_timeout, max_retry_wait=max_retry_wait, max_answer_bytes=max_answer_bytes)
    if credential is None:
        credential = default_credential(target.authority)
    elif not callable(getattr(credential, "get_token", None)):
        raise ValueError(f"credential must be an azure-core TokenCredential, not {type(credential).__name__}")
    return Options(credential=credential, subscriptions=subs, registry_names=names, registry_pattern=pattern,
                   cloud=target, arm_endpoint=arm_endpoint, connection_verify=connection_verify,
                   progress=progress, layers=bool(layers), page_size=page_size, referrers=referrers,
                   limits=limits, activity_days=activity_days, logs_endpoint=logs_endpoint, deployments=deployments,
                   aks_run_command=aks_run_command, previous=previous)
