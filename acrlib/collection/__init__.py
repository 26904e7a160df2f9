"""The collection wing: everything that talks to Azure (Resource Graph, ARM and every registry's data plane)
and turns its answers into typed tables. ``collect`` is the one entry point; ``options`` checks its
arguments without a request."""

from .options import Options, options
from .tenant import collect, collect_async

__all__ = ["Options", "collect", "collect_async", "options"]
