"""Comparing collected tables with the emulator's ground truth."""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

COMPARED = ("registries", "repositories", "manifests", "tags", "references")


def assert_matches_truth(inventory, truth: dict, registries: list[str] | None = None,
                         tables: tuple[str, ...] = COMPARED) -> None:
    """Every compared table equals the truth row for row, for ``registries`` (default: all of them)."""
    names = registries if registries is not None else truth["registries"]["registry"].to_list()
    for table in tables:
        got = inventory.tables()[table].filter(pl.col("registry").is_in(names))
        want = truth[table].filter(pl.col("registry").is_in(names))
        assert got.select(pl.len()).item() == want.select(pl.len()).item(), f"{table}: row count differs"
        assert got.is_duplicated().sum() == 0, f"{table}: duplicated rows"
        try:
            assert_frame_equal(got, want, check_row_order=True)
        except AssertionError as e:
            raise AssertionError(f"{table}: {e}") from None
