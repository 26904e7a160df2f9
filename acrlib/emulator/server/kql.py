"""The emulator's one KQL (Kusto) front end: a lexer and a parser into a small syntax tree, shared by its two
back ends, Resource Graph over resource rows (:mod:`.graph_query`) and Log Analytics over polars tables
(:mod:`.logs_query`).

A :class:`Dialect` names what a back end answers: its tables, tabular operators, comparisons, functions and
aggregations, and whether dotted paths (``properties.loginServer``, ``tags['team']``) exist. The parser refuses
anything outside the dialect with :class:`KqlError`, which each server turns into its service's 400: a query
the emulator does not understand never gets a wrong answer.

The tree, as tuples:

- a query: ``Query(table, ops)``; ops ``("where", pred)``, ``("project", assignments)``,
  ``("extend", assignments)``, ``("summarize", aggregations, keys)``, ``("order", [(expr, descending)])``
  (descending by default, as in Kusto), ``("take", n)`` (``limit`` too);
- an assignment: ``(name or None, expr)``;
- an expression: ``("lit", value)``, ``("span", seconds)``, ``("path", [name, key, ...])`` (a column is a path
  of one), ``("call", function, [args])``, ``("agg", function, [args])``;
- a predicate: ``("and", p, q)``, ``("or", p, q)``, ``("not", p)``, ``("test", isempty|isnotempty|isnull|
  isnotnull, expr)``, ``("cmp", op, left, right)``, ``("in", op, left, [literal values])``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<timespan>\d+(?:\.\d+)?(?:d|h|ms|m|s)\b)
      | (?P<number>\d+(?:\.\d+)?)
      | (?P<op>==|!=|=~|!~|<=|>=|!in~|!in\b|in~|!startswith\b|!contains\b|\||,|\(|\)|\[|\]|\.|=|<|>)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
TESTS = ("isempty", "isnotempty", "isnull", "isnotnull")
IN_OPS = ("in", "in~", "!in", "!in~")


class KqlError(ValueError):
    """A query outside the emulator's subset, or malformed: ``position`` and ``token`` say where."""

    def __init__(self, message: str, position: int = 0, token: str = ""):
        super().__init__(message)
        self.position = position
        self.token = token


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    position: int


@dataclass(frozen=True)
class Dialect:
    """What a back end answers. ``tables``: the table names it knows (compared case-insensitively, mapped to
    their own spelling), or None for any (the back end resolves them). ``functions``: name -> the numbers of
    arguments it takes. ``aggregates`` likewise, for ``summarize``. ``paths``: dotted and indexed paths.
    ``timespans``: literals like ``90d``. ``bare_projection``: a ``project`` item without a name may be any
    expression (else only a path, named by its parts joined with ``_``), and ``extend`` items may lack names
    too."""

    name: str
    operators: frozenset[str]
    comparisons: frozenset[str]
    functions: dict[str, tuple[int, ...]]
    tests: frozenset[str] = frozenset(TESTS)
    tables: dict[str, str] | None = None
    aggregates: dict[str, tuple[int, ...]] = field(default_factory=dict)
    paths: bool = False
    timespans: bool = False
    bare_projection: bool = False


@dataclass(frozen=True)
class Query:
    table: str
    ops: list[tuple]


def tokenize(query: str) -> list[Token]:
    """``query`` as tokens; ``KqlError`` at the first character no token starts with."""
    tokens, pos = [], 0
    query = query.rstrip()
    while pos < len(query):
        m = _TOKEN.match(query, pos)
        if not m or m.end() == pos:
            raise KqlError(f"unexpected character {query[pos]!r}", pos, query[pos])
        kind = m.lastgroup
        tokens.append(Token(kind, m.group(kind), m.start(kind)))
        pos = m.end()
    return tokens


def unquote(text: str) -> str:
    """A string token's value: the quotes removed, backslash escapes resolved."""
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def seconds(text: str) -> float:
    """A timespan token (``90d``, ``12h``, ``30m``, ``10s``, ``5ms``) in seconds."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(d|h|ms|m|s)", text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse(query: str, dialect: Dialect) -> Query:
    """``query`` as a :class:`Query` of ``dialect``; ``KqlError`` for anything outside it."""
    return _Parser(tokenize(query), dialect).query()


def expression_name(node: tuple) -> str:
    """The column name Kusto gives an unnamed expression: a column's own name, ``<aggregation>_<column>``,
    else ``Column1``."""
    if node[0] == "path" and len(node[1]) == 1:
        return node[1][0]
    if node[0] == "agg":
        inner = node[2][0] if node[2] and node[2][0][0] == "path" else None
        return f"{node[1]}_{inner[1][0]}" if inner else f"{node[1]}_"
    return "Column1"


class _Parser:
    """Recursive descent over the tokens: ``predicate := conj ('or' conj)*``, ``conj := atom ('and' atom)*``."""

    def __init__(self, tokens: list[Token], dialect: Dialect):
        self.tokens = tokens
        self.dialect = dialect
        self.i = 0

    # --- the token stream ---

    def peek(self, offset: int = 0) -> Token | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def take(self, text: str | None = None, kind: str | None = None) -> Token:
        tok = self.peek()
        if tok is None:
            raise KqlError(f"unexpected end of query, expected {text or kind}", -1, "<EOF>")
        if (text is not None and tok.text != text) or (kind is not None and tok.kind != kind):
            raise KqlError(f"expected {text or kind} but found {tok.text!r}", tok.position, tok.text)
        self.i += 1
        return tok

    def accept(self, text: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.text == text:
            self.i += 1
            return True
        return False

    def refuse(self, what: str, tok: Token | None) -> KqlError:
        return KqlError(f"{what} is not supported by the acrlib emulator's {self.dialect.name}",
                        tok.position if tok else -1, tok.text if tok else "<EOF>")

    # --- the query ---

    def query(self) -> Query:
        source = self.take(kind="ident")
        table = source.text
        if self.dialect.tables is not None:
            table = self.dialect.tables.get(source.text.lower())
            if table is None:
                raise KqlError(f"unknown table {source.text!r}", source.position, source.text)
        ops = []
        while self.accept("|"):
            word = self.take(kind="ident")
            if word.text not in self.dialect.operators:
                raise self.refuse(f"the operator {word.text!r}", word)
            ops.append(self.operator(word.text))
        tok = self.peek()
        if tok is not None:
            raise KqlError(f"unexpected {tok.text!r}", tok.position, tok.text)
        return Query(table, ops)

    def operator(self, word: str) -> tuple:
        if word == "where":
            return ("where", self.predicate())
        if word == "project":
            return ("project", self.assignments(self.expression, bare=self.dialect.bare_projection or "path"))
        if word == "extend":
            return ("extend", self.assignments(self.expression, bare=self.dialect.bare_projection))
        if word == "summarize":
            aggregations = self.assignments(self.aggregation, bare=True, stop="by")
            keys = self.assignments(self.expression, bare=True) if self.accept("by") else []
            return ("summarize", aggregations, keys)
        if word in ("order", "sort"):
            self.take("by")
            keys = []
            while True:
                expr = self.expression()
                descending = True
                tok = self.peek()
                if tok is not None and tok.text in ("asc", "desc"):
                    descending = self.take().text == "desc"
                keys.append((expr, descending))
                if not self.accept(","):
                    return ("order", keys)
        if word in ("take", "limit"):
            return ("take", int(self.take(kind="number").text))
        raise self.refuse(f"the operator {word!r}", self.peek())

    def assignments(self, item, *, bare, stop: str | None = None) -> list[tuple[str | None, tuple]]:
        """``name = item`` or, where ``bare`` allows, ``item`` alone (``bare="path"``: a path alone); an item
        alone has the name None (each back end names it as its service does)."""
        out = []
        while True:
            tok = self.peek()
            if self.peek(1) is not None and self.peek(1).text == "=" and tok.kind == "ident":
                name = self.take().text
                self.take("=")
                out.append((name, item()))
            elif bare == "path":
                expr = item()
                if expr[0] != "path":
                    raise KqlError("a computed column needs a name", tok.position, tok.text)
                out.append((None, expr))
            elif bare:
                out.append((None, item()))
            else:
                raise KqlError("extend needs name = expression", tok.position if tok else -1,
                               tok.text if tok else "<EOF>")
            if not self.accept(","):
                return out
            if stop and self.peek() is not None and self.peek().text == stop:
                return out

    # --- predicates ---

    def predicate(self):
        node = self.conjunction()
        while self.accept("or"):
            node = ("or", node, self.conjunction())
        return node

    def conjunction(self):
        node = self.atom()
        while self.accept("and"):
            node = ("and", node, self.atom())
        return node

    def atom(self):
        if self.accept("("):
            node = self.predicate()
            self.take(")")
            return node
        tok = self.peek()
        following = self.peek(1)
        if tok is not None and tok.text == "not" and following is not None and following.text == "(":
            self.take()
            self.take("(")
            node = self.predicate()
            self.take(")")
            return ("not", node)
        if tok is not None and tok.text in TESTS and following is not None and following.text == "(":
            if tok.text not in self.dialect.tests:
                raise self.refuse(f"the function {tok.text!r}", tok)
            self.take()
            self.take("(")
            arg = self.expression()
            self.take(")")
            return ("test", tok.text, arg)
        left = self.expression()
        op = self.take()
        if op.text not in self.dialect.comparisons:
            raise self.refuse(f"the operator {op.text!r}", op)
        if op.text in IN_OPS:
            self.take("(")
            values = [self.expression()]
            while self.accept(","):
                values.append(self.expression())
            self.take(")")
            if any(v[0] != "lit" for v in values):
                raise self.refuse("in() with other than literal values", op)
            return ("in", op.text, left, values)
        return ("cmp", op.text, left, self.expression())

    # --- expressions ---

    def expression(self):
        tok = self.take()
        if tok.kind == "string":
            return ("lit", unquote(tok.text))
        if tok.kind == "number":
            return ("lit", float(tok.text) if "." in tok.text else int(tok.text))
        if tok.kind == "timespan":
            if not self.dialect.timespans:
                raise self.refuse(f"the timespan {tok.text!r}", tok)
            return ("span", seconds(tok.text))
        if tok.kind != "ident":
            raise KqlError(f"unexpected {tok.text!r}", tok.position, tok.text)
        if tok.text in ("true", "false"):
            return ("lit", tok.text == "true")
        if self.peek() is not None and self.peek().text == "(":
            return self.call(tok)
        return self.path(tok)

    def call(self, name: Token) -> tuple:
        self.take("(")
        if name.text == "datetime" and "datetime" in self.dialect.functions:
            raw = []
            while not self.accept(")"):
                raw.append(self.take().text)
            try:
                return ("lit", dt.datetime.fromisoformat("".join(raw).replace("Z", "+00:00")))
            except ValueError:
                raise KqlError(f"invalid datetime {''.join(raw)!r}", name.position, name.text) from None
        arities = self.dialect.functions.get(name.text)
        if arities is None:
            raise self.refuse(f"the function {name.text!r}", name)
        args = self.arguments(lambda _index: self.expression())
        if len(args) not in arities:
            raise KqlError(f"{name.text}() takes {' or '.join(map(str, arities))} arguments", name.position,
                           name.text)
        return ("call", name.text, args)

    def arguments(self, item) -> list:
        """The arguments after ``(`` up to and including ``)``; ``item(index)`` parses each."""
        args: list = []
        if self.accept(")"):
            return args
        while True:
            args.append(item(len(args)))
            if not self.accept(","):
                break
        self.take(")")
        return args

    def path(self, name: Token) -> tuple:
        parts: list = [name.text]
        while self.dialect.paths:
            if self.accept("."):
                parts.append(self.take(kind="ident").text)
            elif self.accept("["):
                key = self.take()
                if key.kind == "string":
                    parts.append(unquote(key.text))
                elif key.kind == "number":
                    parts.append(int(key.text))
                else:
                    raise KqlError("expected an index", key.position, key.text)
                self.take("]")
            else:
                break
        return ("path", parts)

    def aggregation(self) -> tuple:
        name = self.take(kind="ident")
        arities = self.dialect.aggregates.get(name.text)
        if arities is None:
            raise self.refuse(f"the aggregation {name.text!r}", name)
        self.take("(")

        def argument(index: int):  # the condition of countif(p), sumif(x, p), make_set_if(x, p, n)
            conditional = (name.text == "countif" and index == 0) or (name.text.endswith("if") and index == 1)
            return self.predicate() if conditional else self.expression()

        args = self.arguments(argument)
        if len(args) not in arities:
            raise KqlError(f"{name.text}() takes {' or '.join(map(str, arities))} arguments", name.position,
                           name.text)
        return ("agg", name.text, args)
