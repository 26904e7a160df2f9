"""Numbers as a reader wants them: sizes in GiB or TiB, counts with thousands separators, money with its
currency, days as days. The frames keep raw units (bytes, USD, days); only what a report shows is formatted.

A column's kind comes from its name, the convention every acrlib frame follows: ``*_bytes`` are bytes,
``*_gib`` GiB, ``*_monthly`` / ``*_daily`` / ``monthly_*`` money, ``*_days`` / ``days_*`` days, ``*_share`` a
fraction, ``bytes_per_day`` a rate.
"""

from __future__ import annotations

import datetime as dt
import math

KIB, MIB, GIB, TIB = 1 << 10, 1 << 20, 1 << 30, 1 << 40
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}

# Column labels that the naming rule below would not make readable on its own.
LABELS = {
    "billed_bytes": "billed", "logical_bytes": "logical (sum of image sizes)",
    "unique_bytes": "stored (each blob once)",
    "exclusive_bytes": "exclusive to one repository", "shared_bytes": "shared by repositories",
    "difference_bytes": "billed minus counted", "reclaimable_bytes": "reclaimable",
    "deleted_image_bytes": "sum of deleted image sizes", "size_bytes": "size", "extra_bytes": "extra copies take",
    "bytes_per_day": "growth per day", "days_until_full": "days until full", "full_on": "full on",
    "storage_used_bytes": "billed", "storage_included_bytes": "included", "included_bytes": "included",
    "billed_gib": "billed", "included_gib": "included", "overage_gib": "over allowance",
    "overage_after_gib": "over allowance after the plan", "base_monthly": "SKU base per month",
    "overage_monthly": "storage overage per month", "monthly": "per month", "monthly_savings": "saved per month",
    "manifests_deleted": "manifests deleted", "blobs_freed": "blobs freed", "window_days": "window",
    "days_since_previous": "days since previous", "repository_count": "repositories", "http_status": "HTTP status",
}


def kind(column: str) -> str:
    """``bytes``, ``gib``, ``rate``, ``money``, ``days``, ``share`` or ``plain``, from a column's name."""
    if column == "bytes_per_day":
        return "rate"
    if column.endswith("_bytes") or column == "bytes":
        return "bytes"
    if column.endswith("_gib"):
        return "gib"
    if column.endswith(("_monthly", "_daily")) or column in ("monthly", "daily") or column.startswith("monthly_"):
        return "money"
    if column.endswith("_days") or column.startswith("days_") or column == "days":
        return "days"
    if column.endswith("_share"):
        return "share"
    return "plain"


def label(column: str) -> str:
    """A column name as a reader's label: ``stale_tags`` -> ``stale tags``."""
    if column in LABELS:
        return LABELS[column]
    for suffix in ("_bytes", "_gib"):
        if column.endswith(suffix):
            column = column[: -len(suffix)]
    return column.replace("_", " ")


def _finite(value) -> bool:
    return value is not None and not (isinstance(value, float) and not math.isfinite(value))


def size(value, *, signed: bool = False) -> str:
    """Bytes as ``12.34 GiB`` (TiB from 1 TiB; MiB, KiB or bytes below 1 GiB)."""
    if not _finite(value):
        return ""
    sign = "-" if value < 0 else ("+" if signed and value > 0 else "")
    value = abs(value)
    for unit, scale in (("TiB", TIB), ("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if value >= scale:
            return f"{sign}{value / scale:,.2f} {unit}"
    return f"{sign}{int(value):,} bytes"


def count(value) -> str:
    return f"{value:,}" if _finite(value) else ""


def money(value, currency: str = "USD") -> str:
    """``$1,234.56``, or ``1,234.56 CHF`` for a currency without a symbol here."""
    if not _finite(value):
        return ""
    sign = "-" if value < 0 else ""
    symbol = SYMBOLS.get(currency)
    return f"{sign}{symbol}{abs(value):,.2f}" if symbol else f"{sign}{abs(value):,.2f} {currency}"


def days(value) -> str:
    if not _finite(value):
        return ""
    rounded = round(value, 1)
    whole = float(rounded).is_integer()
    text = f"{int(rounded):,}" if whole else f"{rounded:,.1f}"
    return f"{text} day" if rounded == 1 else f"{text} days"


def share(value) -> str:
    return f"{value * 100:.1f}%" if _finite(value) else ""


def when(value) -> str:
    if isinstance(value, dt.datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, dt.date):
        return f"{value:%Y-%m-%d}"
    return ""


def cell(value, column_kind: str = "plain", currency: str = "USD") -> str:
    """One value as text for a table cell of a column of ``column_kind``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (dt.datetime, dt.date)):
        return when(value)
    if isinstance(value, (int, float)):
        if column_kind == "bytes":
            return size(value)
        if column_kind == "gib":
            return size(value * GIB)
        if column_kind == "rate":
            return size(value) + "/day" if _finite(value) else ""
        if column_kind == "money":
            return money(value, currency)
        if column_kind == "days":
            return days(value)
        if column_kind == "share":
            return share(value)
        if isinstance(value, int):
            return count(value)
        return f"{value:,.2f}" if _finite(value) else ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def alert(body_html: str) -> str:
    """A notice box in the report's HTML (a part that failed, a history not updated); ``body_html`` is HTML
    already escaped."""
    return ('<div class="acrlib-error" role="alert" style="border:1px solid #d1242f;border-left-width:4px;'
            f'background:#fff5f5;padding:8px 12px;margin:6px 0;border-radius:4px">{body_html}</div>')
