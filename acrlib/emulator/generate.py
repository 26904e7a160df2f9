"""Generating a synthetic tenant: deterministic from ``(scale, seed, now)``.

Manifests and image configs are real JSON whose sha256 is their digest; layer blobs have stable synthetic
digests and sizes (hashing terabytes of filler is not possible), and the same layer label always yields the
same digest and size, in any registry, so shared base layers and mirrored images de-duplicate the way they do
in a real fleet.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import random
import uuid
from dataclasses import dataclass

from acrlib import media_types as mt

from . import activity, workloads
from .model import (
    DAY,
    TICKS,
    Blob,
    EventLog,
    Manifest,
    PushPlan,
    Registry,
    Repository,
    Tenant,
    dumps,
    fake_digest,
    format_time,
    real_digest,
)

SKU_SIZE = {"Premium": 1.6, "Standard": 1.0, "Basic": 0.4}  # relative repository counts in sku_scaled presets


@dataclass(frozen=True)
class Preset:
    subscriptions: int
    registries: int
    repos_per_registry: tuple[int, int]
    versions: tuple[int, int]  # versions pushed per repository (skewed towards the low end)
    bulk_manifests: int  # the one repository with more than 1000 manifests
    discovery_only: int = 0  # registries that exist only in Resource Graph (paging tests)
    sku_scaled: bool = False  # big registries on Premium, small ones on Basic, as companies run them


PRESETS: dict[str, Preset] = {
    "tiny": Preset(subscriptions=2, registries=3, repos_per_registry=(5, 7), versions=(2, 7), bulk_manifests=1_050),
    "demo": Preset(subscriptions=3, registries=6, repos_per_registry=(45, 55), versions=(4, 52), bulk_manifests=1_400,
                   sku_scaled=True),
    "bench": Preset(subscriptions=4, registries=16, repos_per_registry=(40, 50), versions=(4, 36),
                    bulk_manifests=1_200, sku_scaled=True),
    "large": Preset(
        subscriptions=4, registries=12, repos_per_registry=(390, 440), versions=(20, 180), bulk_manifests=6_000,
        sku_scaled=True,
    ),
    # `large` four times over (about 2 million manifests): the scale benchmark's tenant larger than memory
    "huge": Preset(
        subscriptions=8, registries=44, repos_per_registry=(390, 440), versions=(20, 180), bulk_manifests=6_000,
        sku_scaled=True,
    ),
    "fleet": Preset(
        subscriptions=2,
        registries=3,
        repos_per_registry=(5, 7),
        versions=(2, 7),
        bulk_manifests=1_050,
        discovery_only=1_500,
    ),
}


def _stable_int(label: str, low: int, high: int) -> int:
    """A size derived from the label alone, so one digest always has one size."""
    value = int.from_bytes(hashlib.blake2b(label.encode(), digest_size=8).digest(), "big")
    return low + value % (high - low + 1)


BASES: dict[str, list[tuple[int, int]]] = {
    # base image -> layer size ranges (compressed bytes)
    "debian-12": [(28_000_000, 31_000_000)],
    "alpine-3.20": [(3_300_000, 3_700_000)],
    "ubuntu-24.04": [(29_000_000, 31_000_000)],
    "distroless-static": [(700_000, 900_000), (100_000, 300_000)],
    "python-3.12-slim": [(28_000_000, 31_000_000), (3_000_000, 4_000_000), (12_000_000, 14_000_000)],
    "node-22-alpine": [(3_300_000, 3_700_000), (40_000_000, 48_000_000), (1_000_000, 2_000_000)],
    "dotnet-aspnet-8.0": [(28_000_000, 31_000_000), (15_000_000, 18_000_000), (10_000_000, 12_000_000)],
    "temurin-21-jre": [(29_000_000, 31_000_000), (50_000_000, 60_000_000)],
}
ARCH_SETS = [("amd64",), ("amd64", "arm64"), ("amd64", "arm64", "arm")]
TEAMS = ["payments", "identity", "search", "checkout", "platform", "data", "ml", "web", "mobile", "infra",
         "billing", "catalog", "support", "security", "analytics"]
SERVICES = ["api", "worker", "frontend", "gateway", "scheduler", "ingest", "auth", "notifier", "exporter",
            "indexer", "sync", "admin", "cron", "proxy", "reporter", "loader"]
MIRRORS = {
    "library/busybox": ("1.36", "1.37"),
    "library/nginx": ("1.25", "1.26", "1.27"),
    "library/redis": ("7.2", "7.4"),
    "library/postgres": ("16", "17"),
}
LOCATIONS = ["westeurope", "eastus", "northeurope", "eastus2", "uksouth", "southeastasia"]
ORG = "contoso"


class Builder:
    """Builds manifests with real JSON bodies; shared layers come from stable labels."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    @staticmethod
    def layer(label: str, low: int, high: int, media_type: str) -> Blob:
        return Blob(fake_digest(label), _stable_int(label, low, high), media_type)

    def base_layers(self, base: str, arch: str, media_type: str) -> list[Blob]:
        return [self.layer(f"base/{base}/{arch}/{i}", lo, hi, media_type) for i, (lo, hi) in enumerate(BASES[base])]

    @staticmethod
    def config_blob(payload: dict, media_type: str) -> Blob:
        content = dumps(payload)
        return Blob(real_digest(content), len(content), media_type, content)

    @staticmethod
    def _descriptor(blob: Blob) -> dict:
        return {"mediaType": blob.media_type, "size": blob.size, "digest": blob.digest}

    def image(self, *, oci: bool, arch: str, os_name: str, layers: list[Blob], created: int, label: str,
              annotations: dict | None = None) -> Manifest:
        config_type = mt.OCI_CONFIG if oci else mt.DOCKER_CONFIG
        config = self.config_blob(
            {
                "architecture": arch,
                "os": os_name,
                "created": format_time(created),
                "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"], "Labels": {"build": label}},
                "rootfs": {"type": "layers", "diff_ids": [fake_digest("diff/" + b.digest) for b in layers]},
            },
            config_type,
        )
        body: dict = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST if oci else mt.DOCKER_MANIFEST,
                      "config": self._descriptor(config), "layers": [self._descriptor(b) for b in layers]}
        if oci and annotations:
            body["annotations"] = annotations
        raw = dumps(body)
        return Manifest(
            digest=real_digest(raw), body=raw, media_type=body["mediaType"], config_media_type=config_type,
            artifact_type=None, kind="image", architecture=arch, os=os_name,
            size=config.size + sum(b.size for b in layers) + len(raw), created=created, updated=created,
            config=config, layers=layers,
        )

    def index(self, *, oci: bool, children: list[Manifest], created: int) -> Manifest:
        body = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_INDEX if oci else mt.DOCKER_MANIFEST_LIST,
            "manifests": [
                {"mediaType": c.media_type, "size": len(c.body), "digest": c.digest,
                 "platform": {"architecture": c.architecture, "os": c.os}}
                for c in children
            ],
        }
        raw = dumps(body)
        return Manifest(
            digest=real_digest(raw), body=raw, media_type=body["mediaType"], config_media_type=None,
            artifact_type=None, kind="index", architecture=None, os=None,
            size=len(raw) + sum(c.size for c in children), created=created, updated=created,
            children=[(c.digest, c.architecture or "", c.os or "") for c in children],
        )

    def helm_chart(self, *, chart: str, version: str, created: int, label: str) -> Manifest:
        config = self.config_blob({"name": chart, "version": version, "apiVersion": "v2"}, mt.HELM_CONFIG)
        layers = [self.layer(f"helm/{label}", 4_000, 60_000, mt.HELM_CHART)]
        body = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": self._descriptor(config),
                "layers": [self._descriptor(b) for b in layers]}
        raw = dumps(body)
        return Manifest(
            digest=real_digest(raw), body=raw, media_type=mt.OCI_MANIFEST, config_media_type=mt.HELM_CONFIG,
            artifact_type=None, kind="helm", architecture=None, os=None,
            size=config.size + layers[0].size + len(raw), created=created, updated=created,
            config=config, layers=layers,
        )

    def cosign(self, *, subject: Manifest, attestation: bool, created: int) -> Manifest:
        """A cosign tag-scheme signature or attestation (tagged sha256-<hex>.sig/.att, no OCI subject)."""
        config = self.config_blob({"architecture": "", "os": "", "config": {},
                                   "rootfs": {"type": "layers", "diff_ids": []}}, mt.OCI_CONFIG)
        layer_type = mt.DSSE_ENVELOPE if attestation else mt.COSIGN_SIGNATURE_LAYER
        layers = [self.layer(f"cosign/{subject.digest}/{attestation}/{created}", 300, 9_000, layer_type)]
        body = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": self._descriptor(config),
                "layers": [self._descriptor(b) for b in layers]}
        raw = dumps(body)
        return Manifest(
            digest=real_digest(raw), body=raw, media_type=mt.OCI_MANIFEST, config_media_type=mt.OCI_CONFIG,
            artifact_type=None, kind="attestation" if attestation else "signature", architecture=None,
            os=None, size=config.size + layers[0].size + len(raw), created=created, updated=created,
            config=config, layers=layers,
        )

    def referrer(self, *, subject: Manifest, artifact_type: str, created: int) -> Manifest:
        """An OCI 1.1 referrer: empty config, one layer, ``subject`` pointing at the image."""
        config = Blob(real_digest(b"{}"), 2, mt.OCI_EMPTY, b"{}")
        layer_type = "application/jose+json" if artifact_type == mt.NOTARY_SIGNATURE else artifact_type
        layers = [self.layer(f"referrer/{subject.digest}/{artifact_type}/{created}", 800, 400_000, layer_type)]
        body = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": self._descriptor(config),
            "layers": [self._descriptor(b) for b in layers],
            "subject": {"mediaType": subject.media_type, "digest": subject.digest, "size": len(subject.body)},
            "annotations": {"org.opencontainers.image.created": format_time(created)},
        }
        raw = dumps(body)
        kind = "signature" if artifact_type in mt.SIGNATURE_ARTIFACT_TYPES else "attestation"
        return Manifest(
            digest=real_digest(raw), body=raw, media_type=mt.OCI_MANIFEST, config_media_type=mt.OCI_EMPTY,
            artifact_type=artifact_type, kind=kind, architecture=None, os=None,
            size=config.size + layers[0].size + len(raw), created=created, updated=created,
            config=config, layers=layers, subject=subject.digest,
        )


# --- tenant generation ------------------------------------------------------------------------------------


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _skewed(rng: random.Random, low: int, high: int) -> int:
    """Many small, few large: a squared uniform stretched over [low, high]."""
    return low + int((high - low) * rng.random() ** 2)


# The emulated tenant's present, the same on every run: a seed gives one tenant (its digests, tags and events),
# whatever the day; it moves only through `advance` (and the simulated weeks of a report's history).
PRESENT = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)


def present_ticks() -> int:
    return int(PRESENT.timestamp()) * TICKS


class TenantGenerator:
    def __init__(self, scale: str, seed: int, now: int | None):
        if scale not in PRESETS:
            raise ValueError(f"unknown emulator scale {scale!r}; presets are {', '.join(PRESETS)}")
        self.preset = PRESETS[scale]
        self.scale = scale
        self.seed = seed
        self.now = present_ticks() if now is None else now
        self.rng = random.Random(f"{scale}/{seed}")
        self.build = Builder(self.rng)
        self.events = EventLog()
        self.tenant_id = ""

    def generate(self) -> Tenant:
        rng, p = self.rng, self.preset
        tenant_id = self.tenant_id = _uuid(rng)
        names = ["Production", "Development", "Shared Services", "Data Platform", "Sandbox", "Staging"]
        subscriptions = [(_uuid(rng), f"{ORG.title()} {names[i % len(names)]}") for i in range(p.subscriptions)]
        registries: list[Registry] = []
        skus = ["Premium", "Standard", "Basic"]
        flavours = ["prod", "dev", "shared", "data", "ml", "edge", "qa", "ops", "int", "eu", "us", "apac"]
        for i in range(p.registries):
            sub_id, _ = subscriptions[i % len(subscriptions)]
            name = f"{ORG}{flavours[i % len(flavours)]}{'' if i < len(flavours) else i}acr"
            reg = self._registry(name, sub_id, skus[i % 3], rng)
            registries.append(reg)
        self._guarantee(registries)
        for i, reg in enumerate(registries):
            self._fill(reg, i)
        for j in range(p.discovery_only):
            sub_id, _ = subscriptions[j % len(subscriptions)]
            reg = self._registry(f"{ORG}fleet{j:05d}acr", sub_id, skus[j % 3], rng)
            reg.discovery_only = True
            registries.append(reg)
        others = self._other_resources(tenant_id, subscriptions, rng)
        tenant = Tenant(tenant_id=tenant_id, now=self.now, subscriptions=subscriptions, registries=registries,
                        other_resources=others, events=self.events)
        activity.setup(tenant)
        activity.pulls(tenant, self.now - activity.HISTORY_DAYS * DAY, self.now)
        workloads.setup(tenant)
        return tenant

    def _registry(self, name: str, sub_id: str, sku: str, rng: random.Random) -> Registry:
        premium = sku == "Premium"
        retention = premium and rng.random() < 0.5
        soft_delete = sku != "Premium" and rng.random() < 0.3
        return Registry(
            name=name,
            subscription_id=sub_id,
            resource_group=f"rg-{name.removeprefix(ORG).removesuffix('acr')}-{rng.choice(['core', 'apps', 'shared'])}",
            location=rng.choice(LOCATIONS),
            sku=sku,
            created=self.now - rng.randint(800, 1_095) * DAY - rng.randrange(DAY),
            admin_user_enabled=rng.random() < 0.35,
            public_network_access="Enabled",
            anonymous_pull_enabled=sku != "Basic" and rng.random() < 0.35,
            network_default_action=("Deny" if rng.random() < 0.4 else "Allow") if premium else "Allow",
            data_endpoint_enabled=premium and rng.random() < 0.5,
            zone_redundancy="Enabled" if premium and rng.random() < 0.5 else "Disabled",
            retention_days=rng.choice([7, 14, 30]) if retention else 7,
            retention_status="enabled" if retention else "disabled",
            soft_delete_days=rng.choice([7, 30, 90]) if soft_delete else 7,
            soft_delete_status="enabled" if soft_delete else "disabled",
            quarantine_status="enabled" if premium and rng.random() < 0.5 else "disabled",
            trust_status="enabled" if premium and rng.random() < 0.3 else "disabled",
            auth_as_arm=rng.random() < 0.8,
            tags={"costCenter": f"cc-{rng.randint(1000, 9999)}", "env": rng.choice(["prod", "dev", "test"]),
                  **({"owner": rng.choice(TEAMS)} if rng.random() < 0.7 else {})},
        )

    @staticmethod
    def _guarantee(registries: list[Registry]) -> None:
        """Every preset shows each feature at least once, whatever the seed (tests rely on it)."""
        first, second, third = registries[0], registries[1 % len(registries)], registries[2 % len(registries)]
        first.anonymous_pull_enabled = False
        first.retention_status, first.retention_days = "enabled", 7
        first.quarantine_status = first.trust_status = "enabled"
        first.admin_user_enabled = False
        second.anonymous_pull_enabled = second.sku != "Basic"
        second.admin_user_enabled = True
        second.soft_delete_status = "enabled"
        third.anonymous_pull_enabled = False
        third.soft_delete_status = "disabled"

    def _fill(self, reg: Registry, index: int) -> None:
        rng, p = self.rng, self.preset
        count = rng.randint(*p.repos_per_registry)
        if p.sku_scaled:
            count = max(6, round(count * SKU_SIZE[reg.sku]))
        used: set[str] = set()
        plan: list[tuple[str, str]] = []
        if index == 0:
            plan += [("ci/builds", "bulk"), ("platform/base/runtime", "multiarch"), ("payments/api", "signed"),
                     ("charts/payments-api", "helm")]
        if index == min(1, p.registries - 1):
            plan += [("sandbox/empty", "empty"), ("identity/auth", "signed"), ("web/frontend", "multiarch")]
        used.update(name for name, _ in plan)
        mirror_names = list(MIRRORS)
        rng.shuffle(mirror_names)
        for name in mirror_names[: 1 + index % 3]:
            plan.append((name, "mirror"))
        choices = ["app"] * 50 + ["multiarch"] * 15 + ["helm"] * 10 + ["signed"] * 15 + ["windows"] * 3
        while len(plan) < count:
            style = rng.choice(choices)
            team, service = rng.choice(TEAMS), rng.choice(SERVICES)
            if style == "helm":
                name = f"charts/{team}-{service}"
            elif style == "app" and rng.random() < 0.15:
                name = f"{team}/{service}/{rng.choice(['migrations', 'jobs', 'tools'])}"
            else:
                name = f"{team}/{service}"
            if name in used:
                name = f"{name}-{len(plan)}"
            used.add(name)
            plan.append((name, style))
        for name, style in plan:
            self._repository(reg, name, style)

    # Each style pushes a sequence of versions between the repository's creation and now.
    def _repository(self, reg: Registry, name: str, style: str, created: int | None = None) -> Repository:
        rng, now = self.rng, self.now
        if created is None:
            created = activity.quiet(rng.randint(reg.created + DAY, now - 2 * DAY))
        repo = Repository(name=name, created=created, updated=created)
        reg.repositories[name] = repo
        if style == "empty":
            return repo
        if style == "bulk":
            versions = self.preset.bulk_manifests
        elif style == "mirror":
            versions = len(MIRRORS[name])
        else:
            versions = max(_skewed(rng, *self.preset.versions), 6 if style in ("signed", "multiarch") else 2)
        times = sorted(rng.randint(created, max(created, now - 600 * TICKS)) for _ in range(versions))
        times[0] = created
        # A few pushes land on a whole second: ACR then prints no fraction digits at all.
        times = [t - t % TICKS if rng.random() < 0.03 else t for t in times]
        times = sorted(max(created, activity.quiet(t)) for t in times)
        repo.plan = PushPlan(style=style, base=rng.choice(list(BASES)),
                             oci=len(reg.repositories) % 2 == 0,  # alternate Docker v2 and OCI media types
                             label=f"{reg.name}/{name}", first=times[0],
                             signed_tags=reg.trust_status == "enabled" and rng.random() < 0.5)
        for t in times:
            self.push(reg, repo, t)
        if "latest" in repo.tags and style not in ("bulk",) and len(times) > 3 and rng.random() < 0.3:
            stable = repo.manifests[repo.tags["latest"].digest]
            repo.tag("stable", stable.digest, times[1], stable.created + 30 * TICKS)
        repo.updated = max([*(m.updated for m in repo.manifests.values()), *(t.updated for t in repo.tags.values())])
        if rng.random() < 0.05 or name == "identity/auth":
            # Real registries have repositories whose createdTime is later than lastUpdateTime.
            repo.created, repo.updated = repo.updated, repo.created
        if rng.random() < 0.02:
            repo.write_enabled = False
        return repo

    def push(self, reg: Registry, repo: Repository, t: int) -> Manifest | None:
        """Push the repository's next version at time ``t``: its manifests, tags and signatures."""
        rng, plan = self.rng, repo.plan
        i, style, label, base, oci = plan.pushes, plan.style, plan.label, plan.base, plan.oci
        before = len(repo.manifests)
        digests_before, tags_before = set(repo.manifests), {name: tag.digest for name, tag in repo.tags.items()}
        if style == "mirror":
            if i >= len(MIRRORS[repo.name]):
                return None
            top = self._mirror(repo, repo.name, MIRRORS[repo.name][i], t)
            repo.tag(MIRRORS[repo.name][i], top.digest, t, t)
        elif style == "helm":
            version = f"0.{i // 5}.{i % 5}"
            top = repo.add(self.build.helm_chart(chart=repo.name.split("/")[-1], version=version, created=t,
                                                 label=f"{label}/{i}"))
            repo.tag(version, top.digest, t, t)
        else:
            if style == "multiarch":
                top = self._multiarch(repo, label, base, oci, i, t)
            elif style == "windows":
                top = repo.add(self._single(label, "windows-ltsc2022", False, i, t, "amd64", "windows"))
            else:
                top = repo.add(self._single(label, base, oci, i, t, "amd64", "linux"))
            # Tags: some versions are releases, some CI builds, the rest end up untagged when `latest` moves.
            roll = rng.random()
            if style == "bulk":
                if roll < 0.04:
                    repo.tag(f"build-{i}", top.digest, t, t)
            elif roll < 0.55:
                plan.release += 1
                r = plan.release
                tag = repo.tag(f"{1 + r // 20}.{r // 5 % 4}.{r % 5}", top.digest, t, t, signed=plan.signed_tags)
                if rng.random() < 0.04:
                    tag.write_enabled = False
                    tag.delete_enabled = rng.random() < 0.5
            elif roll < 0.7:
                repo.tag(f"main-{top.digest[7:14]}", top.digest, t + 5 * TICKS, t + 5 * TICKS)
            repo.tag("latest", top.digest, plan.first, t)  # moving `latest` updates the manifest it left
            if style == "signed" and repo.manifests[top.digest].tags != ["latest"]:
                self._sign(repo, top, t, every_kind=not plan.signed_once)
                plan.signed_once = True
            if rng.random() < 0.02:
                top.delete_enabled = False
                top.write_enabled = rng.random() < 0.5
        plan.pushes += 1
        for m in itertools.islice(reversed(repo.manifests.values()), len(repo.manifests) - before):
            self._quarantine(reg, m)  # what this push added
        activity.record_push(self.events, self.tenant_id, reg, repo, digests_before, tags_before, t,
                             since=self.now - activity.HISTORY_DAYS * DAY)
        return top

    def _single(self, label, base, oci, i, t, arch, os_name) -> Manifest:
        layers = self._image_layers(label, base, oci, i, arch)
        return self.build.image(oci=oci, arch=arch, os_name=os_name, layers=layers, created=t,
                                label=f"{label}/{i}/{arch}",
                                annotations={"org.opencontainers.image.created": format_time(t)})

    def _image_layers(self, label, base, oci, i, arch) -> list[Blob]:
        layer_type = mt.OCI_LAYER if oci else mt.DOCKER_LAYER
        if base == "windows-ltsc2022":
            base_layers = [self.build.layer("base/windows-ltsc2022/amd64/0", 1_200_000_000, 1_300_000_000,
                                            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip")]
        else:
            base_layers = self.build.base_layers(base, arch, layer_type)
        deps = self.build.layer(f"{label}/deps/{i // 6}/{arch}", 2_000_000, 90_000_000, layer_type)
        app = self.build.layer(f"{label}/app/{i}/{arch}", 50_000, 25_000_000, layer_type)
        return [*base_layers, deps, app]

    def _multiarch(self, repo, label, base, oci, i, t) -> Manifest:
        archs = ARCH_SETS[1 + int(self.rng.random() < 0.3)]
        children = [self._single(label, base, oci, i, t - 20 * TICKS, a, "linux") for a in archs]
        for child in children:
            repo.add(child)
        return repo.add(self.build.index(oci=oci, children=children, created=t))

    def _mirror(self, repo, name, version, t) -> Manifest:
        # Mirrored upstream images: identical bytes in every registry that mirrors them.
        upstream = f"upstream/{name}/{version}"
        base = "alpine-3.20" if "busybox" not in name else "distroless-static"
        children = []
        for arch in ("amd64", "arm64"):
            layers = [*self.build.base_layers(base, arch, mt.OCI_LAYER),
                      self.build.layer(f"{upstream}/{arch}", 1_000_000, 60_000_000, mt.OCI_LAYER)]
            children.append(self.build.image(oci=True, arch=arch, os_name="linux", layers=layers,
                                             created=0, label=upstream))
        index = self.build.index(oci=True, children=children, created=t)
        for child in children:
            child.created = child.updated = t - 7 * TICKS
            repo.add(child)
        return repo.add(index)

    def _sign(self, repo: Repository, image: Manifest, t: int, every_kind: bool) -> None:
        """cosign tags (.sig, .att) and OCI referrers (Notary signature, SPDX SBOM); all four the first time."""
        rng = self.rng
        tag_digest = image.digest.replace(":", "-")
        if every_kind or rng.random() < 0.6:
            sig = repo.add(self.build.cosign(subject=image, attestation=False, created=t + 40 * TICKS))
            repo.tag(f"{tag_digest}.sig", sig.digest, sig.created, sig.created)
        if every_kind or rng.random() < 0.3:
            att = repo.add(self.build.cosign(subject=image, attestation=True, created=t + 50 * TICKS))
            repo.tag(f"{tag_digest}.att", att.digest, att.created, att.created)
        if every_kind or rng.random() < 0.5:
            repo.add(self.build.referrer(subject=image, artifact_type=mt.NOTARY_SIGNATURE, created=t + 60 * TICKS))
        if every_kind or rng.random() < 0.4:
            repo.add(self.build.referrer(subject=image, artifact_type=mt.SPDX_SBOM, created=t + 70 * TICKS))

    def _quarantine(self, reg: Registry, m: Manifest) -> None:
        if reg.quarantine_status != "enabled":
            return
        roll = self.rng.random()
        if roll < 0.3:
            m.quarantine_state = "Passed"
            m.quarantine_details = json.dumps({"state": "Scan Passed", "scanner": "Qualys",
                                               "link": "https://aka.ms/acr/quarantine"})
        elif roll < 0.32:
            m.quarantine_state = "Quarantined"
            m.quarantine_details = json.dumps({"state": "Scan Failed", "scanner": "Qualys"})
        m.listing = None

    @staticmethod
    def _other_resources(tenant_id, subscriptions, rng) -> list[dict]:
        rows = []
        kinds = [
            ("microsoft.storage/storageaccounts", "st{}data"),
            ("microsoft.keyvault/vaults", "kv-{}"),
            ("microsoft.network/virtualnetworks", "vnet-{}"),
        ]
        for sub_id, _ in subscriptions:
            for rtype, pattern in kinds:
                name = pattern.format(rng.randint(100, 999))
                provider, kind = rtype.split("/")
                rows.append({
                    "id": f"/subscriptions/{sub_id}/resourceGroups/rg-core/providers/{provider}/{kind}/{name}",
                    "name": name, "type": rtype, "tenantId": tenant_id, "kind": "",
                    "location": rng.choice(LOCATIONS), "resourceGroup": "rg-core", "subscriptionId": sub_id,
                    "managedBy": "", "sku": None, "plan": None, "properties": {}, "tags": {}, "identity": None,
                    "zones": None, "extendedLocation": None,
                })
        return rows


def generate(scale: str = "tiny", seed: int = 7, now: int | None = None) -> Tenant:
    """Generate the synthetic tenant for a preset (``tenant.generator`` can keep it evolving)."""
    generator = TenantGenerator(scale, seed, now)
    tenant = generator.generate()
    tenant.generator = generator
    return tenant
