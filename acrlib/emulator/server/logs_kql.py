"""The subset of KQL the emulator's Log Analytics answers, compiled to polars over a table's frame.

Supported: a table piped into ``where`` (``==``, ``!=``, ``=~``, ``!~``, ``in``, ``in~``, ``!in``, ``!in~``,
``startswith``, ``!startswith``, ``contains``, ``!contains``, ``has``, ``<``, ``<=``, ``>``, ``>=``,
``isempty()``, ``isnotempty()``, ``and``, ``or``, ``not()``), ``summarize`` (``count()``, ``countif()``,
``dcount()``, ``dcountif()``, ``min()``, ``max()``, ``minif()``, ``maxif()``, ``sum()``, ``sumif()``,
``make_set()``, ``make_set_if()``, ``take_any()`` ... ``by`` columns or ``name = expr``), ``project``,
``extend``, ``order by``/``sort by`` and ``take``/``limit``. Functions: ``tolower``, ``toupper``,
``tostring``, ``ago()``, ``now()``, ``datetime()``. Literals: strings, numbers, ``true``/``false``, timespans
(``90d``, ``12h``, ``30m``, ``10s``). String comparisons follow Kusto: ``=~``, ``startswith``, ``contains`` and
``has`` ignore case, ``==`` does not. Anything else raises :class:`KqlError`, which the server answers with
Log Analytics' 400 ``BadArgumentError``: a query outside the subset never gets a wrong answer. The token stream
and the boolean grammar are ``kql.Parser``'s, shared with the Resource Graph subset.
"""

from __future__ import annotations

import datetime as dt
import re

import polars as pl

from . import kql
from .kql import KqlError, Parser, Token

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<timespan>\d+(?:\.\d+)?(?:d|h|ms|m|s)\b)
      | (?P<number>\d+(?:\.\d+)?)
      | (?P<op>==|!=|=~|!~|<=|>=|!in~|!in\b|in~|!startswith\b|!contains\b|\||,|\(|\)|=|<|>)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
COMPARISONS = {"==", "!=", "=~", "!~", "<", "<=", ">", ">=", "startswith", "!startswith", "contains", "!contains",
               "has", "in", "in~", "!in", "!in~"}


# Aggregation -> the number of arguments it takes.
AGGREGATES = {"count": 0, "countif": 1, "dcount": 1, "dcountif": 2, "min": 1, "max": 1, "minif": 2, "maxif": 2,
              "sum": 1, "sumif": 2, "make_set": (1, 2), "make_set_if": (2, 3), "take_any": 1, "any": 1}


def tokenize(query: str) -> list[Token]:
    try:
        return kql.tokenize(query.rstrip().rstrip(";"), _TOKEN)
    except KqlError as e:  # in Log Analytics' words
        raise KqlError(f"Syntax error at position {e.position}: unexpected {e.token!r}") from None


def _seconds(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(d|h|ms|m|s)", text)
    return float(m.group(1)) * _UNITS[m.group(2)]


class Query(Parser):
    """A parsed query: ``run(tables, now)`` evaluates it."""

    def __init__(self, text: str):
        super().__init__(tokenize(text))
        self.table = self.take(kind="ident").text
        self.ops: list[tuple] = []
        while self.accept("|"):
            word = self.take(kind="ident")
            if word.text == "where":
                self.ops.append(("where", self.predicate()))
            elif word.text == "summarize":
                aggs = self.assignments(self.aggregate, stop="by")
                keys = self.assignments(self.expression) if self.accept("by") else []
                self.ops.append(("summarize", aggs, keys))
            elif word.text == "project":
                self.ops.append(("project", self.assignments(self.expression)))
            elif word.text == "extend":
                self.ops.append(("extend", self.assignments(self.expression)))
            elif word.text in ("take", "limit"):
                self.ops.append(("take", int(self.take(kind="number").text)))
            elif word.text in ("order", "sort"):
                self.take(text="by")
                keys = []
                while True:
                    expr = self.expression()
                    direction = "desc"
                    if self.peek() and self.peek().text in ("asc", "desc"):
                        direction = self.take().text
                    keys.append((expr, direction == "desc"))
                    if not self.accept(","):
                        break
                self.ops.append(("order", keys))
            else:
                raise KqlError(f"Syntax error: the operator {word.text!r} is not supported by the acrlib emulator")
        if self.peek() is not None:
            raise KqlError(f"Syntax error at position {self.peek().position}: unexpected {self.peek().text!r}")

    # --- grammar ---

    def assignments(self, item, stop: str | None = None) -> list[tuple[str | None, tuple]]:
        out = []
        while True:
            if self.peek(1) is not None and self.peek(1).text == "=" and self.peek().kind == "ident":
                name = self.take().text
                self.take(text="=")
                out.append((name, item()))
            else:
                out.append((None, item()))
            if not self.accept(","):
                return out
            if stop and self.peek() is not None and self.peek().text == stop:
                return out

    def atom(self):
        if self.accept("("):
            node = self.predicate()
            self.take(text=")")
            return node
        tok = self.peek()
        if tok is not None and tok.text == "not" and self.peek(1) is not None and self.peek(1).text == "(":
            self.take()
            self.take(text="(")
            node = self.predicate()
            self.take(text=")")
            return ("not", node)
        if tok is not None and tok.text in ("isempty", "isnotempty"):
            self.take()
            self.take(text="(")
            arg = self.expression()
            self.take(text=")")
            return (tok.text, arg)
        left = self.expression()
        op = self.take()
        if op.text not in COMPARISONS:
            raise KqlError(f"Syntax error: the operator {op.text!r} is not supported by the acrlib emulator")
        if op.text in ("in", "in~", "!in", "!in~"):
            self.take(text="(")
            values = [self.expression()]
            while self.accept(","):
                values.append(self.expression())
            self.take(text=")")
            return ("in", op.text, left, values)
        return ("cmp", op.text, left, self.expression())

    def expression(self):
        tok = self.take()
        if tok.kind == "string":
            return ("lit", kql.unquote(tok.text))
        if tok.kind == "number":
            return ("lit", float(tok.text) if "." in tok.text else int(tok.text))
        if tok.kind == "timespan":
            return ("span", _seconds(tok.text))
        if tok.kind != "ident":
            raise KqlError(f"Syntax error: unexpected {tok.text!r}")
        if tok.text in ("true", "false"):
            return ("lit", tok.text == "true")
        if self.accept("("):
            if tok.text == "datetime":
                raw = []
                while not self.accept(")"):
                    raw.append(self.take().text)
                return ("lit", dt.datetime.fromisoformat("".join(raw).replace("Z", "+00:00")))
            args = [] if self.accept(")") else self._arguments()
            if tok.text not in ("tolower", "toupper", "tostring", "ago", "now"):
                raise KqlError(f"Semantic error: the function {tok.text!r} is not supported by the acrlib emulator")
            return ("call", tok.text, args)
        return ("col", tok.text)

    def _arguments(self) -> list:
        args = [self.expression()]
        while self.accept(","):
            args.append(self.expression())
        self.take(text=")")
        return args

    def aggregate(self):
        name = self.take(kind="ident").text
        if name not in AGGREGATES:
            raise KqlError(f"Semantic error: the aggregation {name!r} is not supported by the acrlib emulator")
        self.take(text="(")
        args: list = []
        if not self.accept(")"):
            while True:
                args.append(self.predicate() if self._is_predicate_arg(name, len(args)) else self.expression())
                if not self.accept(","):
                    break
            self.take(text=")")
        arity = AGGREGATES[name]
        allowed = arity if isinstance(arity, tuple) else (arity,)
        if len(args) not in allowed:
            raise KqlError(f"Semantic error: {name}() takes {' or '.join(map(str, allowed))} arguments")
        return ("agg", name, args)

    @staticmethod
    def _is_predicate_arg(name: str, index: int) -> bool:
        return (name == "countif" and index == 0) or (name in ("dcountif", "minif", "maxif", "sumif", "make_set_if")
                                                       and index == 1)

    # --- evaluation ---

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

    @staticmethod
    def _name(node) -> str:
        if node[0] == "col":
            return node[1]
        if node[0] == "agg":
            inner = node[2][0] if node[2] and node[2][0][0] == "col" else None
            return f"{node[1]}_{inner[1]}" if inner else f"{node[1]}_"
        return "Column1"

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
        if kind == "col":
            return self._column(node[1], df)
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
        if kind in ("isempty", "isnotempty"):
            value = self._expr(node[1], df, now)
            empty = value.is_null() | (value.cast(pl.String) == "")
            return empty if kind == "isempty" else ~empty
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


def parse(query: str) -> Query:
    return Query(query)
