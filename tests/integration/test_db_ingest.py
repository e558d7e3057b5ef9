"""Validation of the ingest inputs: clear errors naming the file and the problem.

These checks run before any database access, so they need no PostGIS.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box

from benpipe.db.ingest import (
    ingest_clc,
    ingest_countries,
    ingest_v1_footprints,
    read_clc,
)
from benpipe.db.lifecycle import DbSettings
from benpipe.errors import InputDataError, LabelCoverageError

LAYER = "U2018_CLC2018_V2020_20u1"
NOWHERE = DbSettings.from_mapping({"url": "postgresql://nobody@127.0.0.1:1/none"})


def write_clc(
    path: Path,
    *,
    codes: list[str],
    crs: str = "EPSG:3035",
    column: str = "Code_18",
    layer: str = LAYER,
) -> Path:
    frame = gpd.GeoDataFrame(
        {
            "ID": [f"EU_{i}" for i in range(len(codes))],
            column: codes,
            "Remark": [None] * len(codes),
            "Area_Ha": [100.0] * len(codes),
        },
        geometry=[
            box(4.5e6 + i * 1000, 2.8e6, 4.5e6 + (i + 1) * 1000, 2.801e6)
            for i in range(len(codes))
        ],
        crs=crs,
    )
    frame.to_file(path, layer=layer, driver="GPKG")
    return path


def test_valid_clc_is_read_with_integer_codes(tmp_path: Path) -> None:
    frame = read_clc(write_clc(tmp_path / "ok.gpkg", codes=["311", "999"]), layer=LAYER)
    assert frame["code_18"].tolist() == [311, 999]
    assert frame["clc_id"].tolist() == ["EU_0", "EU_1"]


def test_empty_clc_layer_is_refused_naming_file_and_layer(tmp_path: Path) -> None:
    """The right layer with 0 features: refused at ingest, not later."""
    path = write_clc(tmp_path / "empty.gpkg", codes=["311"])
    frame = gpd.read_file(path, layer=LAYER).iloc[0:0]
    path.unlink()
    frame.to_file(path, layer=LAYER, driver="GPKG")
    assert len(gpd.read_file(path, layer=LAYER)) == 0
    with pytest.raises(
        LabelCoverageError, match=f"empty.gpkg, layer {LAYER} has no features"
    ):
        ingest_clc(NOWHERE, path, layer=LAYER)


def test_all_999_clc_is_refused(tmp_path: Path) -> None:
    path = write_clc(tmp_path / "nodata.gpkg", codes=["999", "999", "999"])
    with pytest.raises(
        LabelCoverageError,
        match="nodata.gpkg, layer .*: all 3 features have Code_18 999",
    ):
        ingest_clc(NOWHERE, path, layer=LAYER)


def test_corrupt_clc_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.gpkg"
    path.write_bytes(b"SQLite format 3\x00" + b"\x13" * 500)
    with pytest.raises(LabelCoverageError, match="corrupt.gpkg.*cannot be opened"):
        read_clc(path, layer=LAYER)


def test_missing_clc_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(LabelCoverageError, match="absent.gpkg does not exist"):
        read_clc(tmp_path / "absent.gpkg", layer=LAYER)


def test_missing_layer_lists_the_layers(tmp_path: Path) -> None:
    path = write_clc(tmp_path / "other.gpkg", codes=["311"], layer="something_else")
    with pytest.raises(LabelCoverageError, match="no layer .*something_else"):
        read_clc(path, layer=LAYER)


def test_missing_code_column(tmp_path: Path) -> None:
    path = write_clc(tmp_path / "nocode.gpkg", codes=["311"], column="CODE_12")
    with pytest.raises(LabelCoverageError, match="nocode.gpkg.*Code_18 is missing"):
        read_clc(path, layer=LAYER)


def test_wrong_crs(tmp_path: Path) -> None:
    path = write_clc(tmp_path / "wgs.gpkg", codes=["311"], crs="EPSG:4326")
    with pytest.raises(
        LabelCoverageError, match="wgs.gpkg.*EPSG:4326, expected EPSG:3035"
    ):
        read_clc(path, layer=LAYER)


def test_codes_outside_the_clc_domain(tmp_path: Path) -> None:
    path = write_clc(tmp_path / "codes.gpkg", codes=["311", "777", "abc"])
    with pytest.raises(LabelCoverageError, match=r"2 features have a Code_18 outside"):
        read_clc(path, layer=LAYER)


def test_countries_without_name_long(tmp_path: Path) -> None:
    path = tmp_path / "countries.geojson"
    gpd.GeoDataFrame(
        {"NAME": ["Austria"]}, geometry=[box(9, 46, 17, 49)], crs="EPSG:4326"
    ).to_file(path, driver="GeoJSON")
    with pytest.raises(InputDataError, match="countries.geojson has no NAME_LONG"):
        ingest_countries(NOWHERE, path)


def test_v1_folder_without_parquets(tmp_path: Path) -> None:
    with pytest.raises(
        InputDataError, match="no bigearthnet_v1_spatial_<EPSG>.parquet"
    ):
        ingest_v1_footprints(NOWHERE, tmp_path)
