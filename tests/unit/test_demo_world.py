"""The synthetic demo world: determinism, formats and the manifest's facts."""

from __future__ import annotations

import hashlib
import json
import stat
import uuid
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import blake3
import numpy as np
import pyarrow.parquet as pq
import pyogrio
import pytest
import rasterio
import shapely
from affine import Affine
from click.testing import CliRunner
from pyproj import Transformer
from rasterio.features import rasterize

from benpipe.cli import main
from benpipe.demo import WorldParams, generate_world
from benpipe.errors import ConfigError
from benpipe.names import BAND_RESOLUTION_M, L1C_BANDS, parse_v1_patch_name
from digests import tree_digests

REFERENCE = (
    Path(__file__).resolve().parents[2].parent / "shared" / "reference-artifacts"
)
BEN_COUNTRIES = {
    "Austria", "Belgium", "Finland", "Ireland", "Kosovo", "Lithuania",
    "Luxembourg", "Portugal", "Serbia", "Switzerland",
}  # fmt: skip


def from_origin(west: float, north: float, xres: float, yres: float) -> Affine:
    return Affine(xres, 0.0, west, 0.0, -yres, north)


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "world"
    generate_world(out, WorldParams(seed=0))
    return out


@pytest.fixture(scope="session")
def manifest(world: Path) -> dict[str, Any]:
    return json.loads((world / "manifest.json").read_text())


def _product(manifest: dict[str, Any], key: str) -> dict[str, Any]:
    return next(p for p in manifest["products"] if p["key"] == key)


def _zip_members(world: Path, product: dict[str, Any]) -> list[str]:
    with zipfile.ZipFile(world / product["zip"]) as zf:
        return zf.namelist()


# --- determinism -------------------------------------------------------------


def test_same_seed_gives_identical_bytes(world: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate_world(again, WorldParams(seed=0))
    first, second = tree_digests(world), tree_digests(again)
    assert first == second
    assert len(first) > 100


def test_different_seed_gives_different_bytes(world: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    generate_world(other, WorldParams(seed=1, products=("P4",), s1_rasters=False))
    a, b = tree_digests(world), tree_digests(other)
    for name in (
        "cdse/products/S2B_MSIL1C_20180204T094159_N0206_R036_T29SND_20180204T094201.zip",
        "U2018_CLC2018_V2020_20u1.gpkg",
        "tile_names_and_links.csv",
    ):
        assert a[name] != b[name], name
    # seed-independent files stay the same
    assert (
        a["ne_110m_admin_0_countries.geojson"] == b["ne_110m_admin_0_countries.geojson"]
    )


def test_one_product_alone_is_identical_to_the_full_world(
    world: Path, tmp_path: Path
) -> None:
    alone = tmp_path / "alone"
    generate_world(alone, WorldParams(seed=0, products=("P4",), s1_rasters=False))
    a, b = tree_digests(world), tree_digests(alone)
    assert {k for k in b if k.startswith("cdse/products/")} == {
        "cdse/products/S2B_MSIL1C_20180204T094159_N0206_R036_T29SND_20180204T094201.zip"
    }
    for name, digest in b.items():
        if name in ("manifest.json", "cdse/catalogue.json"):
            continue
        assert a[name] == digest, name


def test_manifest_lists_every_file_hash(world: Path, manifest: dict[str, Any]) -> None:
    hashes = tree_digests(world)
    del hashes["manifest.json"]
    assert manifest["files"] == hashes


def test_refuses_existing_directory_without_overwrite(world: Path) -> None:
    with pytest.raises(ConfigError, match="--overwrite"):
        generate_world(world, WorldParams(seed=0))


# --- L1C SAFE zips -----------------------------------------------------------


@pytest.mark.parametrize("key", ["P1", "P2", "P3", "P4"])
def test_jp2_bands_have_intended_grid(
    world: Path, manifest: dict[str, Any], key: str
) -> None:
    product = _product(manifest, key)
    members = _zip_members(world, product)
    jp2 = sorted(m for m in members if m.endswith(".jp2"))
    assert len(jp2) == 13
    side = product["tile_side_m"]
    for band in L1C_BANDS:
        (member,) = [m for m in jp2 if m.endswith(f"_{band}.jp2")]
        res = BAND_RESOLUTION_M[band]
        with rasterio.open(f"/vsizip/{world / product['zip']}/{member}") as ds:
            assert ds.crs.to_epsg() == product["epsg"]
            assert ds.transform == from_origin(product["ulx"], product["uly"], res, res)
            assert ds.shape == (side // res, side // res)
            assert ds.dtypes == ("uint16",)
            data = ds.read(1)
        strip_from = product["nodata_strip_from_m"]
        if strip_from is None:
            assert data.min() > 0, band
        else:
            assert (data[:, strip_from // res :] == 0).all(), band
            assert data[:, : strip_from // res].min() > 0, band


def test_invalid_patches_really_contain_zero(
    world: Path, manifest: dict[str, Any]
) -> None:
    for key in ("P1", "P2"):
        product = _product(manifest, key)
        members = _zip_members(world, product)
        (b01,) = [m for m in members if m.endswith("_B01.jp2")]
        with rasterio.open(f"/vsizip/{world / product['zip']}/{b01}") as ds:
            data = ds.read(1)
        n = product["patches_per_side"]
        zero_patches = sorted(
            [c, r]
            for r in range(n)
            for c in range(n)
            if (data[r * 20 : (r + 1) * 20, c * 20 : (c + 1) * 20] == 0).any()
        )
        assert manifest["invalid_patches"][product["l2a_name"]] == zero_patches
    assert len(manifest["invalid_patches"][_product(manifest, "P1")["l2a_name"]]) == 10


def test_safe_layout_and_metadata(world: Path, manifest: dict[str, Any]) -> None:
    for product in manifest["products"]:
        root = f"{product['name']}.SAFE/"
        members = _zip_members(world, product)
        assert members == sorted(members)
        assert all(m.startswith(root) for m in members)
        for folder in ("AUX_DATA/", "HTML/", "rep_info/"):
            assert root + folder in members
        assert any(m.startswith(root + "DATASTRIP/DS_") and m.endswith("/QI_DATA/")
                   for m in members)  # fmt: skip
        granules = {
            m.split("/")[2] for m in members if m.startswith(root + "GRANULE/L1C_T")
        }
        (granule,) = granules
        assert granule.startswith(f"L1C_T{product['mgrs_tile']}_A")
        for folder in ("AUX_DATA/", "QI_DATA/", "IMG_DATA/"):
            assert f"{root}GRANULE/{granule}/{folder}" in members
        with zipfile.ZipFile(world / product["zip"]) as zf:
            assert all(i.date_time == (2024, 1, 1, 0, 0, 0) for i in zf.infolist())
            mtd = ElementTree.fromstring(zf.read(root + "MTD_MSIL1C.xml"))
            tl = ElementTree.fromstring(zf.read(f"{root}GRANULE/{granule}/MTD_TL.xml"))
            assert zf.read(root + "manifest.safe").startswith(b"<?xml")
        assert mtd.findtext(".//PRODUCT_URI") == product["name"] + ".SAFE"
        assert mtd.findtext(".//PRODUCT_START_TIME") == product["product_start_time"]
        assert mtd.findtext(".//QUANTIFICATION_VALUE") == "10000"
        special = {
            e.findtext("SPECIAL_VALUE_TEXT"): e.findtext("SPECIAL_VALUE_INDEX")
            for e in mtd.iter("Special_Values")
        }
        assert special == {"NODATA": "0", "SATURATED": "65535"}
        checks = {e.get("checkType"): e.text for e in mtd.iter("quality_check")}
        assert checks == product["quality_checks"]
        assert tl.findtext(".//HORIZONTAL_CS_CODE") == f"EPSG:{product['epsg']}"
        for res in (10, 20, 60):
            size = tl.find(f".//Size[@resolution='{res}']")
            pos = tl.find(f".//Geoposition[@resolution='{res}']")
            assert size is not None and pos is not None
            assert int(size.findtext("NROWS", "")) == product["tile_side_m"] // res
            assert float(pos.findtext("ULX", "")) == product["ulx"]
            assert float(pos.findtext("ULY", "")) == product["uly"]
            assert int(pos.findtext("XDIM", "")) == res
    failing = {p["key"]: p["fails_quality"] for p in manifest["products"]}
    assert failing == {"P1": False, "P2": False, "P3": True, "P4": False}
    p3 = _product(manifest, "P3")["quality_checks"]
    assert [k for k, v in p3.items() if v == "FAILED"] == ["GEOMETRIC_QUALITY"]


def test_neighbour_overlaps_like_real_tiles(manifest: dict[str, Any]) -> None:
    p1, p2 = _product(manifest, "P1"), _product(manifest, "P2")
    assert p1["ulx"] + p1["tile_side_m"] - p2["ulx"] == 9840
    assert p2["origin_shift_m"] == p2["ulx"] - 399960
    assert p2["ulx"] % 60 == 0
    overlaps = manifest["overlaps"]
    assert overlaps == sorted(overlaps)
    n = p1["patches_per_side"]
    expected = []
    for row in range(n):
        for a in range(n):
            for b in range(n):
                left_a, left_b = p1["ulx"] + 1200 * a, p2["ulx"] + 1200 * b
                width = min(left_a, left_b) + 1200 - max(left_a, left_b)
                if width / 1200 > 0.01:
                    pair = [f"{p1['l2a_name'][:-16]}_{a:02d}_{row:02d}",
                            f"{p2['l2a_name'][:-16]}_{b:02d}_{row:02d}"]  # fmt: skip
                    expected.append(sorted(pair))
    assert overlaps == sorted(expected)
    assert len(overlaps) == n * (2 * n - 3)  # 2160 m shift: 20 % and 80 % overlaps


# --- catalogue, credentials --------------------------------------------------


def test_catalogue_matches_zips(world: Path) -> None:
    catalogue = json.loads((world / "cdse" / "catalogue.json").read_text())
    assert [e["Name"] for e in catalogue] == sorted(e["Name"] for e in catalogue)
    for entry in catalogue:
        name = entry["Name"].removesuffix(".SAFE")
        path = world / "cdse" / "products" / f"{name}.zip"
        assert entry["Id"] == str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"benpipe-demo:{name}.SAFE")
        )
        assert entry["ContentLength"] == path.stat().st_size
        data = path.read_bytes()
        # MD5 then BLAKE3, as CDSE lists them; the downloader verifies BLAKE3
        assert entry["Checksum"] == [
            {"Algorithm": "MD5", "Value": hashlib.md5(data).hexdigest()},
            {"Algorithm": "BLAKE3", "Value": blake3.blake3(data).hexdigest()},
        ]
        assert entry["Online"] is True


def test_netrc_is_private(world: Path) -> None:
    path = world / "cdse.netrc"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == "machine 127.0.0.1 login demo password demo-password\n"


# --- v1 files ----------------------------------------------------------------


def test_tile_names_and_links_format(world: Path, manifest: dict[str, Any]) -> None:
    raw = (world / "tile_names_and_links.csv").read_bytes()
    assert raw.endswith(b"\r\n")
    lines = raw.decode().split("\r\n")[:-1]
    assert "\n" not in "".join(lines)
    rows = [line.split(",") for line in lines]
    assert all(len(r) == 3 for r in rows)
    assert not rows[0][0].startswith("source")
    for v1, l1c, link in rows:
        parse_v1_patch_name(v1)
        assert l1c.endswith(".SAFE")
        assert link.startswith(
            "https://scihub.copernicus.eu/apihub/odata/v1/Products('"
        )
        assert link.endswith("')/$value")
    names = {r[0] for r in rows}
    assert len(names) == len(rows)
    counts = manifest["v1_patches"]
    assert sum(counts.values()) == len(rows)
    malformed = manifest["v1_malformed_names"]
    assert set(malformed) <= names
    tokens = {m.split("_")[2].split("T")[1] for m in malformed}
    assert {"94159", "094160", "094161"} <= tokens


def test_v1_patch_coverage(manifest: dict[str, Any]) -> None:
    p1 = _product(manifest, "P1")
    n = p1["patches_per_side"]
    without = {tuple(cr) for cr in manifest["patches_without_v1"][p1["l2a_name"]]}
    invalid = {tuple(cr) for cr in manifest["invalid_patches"][p1["l2a_name"]]}
    assert without - invalid, "some valid patches must lack a v1 name"
    assert invalid - without, "some invalid patches must have a v1 name"
    assert manifest["v1_patches"][p1["l2a_name"]] == n * n - len(without)


def test_v1_parquet_schema_matches_reference(world: Path) -> None:
    ref_path = REFERENCE / "ben-v1-metadata" / "bigearthnet_v1_spatial_32633.parquet"
    if not ref_path.exists():
        pytest.skip(f"reference artifacts not found at {REFERENCE}")
    ours = pq.ParquetFile(
        world / "ben-v1-metadata/bigearthnet_v1_spatial_32633.parquet"
    )
    ref = pq.ParquetFile(ref_path)
    assert ours.schema_arrow.remove_metadata().equals(
        ref.schema_arrow.remove_metadata()
    )
    for a, b in zip(ours.schema_arrow, ref.schema_arrow, strict=True):
        assert (a.name, a.type, a.nullable) == (b.name, b.type, b.nullable)
    geo_ours = json.loads(ours.schema_arrow.metadata[b"geo"])
    geo_ref = json.loads(ref.schema_arrow.metadata[b"geo"])
    assert geo_ours.keys() == geo_ref.keys()
    assert geo_ours["columns"]["geom"].keys() == geo_ref["columns"]["geom"].keys()
    assert geo_ours["columns"]["geom"]["crs"]["id"] == {
        "authority": "EPSG",
        "code": 32633,
    }


def test_v1_parquet_content(world: Path, manifest: dict[str, Any]) -> None:
    for epsg, keys in ((32633, ("P1", "P2", "P3")), (32629, ("P4",))):
        table = pq.read_table(
            world / f"ben-v1-metadata/bigearthnet_v1_spatial_{epsg}.parquet"
        )
        names = table.column("patch_name").to_pylist()
        assert names == sorted(names)
        assert len(names) == sum(
            manifest["v1_patches"][_product(manifest, k)["l2a_name"]] for k in keys
        )
        geoms = shapely.from_wkb(table.column("geom").to_pylist())
        assert set(shapely.get_type_id(geoms)) == {6}  # MultiPolygon
        assert np.allclose(shapely.area(geoms), 1_440_000)
        for name, ts in zip(
            names, table.column("sensing_time").to_pylist(), strict=True
        ):
            assert ts == parse_v1_patch_name(name).sensing_time


def test_s1_patches(world: Path, manifest: dict[str, Any]) -> None:
    lines = (world / "s1s2_mapping.csv").read_text().splitlines()
    pairs = dict(line.split(",") for line in lines)
    assert len(pairs) == sum(manifest["v1_patches"].values())
    assert len(set(pairs.values())) == len(pairs)
    folders = sorted(p.name for p in (world / "BigEarthNet-S1-v1").iterdir())
    assert folders == sorted(pairs.values())
    groups = {g for gs in manifest["s1_groups"].values() for g in gs}
    assert {s.rsplit("_", 3)[0] for s in pairs.values()} == groups
    corner = {p["mgrs_tile"]: p for p in manifest["products"]}
    for s1 in sorted(pairs.values())[::7]:
        mgrs, col, row = s1.rsplit("_", 3)[1:]
        product = corner[mgrs]
        for pol in ("VV", "VH"):
            path = world / "BigEarthNet-S1-v1" / s1 / f"{s1}_{pol}.tif"
            with rasterio.open(path) as ds:
                assert ds.shape == (120, 120)
                assert ds.dtypes == ("float32",)
                assert ds.crs.to_epsg() == product["epsg"]
                assert ds.transform == from_origin(
                    product["ulx"] + 1200 * int(col),
                    product["uly"] - 1200 * int(row),
                    10,
                    10,
                )
                assert ds.compression is None
                assert -40 < float(ds.read(1).mean()) < 0  # dB
    assert pairs["S2A_MSIL2A_20170613T101031_1_1"].endswith("_33UUP_1_1")


def test_snow_and_cloud_lists(world: Path, manifest: dict[str, Any]) -> None:
    snow_raw = (world / "patches_with_seasonal_snow.csv").read_bytes()
    cloud_raw = (world / "patches_with_cloud_and_shadow.csv").read_bytes()
    snow = snow_raw.decode().split("\r\n")[:-1]
    cloud = cloud_raw.decode().split("\r\n")[:-1]
    assert snow == manifest["snow"] and cloud == manifest["cloud"]
    assert snow and cloud and not set(snow) & set(cloud)
    kept_v1 = {e["v1_name"] for e in manifest["hand_designed"].values() if e["kept"]}
    assert set(snow) | set(cloud) <= kept_v1


# --- CLC and countries -------------------------------------------------------


def test_clc_geopackage_schema(world: Path, manifest: dict[str, Any]) -> None:
    path = world / "U2018_CLC2018_V2020_20u1.gpkg"
    (layer,) = pyogrio.list_layers(path)[:, 0]
    assert layer == "U2018_CLC2018_V2020_20u1"
    info = pyogrio.read_info(path, layer=layer)
    assert info["crs"] == "EPSG:3035"
    assert list(info["fields"]) == ["Code_18", "Remark", "Area_Ha", "ID"]
    assert info["ogr_types"] == ["OFTString", "OFTString", "OFTReal", "OFTString"]
    assert info["geometry_name"] == manifest["clc"]["geometry_column"] == "Shape"
    assert info["geometry_type"] == "MultiPolygon"
    frame = pyogrio.read_dataframe(path)
    assert frame["ID"].str.match(r"^EU_\d+$").all()
    assert frame["ID"].is_unique
    codes = set(frame["Code_18"].astype(int))
    assert codes & {122, 124, 131, 332, 423, 999}, "needs UNLABELED codes"
    assert frame.geometry.is_valid.all()
    # a partition: no overlaps
    union = shapely.union_all(frame.geometry.values)
    assert union.area == pytest.approx(frame.geometry.area.sum(), rel=1e-9)


def test_clc_far_from_p4(world: Path, manifest: dict[str, Any]) -> None:
    p4 = _product(manifest, "P4")
    tile = shapely.box(p4["ulx"], p4["uly"] - p4["tile_side_m"],
                       p4["ulx"] + p4["tile_side_m"], p4["uly"])  # fmt: skip
    to3035 = Transformer.from_crs(p4["epsg"], 3035, always_xy=True)
    area = shapely.transform(
        tile, lambda c: np.column_stack(to3035.transform(c[:, 0], c[:, 1]))
    ).buffer(100_000)
    frame = pyogrio.read_dataframe(world / "U2018_CLC2018_V2020_20u1.gpkg")
    assert not frame.geometry.intersects(area).any()


def test_designed_patches_have_exact_pixel_counts(
    world: Path, manifest: dict[str, Any]
) -> None:
    frame = pyogrio.read_dataframe(world / "U2018_CLC2018_V2020_20u1.gpkg")
    to_utm = Transformer.from_crs(3035, 32633, always_xy=True)
    utm = [
        shapely.transform(
            g, lambda c: np.column_stack(to_utm.transform(c[:, 0], c[:, 1]))
        )
        for g in frame.geometry
    ]
    shapes = list(zip(utm, frame["Code_18"].astype(int), strict=True))
    designed = manifest["hand_designed"]
    assert {e["kept"] for e in designed.values()} == {True, False}
    for name, expected in designed.items():
        product = next(
            p for p in manifest["products"] if p["name"] == expected["product"]
        )
        left = product["ulx"] + 1200 * expected["col"]
        top = product["uly"] - 1200 * expected["row"]
        burned = rasterize(
            shapes, out_shape=(120, 120), transform=from_origin(left, top, 10, 10),
            fill=999, dtype="uint16",
        )  # fmt: skip
        codes, counts = np.unique(burned, return_counts=True)
        got = {str(c): int(n) for c, n in zip(codes, counts, strict=True)}
        assert got == expected["pixel_counts"], name
    half = designed["S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_02_01"]
    assert half["labels"] == ["Arable land", "Inland waters"]
    assert half["pixel_counts"] == {"211": 7200, "512": 7200}


def test_countries_geojson(world: Path) -> None:
    frame = pyogrio.read_dataframe(world / "ne_110m_admin_0_countries.geojson")
    assert {"NAME_LONG", "NAME", "ISO_A3"} <= set(frame.columns)
    assert frame.crs.to_epsg() == 4326
    assert set(frame["NAME_LONG"]) >= BEN_COUNTRIES


# --- CLI ---------------------------------------------------------------------


def test_cli_help_documents_options() -> None:
    result = CliRunner().invoke(main, ["demo-world", "--help"])
    assert result.exit_code == 0
    for option in ("--out", "--seed", "--tile-size-px", "--products", "--overwrite",
                   "Examples"):  # fmt: skip
        assert option in result.output


def test_cli_rejects_bad_tile_size_and_existing_dir(
    world: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    bad = runner.invoke(main, ["demo-world", "--out", str(tmp_path / "x"),
                               "--tile-size-px", "1000"])  # fmt: skip
    assert bad.exit_code == 2
    assert "--tile-size-px" in bad.output
    exists = runner.invoke(main, ["demo-world", "--out", str(world)])
    assert exists.exit_code == 2
    assert "--overwrite" in exists.output
