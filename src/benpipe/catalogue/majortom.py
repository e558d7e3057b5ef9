"""The Major TOM grid (ESA Φ-lab, arXiv 2402.12095): cell ids of points.

The grid, as defined in the paper and its reference implementation
(``ESA-PhiLab/Major-TOM``, ``majortom/grid.py``), for a spacing ``d`` km on a
sphere of radius R = 6378.137 km:

* rows: ``n = ceil(π·R / d)`` latitudes, multiples of ``Δφ = 180° / n``
  anchored at the equator (row ``0U`` starts at 0°, ``1U`` at Δφ, ``1D`` at
  −Δφ, …);
* columns of the row whose bottom latitude is φ: ``m = ceil(2π·R·cos φ / d)``
  longitudes, multiples of ``360° / m`` anchored at the prime meridian
  (``0R`` starts at 0°, ``1L`` at −360°/m, …);
* a point belongs to the cell whose grid point (its south-west corner) is the
  largest row latitude strictly below the point's latitude and, in that row,
  the largest column longitude strictly below its longitude; a longitude left
  of the westernmost column wraps to the easternmost one;
* the cell id is ``<row>_<col>``, e.g. ``434U_45R``.

Pure NumPy; vectorised over arrays of points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Equatorial radius used by Major TOM, in km.
EARTH_RADIUS_KM = 6378.137
#: The grid spacing of the Major TOM Core datasets, in km.
CORE_SPACING_KM = 10.0


@dataclass(frozen=True, slots=True)
class GridCell:
    """One cell: signed row (U ≥ 0, D < 0) and column (R ≥ 0, L < 0)."""

    row: int
    col: int

    @property
    def name(self) -> str:
        return f"{_row_label(self.row)}_{_col_label(self.col)}"


def _row_label(row: int) -> str:
    return f"{row}U" if row >= 0 else f"{-row}D"


def _col_label(col: int) -> str:
    return f"{col}R" if col >= 0 else f"{-col}L"


class MajorTomGrid:
    """The grid for one spacing ``spacing_km`` (default 10 km)."""

    def __init__(self, spacing_km: float = CORE_SPACING_KM) -> None:
        if spacing_km <= 0:
            raise ValueError(f"grid spacing must be positive, got {spacing_km} km")
        self.spacing_km = spacing_km
        self.n_rows = math.ceil(math.pi * EARTH_RADIUS_KM / spacing_km)
        self.row_step_deg = 180.0 / self.n_rows
        first = -(self.n_rows // 2)
        #: signed row numbers, south to north, and their bottom latitudes
        self.rows = np.arange(first, first + self.n_rows, dtype=np.int64)
        self.row_lats = self.rows * self.row_step_deg

    def columns_in_row(self, row: int) -> int:
        """Number of columns of a row (``m`` above)."""
        lat = float(row) * self.row_step_deg
        circumference = 2 * math.pi * EARTH_RADIUS_KM * math.cos(math.radians(lat))
        return max(1, math.ceil(circumference / self.spacing_km))

    def cells(self, lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray[np.int64], ...]:
        """Signed ``(rows, cols)`` of the cells holding each ``(lon, lat)``."""
        lon_arr = np.asarray(lon, dtype=np.float64)
        lat_arr = np.asarray(lat, dtype=np.float64)
        if lon_arr.shape != lat_arr.shape:
            raise ValueError("lon and lat must have the same shape")
        if np.any(np.abs(lat_arr) > 90) or np.any(np.abs(lon_arr) > 180):
            raise ValueError("lon must lie in [-180, 180] and lat in [-90, 90]")
        # largest row latitude strictly below lat (a point on a row boundary
        # belongs to the row below, as in the reference implementation)
        idx = np.searchsorted(self.row_lats, lat_arr, side="left") - 1
        idx = np.clip(idx, 0, self.n_rows - 1)
        rows = self.rows[idx]
        cols = np.empty_like(rows)
        for row in np.unique(rows):
            mask = rows == row
            m = self.columns_in_row(int(row))
            step = 360.0 / m
            first = -(m // 2)
            col_lons = np.arange(first, first + m, dtype=np.float64) * step
            j = np.searchsorted(col_lons, lon_arr[mask], side="left") - 1
            j = np.where(j < 0, m - 1, j)  # west of the first column: wrap
            cols[mask] = first + j
        return rows, cols

    def cell_names(self, lon: ArrayLike, lat: ArrayLike) -> list[str]:
        """Cell ids (``434U_45R``) of each ``(lon, lat)``."""
        rows, cols = self.cells(lon, lat)
        return [
            f"{_row_label(int(r))}_{_col_label(int(c))}"
            for r, c in zip(rows, cols, strict=True)
        ]

    def cell(self, lon: float, lat: float) -> GridCell:
        rows, cols = self.cells([lon], [lat])
        return GridCell(int(rows[0]), int(cols[0]))
