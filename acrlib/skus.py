"""What Microsoft documents per ACR SKU: ReadOps and WriteOps per minute (minimum estimates) and included
storage."""

from __future__ import annotations

GIB = 1 << 30
READ_OPS_PER_MIN = {"Basic": 1_000, "Standard": 3_000, "Premium": 10_000}
WRITE_OPS_PER_MIN = {"Basic": 100, "Standard": 500, "Premium": 2_000}  # deletes count as writes
INCLUDED_BYTES = {"Basic": 10 * GIB, "Standard": 100 * GIB, "Premium": 500 * GIB}
