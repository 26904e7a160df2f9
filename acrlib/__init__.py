"""acrlib: every registry, repository, manifest and tag of a tenant's Azure Container Registries, as polars
tables, with analysis and notebook reports."""

__version__ = "0.1.0"

from .collection import collect, collect_async
from .errors import SignInRequired
from .inventory import Inventory
from .schema import TABLES

__all__ = ["TABLES", "Inventory", "SignInRequired", "__version__", "collect", "collect_async"]
