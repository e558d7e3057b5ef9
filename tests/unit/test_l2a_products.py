"""The L1C/L2A reader (benpipe.l2a.products): metadata, band paths, quality, validation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from benpipe.errors import ProductLayoutError
from benpipe.l2a.fallback import convert_fallback
from benpipe.l2a.products import open_l1c, open_l2a
from benpipe.names import BAND_RESOLUTION_M, BANDS

from .l2a_fixture import L1C_NAME, L2A_NAME, PASSED_ALL, make_l1c_safe


@pytest.fixture(scope="module")
def l2a(tmp_path_factory: pytest.TempPathFactory) -> Path:
    l1c = make_l1c_safe(tmp_path_factory.mktemp("l1c"))
    return convert_fallback(l1c, tmp_path_factory.mktemp("l2a"))


def test_open_l2a_metadata(l2a: Path) -> None:
    product = open_l2a(l2a)
    assert product.name == L2A_NAME
    assert product.path == l2a
    assert product.epsg == 32633
    assert (product.ulx, product.uly) == (300000.0, 5900040.0)
    assert product.tile_side_m == 1200.0
    assert product.sensing_time == datetime(2017, 6, 13, 10, 10, 31, 26000, tzinfo=UTC)
    assert product.quality_checks == PASSED_ALL
    assert product.fails_quality is False
    assert product.processor == "benpipe-fallback-dos1 2"
    assert product.is_fallback


def test_band_paths_at_native_resolution(l2a: Path) -> None:
    product = open_l2a(l2a)
    for band in BANDS:
        res_m = BAND_RESOLUTION_M[band]
        path = product.band_path(band)
        assert path.parent.name == f"R{res_m}m"
        assert path.name == f"T33UUP_20170613T101031_{band}_{res_m}m.jp2"
        data = product.read_band(band)
        assert data.dtype == np.uint16
        assert data.shape == (1200 // res_m, 1200 // res_m)
    assert product.scl_path.name == "T33UUP_20170613T101031_SCL_20m.jp2"
    with pytest.raises(ProductLayoutError, match="unknown band 'B10'"):
        product.band_path("B10")
    product.validate()


def test_tile_side_comes_from_mtd_tl(tmp_path: Path) -> None:
    l1c = make_l1c_safe(tmp_path / "in", side_px=240, epsg=32629, ulx=499980.0,
                        uly=4300020.0)  # fmt: skip
    product = open_l2a(convert_fallback(l1c, tmp_path / "out"))
    assert product.tile_side_m == 2400.0
    assert (product.epsg, product.ulx, product.uly) == (32629, 499980.0, 4300020.0)
    assert product.read_band("B01").shape == (40, 40)
    product.validate()


@pytest.mark.parametrize(
    ("check", "value", "fails"),
    [
        ("GEOMETRIC_QUALITY", "FAILED", True),
        ("RADIOMETRIC_QUALITY", "FAILED", True),
        ("SENSOR_QUALITY", "FAILED", True),
        ("GENERAL_QUALITY", "FAILED", True),
        ("FORMAT_CORRECTNESS", "FAILED", False),  # not in the reference's view
    ],
)
def test_quality_flags(tmp_path: Path, check: str, value: str, fails: bool) -> None:
    checks = dict(PASSED_ALL, **{check: value})
    l1c = make_l1c_safe(tmp_path / "in", checks=checks, side_px=60)
    assert open_l1c(l1c).fails_quality is fails
    product = open_l2a(convert_fallback(l1c, tmp_path / "out"))
    assert product.quality_checks[check] == value
    assert product.fails_quality is fails


def test_open_l1c(tmp_path: Path) -> None:
    l1c = open_l1c(make_l1c_safe(tmp_path, side_px=60))
    assert l1c.name == L1C_NAME
    assert l1c.processing_baseline == "02.05"
    assert l1c.quantification_value == 10000
    assert set(l1c.radio_add_offset.values()) == {0}
    assert l1c.band_path("B10").name == "T33UUP_20170613T101031_B10.jp2"
    assert l1c.read_band("B10").shape == (10, 10)
    assert l1c.tile_side_m == 600.0


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_gdal_sentinel2_driver_reads_fallback_product(l2a: Path) -> None:
    """The reference ingests L2A through GDAL's SENTINEL2 driver (§5.2 D2)."""
    with rasterio.open(l2a / "MTD_MSIL2A.xml") as src:
        tags = src.tags()
        subdatasets = src.subdatasets
    assert tags["PRODUCT_URI"] == f"{L2A_NAME}.SAFE"
    assert tags["SPECIAL_VALUE_NODATA"] == "0"
    assert tags["GEOMETRIC_QUALITY"] == "PASSED"
    assert [s.rsplit(":", 2)[1] for s in subdatasets if ":TCI:" not in s] == [
        "10m",
        "20m",
        "60m",
    ]


# ---------------------------------------------------------------- validation


@pytest.fixture
def broken(l2a: Path, tmp_path: Path) -> Path:
    import shutil

    copy = tmp_path / l2a.name
    shutil.copytree(l2a, copy)
    return copy


def test_validate_names_missing_band(broken: Path) -> None:
    open_l2a(broken).band_path("B8A").unlink()
    with pytest.raises(ProductLayoutError, match=rf"{L2A_NAME}.*B8A_20m\.jp2"):
        open_l2a(broken).validate()


def test_validate_names_missing_scl(broken: Path) -> None:
    open_l2a(broken).scl_path.unlink()
    with pytest.raises(ProductLayoutError, match=r"SCL_20m\.jp2"):
        open_l2a(broken).validate()


def test_validate_rejects_wrong_size_and_crs(broken: Path) -> None:
    product = open_l2a(broken)
    path = product.band_path("B12")
    with rasterio.open(
        path, "w", driver="JP2OpenJPEG", width=50, height=50, count=1, dtype="uint16",
        crs="EPSG:32633", transform=Affine(20, 0, 300000, 0, -20, 5900040),
        REVERSIBLE="YES", QUALITY="100",
    ) as dst:  # fmt: skip
        dst.write(np.ones((50, 50), dtype=np.uint16), 1)
    with pytest.raises(
        ProductLayoutError, match=r"B12_20m\.jp2 is 50x50 px, expected 60x60"
    ):
        product.validate()
    with rasterio.open(
        path, "w", driver="JP2OpenJPEG", width=60, height=60, count=1, dtype="uint16",
        crs="EPSG:32632", transform=Affine(20, 0, 300000, 0, -20, 5900040),
        REVERSIBLE="YES", QUALITY="100",
    ) as dst:  # fmt: skip
        dst.write(np.ones((60, 60), dtype=np.uint16), 1)
    with pytest.raises(ProductLayoutError, match=r"EPSG:32632, expected EPSG:32633"):
        product.validate()


def test_missing_metadata_is_named(broken: Path) -> None:
    (broken / "MTD_MSIL2A.xml").unlink()
    with pytest.raises(ProductLayoutError, match=r"MTD_MSIL2A\.xml is missing"):
        open_l2a(broken)


def test_two_granules_are_rejected(broken: Path) -> None:
    (broken / "GRANULE" / "L2A_T33UUP_extra").mkdir()
    with pytest.raises(ProductLayoutError, match="exactly one folder"):
        open_l2a(broken)


def test_cli_convert_and_info(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from benpipe.cli import main

    l1c = make_l1c_safe(tmp_path / "in", side_px=60)
    runner = CliRunner()
    converted = runner.invoke(
        main, ["-q", "convert-l2a", str(l1c), "--out", str(tmp_path / "o")]
    )
    assert converted.exit_code == 0, converted.output
    safe = tmp_path / "o" / f"{L2A_NAME}.SAFE"
    info = runner.invoke(main, ["l2a-info", str(safe)])
    assert info.exit_code == 0, info.output
    data = json.loads(info.output)
    assert data["processor"] == "benpipe-fallback-dos1 2"
    assert data["bands"]["B8A"].endswith("R20m/T33UUP_20170613T101031_B8A_20m.jp2")
    open_l2a(safe).band_path("B01").unlink()
    broken = runner.invoke(main, ["l2a-info", str(safe)])
    assert broken.exit_code == 1 and "B01_60m.jp2" in broken.output
