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
from .summary import collection_status, headline, headline_table, summary

__all__ = [
    "TABLES", "Inventory", "SignInRequired", "__version__", "collect", "collect_async",
    "collection_status", "cost", "headline", "headline_table", "posture", "posture_matrix", "purge_commands",
    "purge_plan", "sources", "summary",
]
