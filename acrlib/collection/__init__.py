"""The collection wing: everything that talks to Azure (Resource Graph, ARM and every registry's data plane)
and turns its answers into typed tables. ``collect`` is the one entry point; :class:`Options` holds its
settings and their defaults, and checks them without a request."""

from .options import Options
from .tenant import collect, collect_async

__all__ = ["Options", "collect", "collect_async"]
