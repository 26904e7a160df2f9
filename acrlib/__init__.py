"""acrlib: every registry, repository, manifest and tag of a tenant's Azure Container Registries, as polars
tables, with analysis and notebook reports."""

__version__ = "0.1.0"

from . import sources
from .collection import collect, collect_async
from .cost import cost
from .errors import SignInRequired
from .inventory import Inventory
from .posture import posture, posture_matrix
from .purge import purge_commands, purge_plan
from .schema import TABLES
from .stored_bytes import duplicates, reclaimable, storage
from .summary import collection_status, headline, headline_table, summary
from .trends import History, cost_over_time, growth, history, projection, tag_churn

__all__ = [
    "TABLES", "History", "Inventory", "SignInRequired", "__version__", "collect", "collect_async",
    "collection_status", "cost", "cost_over_time", "duplicates", "growth", "headline", "headline_table", "history",
    "posture", "posture_matrix", "projection", "purge_commands", "purge_plan", "reclaimable", "sources", "storage",
    "summary", "tag_churn",
]
