"""Store a test product's patch grid the way ``build_patch_grid`` does."""

from __future__ import annotations

from benpipe.dataset import sql
from benpipe.dataset.tile_grid import TileGrid, grid_rows
from benpipe.db.lifecycle import DbSettings, connect
from benpipe.names import parse_product_name, tile_dir_for


def store_grid(
    settings: DbSettings,
    product: str,
    *,
    epsg: int,
    ulx: float,
    uly: float,
    tile_side_m: float,
    season: str,
) -> None:
    """Replace ``product``'s row and grid: every patch valid, no quality checks."""
    grid = TileGrid(
        product=product, epsg=epsg, ulx=ulx, uly=uly, tile_side_m=tile_side_m
    )
    row = sql.ProductRow(
        product_id=product,
        tile_dir=tile_dir_for(product),
        epsg=epsg,
        ulx=ulx,
        uly=uly,
        tile_side_m=tile_side_m,
        sensing_time=parse_product_name(product).sensing_time,
        season=season,
        quality_checks={},
        fails_quality=False,
        processor="test",
    )
    patches = [sql.PatchGridRow.of(p, valid=True) for p in grid_rows(grid)]
    with connect(settings) as conn, conn.transaction():
        sql.replace_product_grid(conn, row, patches)
