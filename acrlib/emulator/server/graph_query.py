"""The emulator's Resource Graph back end of its KQL front end (:mod:`.kql`): queries over resource rows.

Supported: ``resources`` / ``resourcecontainers`` / ``securityresources`` piped into ``where`` (``==``, ``!=``,
``=~``, ``!~``, ``contains``, ``!contains``, ``startswith``, ``has``, ``in``, ``in~``, ``!in``, ``isnotempty()``,
``isempty()``, ``isnotnull()``, ``isnull()``, ``and``/``or``/``not()``), ``project`` (columns, dotted paths,
``name = expr``), ``extend``, ``order by``/``sort by`` (default descending, as in Kusto), ``limit``/``take``.
Functions: ``tostring``, ``tolower``, ``toupper``, ``toint``, ``tolong``, ``tobool``. Anything else is a
:class:`~.kql.KqlError`, which the server turns into Resource Graph's 400 ``InvalidQuery``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .kql import Dialect, KqlError, parse

RESOURCE_GRAPH = Dialect(
    name="Resource Graph",
    tables={"resources": "resources", "resourcecontainers": "resourcecontainers",
            "securityresources": "securityresources"},
    operators=frozenset({"where", "project", "extend", "order", "sort", "limit", "take"}),
    comparisons=frozenset({"==", "!=", "=~", "!~", "contains", "!contains", "startswith", "has", "in", "in~",
                           "!in"}),
    functions={name: (1,) for name in ("tostring", "tolower", "toupper", "toint", "tolong", "tobool")},
    paths=True,
)


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
        return _FUNCTIONS[node[1]](_eval(node[2][0], row))
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
        op, left, values = node[1], _eval(node[2], row), [value for _, value in node[3]]
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
    parsed = parse(query, RESOURCE_GRAPH)
    rows = list(tables.get(parsed.table, []))
    ops = [(op[0], op[1]) for op in parsed.ops]
    columns: list[str] | None = None
    limited = False
    for op, arg in ops:
        if op == "where":
            rows = [r for r in rows if _test(arg, r)]
        elif op == "project":
            named = [(name or "_".join(str(p) for p in expr[1]), expr) for name, expr in arg]  # a path alone
            rows = [{name: _eval(expr, r) for name, expr in named} for r in rows]
            columns = [name for name, _ in named]
        elif op == "extend":
            rows = [{**r, **{name: _eval(expr, r) for name, expr in arg}} for r in rows]
            if columns is not None:
                columns = columns + [n for n, _ in arg if n not in columns]
        elif op == "order":
            for expr, descending in reversed(arg):
                if descending:
                    rows.sort(key=lambda r, e=expr: (_eval(e, r) is None, _Desc(_sort_key(_eval(e, r)))))
                else:
                    rows.sort(key=lambda r, e=expr: (_eval(e, r) is None, _sort_key(_eval(e, r))))
        elif op == "take":
            limited = True
            rows = rows[:arg]
    if columns is None:
        columns = list(rows[0]) if rows else []
    return Result(rows=rows, columns=columns, truncated_by_limit=limited)
