"""The analysis wing: pure functions over an :class:`~acrlib.Inventory` (or a history of them) that return
polars frames. Sizes are bytes, ages days; nothing here talks to Azure."""

from .commands import delete_script, purge_commands
from .cost import cost, savings
from .headline import headline
from .history import History, cost_over_time, growth, history, projection, tag_churn
from .posture import posture, posture_matrix
from .purge import PurgePlan, purge_plan
from .storage import duplicates, reclaimable, storage
from .summary import collection_status, summary
from .usage import in_use, unused

__all__ = [
    "History",
    "PurgePlan",
    "collection_status",
    "cost",
    "cost_over_time",
    "delete_script",
    "duplicates",
    "growth",
    "headline",
    "history",
    "in_use",
    "posture",
    "posture_matrix",
    "projection",
    "purge_commands",
    "purge_plan",
    "reclaimable",
    "savings",
    "storage",
    "summary",
    "tag_churn",
    "unused",
]
