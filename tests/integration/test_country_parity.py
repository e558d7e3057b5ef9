"""Country parity with the published reBEN metadata on a real border tile.

T31UGR covers Belgium, Luxembourg, France and Germany.  Its two products'
grids are laid out from the real v1 footprints
(``../shared/reference-artifacts/ben-v1-metadata/bigearthnet_v1_spatial_32631.parquet``:
each footprint's corner and the x,y of its published patch give the tile's
upper-left corner), stored with the pipeline's own grid statements, and
``align_v1`` runs on them with the real Natural Earth 110 m countries the
pipeline uses (the file the demo world writes).  Every published patch of the
tile (metadata.parquet and the snow/cloud parquet) must get its published
country under the default rule; the larger-share rule must not (that is the
difference the rule exists for).  Starts its own embedded PostGIS.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benpipe.dataset import sql
from benpipe.dataset.cross_product import align_v1
from benpipe.dataset.tile_grid import TileGrid, grid_rows
from benpipe.db.ingest import ingest_countries, ingest_v1_footprints
from benpipe.db.lifecycle import DbSettings, connect, stop
from benpipe.db.schema import init_database
from benpipe.demo.world import write_countries
from benpipe.grid import season_of
from benpipe.names import parse_patch_name, parse_product_name, tile_dir_for

pytestmark = pytest.mark.postgis

TILE = "T31UGR"
EPSG = 32631
#: The L2A names (no .SAFE) of T31UGR's two reBEN products.
PRODUCTS = (
    "S2A_MSIL2A_20180508T104031_N9999_R008_T31UGR_20180508T175127",
    "S2B_MSIL2A_20171015T104009_N9999_R008_T31UGR_20171015T104525",
)


def _published(reference_artifacts: Path) -> pd.DataFrame:
    frames = [
        pd.read_parquet(
            reference_artifacts / name, columns=["patch_id", "country", "s2v1_name"]
        )
        for name in (
            "metadata.parquet",
            "metadata_for_patches_with_snow_cloud_or_shadow.parquet",
        )
    ]
    both = pd.concat(frames, ignore_index=True)
    return both[both["patch_id"].str.contains(f"_{TILE}_")].set_index("patch_id")


def _tile_origin(published: pd.DataFrame, v1_dir: Path) -> tuple[float, float]:
    """The tile's upper-left corner, the same from every aligned footprint."""
    import geopandas as gpd

    footprints = gpd.read_parquet(v1_dir / f"bigearthnet_v1_spatial_{EPSG}.parquet")
    bounds = footprints.set_index("patch_name").geometry.bounds
    pairs = published.reset_index().set_index("s2v1_name")["patch_id"]
    common = pairs.index.intersection(bounds.index)
    assert len(common) > 1000, "the v1 footprints should cover T31UGR"
    cols = np.array([parse_patch_name(pairs[n]).col for n in common])
    rows = np.array([parse_patch_name(pairs[n]).row for n in common])
    ulx = bounds.loc[common, "minx"].to_numpy() - 1200 * cols
    uly = bounds.loc[common, "maxy"].to_numpy() + 1200 * rows
    assert np.ptp(ulx) == 0 and np.ptp(uly) == 0, "one origin for the whole tile"
    return float(ulx[0]), float(uly[0])


@pytest.fixture(scope="module")
def t31ugr(
    reference_artifacts: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[DbSettings, pd.DataFrame]]:
    published = _published(reference_artifacts)
    v1_dir = reference_artifacts / "ben-v1-metadata"
    ulx, uly = _tile_origin(published, v1_dir)
    root: Path = tmp_path_factory.mktemp("country_parity")
    countries = root / "ne_110m_admin_0_countries.geojson"
    write_countries(countries)
    # Only the tile's zone: the other four files are not needed here.
    zone = root / "ben-v1-metadata"
    zone.mkdir()
    name = f"bigearthnet_v1_spatial_{EPSG}.parquet"
    shutil.copyfile(v1_dir / name, zone / name)
    settings = DbSettings.scratch(root)
    try:
        init_database(settings)
        ingest_countries(settings, countries)
        ingest_v1_footprints(settings, zone)
        for product in PRODUCTS:
            grid = TileGrid(
                product=product, epsg=EPSG, ulx=ulx, uly=uly, tile_side_m=109_800
            )
            sensing = parse_product_name(product).sensing_time
            row = sql.ProductRow(
                product_id=product,
                tile_dir=tile_dir_for(product),
                epsg=EPSG,
                ulx=ulx,
                uly=uly,
                tile_side_m=109_800,
                sensing_time=sensing,
                season=season_of(sensing),
                quality_checks={},
                fails_quality=False,
                processor="test",
            )
            patches = [
                sql.PatchGridRow(
                    patch_id=p.patch_id,
                    col=p.col,
                    row=p.row,
                    split=p.split,
                    valid=True,
                    left=p.left,
                    bottom=p.bottom,
                    right=p.right,
                    top=p.top,
                )
                for p in grid_rows(grid)
            ]
            with connect(settings) as conn, conn.transaction():
                sql.replace_product_grid(conn, row, patches)
        yield settings, published
    finally:
        stop(settings)


def _countries(settings: DbSettings) -> dict[str, str]:
    with connect(settings) as conn:
        rows = conn.execute("SELECT patch_id, country FROM patch_country").fetchall()
    return {str(p): str(c) for p, c in rows}


def test_default_rule_gives_every_published_country(
    t31ugr: tuple[DbSettings, pd.DataFrame],
) -> None:
    settings, published = t31ugr
    info = align_v1(settings)
    assert info["country_rule"] == "reference"
    ours = _countries(settings)
    assert len(ours) == 2 * 91 * 91
    missing = sorted(set(published.index) - set(ours))
    assert not missing, f"published patches not in the grid: {missing[:5]}"
    differ = {p: (ours[p], c) for p, c in published["country"].items() if ours[p] != c}
    assert not differ, (
        f"{len(differ)} of {len(published)} T31UGR patches get another country "
        f"than published (ours, published): {sorted(differ.items())[:10]}"
    )
    # The alignment on the same grid is the published one too.
    with connect(settings) as conn:
        aligned = dict(
            conn.execute("SELECT patch_id, s2v1_name FROM patch_alignment").fetchall()
        )
    assert {p: aligned.get(p) for p in published.index} == published[
        "s2v1_name"
    ].to_dict()


def test_largest_share_rule_differs_on_the_border(
    t31ugr: tuple[DbSettings, pd.DataFrame],
) -> None:
    settings, published = t31ugr
    info = align_v1(settings, country_rule="largest_share")
    assert info["country_rule"] == "largest_share"
    ours = _countries(settings)
    differ = {p for p, c in published["country"].items() if ours[p] != c}
    # Patches mostly in Luxembourg that touch Belgium: published as Belgium.
    assert differ
    assert {ours[p] for p in differ} == {"Luxembourg"}
    assert set(published.loc[sorted(differ), "country"]) == {"Belgium"}
