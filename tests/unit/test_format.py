"""How reports show numbers: sizes in GiB or TiB, counts with separators, money with its currency, and
readable labels; raw units stay in the frames."""

from __future__ import annotations

import re

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from acrlib.report import format as fmt
from acrlib.report.tables import Table

UNITS = {"TiB": fmt.TIB, "GiB": fmt.GIB, "MiB": fmt.MIB, "KiB": fmt.KIB, "bytes": 1}


@given(st.integers(min_value=-(1 << 62), max_value=1 << 62))
def test_a_size_reads_back_within_its_rounding(value):
    text = fmt.size(value)
    number, unit = re.fullmatch(r"(-?[\d,]+(?:\.\d\d)?) (TiB|GiB|MiB|KiB|bytes)", text).groups()
    scale = UNITS[unit]
    assert abs(float(number.replace(",", "")) * scale - value) <= 0.005 * scale + 1e-9 * abs(value)
    assert unit == "bytes" or abs(value) >= scale, "never 0.xx of a unit: the next unit down is used"
    assert abs(value) < 1024 * scale or unit == "TiB"


def test_examples():
    assert fmt.size(46_292_960_644) == "43.11 GiB"
    assert fmt.size(3 << 40) == "3.00 TiB" and fmt.size(512) == "512 bytes" and fmt.size(None) == ""
    assert fmt.size(5 << 30, signed=True) == "+5.00 GiB"
    assert fmt.money(1234.5) == "$1,234.50" and fmt.money(-2, "EUR") == "-€2.00" and fmt.money(3, "CHF") == "3.00 CHF"
    assert fmt.days(1) == "1 day" and fmt.days(12.25) == "12.2 days" and fmt.days(float("nan")) == ""
    assert fmt.share(0.1786) == "17.9%" and fmt.count(4_294_967_295) == "4,294,967,295"


def test_a_columns_kind_and_label_come_from_its_name():
    assert [fmt.kind(c) for c in ("billed_bytes", "overage_gib", "base_monthly", "monthly_savings",
                                  "days_until_full", "reclaimable_share", "bytes_per_day", "tags")] == [
        "bytes", "gib", "money", "money", "days", "share", "rate", "plain"]
    assert fmt.label("stale_tags") == "stale tags" and fmt.label("reclaimable_bytes") == "reclaimable"
    assert fmt.label("unknown_bytes") == "unknown"


def test_a_table_formats_each_column_and_adds_a_total():
    frame = pl.DataFrame({"registry": ["a<b>", "c"], "billed_bytes": [46_292_960_644, 1 << 40],
                          "monthly": [1.5, 2.25], "tags": [1_000, 2], "bytes_per_day": [150_961_503.01, None]})
    html = Table(frame, total=True)._repr_html_()
    assert "<th>billed</th>" in html and "<th>per month</th>" in html and "<th>growth per day</th>" in html
    assert "43.11 GiB" in html and "1.00 TiB" in html and "143.97 MiB/day" in html
    assert "$1.50" in html and "<b>$3.75</b>" in html and "<b>1.04 TiB</b>" in html and "<b>1,002</b>" in html
    assert "a&lt;b&gt;" in html and "46,292,960,644" not in html and "46292960644" not in html
    assert 'overflow-x:auto' in html, "wide tables scroll sideways on a phone"
