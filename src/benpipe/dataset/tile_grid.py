"""The patch grid of one tile and the validity rule (pure: NumPy, no I/O).

:func:`grid_rows` lists the complete 1200 m patches of a tile with their split;
:func:`invalid_windows` reduces one decoded band to a per-patch "has a 0
pixel" mask (the reference's D8 rule); :func:`validity_from_ids` turns the
invalid patch ids an export recorded back into that mask.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from benpipe.errors import CrsMismatchError, GridError
from benpipe.grid import (
    PatchGridParams,
    Split,
    patch_bounds,
    patch_side_px,
    split_for_patch,
)
from benpipe.names import patch_name

#: EPSG codes of UTM WGS84 zones (north 326xx, south 327xx).
_UTM_EPSG = set(range(32601, 32661)) | set(range(32701, 32761))
_COARSEST_RES_M = 60


@dataclass(frozen=True, slots=True)
class PatchRow:
    """One patch of the grid (coordinates in the tile's UTM, metres)."""

    patch_id: str
    col: int
    row: int
    split: Split
    left: float
    bottom: float
    right: float
    top: float


@dataclass(frozen=True, slots=True)
class TileGrid:
    """Georeferencing of a tile and its patch grid."""

    product: str
    epsg: int
    ulx: float
    uly: float
    tile_side_m: float
    patch_side_m: float = 1200

    @property
    def params(self) -> PatchGridParams:
        return PatchGridParams(
            tile_side_m=self.tile_side_m, patch_side_m=self.patch_side_m
        )

    @property
    def patches_per_side(self) -> int:
        return self.params.patches_per_side


def check_tile(grid: TileGrid) -> None:
    """Refuse tiles whose side or CRS cannot carry the patch grid."""
    if grid.epsg not in _UTM_EPSG:
        raise CrsMismatchError(
            f"product {grid.product}: CRS EPSG:{grid.epsg} is not a WGS84 UTM zone "
            "(EPSG:326xx/327xx); Sentinel-2 tiles are always in UTM"
        )
    side = grid.tile_side_m
    if side <= 0 or side % _COARSEST_RES_M:
        raise GridError(
            f"product {grid.product}: tile side {side} m is not a positive multiple "
            f"of {_COARSEST_RES_M} m, so the 10/20/60 m rasters cannot share one grid"
        )
    if side < grid.patch_side_m:
        raise GridError(
            f"product {grid.product}: tile side {side} m is smaller than one patch "
            f"({grid.patch_side_m} m)"
        )
    for res in (10, 20, 60):
        patch_side_px(grid.patch_side_m, res)


def grid_rows(grid: TileGrid) -> list[PatchRow]:
    """Every complete patch of the tile, row-major (row, then col)."""
    params = grid.params
    n = params.patches_per_side
    side = grid.patch_side_m
    rows: list[PatchRow] = []
    for row in range(n):
        for col in range(n):
            box = patch_bounds(grid.ulx, grid.uly, col=col, row=row, side_m=side)
            rows.append(
                PatchRow(
                    patch_id=patch_name(grid.product, col=col, row=row),
                    col=col,
                    row=row,
                    split=split_for_patch(col=col, row=row, params=params),
                    left=box.left,
                    bottom=box.bottom,
                    right=box.right,
                    top=box.top,
                )
            )
    return rows


def invalid_windows(band: np.ndarray, *, window_px: int, n: int) -> np.ndarray:
    """(n, n) bool, [row, col]: True where the patch window holds a 0 pixel."""
    needed = n * window_px
    if band.ndim != 2 or band.shape[0] < needed or band.shape[1] < needed:
        raise GridError(
            f"band of shape {band.shape} is too small for {n}x{n} windows of "
            f"{window_px} px"
        )
    view = band[:needed, :needed].reshape(n, window_px, n, window_px)
    return np.asarray(view.min(axis=(1, 3)) == 0)


def patch_blocks(
    band: npt.NDArray[np.uint16], *, side_px: int, n: int
) -> npt.NDArray[np.uint16]:
    """(row, col, y, x) view-copy of the complete patches of a band."""
    cut = band[: n * side_px, : n * side_px]
    return np.ascontiguousarray(
        cut.reshape(n, side_px, n, side_px).transpose(0, 2, 1, 3)
    )


def validity_from_ids(
    grid: TileGrid, rows: list[PatchRow], invalid_patches: Collection[str]
) -> np.ndarray:
    """(n, n) bool validity from the ids of the invalid patches."""
    invalid = set(invalid_patches)
    unknown = invalid - {p.patch_id for p in rows}
    if unknown:
        raise GridError(
            f"product {grid.product}: {len(unknown)} invalid patch id(s) are not on "
            f"its grid (first: {sorted(unknown)[0]}); the export manifest belongs to "
            "another product or grid"
        )
    n = grid.patches_per_side
    valid = np.ones((n, n), dtype=bool)
    for p in rows:
        if p.patch_id in invalid:
            valid[p.row, p.col] = False
    return valid


def grid_csv_rows(
    *, tile_side_m: float, patch_side_m: float
) -> list[tuple[int, int, str]]:
    """(col, row, split) of every complete patch, row-major."""
    params = PatchGridParams(tile_side_m=tile_side_m, patch_side_m=patch_side_m)
    n = params.patches_per_side
    return [
        (col, row, split_for_patch(col=col, row=row, params=params))
        for row in range(n)
        for col in range(n)
    ]
