"""The ``build_patch_grid`` rule: product row and patch grid of one L2A product.

Reads the product's metadata (no pixels), checks its bands' georeferencing,
builds the grid (:mod:`benpipe.dataset.tile_grid`) with split and season, takes
validity from the export manifest, and replaces the product's rows in PostGIS
(``products``, ``patches``) in one transaction.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

from benpipe.dataset.tile_grid import (
    PatchRow,
    TileGrid,
    check_tile,
    grid_rows,
    validity_from_ids,
    validity_mask,
)
from benpipe.errors import CrsMismatchError, GridError
from benpipe.grid import season_of
from benpipe.log import Progress
from benpipe.names import BANDS, tile_dir_for

log = logging.getLogger(__name__)

ALGORITHM_VERSION = 1


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
