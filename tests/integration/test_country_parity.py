"""Country parity with the published reBEN metadata on real border tiles.

* T31UGR covers Belgium, Luxembourg, France and Germany: the published data
  says Belgium for border patches that lie mostly in Luxembourg.
* T34TEN covers Serbia and Kosovo: there the published data says Serbia for
  border patches, although Kosovo comes first by name.

The products' grids are laid out at their S2 tiles' corners
(``benpipe.grid.s2_tile_corner``, checked against the real v1 footprints in
tests/unit/test_grid.py) and stored with the pipeline's own grid statements;
``align_v1`` runs on them with the real Natural Earth 110 m countries the
pipeline uses (the file the demo world writes) and the real v1 footprints of
zone 31 (``../shared/reference-artifacts/ben-v1-metadata``).  Every published
patch of these tiles (metadata.parquet and the snow/cloud parquet) must get
its published country under the default rule and, in zone 31, its published
v1 name; the larger-share rule must not (that is the difference it makes).
Starts its own embedded PostGIS.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from benpipe.dataset.cross_product import align_v1
from benpipe.db.ingest import ingest_countries, ingest_v1_footprints
from benpipe.db.lifecycle import DbSettings, connect, stop
from benpipe.db.schema import init_database
from benpipe.demo.world import write_countries
from benpipe.grid import s2_tile_corner, season_of
from benpipe.names import parse_product_name

from .grid import store_grid

pytestmark = pytest.mark.postgis

#: The L2A names (no .SAFE) of the products of the two tiles.
PRODUCTS = (
    "S2A_MSIL2A_20180508T104031_N9999_R008_T31UGR_20180508T175127",
    "S2B_MSIL2A_20171015T104009_N9999_R008_T31UGR_20171015T104525",
    "S2A_MSIL2A_20171208T093351_N9999_R136_T34TEN_20171208T113607",
)
TILES = ("T31UGR", "T34TEN")


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
    tiles = both["patch_id"].str.split("_").str[5]
    return both[tiles.isin(TILES)].set_index("patch_id")


def _store_grid(settings: DbSettings, product: str) -> None:
    parsed = parse_product_name(product)
    epsg, ulx, uly = s2_tile_corner(parsed.tile)
    store_grid(
        settings,
        product,
        epsg=epsg,
        ulx=ulx,
        uly=uly,
        tile_side_m=109_800,
        season=season_of(parsed.sensing_time),
    )


@pytest.fixture(scope="module")
def border_tiles(
    reference_artifacts: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[DbSettings, pd.DataFrame]]:
    published = _published(reference_artifacts)
    assert set(published.index.str.split("_").str[5]) == set(TILES)
    root: Path = tmp_path_factory.mktemp("country_parity")
    countries = root / "ne_110m_admin_0_countries.geojson"
    write_countries(countries)
    # Only zone 31's footprints: the other four files are not needed here.
    zone = root / "ben-v1-metadata"
    zone.mkdir()
    name = "bigearthnet_v1_spatial_32631.parquet"
    shutil.copyfile(reference_artifacts / "ben-v1-metadata" / name, zone / name)
    settings = DbSettings.scratch(root)
    try:
        init_database(settings)
        ingest_countries(settings, countries)
        ingest_v1_footprints(settings, zone)
        for product in PRODUCTS:
            _store_grid(settings, product)
        yield settings, published
    finally:
        stop(settings)


def _countries(settings: DbSettings) -> dict[str, str]:
    with connect(settings) as conn:
        rows = conn.execute("SELECT patch_id, country FROM patch_country").fetchall()
    return {str(p): str(c) for p, c in rows}


def test_default_rule_gives_every_published_country(
    border_tiles: tuple[DbSettings, pd.DataFrame],
) -> None:
    settings, published = border_tiles
    info = align_v1(settings)
    assert info["country_rule"] == "reference"
    ours = _countries(settings)
    assert len(ours) == len(PRODUCTS) * 91 * 91
    missing = sorted(set(published.index) - set(ours))
    assert not missing, f"published patches not in the grid: {missing[:5]}"
    differ = {p: (ours[p], c) for p, c in published["country"].items() if ours[p] != c}
    assert not differ, (
        f"{len(differ)} of {len(published)} patches get another country than "
        f"published (ours, published): {sorted(differ.items())[:10]}"
    )
    assert set(published["country"]) == {"Belgium", "Luxembourg", "Kosovo", "Serbia"}
    # The alignment on the same grid is the published one too (zone 31).
    with connect(settings) as conn:
        aligned = dict(
            conn.execute("SELECT patch_id, s2v1_name FROM patch_alignment").fetchall()
        )
    zone31 = published[published.index.str.contains("_T31UGR_")]
    assert {p: aligned.get(p) for p in zone31.index} == zone31["s2v1_name"].to_dict()


def test_largest_share_rule_differs_on_the_borders(
    border_tiles: tuple[DbSettings, pd.DataFrame],
) -> None:
    settings, published = border_tiles
    info = align_v1(settings, country_rule="largest_share")
    assert info["country_rule"] == "largest_share"
    ours = _countries(settings)
    differ = {p for p, c in published["country"].items() if ours[p] != c}
    changed = {(published.loc[p, "country"], ours[p]) for p in differ}
    # Patches mostly in Luxembourg (Kosovo) that touch Belgium (Serbia).
    assert changed == {("Belgium", "Luxembourg"), ("Serbia", "Kosovo")}
