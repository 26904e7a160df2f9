"""Report tables: frames shown as plain HTML tables in notebooks and exported reports."""

from __future__ import annotations

import datetime as dt
import html

import polars as pl

from ..analysis.summary import headline
from ..inventory import Inventory


class Table:
    """A frame shown as a plain HTML table in notebooks and exported reports: no dtypes, no quotes, numbers
    with thousands separators, at most ``max_rows`` rows (the rest counted), or a sentence when empty."""

    def __init__(self, df: pl.DataFrame, max_rows: int = 50, empty: str = "Nothing to show."):
        self.df = df
        self.max_rows = max_rows
        self.empty = empty

    @staticmethod
    def _cell(value) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, int):
            return f"{value:,}"
        if isinstance(value, float):
            return f"{value:,.2f}"
        if isinstance(value, dt.datetime):
            return f"{value:%Y-%m-%d %H:%M}"
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        return str(value)

    def _repr_html_(self) -> str:
        if self.df.height == 0:
            return f"<p><em>{html.escape(self.empty)}</em></p>"
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.df.columns)
        rows = []
        for row in self.df.head(self.max_rows).iter_rows():
            cells = []
            for v in row:
                align = "right" if isinstance(v, (int, float)) and not isinstance(v, bool) else "left"
                cells.append(f'<td style="text-align:{align}">{html.escape(self._cell(v))}</td>')
            rows.append(f"<tr>{''.join(cells)}</tr>")
        more = self.df.height - self.max_rows
        tail = f"<p><em>{more:,} more rows not shown.</em></p>" if more > 0 else ""
        return f'<table class="acrlib-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>{tail}'

    def __repr__(self) -> str:
        return repr(self.df) if self.df.height else self.empty


def table(df: pl.DataFrame, max_rows: int = 50, empty: str = "Nothing to show.") -> Table:
    return Table(df, max_rows, empty)


def headline_table(inv: Inventory, plan: pl.DataFrame | None = None) -> pl.DataFrame:
    """:func:`headline` as a two-column table for reports (bytes shown in GiB)."""
    rows = []
    for name, value in headline(inv, plan).items():
        if name.endswith("bytes"):
            rows.append((name.replace("_bytes", "").replace("_", " ") + " (GiB)", f"{value / (1 << 30):,.1f}"))
        else:
            rows.append((name.replace("_", " "), f"{value:,}"))
    return pl.DataFrame(rows, schema={"measure": pl.String, "value": pl.String}, orient="row")
