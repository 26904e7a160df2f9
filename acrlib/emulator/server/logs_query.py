"""The emulator's Log Analytics back end of its KQL front end (:mod:`.kql`): queries compiled to polars over a
workspace's tables.

Supported: a table piped into ``where`` (``==``, ``!=``, ``=~``, ``!~``, ``in``, ``in~``, ``!in``, ``!in~``,
``startswith``, ``!startswith``, ``contains``, ``!contains``, ``has``, ``<``, ``<=``, ``>``, ``>=``,
``isempty()``, ``isnotempty()``, ``and``, ``or``, ``not()``), ``summarize`` (``count()``, ``countif()``,
``dcount()``, ``dcountif()``, ``min()``, ``max()``, ``minif()``, ``maxif()``, ``sum()``, ``sumif()``,
``make_set()``, ``make_set_if()``, ``take_any()`` ... ``by`` columns or ``name = expr``), ``project``,
``extend``, ``order by``/``sort by`` and ``take``/``limit``. Functions: ``tolower``, ``toupper``,
``tostring``, ``ago()``, ``now()``, ``datetime()``. Literals: strings, numbers, ``true``/``false``, timespans
(``90d``, ``12h``, ``30m``, ``10s``). String comparisons follow Kusto: ``=~``, ``startswith``, ``contains`` and
``has`` ignore case, ``==`` does not. Anything else raises :class:`~.kql.KqlError` worded as Log Analytics words
it (``Syntax error``/``Semantic error``), which the server answers with Log Analytics' 400
``BadArgumentError``: a query outside the subset never gets a wrong answer.
"""

from __future__ import annotations

import datetime as dt
import re

import polars as pl

from . import kql
from .kql import Dialect, KqlError

LOG_ANALYTICS = Dialect(
    name="Log Analytics",
    operators=frozenset({"where", "summarize", "project", "extend", "order", "sort", "take", "limit"}),
    comparisons=frozenset({"==", "!=", "=~", "!~", "<", "<=", ">", ">=", "startswith", "!startswith", "contains",
                           "!contains", "has", "in", "in~", "!in", "!in~"}),
    functions={"tolower": (1,), "toupper": (1,), "tostring": (1,), "ago": (1,), "now": (0,), "datetime": (1,)},
    tests=frozenset({"isempty", "isnotempty"}),
    aggregates={"count": (0,), "countif": (1,), "dcount": (1,), "dcountif": (2,), "min": (1,), "max": (1,),
                "minif": (2,), "maxif": (2,), "sum": (1,), "sumif": (2,), "make_set": (1, 2),
                "make_set_if": (2, 3), "take_any": (1,), "any": (1,)},
    timespans=True,
    bare_projection=True,
)


def parse(text: str) -> Query:
    """``text`` as a Log Analytics query (a trailing ``;`` allowed); ``KqlError`` in Log Analytics' words."""
    try:
        return Query(kql.parse(text.rstrip().rstrip(";"), LOG_ANALYTICS))
    except KqlError as e:
        if str(e).startswith(("Syntax error", "Semantic error")):
            raise
        kind = "Semantic error" if "not supported" in str(e) or "takes" in str(e) else "Syntax error"
        raise KqlError(f"{kind} at position {e.position}: {e}", e.position, e.token) from None


class Query:
    """A parsed query: ``run(tables, now)`` evaluates it."""

    def __init__(self, parsed: kql.Query):
        self.table = parsed.table
        self.ops = parsed.ops

    def filtered_rows(self, tables: dict[str, pl.DataFrame], now: dt.datetime) -> int:
        """How many rows the query's leading ``where`` filters leave: what it has to scan further."""
        if self.table not in tables:
            return 0
        df = tables[self.table]
        for op in self.ops:
            if op[0] != "where":
                break
            df = df.filter(self._pred(op[1], df, now))
        return df.height

    def run(self, tables: dict[str, pl.DataFrame], now: dt.datetime) -> pl.DataFrame:
        if self.table not in tables:
            raise KqlError(f"Semantic error: 'where' operator: Failed to resolve table or column expression named "
                           f"'{self.table}'")
        df = tables[self.table]
        for op in self.ops:
            kind = op[0]
            if kind == "where":
                df = df.filter(self._pred(op[1], df, now))
            elif kind == "summarize":
                _, aggs, keys = op
                key_exprs = [self._expr(e, df, now).alias(n or self._name(e)) for n, e in keys]
                agg_exprs = [self._agg(e, df, now).alias(n or self._name(e)) for n, e in aggs]
                df = df.group_by(key_exprs).agg(agg_exprs) if key_exprs else df.select(agg_exprs)
            elif kind == "project":
                df = df.select([self._expr(e, df, now).alias(n or self._name(e)) for n, e in op[1]])
            elif kind == "extend":
                df = df.with_columns([self._expr(e, df, now).alias(n or self._name(e)) for n, e in op[1]])
            elif kind == "take":
                df = df.head(op[1])
            elif kind == "order":
                df = df.sort([self._expr(e, df, now) for e, _ in op[1]], descending=[d for _, d in op[1]],
                             nulls_last=True)
        return df

    _name = staticmethod(kql.expression_name)

    def _column(self, name: str, df: pl.DataFrame) -> pl.Expr:
        if name not in df.columns:
            raise KqlError(f"Semantic error: Failed to resolve scalar expression named '{name}'")
        return pl.col(name)

    def _expr(self, node, df, now) -> pl.Expr:
        kind = node[0]
        if kind == "lit":
            return pl.lit(node[1])
        if kind == "span":
            return pl.lit(dt.timedelta(seconds=node[1]))
        if kind == "path":
            if len(node[1]) != 1:
                raise KqlError("Semantic error: dotted paths are not supported by the acrlib emulator")
            return self._column(node[1][0], df)
        name, args = node[1], node[2]
        if name == "now":
            return pl.lit(now)
        if name == "ago":
            if len(args) != 1 or args[0][0] != "span":
                raise KqlError("Semantic error: ago() takes one timespan")
            return pl.lit(now - dt.timedelta(seconds=args[0][1]))
        arg = self._expr(args[0], df, now).cast(pl.String)
        return {"tolower": arg.str.to_lowercase(), "toupper": arg.str.to_uppercase(), "tostring": arg}[name]

    def _text(self, node, df, now, fold: bool) -> pl.Expr:
        expr = self._expr(node, df, now)
        expr = expr.cast(pl.String) if node[0] != "lit" or isinstance(node[1], str) else expr
        return expr.str.to_lowercase() if fold else expr

    def _pred(self, node, df, now) -> pl.Expr:
        kind = node[0]
        if kind == "and":
            return self._pred(node[1], df, now) & self._pred(node[2], df, now)
        if kind == "or":
            return self._pred(node[1], df, now) | self._pred(node[2], df, now)
        if kind == "not":
            return ~self._pred(node[1], df, now)
        if kind == "test":
            value = self._expr(node[2], df, now)
            empty = value.is_null() | (value.cast(pl.String) == "")
            return empty if node[1] == "isempty" else ~empty
        if kind == "in":
            op, left, values = node[1], node[2], node[3]
            fold = op.endswith("~")
            literals = [v[1] for v in values if v[0] == "lit"]
            if len(literals) != len(values):
                raise KqlError("Semantic error: in() takes literal values only in the acrlib emulator")
            if fold:
                member = self._text(left, df, now, True).is_in([str(v).lower() for v in literals])
            else:
                member = self._expr(left, df, now).is_in(literals)
            return ~member if op.startswith("!") else member
        op, left, right = node[1], node[2], node[3]
        if op in ("==", "!=", "<", "<=", ">", ">="):
            a, b = self._expr(left, df, now), self._expr(right, df, now)
            return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
        a, b = self._text(left, df, now, True), self._text(right, df, now, True)
        if op in ("=~", "!~"):
            return (a == b) if op == "=~" else (a != b)
        if right[0] != "lit":
            raise KqlError(f"Semantic error: {op} takes a literal on its right in the acrlib emulator")
        needle = str(right[1]).lower()
        if op.endswith("startswith"):
            hit = a.str.starts_with(needle)
        elif op.endswith("contains"):
            hit = a.str.contains(needle, literal=True)
        else:  # has: a whole term
            hit = a.str.contains(rf"(?:^|[^a-z0-9]){re.escape(needle)}(?:$|[^a-z0-9])")
        return ~hit if op.startswith("!") else hit

    def _agg(self, node, df, now) -> pl.Expr:
        if node[0] != "agg":
            raise KqlError("Semantic error: summarize needs aggregation functions")
        name, args = node[1], node[2]
        if name == "count":
            return pl.len().cast(pl.Int64)
        if name == "countif":
            return self._pred(args[0], df, now).sum().cast(pl.Int64)
        value = self._expr(args[0], df, now)
        if name.endswith("if"):
            value = value.filter(self._pred(args[1], df, now))
        base = name.removesuffix("_if").removesuffix("if") if name != "make_set_if" else "make_set"
        if base in ("min", "max", "sum"):
            return getattr(value, base)()
        if base == "dcount":
            return value.drop_nulls().n_unique().cast(pl.Int64)
        if base in ("take_any", "any"):
            return value.first()
        limit_arg = args[2] if name == "make_set_if" and len(args) == 3 else (args[1] if name == "make_set"
                                                                              and len(args) == 2 else None)
        limit = int(limit_arg[1]) if limit_arg is not None else 1_048_576
        # make_set leaves out nulls and empty strings (the emulator's choice: dynamic(null) has no value)
        kept = value.filter(value.is_not_null() & (value.cast(pl.String) != ""))
        return kept.unique(maintain_order=True).head(limit)
