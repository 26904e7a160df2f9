"""`Analysis`: one inventory and its purge plan, with what the report and the what-if panel compute over them,
each computed once, when first asked for.

The public functions (``summary``, ``storage``, ``reclaimable``, ``unused``, ``in_use``, ``headline``, ...) stay
pure and self-contained; several of them need the same manifest facts, and the report needs most of them
together. An ``Analysis`` is the explicit place where that shared work is kept: nothing is cached on the
inventory, and a new plan (:meth:`Analysis.with_plan`) keeps everything that does not depend on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from ..inventory import Inventory
from .cost import cost, savings
from .facts import manifest_facts
from .frames import Exposure, InUse, PerRegistry, Usage
from .posture import posture
from .risk import exposure
from .storage import reclaimable_of, storage_of
from .summary import summary_of
from .usage import in_use, unused_of


def _computed(compute: Callable[[Analysis], Any]) -> property:
    """A property computed the first time it is read and kept in the Analysis's own table of results."""
    name = compute.__name__

    def get(self: Analysis) -> Any:
        if name not in self._computed:
            self._computed[name] = compute(self)
        return self._computed[name]

    get.__name__, get.__doc__ = name, compute.__doc__
    return property(get)


# What a new plan leaves valid: computed from the inventory and the settings alone.
PLAN_FREE = ("facts", "storage", "usage", "in_use", "costs", "posture")


class Analysis:
    """``inv`` and its purge ``plan`` (or None), with the settings the report reads them with: ``rates``
    (:func:`acrlib.cost`'s keyword arguments), ``history`` (a :class:`~acrlib.History`, for the trend in the
    headline), ``activity_days`` (the pull window of :attr:`usage`, in days) and ``stale_days`` (the age, in
    days, from which :attr:`in_use` calls a running image old). Each property is computed once.

    Examples
    --------
    >>> a = acrlib.Analysis(inv, acrlib.purge_plan(inv, ago="90d"))   # doctest: +SKIP
    >>> a.headline.reclaimable_bytes, a.freed.registries               # doctest: +SKIP
    """

    def __init__(self, inv: Inventory, plan: pl.DataFrame | None = None, *, rates: dict | None = None,
                 history=None, activity_days: int = 90, stale_days: int = 90):
        self.inv = inv
        self.plan = plan
        self.rates = dict(rates or {})
        self.history = history
        self.activity_days = activity_days
        self.stale_days = stale_days
        self._computed: dict[str, Any] = {}  # what each property computed, by name

    def with_plan(self, plan: pl.DataFrame | None) -> Analysis:
        """The same analysis for another plan: what does not depend on the plan is not computed again."""
        other = Analysis(self.inv, plan, rates=self.rates, history=self.history, activity_days=self.activity_days,
                         stale_days=self.stale_days)
        other._computed = {name: value for name, value in self._computed.items() if name in PLAN_FREE}
        return other

    @_computed
    def facts(self) -> pl.DataFrame:
        """:func:`~acrlib.analysis.facts.manifest_facts` of the inventory."""
        return manifest_facts(self.inv)

    def _facts(self) -> pl.DataFrame:
        return self.facts

    @_computed
    def freed(self) -> PerRegistry | None:
        """:func:`acrlib.reclaimable` of the plan (None without one)."""
        return reclaimable_of(self.inv, self.plan, self._facts) if self.plan is not None else None

    @_computed
    def summary(self) -> PerRegistry:
        """:func:`acrlib.summary` of the inventory and the plan."""
        return summary_of(self.inv, self.plan, self.facts, self.freed)

    @_computed
    def storage(self) -> PerRegistry:
        """:func:`acrlib.storage` of the inventory."""
        return storage_of(self.inv, self._facts)

    @_computed
    def usage(self) -> Usage:
        """:func:`acrlib.unused` over ``activity_days`` (at least one day)."""
        return unused_of(self.inv, max(self.activity_days, 1), None, self._facts)

    @_computed
    def in_use(self) -> InUse:
        """:func:`acrlib.in_use`, calling images older than ``stale_days`` old."""
        return in_use(self.inv, older_than_days=self.stale_days)

    @_computed
    def costs(self) -> pl.DataFrame:
        """:func:`acrlib.cost` at ``rates``."""
        return cost(self.inv, **self.rates)

    @_computed
    def savings(self) -> pl.DataFrame | None:
        """:func:`acrlib.savings` of what the plan frees, at ``rates`` (None without a plan)."""
        return savings(self.inv, self.freed.registries, **self.rates) if self.plan is not None else None

    @_computed
    def exposure(self) -> Exposure:
        """:func:`acrlib.exposure` of the plan, pulls counted over ``activity_days`` (at least one day)."""
        return exposure(self.inv, self.plan, days=max(self.activity_days, 1))

    @_computed
    def posture(self) -> pl.DataFrame:
        """:func:`acrlib.posture` of the inventory."""
        return posture(self.inv)

    @_computed
    def headline(self):
        """:func:`acrlib.headline`: the report's first numbers, as a :class:`~acrlib.analysis.headline.Headline`."""
        from .headline import headline_of

        return headline_of(self)
