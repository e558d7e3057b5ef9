"""Patch-grid geometry: patches, the tile-border split and seasons.

Pure functions on numbers; no I/O.  Conventions (REFERENCE-PIPELINE §5.2):
patches start at the tile's upper-left corner, only complete patches count,
``col`` grows west→east and ``row`` north→south, (0, 0) is the upper-left.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from benpipe.errors import GridError

#: Side of a real Sentinel-2 MGRS tile in metres.
S2_TILE_SIDE_M = 109_800
PATCH_SIDE_M = 1_200

Split = Literal["train", "validation", "test"]
Season = Literal["spring", "summer", "fall", "winter"]


@dataclass(frozen=True, slots=True)
class PatchGridParams:
    """The grid of one tile: its side and the patch side, in metres."""

    tile_side_m: float
    patch_side_m: float = PATCH_SIDE_M

    def __post_init__(self) -> None:
        if self.patch_side_m <= 0 or self.tile_side_m <= 0:
            raise GridError(
                f"tile side {self.tile_side_m} m and patch side "
                f"{self.patch_side_m} m must both be positive"
            )
        if self.patch_side_m > self.tile_side_m:
            raise GridError(
                f"patch side {self.patch_side_m} m exceeds the tile side "
                f"{self.tile_side_m} m"
            )

    @property
    def patches_per_side(self) -> int:
        """Complete patches per row or column (91 for a real tile)."""
        return int(self.tile_side_m // self.patch_side_m)


def patch_side_px(patch_side_m: float, resolution_m: float) -> int:
    """Patch side in pixels; the side must be a multiple of the resolution."""
    px = patch_side_m / resolution_m
    if px != int(px) or px <= 0:
        raise GridError(
            f"patch side {patch_side_m} m is not a multiple of the pixel size "
            f"{resolution_m} m; set patching.size_m to a multiple of it"
        )
    return int(px)


def patch_corner(
    ulx: float, uly: float, *, col: int, row: int, side_m: float
) -> tuple[float, float]:
    """(left, top) of patch (col, row) of a tile whose upper-left is (ulx, uly).

    The one home of the patch georeference: ``col`` patch sides east and
    ``row`` patch sides south of the tile corner, in the tile's CRS (metres).
    """
    return ulx + col * side_m, uly - row * side_m


@dataclass(frozen=True, slots=True)
class PatchBounds:
    """The box of one patch in the tile's CRS (metres)."""

    col: int
    row: int
    left: float
    bottom: float
    right: float
    top: float


def patch_bounds(
    ulx: float, uly: float, *, col: int, row: int, side_m: float
) -> PatchBounds:
    """The box of patch (col, row); see :func:`patch_corner`."""
    left, top = patch_corner(ulx, uly, col=col, row=row, side_m=side_m)
    return PatchBounds(col, row, left, top - side_m, left + side_m, top)


def split_ring_widths_m(tile_side_m: float) -> tuple[float, float]:
    """(a1, a2): widths of the train ring and of the validation ring."""
    a1 = tile_side_m * (2 - math.sqrt(2)) / 4
    a2 = tile_side_m * (math.sqrt(2) - 1) / 4
    return a1, a2


def split_for_patch(*, col: int, row: int, params: PatchGridParams) -> Split:
    """The closed-form tile-border split of §5.2 D5, relative to the tile side.

    d is the distance of the patch centre to the nearest tile edge: train if
    d ≤ a1, validation if a1 < d ≤ a1 + a2, test otherwise.
    """
    side = params.patch_side_m
    s = params.tile_side_m
    cx = side * col + side / 2
    cy = side * row + side / 2
    d = min(cx, s - cx, cy, s - cy)
    a1, a2 = split_ring_widths_m(s)
    if d <= a1:
        return "train"
    if d <= a1 + a2:
        return "validation"
    return "test"


def season_of(ts: datetime, *, reference_quirk: bool = True) -> Season:
    """Meteorological season of a UTC timestamp.

    With ``reference_quirk`` (the reference's behaviour, §5.2 D3) any time after
    00:00 on May 31, Aug 31 or Nov 30 falls through to winter, because the
    reference compares against the date at midnight.  Without it, those days
    belong to spring, summer and fall.
    """
    month, day = ts.month, ts.day
    after_midnight = (ts.hour, ts.minute, ts.second, ts.microsecond) != (0, 0, 0, 0)
    last_days = {5: 31, 8: 31, 11: 30}
    if reference_quirk and last_days.get(month) == day and after_midnight:
        return "winter"
    if 3 <= month <= 5:
        return "spring"
    if 6 <= month <= 8:
        return "summer"
    if 9 <= month <= 11:
        return "fall"
    return "winter"


# ---------------------------------------------------------------- S2 tiles
_MGRS_COLUMNS = ("STUVWXYZ", "ABCDEFGH", "JKLMNPQR")  # by UTM zone % 3
_MGRS_ROWS = "ABCDEFGHJKLMNPQRSTUV"
#: Lowest northing (m) of each northern latitude band, as the MGRS tables give
#: it: a 100 km row letter repeats every 2,000 km, the band says which cycle.
_BAND_MIN_NORTHING = {
    "N": 0,
    "P": 800_000,
    "Q": 1_700_000,
    "R": 2_600_000,
    "S": 3_500_000,
    "T": 4_400_000,
    "U": 5_300_000,
    "V": 6_200_000,
    "W": 7_000_000,
    "X": 7_900_000,
}


def s2_tile_corner(tile: str) -> tuple[int, float, float]:
    """(EPSG, ulx, uly) of the northern Sentinel-2 tile ``tile`` (``31UGR``).

    A tile starts at its MGRS 100 km square's west and north edges and
    reaches 9.8 km beyond the square to the east and south; its corner sits
    on the 60 m pixel grid of the zone (T31UGR: EPSG:32631, 699960, 5600040).
    This is what ``MTD_TL.xml`` states for a real product; benpipe reads it
    from there, and uses this where no product is at hand (benchmarks, tests
    against the published metadata).
    """
    tile = tile.removeprefix("T")
    if len(tile) != 5 or not tile[:2].isdigit():
        raise GridError(f"{tile!r} is not an MGRS tile id such as 31UGR")
    zone, band, column, row = int(tile[:2]), tile[2], tile[3], tile[4]
    columns = _MGRS_COLUMNS[zone % 3]
    if not 1 <= zone <= 60 or band not in _BAND_MIN_NORTHING or column not in columns:
        raise GridError(
            f"{tile!r} is not a northern MGRS tile (zones 1-60, bands N-X, a 100 km "
            f"column letter of zone {zone} in {columns})"
        )
    if row not in _MGRS_ROWS:
        raise GridError(f"{tile!r}: {row!r} is not an MGRS 100 km row letter")
    easting = (columns.index(column) + 1) * 100_000
    northing = ((_MGRS_ROWS.index(row) - (5 if zone % 2 == 0 else 0)) % 20) * 100_000
    while northing + 100_000 <= _BAND_MIN_NORTHING[band]:
        northing += 2_000_000
    ulx = math.floor(easting / 60) * 60
    uly = math.ceil((northing + 100_000) / 60) * 60
    return 32600 + zone, float(ulx), float(uly)
