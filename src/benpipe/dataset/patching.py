"""Patch grid and validity of one L2A product, and ``benpipe grid``.

Pure parts (no I/O): :func:`grid_rows` lists the complete 1200 m patches of a
tile with their split and season; :func:`invalid_windows` reduces one decoded
band to a per-patch "has a 0 pixel" mask.  :func:`build_patch_grid` is the
``build_patch_grid`` rule: it decodes each of the 12 spectral bands once,
reduces them per window in NumPy and replaces the product's rows in PostGIS
(``products``, ``patches``) in one transaction.
"""

from __future__ import annotations

import csv
import json
import logging
import sys
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

from benpipe.errors import CrsMismatchError, GridError
from benpipe.grid import (
    PatchGridParams,
    Split,
    patch_side_px,
    season_of,
    split_for_patch,
)
from benpipe.log import Progress
from benpipe.names import BAND_RESOLUTION_M, BANDS, patch_name, tile_dir_for

log = logging.getLogger(__name__)

ALGORITHM_VERSION = 1

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
            left = grid.ulx + col * side
            top = grid.uly - row * side
            rows.append(
                PatchRow(
                    patch_id=patch_name(grid.product, col=col, row=row),
                    col=col,
                    row=row,
                    split=split_for_patch(col=col, row=row, params=params),
                    left=left,
                    bottom=top - side,
                    right=left + side,
                    top=top,
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


def validity_mask(
    read_band: Callable[[str], np.ndarray],
    grid: TileGrid,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """(n, n) bool, [row, col]: True if no spectral band has a 0 in the window.

    Each band is decoded once with ``read_band`` and checked for its expected
    size (tile side / resolution).
    """
    n = grid.patches_per_side
    valid = np.ones((n, n), dtype=bool)
    for index, band in enumerate(BANDS, start=1):
        res = BAND_RESOLUTION_M[band]
        expected = int(round(grid.tile_side_m / res))
        data = read_band(band)
        if data.shape != (expected, expected):
            raise GridError(
                f"product {grid.product}: band {band} is {data.shape[1]}x{data.shape[0]} "
                f"px, expected {expected}x{expected} px for a {grid.tile_side_m:.0f} m "
                f"tile at {res} m"
            )
        valid &= ~invalid_windows(
            data, window_px=patch_side_px(grid.patch_side_m, res), n=n
        )
        del data
        if progress is not None:
            progress(index, len(BANDS))
    return valid


# ---------------------------------------------------------------- the rule
def _polygon_wkt(p: PatchRow) -> str:
    return (
        f"POLYGON(({p.left} {p.bottom},{p.left} {p.top},{p.right} {p.top},"
        f"{p.right} {p.bottom},{p.left} {p.bottom}))"
    )


def _check_band_crs(product: Any) -> None:
    import rasterio

    for band in BANDS:
        path = product.band_path(band)
        with rasterio.open(path) as src:
            epsg = src.crs.to_epsg() if src.crs is not None else None
            origin = (src.transform.c, src.transform.f)
        if epsg != product.epsg:
            raise CrsMismatchError(
                f"product {product.name}: {path.name} has CRS EPSG:{epsg}, but the "
                f"tile metadata (MTD_TL.xml) says EPSG:{product.epsg}"
            )
        if abs(origin[0] - product.ulx) > 1e-6 or abs(origin[1] - product.uly) > 1e-6:
            raise GridError(
                f"product {product.name}: {path.name} starts at {origin}, but the tile "
                f"metadata says ({product.ulx}, {product.uly})"
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


def build_patch_grid(
    settings: Any,
    l2a_path: Path,
    *,
    patch_side_m: float = 1200,
    reference_season_quirk: bool = True,
    read_threads: int | None = None,
    invalid_patches: Collection[str] | None = None,
    receipt: Path | None = None,
) -> dict[str, Any]:
    """Insert the product row and its patch grid (with split, season, validity).

    Deletes the product's previous rows first, in the same transaction, so a
    rerun leaves identical contents.  ``settings`` is a
    :class:`benpipe.db.lifecycle.DbSettings`.  With ``invalid_patches`` (the
    ids export_patches found holding a 0 pixel, see
    :func:`benpipe.dataset.export.invalid_patches_from_manifest`) the product is not
    decoded again; otherwise validity is computed here from the bands.
    """
    from benpipe.db.lifecycle import connect
    from benpipe.fileio import write_json_atomic
    from benpipe.l2a.products import open_l2a

    started = time.monotonic()
    product = open_l2a(l2a_path)
    grid = TileGrid(
        product=product.name,
        epsg=product.epsg,
        ulx=product.ulx,
        uly=product.uly,
        tile_side_m=product.tile_side_m,
        patch_side_m=patch_side_m,
    )
    check_tile(grid)
    _check_band_crs(product)
    season = season_of(product.sensing_time, reference_quirk=reference_season_quirk)
    rows = grid_rows(grid)
    if invalid_patches is not None:
        valid = validity_from_ids(grid, rows, invalid_patches)
    else:
        progress = Progress(
            f"{product.name}: decoding bands", total=len(BANDS), logger=log
        )
        valid = validity_mask(
            lambda band: product.read_band(band, threads=read_threads),
            grid,
            progress=progress,
        )
        progress.close()
    decode_s = time.monotonic() - started
    n_valid = int(valid.sum())
    with connect(settings) as conn, conn.transaction():
        conn.execute("DELETE FROM products WHERE product_id = %s", (product.name,))
        conn.execute(
            "INSERT INTO products (product_id, tile_dir, epsg, ulx, uly, tile_side_m,"
            " sensing_time, season, quality_checks, fails_quality, processor)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                product.name,
                tile_dir_for(product.name),
                product.epsg,
                product.ulx,
                product.uly,
                product.tile_side_m,
                product.sensing_time,
                season,
                json.dumps(product.quality_checks, sort_keys=True),
                product.fails_quality,
                product.processor,
            ),
        )
        conn.execute(
            "CREATE TEMP TABLE patches_staging (LIKE patches INCLUDING DEFAULTS)"
            " ON COMMIT DROP"
        )
        conn.execute("ALTER TABLE patches_staging ALTER geom_3035 DROP NOT NULL")
        with (
            conn.cursor() as cur,
            cur.copy(
                'COPY patches_staging (patch_id, product_id, col, "row", epsg, season,'
                " split, valid, geom) FROM STDIN"
            ) as copy,
        ):
            for p in rows:
                ewkt = f"SRID={product.epsg};{_polygon_wkt(p)}"
                copy.write_row(
                    (
                        p.patch_id,
                        product.name,
                        p.col,
                        p.row,
                        product.epsg,
                        season,
                        p.split,
                        bool(valid[p.row, p.col]),
                        ewkt,
                    )
                )
        conn.execute(
            'INSERT INTO patches (patch_id, product_id, col, "row", epsg, season, split,'
            ' valid, geom, geom_3035) SELECT patch_id, product_id, col, "row", epsg,'
            " season, split, valid, geom, ST_Transform(geom, 3035)"
            " FROM patches_staging ORDER BY patch_id"
        )
    info: dict[str, Any] = {
        "product": product.name,
        "epsg": product.epsg,
        "tile_side_m": product.tile_side_m,
        "patch_side_m": patch_side_m,
        "sensing_time": product.sensing_time.isoformat(),
        "season": season,
        "reference_season_quirk": reference_season_quirk,
        "fails_quality": product.fails_quality,
        "patches": len(rows),
        "valid": n_valid,
        "invalid": len(rows) - n_valid,
        "tables": ["products", "patches"],
        "algorithm_version": ALGORITHM_VERSION,
    }
    log.info(
        "%s: %d patches, %d valid (validity %.1f s, total %.1f s)",
        product.name,
        len(rows),
        n_valid,
        decode_s,
        time.monotonic() - started,
    )
    if receipt is not None:
        write_json_atomic(receipt, info)
    return {
        **info,
        "timings_s": {
            "decode_validity_s": decode_s,
            "total_s": time.monotonic() - started,
        },
    }


# ---------------------------------------------------------------- CLI
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


@click.command("grid")
@click.option(
    "--tile-side-m",
    type=float,
    default=109800,
    show_default=True,
    help="Tile side in metres.",
)
@click.option(
    "--patch-side-m",
    type=float,
    default=1200,
    show_default=True,
    help="Patch side in metres.",
)
def grid_command(tile_side_m: float, patch_side_m: float) -> None:
    """Print the patch grid of a tile as CSV: col,row,split (row-major)."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(("col", "row", "split"))
    writer.writerows(grid_csv_rows(tile_side_m=tile_side_m, patch_side_m=patch_side_m))
