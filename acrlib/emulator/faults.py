"""Realism knobs: injected failures, all off unless asked for.

Each fault is one class below with the hooks it needs; the server calls every hook of every active fault at
the one place that hook belongs (tenant preparation, before a request, token checks, listings). Adding a fault
is a class here, registered in :data:`FAULTS`, plus a test. ``Faults(name=value, ...)`` holds the active ones;
``name`` is each class's ``name``.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from .server.state import Reply, Reset, acr_errors


class Fault:
    """One injected failure. Hooks are no-ops unless a subclass overrides them."""

    name: ClassVar[str]

    def __init__(self, value: Any):
        self.value = self.check(value)

    def check(self, value: Any) -> Any:
        """Validate the setting (``ValueError`` naming the fault); returns it in its canonical form."""
        return value

    def to_json(self) -> Any:
        return self.value

    def registries(self) -> set[str]:
        """Registries the fault is aimed at (they must exist in the tenant)."""
        return set()

    # --- hooks ---

    def prepare(self, tenant) -> None:
        """Change the tenant before the emulator serves it."""

    def serves(self, registry: str) -> bool:
        """False: nothing listens at the registry's endpoint (connections are refused)."""
        return True

    def arm_knows(self, registry: str) -> bool:
        """False: ARM answers 404 for the registry resource."""
        return True

    def before(self, state, request, registry: str | None) -> None:
        """Before a request is answered (``registry`` None for ARM): raise ``Reply`` or ``Reset`` to intervene."""

    def token_valid(self, claims: dict, now: float) -> bool:
        """False: the registry refuses an ACR token it issued."""
        return True

    def granted(self, registry: str, access: list[dict]) -> list[dict]:
        """The access an ACR token is issued with, from what was asked for."""
        return access

    def listing(self, registry: str, repository: str, what: str, body: bytes) -> bytes:
        """A listing page's body (``what`` is ``manifests`` or ``tags``) before it is sent."""
        return body

    # Log Analytics
    def log_denied(self, workspace: str) -> bool:
        """True: the caller may not query the workspace (403)."""
        return False

    def log_query_rate(self, limit: tuple[int, float]) -> tuple[int, float]:
        """Queries allowed per window (seconds) per user."""
        return limit

    def log_query_scanned(self, rows: int) -> None:
        """After the query's filters: raise ``Reply`` (a 504) for a query that would run too long."""

    def log_row_limit(self, limit: int) -> int:
        """Rows a result may have before it is cut to a partial result."""
        return limit


class _Registries(Fault):
    """A fault aimed at a list of registries."""

    def check(self, value) -> tuple[str, ...]:
        if isinstance(value, str):
            value = (value,)
        return tuple(value)

    def to_json(self) -> list[str]:
        return list(self.value)

    def registries(self) -> set[str]:
        return set(self.value)


class _PerRegistry(Fault):
    """A fault with a setting per registry."""

    def check(self, value) -> dict:
        return dict(value)

    def registries(self) -> set[str]:
        return set(self.value)


class _Repositories(_PerRegistry):
    """registry -> repositories."""

    def check(self, value) -> dict[str, tuple[str, ...]]:
        return {registry: tuple(repos) for registry, repos in dict(value).items()}

    def to_json(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in self.value.items()}

    def hits(self, registry: str, repository: str) -> bool:
        return repository in self.value.get(registry, ())


class _Rate(Fault):
    """A fraction of requests (data plane, token service and ARM), drawn from the server's seeded generator."""

    def check(self, value) -> float:
        value = float(value)
        if not 0.0 <= value < 1.0:
            raise ValueError(f"Faults.{self.name} must be in [0, 1), got {value!r}")
        return value


class Denied(_Registries):
    """Registries with public network access disabled: every data-plane call, token calls included, gets 403
    ``DENIED`` "client with IP ... is not allowed access"."""

    name = "denied"

    def prepare(self, tenant) -> None:
        for reg in tenant.registries:
            if reg.name in self.value:
                reg.public_network_access = "Disabled"

    def before(self, state, request, registry) -> None:
        if registry in self.value:
            raise Reply(403, acr_errors(
                "DENIED", f"client with IP '{request.remote}' is not allowed access. Refer https://aka.ms/acr/firewall "
                "to grant access."))


class ResetRate(_Rate):
    """A fraction of requests whose connection is reset without an answer."""

    name = "reset_rate"

    def before(self, state, request, registry) -> None:
        if self.value and state.rng.random() < self.value:
            raise Reset()


class ErrorRate(_Rate):
    """A fraction of requests answered with a 500, 502 or 503."""

    name = "error_rate"

    def before(self, state, request, registry) -> None:
        if self.value and state.rng.random() < self.value:
            status = state.rng.choice([500, 502, 503])
            raise Reply(status, acr_errors("INTERNAL_ERROR" if status == 500 else "SERVICE_UNAVAILABLE",
                                           "the service encountered an error, please retry"))


class Vanished(_Registries):
    """Registries deleted after discovery: Resource Graph still lists them, their endpoint refuses connections
    and ARM answers 404."""

    name = "vanished"

    def serves(self, registry: str) -> bool:
        return registry not in self.value

    def arm_knows(self, registry: str) -> bool:
        return registry not in self.value


class FailAfter(_PerRegistry):
    """registry -> number of data-plane requests after which it answers only 503 (fails mid-way)."""

    name = "fail_after"

    def __init__(self, value):
        super().__init__(value)
        self.served: dict[str, int] = {}

    def before(self, state, request, registry) -> None:
        limit = self.value.get(registry)
        if limit is None:
            return
        self.served[registry] = self.served.get(registry, 0) + 1
        if self.served[registry] > limit:
            raise Reply(503, acr_errors("SERVICE_UNAVAILABLE", "the service is temporarily unavailable"))


class TokenLifetime(Fault):
    """ACR refresh and access tokens stop being accepted this many seconds after issue, although their ``exp``
    claim says otherwise (tokens that expire early)."""

    name = "token_lifetime_s"

    def check(self, value) -> float:
        value = float(value)
        if value <= 0:
            raise ValueError("Faults.token_lifetime_s must be positive")
        return value

    def token_valid(self, claims: dict, now: float) -> bool:
        # "issued" has sub-second precision (iat is whole seconds).
        return now - claims.get("issued", claims.get("iat", now)) <= self.value


class DeniedRepositories(_Repositories):
    """registry -> repositories the caller has no permission on (tokens for them are issued without those
    scopes, as ACR does for ABAC-scoped identities)."""

    name = "denied_repositories"

    def granted(self, registry: str, access: list[dict]) -> list[dict]:
        return [a for a in access if not (a["type"] == "repository" and self.hits(registry, a["name"]))]


class HiddenManifests(_PerRegistry):
    """registry -> number of manifests set ``listEnabled: false``: ACR leaves them out of listings while the
    repository's manifestCount still counts them."""

    name = "hidden_manifests"

    def prepare(self, tenant) -> None:
        for reg in tenant.registries:
            hide = self.value.get(reg.name, 0)
            for repo in sorted(reg.repositories.values(), key=lambda r: r.name):
                for manifest in sorted(repo.manifests.values(), key=lambda m: m.digest)[:hide]:
                    manifest.list_enabled = False
                    manifest.listing = None
                    hide -= 1
                repo.changed()


class TruncatedListings(_Repositories):
    """registry -> repositories whose manifest listing answers are cut off mid-body: status 200, not valid JSON
    (what a broken proxy or a connection dropped mid-answer can hand a client)."""

    name = "truncated_listings"

    def listing(self, registry, repository, what, body) -> bytes:
        return body[:len(body) // 2] if what == "manifests" and self.hits(registry, repository) else body


class GarbledTimes(_Repositories):
    """registry -> repositories whose manifest listings give every ``createdTime`` as text that is not a time."""

    name = "garbled_times"

    def listing(self, registry, repository, what, body) -> bytes:
        if what == "manifests" and self.hits(registry, repository):
            return re.sub(rb'"createdTime": ?"[^"]*"', b'"createdTime":"last Tuesday"', body)
        return body


class _Limit(Fault):
    def check(self, value) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"Faults.{self.name} must be a whole number >= 1, got {value!r}")
        return value


class LogDenied(_Registries):
    """Log Analytics workspaces (by name) the caller may not query: 403 ``InsufficientAccessError``."""

    name = "log_denied"

    def registries(self) -> set[str]:
        return set()

    def log_denied(self, workspace: str) -> bool:
        return workspace in self.value


class LogQueryRate(Fault):
    """Log Analytics queries allowed per user: a number per 30 s (documented: 200), or ``(number, seconds)`` for
    a shorter window; past it, 429 with ``Retry-After``."""

    name = "log_query_rate"

    def check(self, value) -> tuple[int, float]:
        count, window = (value, 30.0) if isinstance(value, int) else tuple(value)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1 or not float(window) > 0:
            raise ValueError(f"Faults.log_query_rate must be a number >= 1 or (number, seconds), got {value!r}")
        return count, float(window)

    def to_json(self) -> list:
        return list(self.value)

    def log_query_rate(self, limit: tuple[int, float]) -> tuple[int, float]:
        return self.value


class LogTimeoutRows(_Limit):
    """A Log Analytics query whose filters leave more than this many rows to scan runs out of time: 504
    ``GatewayTimeout`` (a narrower query, fewer registries or a shorter window, succeeds)."""

    name = "log_timeout_rows"

    def log_query_scanned(self, rows: int) -> None:
        if rows > self.value:
            raise Reply(504, json.dumps({"error": {
                "code": "GatewayTimeout", "message": "Gateway timeout",
                "innererror": {"code": "GatewayTimeout", "message": "ADX query timed out"}}}).encode())


class LogRowLimit(_Limit):
    """Rows a Log Analytics result may have (documented: 500,000) before it becomes a partial result."""

    name = "log_row_limit"

    def log_row_limit(self, limit: int) -> int:
        return min(limit, self.value)


class Defender(_PerRegistry):
    """Defender for Cloud in a registry's subscription, registry -> mode: ``current`` or ``legacy`` (the shape of
    its findings), ``off`` (both plans Free), ``denied`` (the caller may not read its plans or findings: 403 on
    the plans, no rows) or ``renamed`` (the current shape with a field renamed upstream). Registries of one
    subscription must agree."""

    name = "defender"

    def check(self, value) -> dict[str, str]:
        from .findings import FAULT_MODES

        value = {str(k): str(v) for k, v in dict(value).items()}
        wrong = sorted(v for v in value.values() if v not in FAULT_MODES)
        if wrong:
            raise ValueError(f"Faults.defender modes must be among {', '.join(FAULT_MODES)}, got {wrong}")
        return value

    def prepare(self, tenant) -> None:
        for registry, mode in self.value.items():
            sub = tenant.registry(registry).subscription_id
            if tenant.defender_modes.get(sub, mode) != mode:
                raise ValueError(f"Faults.defender gives subscription {sub} two modes: "
                                 f"{tenant.defender_modes[sub]} and {mode}")
            tenant.defender_modes[sub] = mode


class DefenderImages(_Limit):
    """Images Defender reports findings for in every repository (instead of a few in every second one): enough
    of them take the security rows past a Resource Graph page (1,000 rows)."""

    name = "defender_images"

    def prepare(self, tenant) -> None:
        tenant.defender_images = self.value


# Every fault, in the order their `before` hooks run.
FAULTS: tuple[type[Fault], ...] = (Denied, ResetRate, ErrorRate, Vanished, FailAfter, TokenLifetime,
                                   DeniedRepositories, HiddenManifests, TruncatedListings, GarbledTimes, LogDenied,
                                   LogQueryRate, LogTimeoutRows, LogRowLimit, Defender, DefenderImages)
_BY_NAME = {cls.name: cls for cls in FAULTS}


class Faults:
    """The failures an emulator injects: ``Faults(error_rate=0.1, denied=("contosodevacr",), seed=5)``.
    Keywords are the ``name`` of each class in :data:`FAULTS` (see their docstrings); ``seed`` seeds the random
    draws of the rate faults."""

    def __init__(self, *, seed: int = 0, **settings):
        unknown = set(settings) - set(_BY_NAME)
        if unknown:
            raise ValueError(f"unknown fault(s) {sorted(unknown)}; known faults are {sorted(_BY_NAME)}")
        self.seed = int(seed)
        self.active: tuple[Fault, ...] = tuple(cls(settings[cls.name]) for cls in FAULTS if settings.get(cls.name))

    def __iter__(self):
        return iter(self.active)

    def __repr__(self) -> str:
        settings = ", ".join(f"{f.name}={f.value!r}" for f in self.active)
        return f"Faults({settings})"

    @classmethod
    def coerce(cls, value: Faults | dict | None) -> Faults:
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            return cls(**value)
        raise TypeError(f"faults must be a Faults, a dict or None, not {type(value).__name__}")

    def to_json(self) -> dict:
        return {"seed": self.seed, **{f.name: f.to_json() for f in self.active}}

    def registries(self) -> set[str]:
        """Registries any fault is aimed at."""
        return set().union(*(f.registries() for f in self.active))
