"""Realism knobs: injected failures, all off unless asked for."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


@dataclass(frozen=True)
class Faults:
    """Failures the emulator injects.

    error_rate / reset_rate: fraction of requests (data plane, token service and ARM) answered with a 5xx or
        whose connection is reset, drawn from a seeded generator.
    denied: registries with public network access disabled: every data-plane call, token calls included,
        gets 403 ``DENIED`` "client with IP ... is not allowed access".
    vanished: registries deleted after discovery: Resource Graph still lists them, their endpoint refuses
        connections and ARM answers 404.
    fail_after: registry -> number of data-plane requests after which it answers only 503 (fails mid-way).
    token_lifetime_s: ACR refresh and access tokens stop being accepted this many seconds after issue,
        although their ``exp`` claim says otherwise (tokens that expire early).
    denied_repositories: registry -> repositories the caller has no permission on (tokens for them are issued
        without those scopes, as ACR does for ABAC-scoped identities).
    hidden_manifests: registry -> number of manifests set ``listEnabled: false``: ACR leaves them out of
        listings while the repository's manifestCount still counts them.
    truncated_listings: registry -> repositories whose manifest listing answers are cut off mid-body: status
        200, not valid JSON (what a broken proxy or a connection dropped mid-answer can hand a client).
    garbled_times: registry -> repositories whose manifest listings give every ``createdTime`` as text that
        is not a time.
    """

    error_rate: float = 0.0
    reset_rate: float = 0.0
    denied: tuple[str, ...] = ()
    vanished: tuple[str, ...] = ()
    fail_after: dict[str, int] = field(default_factory=dict)
    token_lifetime_s: float | None = None
    denied_repositories: dict[str, tuple[str, ...]] = field(default_factory=dict)
    hidden_manifests: dict[str, int] = field(default_factory=dict)
    truncated_listings: dict[str, tuple[str, ...]] = field(default_factory=dict)
    garbled_times: dict[str, tuple[str, ...]] = field(default_factory=dict)
    seed: int = 0

    def __post_init__(self):
        for name in ("error_rate", "reset_rate"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"Faults.{name} must be in [0, 1), got {value!r}")
        if self.token_lifetime_s is not None and self.token_lifetime_s <= 0:
            raise ValueError("Faults.token_lifetime_s must be positive")
        object.__setattr__(self, "denied", tuple(self.denied))
        object.__setattr__(self, "vanished", tuple(self.vanished))
        for name in ("denied_repositories", "truncated_listings", "garbled_times"):
            object.__setattr__(self, name, {k: tuple(v) for k, v in dict(getattr(self, name)).items()})

    @classmethod
    def coerce(cls, value: Faults | dict | None) -> Faults:
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            known = {f.name for f in fields(cls)}
            unknown = set(value) - known
            if unknown:
                raise ValueError(f"unknown fault(s) {sorted(unknown)}; known faults are {sorted(known)}")
            return cls(**value)
        raise TypeError(f"faults must be a Faults, a dict or None, not {type(value).__name__}")

    def to_json(self) -> dict:
        return asdict(self)

    def registries(self) -> set[str]:
        """Registries any fault is aimed at."""
        return {*self.denied, *self.vanished, *self.fail_after, *self.denied_repositories, *self.hidden_manifests,
                *self.truncated_listings, *self.garbled_times}
