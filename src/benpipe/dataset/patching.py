"""The ``build_patch_grid`` rule: product row and patch grid of one L2A product.

The recipe: read the product's metadata (no pixels) → check that its bands
sit on the tile grid → lay out the grid with split and season
(:mod:`benpipe.dataset.tile_grid`) → take validity from the ids
``export_patches`` found invalid → replace the product's rows in PostGIS
(``products``, ``patches``) in one transaction → receipt.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

from benpipe.dataset import sql
from benpipe.dataset.tile_grid import (
    TileGrid,
    check_tile,
    grid_rows,
    validity_from_ids,
)
from benpipe.db.lifecycle import DbSettings, connect
from benpipe.errors import CrsMismatchError, GridError
from benpipe.fileio import write_json_atomic
from benpipe.grid import season_of
from benpipe.l2a.products import L2AProduct, open_l2a
from benpipe.names import BAND_RESOLUTION_M, BANDS, tile_dir_for

log = logging.getLogger(__name__)

ALGORITHM_VERSION = 1


def build_patch_grid(
    settings: DbSettings,
    l2a_path: Path,
    *,
    invalid_patches: Collection[str],
    patch_side_m: float = 1200,
    reference_season_quirk: bool = True,
    receipt: Path | None = None,
) -> dict[str, Any]:
    """Insert the product row and its patch grid (with split, season, validity).

    ``invalid_patches`` are the ids export_patches found holding a 0 pixel
    (:func:`benpipe.dataset.export.invalid_patches_from_manifest`): the
    product is decoded once, by the export.  Deletes the product's previous
    rows first, in the same transaction, so a rerun leaves identical contents.
    """
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
    check_band_georeference(product)
    warn_missing_quality_checks(product)
    season = season_of(product.sensing_time, reference_quirk=reference_season_quirk)
    rows = grid_rows(grid)
    valid = validity_from_ids(grid, rows, invalid_patches)
    patches = [sql.PatchGridRow.of(p, valid=bool(valid[p.row, p.col])) for p in rows]
    with connect(settings) as conn, conn.transaction():
        sql.replace_product_grid(conn, _product_row(product, season), patches)
    info = _receipt(
        product,
        season,
        patches,
        patch_side_m=patch_side_m,
        reference_season_quirk=reference_season_quirk,
    )
    total_s = time.monotonic() - started
    log.info(
        "%s: %d patches, %d valid (%.1f s)",
        product.name,
        info["patches"],
        info["valid"],
        total_s,
    )
    if receipt is not None:
        write_json_atomic(receipt, info)
    return {**info, "timings_s": {"total_s": total_s}}


def quality_fields(product: L2AProduct) -> dict[str, Any]:
    """The receipt's quality record: ``fails_quality``, and the checks the
    metadata lacks (only then, so the receipts of complete products keep
    their bytes)."""
    fields: dict[str, Any] = {"fails_quality": product.fails_quality}
    if product.missing_quality_checks:
        fields["missing_quality_checks"] = list(product.missing_quality_checks)
    return fields


def warn_missing_quality_checks(product: L2AProduct) -> None:
    """Warn when the product metadata lacks quality checks the filter reads.

    They count as PASSED, as in the reference (its failing-quality view looks
    for a non-PASSED value); the receipt records them.  A missing block comes
    from a damaged or hand-edited ``MTD_MSIL1C.xml`` inside the L1C zip.
    """
    missing = product.missing_quality_checks
    if not missing:
        return
    log.warning(
        "%s: MTD_MSIL2A.xml has no quality check %s (Quality_Inspections block "
        "missing or incomplete); they count as PASSED, as in the reference, so "
        "the product is labelled. Recorded in the grid receipt. If the L1C zip "
        "was edited or damaged, delete resources/l1c/<L1C>.zip and rerun to "
        "download it again",
        product.name,
        ", ".join(missing),
    )


def check_band_georeference(product: L2AProduct) -> None:
    """Refuse a product whose band files disagree with its tile metadata.

    Reads the 12 band headers (CRS, origin, size), never the pixels.
    """
    import rasterio

    for band in BANDS:
        path = product.band_path(band)
        with rasterio.open(path) as src:
            epsg = src.crs.to_epsg() if src.crs is not None else None
            origin = (src.transform.c, src.transform.f)
            size = (src.width, src.height)
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
        res_m = BAND_RESOLUTION_M[band]
        expected = int(round(product.tile_side_m / res_m))
        if size != (expected, expected):
            raise GridError(
                f"product {product.name}: band {band} is {size[0]}x{size[1]} px, "
                f"expected {expected}x{expected} px for a {product.tile_side_m:.0f} m "
                f"tile at {res_m} m (MTD_TL.xml)"
            )


def _product_row(product: L2AProduct, season: str) -> sql.ProductRow:
    return sql.ProductRow(
        product_id=product.name,
        tile_dir=tile_dir_for(product.name),
        epsg=product.epsg,
        ulx=product.ulx,
        uly=product.uly,
        tile_side_m=product.tile_side_m,
        sensing_time=product.sensing_time,
        season=season,
        quality_checks=product.quality_checks,
        fails_quality=product.fails_quality,
        processor=product.processor,
    )


def _receipt(
    product: L2AProduct,
    season: str,
    patches: list[sql.PatchGridRow],
    *,
    patch_side_m: float,
    reference_season_quirk: bool,
) -> dict[str, Any]:
    n_valid = sum(1 for p in patches if p.valid)
    return {
        "product": product.name,
        "epsg": product.epsg,
        "tile_side_m": product.tile_side_m,
        "patch_side_m": patch_side_m,
        "sensing_time": product.sensing_time.isoformat(),
        "season": season,
        "reference_season_quirk": reference_season_quirk,
        **quality_fields(product),
        "patches": len(patches),
        "valid": n_valid,
        "invalid": len(patches) - n_valid,
        "tables": ["products", "patches"],
        "algorithm_version": ALGORITHM_VERSION,
    }
