"""The analysis wing: pure functions over an :class:`~acrlib.Inventory` (or a history of them) that return
polars frames, and :class:`Analysis`, which computes what several of them share once. Sizes are bytes, ages
days; nothing here talks to Azure. The report uses only the names exported here."""

from .commands import delete_script, purge_commands
from .context import Analysis
from .cost import cost, savings
from .headline import Headline, headline
from .posture import posture, posture_matrix
from .protect import DELETING, running_deletions
from .purge import PurgePlan, check_purge_rules, describe, parse_ago, pull_protected_plan, purge_plan
from .risk import exposure
from .storage import duplicates, has_layers, reclaimable, storage
from .summary import collection_status, summary
from .trends import cost_over_time, growth, projection, tag_churn, vulnerability_trend
from .usage import in_use, pushed_never_pulled, unused

__all__ = [
    "DELETING",
    "Analysis",
    "Headline",
    "PurgePlan",
    "check_purge_rules",
    "collection_status",
    "cost",
    "cost_over_time",
    "delete_script",
    "describe",
    "duplicates",
    "exposure",
    "growth",
    "has_layers",
    "headline",
    "in_use",
    "parse_ago",
    "posture",
    "posture_matrix",
    "projection",
    "pull_protected_plan",
    "purge_commands",
    "purge_plan",
    "pushed_never_pulled",
    "reclaimable",
    "running_deletions",
    "savings",
    "storage",
    "summary",
    "tag_churn",
    "unused",
    "vulnerability_trend",
]
