"""Catalogue core: Major TOM cells, label fractions, overlaps, rows and the file."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pyarrow.parquet as pq
import pytest
import shapely

from benpipe.catalogue.core import (
    CATALOGUE_SCHEMA,
    FRACTION_CLASSES,
    FRACTION_COLUMNS,
    class_fractions,
    footprints,
    geo_metadata,
    hilbert_key,
    overlapping_patches,
    resolve_class,
)
from benpipe.catalogue.io import read_tile_ids, write_catalogue_parquet
from benpipe.catalogue.majortom import MajorTomGrid
from benpipe.catalogue.synthetic import synthetic_catalogue
from benpipe.errors import InputDataError

# Published Major TOM Core-S2L2A metadata rows (grid_cell, centre_lat,
# centre_lon), from ESA-PhiLab/Major-TOM docs/evidence/results_Core-S2L2A_1.jsonl:
# the centre of each 10 km product lies in its grid cell.
MAJOR_TOM_ROWS = [
    ("110D_457L", -9.835420887576138, -41.61526669033936),
    ("300D_568L", -26.901037386533275, -57.17877676195671),
    ("172U_184L", 15.494721778521036, -17.101175773449295),
    ("150D_1777L", -13.427680946278402, -164.06891427018115),
    ("695U_606R", 62.469616190945466, 117.64087065108966),
    ("589U_1152L", 52.94943614431831, -171.4397655320694),
    ("639U_641R", 57.43886095398982, 106.91882566502512),
    ("434U_45R", 39.02595582369038, 5.258087967253711),
    ("72U_113R", 6.512175758669188, 10.25872822599318),
    ("210D_640L", -18.816541695042403, -60.69666164241522),
    ("677U_927L", 60.85303676303826, -170.60832813759995),
    ("553D_473L", -49.62729184370188, -65.57219927168391),
    ("456U_875L", 41.00262045606814, -104.0033457720136),
    ("551U_420R", 49.535327356015365, 58.13458357575959),
    ("873D_230L", -78.36668395918085, -102.64331720437042),
    ("579U_897R", 52.04972150450342, 130.9705993123108),
    ("195U_704L", 17.55946982992922, -66.26310352829974),
]


def test_major_tom_cells_match_published_core_metadata():
    grid = MajorTomGrid()
    lats = [r[1] for r in MAJOR_TOM_ROWS]
    lons = [r[2] for r in MAJOR_TOM_ROWS]
    assert grid.cell_names(lons, lats) == [r[0] for r in MAJOR_TOM_ROWS]


def test_major_tom_grid_shape_and_boundaries():
    grid = MajorTomGrid()
    assert grid.n_rows == 2004  # ceil(pi * 6378.137 / 10)
    # the equator row starts at 0: a point just north is 0U, just south 1D,
    # and a point exactly on a row boundary belongs to the row below
    assert grid.cell(10.0, 1e-9).name.startswith("0U_")
    assert grid.cell(10.0, -1e-9).name.startswith("1D_")
    step = 180.0 / 2004
    assert grid.cell(10.0, 5 * step + 1e-9).row == 5
    assert grid.cell(0.0 + 1e-9, 0.5).col == 0
    assert grid.cell(-1e-9, 0.5).col == -1
    # longitudes wrap: the westernmost edge falls into the easternmost column
    m = grid.columns_in_row(0)
    assert grid.cell(-180.0, 0.5).col == (m + 1) // 2 - 1
    with pytest.raises(ValueError):
        grid.cells([200.0], [0.0])


def test_class_fractions_map_clc_codes_to_ben19_and_unlabeled():
    ref = np.full((120, 120), 999, dtype=np.uint16)
    ref[:60, :] = 312  # Coniferous forest
    ref[60:90, :] = 241  # Permanent crops (not Arable land)
    ref[90:, :60] = 122  # road: UNLABELED
    fractions = dict(
        zip(FRACTION_CLASSES, class_fractions(ref, where="t"), strict=True)
    )
    assert fractions["Coniferous forest"] == 0.5
    assert fractions["Permanent crops"] == 0.25
    assert fractions["UNLABELED"] == 0.25
    assert fractions["Arable land"] == 0.0
    assert sum(fractions.values()) == pytest.approx(1.0)


def test_class_fractions_reject_unknown_codes_naming_the_file():
    ref = np.full((4, 4), 311, dtype=np.uint16)
    ref[0, 0] = 7
    with pytest.raises(InputDataError, match="somewhere.tif.*7"):
        class_fractions(ref, where="somewhere.tif")
    ref[0, 0] = 4000
    with pytest.raises(InputDataError, match="4000"):
        class_fractions(ref, where="somewhere.tif")


def test_resolve_class_accepts_names_slugs_and_columns():
    assert resolve_class("coniferous_forest") == "Coniferous forest"
    assert (
        resolve_class("Transitional woodland, shrub") == "Transitional woodland, shrub"
    )
    assert resolve_class("fraction_unlabeled") == "UNLABELED"
    assert resolve_class("inland WETLANDS") == "Inland wetlands"
    with pytest.raises(InputDataError, match="unknown class"):
        resolve_class("Forest")


def _square(x: float, y: float, side: float = 1200.0):
    return shapely.box(x, y, x + side, y + side)


def test_overlaps_follow_the_pipeline_rule():
    laea = np.array(
        [
            _square(0, 0),  # 0: product A
            _square(600, 0),  # 1: product B, half overlap with 0 -> share 0.25
            _square(1190, 0),  # 2: product B, 10 m strip with 0 -> share 0.0042
            _square(0, 0),  # 3: product C, other season -> never
            _square(300, 0),  # 4: product A (same product as 0) -> never
        ],
        dtype=object,
    )
    products = ["A", "B", "B", "C", "A"]
    seasons = ["summer", "summer", "summer", "fall", "summer"]
    got = overlapping_patches(laea, products, seasons, overlap_threshold=0.01)
    # share > 0.5 * 0.01: the 10 m strip (0.0042) is below, the half overlap above
    assert sorted(got[0]) == [1]
    assert sorted(got[1]) == [0, 4]
    assert got[2] == [4] or got[2] == []
    assert got[3] == []
    strip = overlapping_patches(laea, products, seasons, overlap_threshold=0.008)
    assert 2 in strip[0]  # 0.0042 > 0.004


def test_hilbert_key_keeps_neighbours_close():
    lon = np.array([10.0, 10.001, -70.0])
    lat = np.array([50.0, 50.001, -30.0])
    key = hilbert_key(lon, lat).astype(np.int64)
    assert abs(key[0] - key[1]) < abs(key[0] - key[2])


def test_read_tile_ids_maps_tile_folders_and_rejects_bad_tables(tmp_path, repo):
    refs = read_tile_ids(repo / "tracked-artifacts/demo/bigearthnet_s2_tile_ids.csv")
    ref = refs["S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"]
    assert (
        ref.l1c_product
        == "S2A_MSIL1C_20170613T101031_N0205_R022_T33UUP_20170613T101608"
    )
    assert ref.l2a_product.endswith("_T33UUP_20240101T000000")
    bad = tmp_path / "ids.csv"
    bad.write_text("name,id\nx,y\n")
    with pytest.raises(InputDataError, match="header 'tile,id'"):
        read_tile_ids(bad)
    bad.write_text("tile,id\nnot-a-product.SAFE,y\n")
    with pytest.raises(InputDataError, match="line 2"):
        read_tile_ids(bad)


@pytest.fixture(scope="module")
def synthetic():
    return synthetic_catalogue(3000, seed=3, tile_side_patches=20)


def test_synthetic_rows_have_the_schema_and_consistent_derived_columns(synthetic):
    assert synthetic.schema.equals(CATALOGUE_SCHEMA)
    rows = synthetic.to_pylist()
    assert len({r["id"] for r in rows}) == len(rows) == 3000
    for r in rows[:200]:
        assert r["id"] == r["patch_id"]
        poly = shapely.from_wkb(r["geometry"])
        assert shapely.is_ccw(poly.exterior)
        b = r["bbox"]
        assert poly.bounds == pytest.approx(
            (b["xmin"], b["ymin"], b["xmax"], b["ymax"])
        )
        assert r["proj:code"] == f"EPSG:326{r['tile'][:2]}"
        assert r["collection"] in r["assets"]["B02"]["href"]
        assert sum(r[c] for c in FRACTION_COLUMNS) == pytest.approx(1.0)
        # overlaps are symmetric
        for other in r["overlapping_patches"]:
            assert (
                r["id"]
                in next(x for x in rows if x["id"] == other)["overlapping_patches"]
            )


def test_catalogue_parquet_is_geoparquet_and_deterministic(synthetic, tmp_path):
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    for path in (a, b):
        write_catalogue_parquet(
            synthetic, path, geo=geo_metadata(synthetic), stac={"version": "1.0.0"}
        )
    assert a.read_bytes() == b.read_bytes()
    meta = pq.read_metadata(a)
    geo = json.loads(meta.metadata[b"geo"])
    assert geo["version"] == "1.1.0"
    column = geo["columns"]["geometry"]
    assert column["covering"]["bbox"]["xmin"] == ["bbox", "xmin"]
    assert column["crs"]["id"] == {"authority": "EPSG", "code": 4326}
    assert meta.num_row_groups == 1  # 3000 rows < 8192
    frame = gpd.read_parquet(a)
    assert frame.crs.to_epsg() == 4326
    xmin, ymin, xmax, ymax = frame.total_bounds
    assert column["bbox"] == pytest.approx([xmin, ymin, xmax, ymax])
    assert json.loads(meta.metadata[b"stac-geoparquet"])["version"] == "1.0.0"


def test_rows_are_in_hilbert_order(synthetic):
    native = np.array(synthetic["proj:bbox"].to_pylist())
    epsg = np.array([int(c[5:]) for c in synthetic["proj:code"].to_pylist()])
    shapes = footprints(epsg, native[:, 0], native[:, 1], native[:, 2], native[:, 3])
    key = hilbert_key(shapes.centre_lon, shapes.centre_lat).astype(np.int64)
    ids = synthetic["id"].to_pylist()
    assert list(zip(key.tolist(), ids, strict=True)) == sorted(
        zip(key.tolist(), ids, strict=True)
    )
    assert len(set(key.tolist())) > 100  # the key really varies


def test_subset_copies_never_share_an_inode(tmp_path):
    from benpipe.catalogue.subset import FileCopier

    src = tmp_path / "a.tif"
    src.write_bytes(b"x" * 5000)
    copy = FileCopier()
    for i in range(3):
        dst = tmp_path / f"b{i}.tif"
        copy(src, dst)
        assert dst.read_bytes() == src.read_bytes()
        assert dst.stat().st_ino != src.stat().st_ino
        assert src.stat().st_nlink == 1
    assert sum(copy.counts.values()) == 3


def test_bad_dataset_folders_are_named_in_the_error(tmp_path):
    import pyarrow as pa

    from benpipe.catalogue.io import read_dataset_metadata

    with pytest.raises(InputDataError, match="metadata.parquet is missing"):
        read_dataset_metadata(tmp_path)
    pq.write_table(pa.table({"patch_id": ["x"]}), tmp_path / "metadata.parquet")
    pq.write_table(
        pa.table({"patch_id": ["y"]}),
        tmp_path / "metadata_for_patches_with_snow_cloud_or_shadow.parquet",
    )
    with pytest.raises(InputDataError, match="expected the published"):
        read_dataset_metadata(tmp_path)


def test_patches_of_tiles_missing_from_the_tile_table_are_refused(synthetic):
    from benpipe.catalogue.core import TileRef, describe_metadata
    from benpipe.dataset.layout import METADATA_COLUMNS

    meta = synthetic.select(list(METADATA_COLUMNS))
    only = synthetic["collection"][0].as_py()
    tiles = {only: TileRef("L1C", synthetic["l2a_product"][0].as_py(), "id")}
    with pytest.raises(InputDataError, match="no L1C product in the tile-id table"):
        describe_metadata(meta, tiles, reference_season_quirk=True)
