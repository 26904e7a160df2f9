"""Cells of vulnerability findings, read from documents others write (Defender's rows, scanner reports): each
value checked, never trusted, the same way for every source."""

from __future__ import annotations

SEVERITIES = {"critical": "Critical", "high": "High", "medium": "Medium", "low": "Low"}


def text(value) -> str | None:
    """A non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def severity(value) -> str:
    """Critical, High, Medium, Low, or Unknown for anything else (Negligible, a number, nothing)."""
    return SEVERITIES.get(value.lower(), "Unknown") if isinstance(value, str) else "Unknown"


def score(value) -> float | None:
    """A CVSS score from 0 to 10, else None."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 10
    return float(value) if ok else None


def fix_status(mapped: str | None, fixed: str | None) -> str:
    """fix-available when a fixed version is named, whatever the source's word; else the source's word as acrlib
    says it (``mapped``: fix-available, no-fix or will-not-fix), or unknown."""
    return "fix-available" if fixed else (mapped or "unknown")
