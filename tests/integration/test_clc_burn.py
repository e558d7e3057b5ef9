"""label_patches on CORINE geometry the way real CLC has it (PostGIS + burn).

* A large polygon (5,000 vertices, 360 km², like a sea or forest polygon)
  that ``ST_Subdivide`` cuts into box pieces: burnt whole, no pixel inside it
  may become 999 (burning the pieces, each transformed to UTM on its own,
  left ~60 pixel centres in the cracks between them here).
* Two overlapping polygons: the higher CLC id (byte order) wins, whatever
  the codes, as in the reference's overlay.
* A tile that CLC meets only with NODATA (999) polygons: a clear error naming
  the product and the CLC file.

The tile is 24 km in UTM 29N (20 x 20 patches), where EPSG:3035 and the UTM
zone disagree most, so the cracks are wide enough to catch pixel centres.
Starts its own embedded PostGIS.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import Transformer
from rasterio.features import rasterize

from benpipe.dataset.labelling import label_patches
from benpipe.db.ingest import ingest_clc
from benpipe.db.lifecycle import DbSettings, stop
from benpipe.db.schema import init_database
from benpipe.errors import DatabaseError, LabelCoverageError

from .grid import store_grid

pytestmark = pytest.mark.postgis

LAYER = "U2018_CLC2018_V2020_20u1"
EPSG = 32629
ULX, ULY, SIDE = 700_000.0, 4_500_000.0, 24_000.0
PRODUCT = "S2A_MSIL2A_20170613T112111_N9999_R037_T29SNB_20240101T000000"
#: A second product, 40 km east: only NODATA polygons meet it.
NODATA_PRODUCT = "S2A_MSIL2A_20170613T112111_N9999_R037_T29SPB_20240101T000000"
NODATA_ULX = ULX + 40_000


def _blob(vertices: int = 5000) -> shapely.Polygon:
    """A wiggly polygon over most of the tile, in the tile's UTM."""
    rng = np.random.default_rng(1)
    cx, cy = ULX + SIDE / 2, ULY - SIDE / 2
    angles = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    walk = rng.standard_normal(vertices).cumsum() / np.sqrt(vertices)
    radius = SIDE * 0.45 * (1 + 0.05 * np.sin(7 * angles) + 0.02 * walk)
    ring = np.c_[cx + radius * np.cos(angles), cy + radius * np.sin(angles)]
    return shapely.Polygon(ring)


def _to_3035(geom: shapely.Geometry) -> shapely.Geometry:
    to3035 = Transformer.from_crs(EPSG, 3035, always_xy=True)
    return shapely.transform(
        geom, lambda xy: np.column_stack(to3035.transform(xy[:, 0], xy[:, 1]))
    )


#: Two overlapping squares in the tile's north-west corner (outside the blob).
OVERLAP_A = shapely.box(ULX + 100, ULY - 1100, ULX + 1100, ULY - 100)  # EU_10, 311
OVERLAP_B = shapely.box(ULX + 600, ULY - 1100, ULX + 1100, ULY - 600)  # EU_9, 211


def _write_clc(path: Path) -> None:
    geoms = [
        _blob(),
        OVERLAP_A,
        OVERLAP_B,
        # NODATA over the second tile, and a real class far away from it
        shapely.box(
            NODATA_ULX - 500, ULY - SIDE - 500, NODATA_ULX + SIDE + 500, ULY + 500
        ),
        shapely.box(ULX - 30_000, ULY - 2_000, ULX - 28_000, ULY),
    ]
    frame = gpd.GeoDataFrame(
        {
            "ID": ["EU_2", "EU_10", "EU_9", "EU_8", "EU_7"],
            "Code_18": ["523", "311", "211", "999", "312"],
            "Remark": [None] * 5,
            "Area_Ha": [g.area / 1e4 for g in geoms],
        },
        geometry=[_to_3035(g) for g in geoms],
        crs="EPSG:3035",
    )
    frame.to_file(path, layer=LAYER, driver="GPKG")


def _store_grid(settings: DbSettings, product: str, ulx: float) -> None:
    store_grid(
        settings,
        product,
        epsg=EPSG,
        ulx=ulx,
        uly=ULY,
        tile_side_m=SIDE,
        season="Summer",
    )


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    root: Path = tmp_path_factory.mktemp("clc_burn")
    gpkg = root / "clc.gpkg"
    _write_clc(gpkg)
    settings = DbSettings.scratch(root)
    try:
        init_database(settings)
        clc = ingest_clc(settings, gpkg, layer=LAYER)
        _store_grid(settings, PRODUCT, ULX)
        _store_grid(settings, NODATA_PRODUCT, NODATA_ULX)
        info = label_patches(
            settings,
            PRODUCT,
            out_dir=root / "maps",
            clc_sha256=clc["sha256"],
            receipt=root / "labels.json",
        )
        yield {
            "settings": settings,
            "root": root,
            "clc": clc,
            "info": info,
            "maps": _mosaic(root / "maps"),
        }
    finally:
        stop(settings)


def _mosaic(folder: Path) -> np.ndarray:
    """The product's reference maps put back together (0 where no map)."""
    n = int(SIDE // 1200)
    out = np.zeros((n * 120, n * 120), dtype=np.uint16)
    for path in folder.rglob("*_reference_map.tif"):
        with rasterio.open(path) as src:
            col = int(round((src.transform.c - ULX) / 1200))
            row = int(round((ULY - src.transform.f) / 1200))
            out[row * 120 : (row + 1) * 120, col * 120 : (col + 1) * 120] = src.read(1)
    return out


def test_the_large_polygon_is_cut_into_many_pieces(labelled: dict) -> None:
    # the prefilter table holds the pieces; the burn used the whole polygon
    assert labelled["clc"]["rows"] == 5
    assert labelled["clc"]["subdivided_pieces"] > 30
    assert labelled["info"]["clc_polygons"] == 3  # EU_7 and EU_8 lie off the tile


def test_no_pixel_inside_a_subdivided_polygon_becomes_999(labelled: dict) -> None:
    maps = labelled["maps"]
    n_px = maps.shape[0]
    transform = Affine(10, 0, ULX, 0, -10, ULY)
    # pixel centres clearly inside the polygon (1 m from its boundary)
    inside = rasterize(
        [(_blob().buffer(-1.0), 1)],
        out_shape=(n_px, n_px),
        transform=transform,
        all_touched=False,
        dtype="uint8",
    ).astype(bool)
    assert inside.sum() > 3_000_000
    assert (maps[inside] != 0).all(), "every patch over the polygon has a map"
    holes = int((maps[inside] == 999).sum())
    assert holes == 0, f"{holes} pixels inside the polygon became 999"
    assert set(np.unique(maps[inside]).tolist()) == {523}


def test_overlapping_polygons_the_higher_id_wins(labelled: dict) -> None:
    maps = labelled["maps"]
    # EU_9 > EU_10 in byte order: 211 wins on the overlap, 311 elsewhere
    assert set(np.unique(maps[60:110, 60:110]).tolist()) == {211}
    assert set(np.unique(maps[15:55, 15:55]).tolist()) == {311}


def test_the_receipt_names_the_clc_it_burnt(labelled: dict) -> None:
    receipt = json.loads((labelled["root"] / "labels.json").read_text())
    assert receipt["clc_sha256"] == labelled["clc"]["sha256"]
    assert receipt["clc_source"].endswith("clc.gpkg")


def test_another_clc_than_the_runs_is_refused(labelled: dict, tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="holds the clc input .* but this run"):
        label_patches(
            labelled["settings"],
            PRODUCT,
            out_dir=tmp_path / "maps",
            clc_sha256="0" * 64,
        )
    assert not (tmp_path / "maps").exists()


def test_a_tile_with_only_nodata_clc_names_product_and_file(
    labelled: dict, tmp_path: Path
) -> None:
    with pytest.raises(LabelCoverageError) as caught:
        label_patches(labelled["settings"], NODATA_PRODUCT, out_dir=tmp_path / "maps")
    message = str(caught.value)
    assert f"product {NODATA_PRODUCT}" in message
    assert "every pixel of its 400 valid patches is 999" in message
    assert str(labelled["root"] / "clc.gpkg") in message
    assert "inputs.clc_gpkg" in message
    assert not (tmp_path / "maps").exists()


def test_reference_maps_do_not_depend_on_threads(
    labelled: dict, tmp_path: Path
) -> None:
    """Maps written on 3 threads are the files written on 1 (the fixture's)."""
    info = label_patches(
        labelled["settings"],
        PRODUCT,
        out_dir=tmp_path / "maps",
        clc_sha256=labelled["clc"]["sha256"],
        threads=3,
    )

    def files(root: Path) -> dict[str, bytes]:
        return {
            p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*.tif"))
        }

    one, three = files(labelled["root"] / "maps"), files(tmp_path / "maps")
    assert len(one) == labelled["info"]["reference_maps"] > 100
    assert one == three
    drop = ("timings_s", "schema")
    assert {k: v for k, v in info.items() if k not in drop} == {
        k: v for k, v in labelled["info"].items() if k not in drop
    }
