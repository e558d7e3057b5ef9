"""Patch grid, validity windows and `benpipe grid` (benpipe.dataset.tile_grid)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from benpipe.cli import main
from benpipe.dataset.tile_grid import (
    TileGrid,
    check_tile,
    grid_csv_rows,
    grid_rows,
    invalid_windows,
)
from benpipe.errors import CrsMismatchError, GridError
from benpipe.names import parse_patch_name

PRODUCT = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_20240101T000000"
REFERENCE = (
    Path(__file__).resolve().parents[2].parent / "shared" / "reference-artifacts"
)


def small_grid(side_m: float = 3000) -> TileGrid:
    return TileGrid(
        product=PRODUCT, epsg=32633, ulx=300000, uly=5100000, tile_side_m=side_m
    )


def test_grid_rows_are_complete_patches_row_major_from_upper_left() -> None:
    rows = grid_rows(small_grid(3000))  # 2.5 patches per side: the partial strip drops
    assert [(p.col, p.row) for p in rows] == [(0, 0), (1, 0), (0, 1), (1, 1)]
    first, last = rows[0], rows[-1]
    assert first.patch_id == "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_00_00"
    assert (first.left, first.top, first.right, first.bottom) == (
        300000,
        5100000,
        301200,
        5098800,
    )
    assert (last.left, last.top) == (301200, 5098800)


def test_invalid_windows_flags_only_windows_with_a_zero() -> None:
    band = np.full((6, 6), 7, dtype=np.uint16)
    band[4, 1] = 0  # window row 2, col 0 at 2 px windows
    mask = invalid_windows(band, window_px=2, n=3)
    assert mask.tolist() == [
        [False, False, False],
        [False, False, False],
        [True, False, False],
    ]


def test_check_tile_refuses_bad_side_and_crs() -> None:
    with pytest.raises(GridError, match="not a positive multiple of 60"):
        check_tile(small_grid(2410))
    with pytest.raises(CrsMismatchError, match="EPSG:3035"):
        check_tile(TileGrid(PRODUCT, epsg=3035, ulx=0, uly=0, tile_side_m=2400))
    with pytest.raises(GridError, match="smaller than one patch"):
        check_tile(small_grid(600))
    check_tile(small_grid(109800))


def test_grid_command_prints_col_row_split_csv() -> None:
    result = CliRunner().invoke(main, ["grid", "--tile-side-m", "109800"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "col,row,split"
    assert len(lines) == 1 + 91 * 91
    assert lines[1] == "0,0,train"
    assert "45,45,test" in lines
    splits = [line.rsplit(",", 1)[1] for line in lines[1:]]
    assert {s: splits.count(s) for s in set(splits)}["test"] > 0


@pytest.mark.parametrize(
    "name",
    ["metadata.parquet", "metadata_for_patches_with_snow_cloud_or_shadow.parquet"],
)
def test_grid_split_reproduces_the_reference(name: str) -> None:
    path = REFERENCE / name
    if not path.exists():
        pytest.skip(f"reference artifact {path} is absent")
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["patch_id", "split"]).to_pydict()
    result = CliRunner().invoke(
        main, ["grid", "--tile-side-m", "109800", "--patch-side-m", "1200"]
    )
    assert result.exit_code == 0
    expected = {}
    for line in io.StringIO(result.output).read().splitlines()[1:]:
        col, row, split = line.split(",")
        expected[(int(col), int(row))] = split
    mismatches = 0
    for patch_id, split in zip(table["patch_id"], table["split"], strict=True):
        parsed = parse_patch_name(patch_id)
        mismatches += expected[(parsed.col, parsed.row)] != split
    assert mismatches == 0
    assert len(table["patch_id"]) > 0


def test_grid_csv_rows_match_grid_rows_split() -> None:
    grid = small_grid(109800)
    assert [(p.col, p.row, p.split) for p in grid_rows(grid)] == grid_csv_rows(
        tile_side_m=109800, patch_side_m=1200
    )
