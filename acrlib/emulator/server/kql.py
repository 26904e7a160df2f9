"""The subset of KQL (Kusto) the emulator's Resource Graph answers.

Supported: ``resources`` / ``resourcecontainers`` piped into ``where`` (``==``, ``!=``, ``=~``, ``!~``,
``contains``, ``!contains``, ``startswith``, ``has``, ``in``, ``in~``, ``!in``, ``isnotempty()``,
``isempty()``, ``isnotnull()``, ``isnull()``, ``and``/``or``/``not()``), ``project`` (columns, dotted paths,
``name = expr``), ``extend``, ``order by``/``sort by`` (default descending, as in Kusto), ``limit``/``take``.
Functions: ``tostring``, ``tolower``, ``toupper``, ``toint``, ``tolong``, ``tobool``.
Anything else raises :class:`KqlError`, which the server turns into Resource Graph's 400 ``InvalidQuery``,
so a query the emulator does not understand never gets a wrong answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

TABLES = {"resources": "resources", "resourcecontainers": "resourcecontainers"}

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<number>\d+)
      | (?P<op>==|!=|=~|!~|!contains\b|!in\b|in~|\||,|\(|\)|\[|\]|\.|=)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)


class KqlError(ValueError):
    def __init__(self, message: str, position: int = 0, token: str = ""):
        super().__init__(message)
        self.position = position
        self.token = token


@dataclass
class Token:
    kind: str
    text: str
    position: int


def tokenize(query: str, pattern: re.Pattern = _TOKEN) -> list[Token]:
    """``query`` as tokens of ``pattern``'s named groups (Log Analytics' subset has a pattern of its own)."""
    tokens, pos = [], 0
    query = query.rstrip()
    while pos < len(query):
        m = pattern.match(query, pos)
        if not m or m.end() == pos:
            raise KqlError(f"unexpected character {query[pos]!r}", pos, query[pos])
        kind = m.lastgroup
        text = m.group(kind)
        tokens.append(Token(kind, text, m.start(kind)))
        pos = m.end()
    return tokens


def unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


class Parser:
    """What both KQL subsets share (this one and Log Analytics' in ``logs_kql``): a token stream and the boolean
    grammar, ``predicate := conj ('or' conj)*``, ``conj := atom ('and' atom)*``; subclasses parse atoms."""

    def __init__(self, tokens: list[Token]):
        self.tokens = tokens
        self.i = 0

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
        raise NotImplementedError


class _Parser(Parser):
    def __init__(self, query: str):
        super().__init__(tokenize(query))

    def parse(self) -> tuple[str, list]:
        source = self.take(kind="ident")
        table = TABLES.get(source.text.lower())
        if table is None:
            raise KqlError(f"unknown table {source.text!r}", source.position, source.text)
        ops = []
        while self.accept("|"):
            word = self.take(kind="ident")
            if word.text == "where":
                ops.append(("where", self.predicate()))
            elif word.text == "project":
                ops.append(("project", self.assignments(allow_bare=True)))
            elif word.text == "extend":
                ops.append(("extend", self.assignments(allow_bare=False)))
            elif word.text in ("order", "sort"):
                self.take("by")
                keys = []
                while True:
                    expr = self.expr()
                    direction = "desc"
                    tok = self.peek()
                    if tok is not None and tok.text in ("asc", "desc"):
                        direction = self.take().text
                    keys.append((expr, direction))
                    if not self.accept(","):
                        break
                ops.append(("order", keys))
            elif word.text in ("limit", "take"):
                ops.append(("limit", int(self.take(kind="number").text)))
            else:
                raise KqlError(f"operator {word.text!r} is not supported by the emulator", word.position, word.text)
        tok = self.peek()
        if tok is not None:
            raise KqlError(f"unexpected {tok.text!r}", tok.position, tok.text)
        return table, ops

    def assignments(self, allow_bare: bool) -> list[tuple[str, Any]]:
        out = []
        while True:
            if self.peek(1) is not None and self.peek(1).text == "=" and self.peek().kind == "ident":
                name = self.take().text
                self.take("=")
                out.append((name, self.expr()))
            elif allow_bare:
                expr = self.expr()
                if expr[0] != "path":
                    raise KqlError("a computed column needs a name", self.peek().position if self.peek() else -1)
                out.append(("_".join(str(p) for p in expr[1]), expr))
            else:
                tok = self.peek()
                raise KqlError("extend needs name = expression", tok.position if tok else -1, tok.text if tok else "")
            if not self.accept(","):
                return out

    def atom(self):
        if self.accept("("):
            node = self.predicate()
            self.take(")")
            return node
        tok = self.peek()
        if tok is not None and tok.text == "not" and self.peek(1) is not None and self.peek(1).text == "(":
            self.take("not")
            self.take("(")
            node = self.predicate()
            self.take(")")
            return ("not", node)
        if tok is not None and tok.text in ("isnotempty", "isempty", "isnotnull", "isnull"):
            self.take()
            self.take("(")
            arg = self.expr()
            self.take(")")
            return ("test", tok.text, arg)
        left = self.expr()
        op = self.take()
        if op.text in ("==", "!=", "=~", "!~", "contains", "!contains", "startswith", "has"):
            return ("cmp", op.text, left, self.expr())
        if op.text in ("in", "in~", "!in"):
            self.take("(")
            values = [self.literal()]
            while self.accept(","):
                values.append(self.literal())
            self.take(")")
            return ("in", op.text, left, values)
        raise KqlError(f"unsupported operator {op.text!r}", op.position, op.text)

    def literal(self):
        tok = self.take()
        if tok.kind == "string":
            return unquote(tok.text)
        if tok.kind == "number":
            return int(tok.text)
        if tok.text in ("true", "false"):
            return tok.text == "true"
        raise KqlError(f"expected a literal but found {tok.text!r}", tok.position, tok.text)

    def expr(self):
        tok = self.peek()
        if tok is None:
            raise KqlError("unexpected end of query", -1, "<EOF>")
        if tok.kind in ("string", "number") or tok.text in ("true", "false"):
            return ("lit", self.literal())
        name = self.take(kind="ident")
        if self.peek() is not None and self.peek().text == "(":
            if name.text not in _FUNCTIONS:
                raise KqlError(f"function {name.text!r} is not supported by the emulator", name.position, name.text)
            self.take("(")
            arg = self.expr()
            self.take(")")
            return ("call", name.text, arg)
        path: list = [name.text]
        while True:
            if self.accept("."):
                path.append(self.take(kind="ident").text)
            elif self.accept("["):
                key = self.take()
                if key.kind == "string":
                    path.append(unquote(key.text))
                elif key.kind == "number":
                    path.append(int(key.text))
                else:
                    raise KqlError("expected an index", key.position, key.text)
                self.take("]")
            else:
                return ("path", path)


def _to_string(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        import json

        return json.dumps(v, separators=(",", ":"))
    return str(v)


def _to_int(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _to_bool(v):
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    return None


_FUNCTIONS = {
    "tostring": _to_string,
    "tolower": lambda v: _to_string(v).lower(),
    "toupper": lambda v: _to_string(v).upper(),
    "toint": _to_int,
    "tolong": _to_int,
    "tobool": _to_bool,
}


def _eval(node, row):
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "call":
        return _FUNCTIONS[node[1]](_eval(node[2], row))
    value: Any = row
    for i, part in enumerate(node[1]):
        if isinstance(value, dict):
            # Column names are case-sensitive in Kusto; property bags are too.
            value = value.get(part) if i else row.get(part)
        elif isinstance(value, list) and isinstance(part, int):
            value = value[part] if -len(value) <= part < len(value) else None
        else:
            return None
    return value


def _test(node, row) -> bool:
    kind = node[0]
    if kind == "and":
        return _test(node[1], row) and _test(node[2], row)
    if kind == "or":
        return _test(node[1], row) or _test(node[2], row)
    if kind == "not":
        return not _test(node[1], row)
    if kind == "test":
        v = _eval(node[2], row)
        empty = v is None or v == ""
        return {"isnotempty": not empty, "isempty": empty, "isnotnull": v is not None, "isnull": v is None}[node[1]]
    if kind == "cmp":
        op, left, right = node[1], _eval(node[2], row), _eval(node[3], row)
        if op in ("==", "!="):
            equal = left == right if not isinstance(left, str) else left == _to_string(right)
            return equal if op == "==" else not equal
        ls, rs = _to_string(left).lower(), _to_string(right).lower()
        if op == "=~":
            return ls == rs
        if op == "!~":
            return ls != rs
        if op == "contains":
            return rs in ls
        if op == "!contains":
            return rs not in ls
        if op == "startswith":
            return ls.startswith(rs)
        if op == "has":
            return re.search(rf"(?<![a-z0-9]){re.escape(rs)}(?![a-z0-9])", ls) is not None
    if kind == "in":
        op, left, values = node[1], _eval(node[2], row), node[3]
        if op == "in~":
            return _to_string(left).lower() in {_to_string(v).lower() for v in values}
        inside = left in values
        return inside if op == "in" else not inside
    raise KqlError(f"cannot evaluate {kind}")


class _Desc:
    """Inverts ordering for descending keys while keeping nulls last."""

    __slots__ = ("v",)

    def __init__(self, v):
        self.v = v

    def __lt__(self, other):
        return other.v < self.v


def _sort_key(value):
    if value is None:
        return (1, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value)
    return (0, _to_string(value))


@dataclass
class Result:
    rows: list[dict]
    columns: list[str]
    truncated_by_limit: bool


def run(query: str, tables: dict[str, list[dict]]) -> Result:
    """Evaluate ``query`` over ``tables`` (table name -> rows)."""
    table, ops = _Parser(query).parse()
    rows = list(tables[table])
    columns: list[str] | None = None
    limited = False
    for op, arg in ops:
        if op == "where":
            rows = [r for r in rows if _test(arg, r)]
        elif op == "project":
            rows = [{name: _eval(expr, r) for name, expr in arg} for r in rows]
            columns = [name for name, _ in arg]
        elif op == "extend":
            rows = [{**r, **{name: _eval(expr, r) for name, expr in arg}} for r in rows]
            if columns is not None:
                columns = columns + [n for n, _ in arg if n not in columns]
        elif op == "order":
            for expr, direction in reversed(arg):
                if direction == "desc":
                    rows.sort(key=lambda r, e=expr: (_eval(e, r) is None, _Desc(_sort_key(_eval(e, r)))))
                else:
                    rows.sort(key=lambda r, e=expr: (_eval(e, r) is None, _sort_key(_eval(e, r))))
        elif op == "limit":
            limited = True
            rows = rows[:arg]
    if columns is None:
        columns = list(rows[0]) if rows else []
    return Result(rows=rows, columns=columns, truncated_by_limit=limited)
