"""acrlib: every registry, repository, manifest and tag of a tenant's Azure Container Registries, as polars
tables, with analysis and notebook reports.

Where things are: the core (``schema``, ``inventory``, ``errors``, ``clouds``), the storage layer
(``snapshots``, ``locations``, ``history``), and three wings that use them: ``collection`` (talks to Azure),
``analysis`` (pure functions over an Inventory) and ``report`` (charts, tables, running notebooks); ``sources``
and ``cli`` are the glue on top. ``emulator`` stands apart, for tests and demos.
"""

from . import sources
from ._version import __version__
from .analysis import (
    Analysis,
    Headline,
    PurgePlan,
    collection_status,
    cost,
    cost_over_time,
    delete_script,
    duplicates,
    exposure,
    growth,
    headline,
    in_use,
    posture,
    posture_matrix,
    projection,
    purge_commands,
    purge_plan,
    reclaimable,
    savings,
    storage,
    summary,
    tag_churn,
    unused,
    vulnerability_trend,
)
from .cleanup import Applied, apply
from .collection import collect, collect_async
from .errors import (
    AcrlibError,
    ArmError,
    BlobStorageError,
    RegistryError,
    ReportError,
    RequestFailed,
    SignInRequired,
    SnapshotError,
    TokenError,
)
from .history import History, history
from .inventory import Inventory
from .report.tables import headline_table
from .schema import TABLES

__all__ = [
    "TABLES",
    "AcrlibError",
    "Analysis",
    "Applied",
    "ArmError",
    "BlobStorageError",
    "Headline",
    "History",
    "Inventory",
    "PurgePlan",
    "RegistryError",
    "ReportError",
    "RequestFailed",
    "SignInRequired",
    "SnapshotError",
    "TokenError",
    "__version__",
    "apply",
    "collect",
    "collect_async",
    "collection_status",
    "cost",
    "cost_over_time",
    "delete_script",
    "duplicates",
    "exposure",
    "growth",
    "headline",
    "headline_table",
    "history",
    "in_use",
    "posture",
    "posture_matrix",
    "projection",
    "purge_commands",
    "purge_plan",
    "reclaimable",
    "savings",
    "sources",
    "storage",
    "summary",
    "tag_churn",
    "unused",
    "vulnerability_trend",
]
