from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest

from benpipe.errors import NamingError
from benpipe.names import (
    l2a_name_for,
    parse_patch_name,
    parse_product_name,
    parse_s1_name,
    parse_v1_patch_name,
    patch_name,
    tile_dir_for,
    v1_patch_name,
)

L1C = "S2A_MSIL1C_20170613T101031_N0205_R022_T33UUP_20170613T101608"


def test_l2a_name_fixes_baseline_and_generation_time():
    assert l2a_name_for(L1C + ".SAFE") == (
        "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_20240101T000000"
    )


def test_tile_dir_drops_discriminator_for_l1c_and_l2a():
    expected = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
    assert tile_dir_for(L1C) == expected
    assert tile_dir_for(l2a_name_for(L1C)) == expected


def test_patch_name_pads_col_then_row():
    assert patch_name(L1C, col=26, row=57) == (
        "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_26_57"
    )
    assert patch_name(L1C, col=5, row=3).endswith("_05_03")


def test_patch_name_round_trip():
    name = patch_name(L1C, col=0, row=90)
    parsed = parse_patch_name(name)
    assert (parsed.col, parsed.row) == (0, 90)
    assert parsed.name == name


def test_sensing_time_uses_24_hour_clock():
    product = parse_product_name(
        "S2B_MSIL1C_20180529T115401_N0206_R023_T29SNB_20180529T120000"
    )
    assert product.sensing_time == datetime(2018, 5, 29, 11, 54, 1, tzinfo=UTC)


def test_bad_product_name_names_the_value():
    with pytest.raises(NamingError, match="S2A_MSIL1C_bogus"):
        parse_product_name("S2A_MSIL1C_bogus")


@pytest.mark.parametrize(
    ("v1", "expected"),
    [
        ("S2A_MSIL2A_20171219T095408_1_2", datetime(2017, 12, 19, 9, 54, 8)),
        ("S2B_MSIL2A_20180204T94160_0_2", datetime(2018, 2, 4, 9, 41, 59)),
        ("S2A_MSIL2A_20171219T95461_10_22", datetime(2017, 12, 19, 9, 54, 59)),
    ],
)
def test_v1_names_repair_reference_time_defects(v1, expected):
    parsed = parse_v1_patch_name(v1)
    assert parsed.sensing_time == expected.replace(tzinfo=UTC)


def test_v1_name_keeps_unpadded_xy():
    assert v1_patch_name(L1C, col=5, row=13) == "S2A_MSIL2A_20170613T101031_5_13"
    parsed = parse_v1_patch_name("S2A_MSIL2A_20170613T101031_5_13")
    assert (parsed.col, parsed.row) == (5, 13)


def test_s1_group_drops_mgrs_and_xy():
    s1 = parse_s1_name("S1A_IW_GRDH_1SDV_20170613T165043_33UUP_74_73")
    assert s1.group == "S1A_IW_GRDH_1SDV_20170613T165043"
    assert (s1.mgrs, s1.col, s1.row) == ("33UUP", 74, 73)


def test_reference_metadata_names_parse_and_agree(reference_artifacts):
    """Every published patch id, s1 and s2v1 name parses; x,y agree (§11)."""
    table = pq.read_table(
        reference_artifacts / "metadata_for_patches_with_snow_cloud_or_shadow.parquet",
        columns=["patch_id", "s1_name", "s2v1_name"],
    ).to_pylist()
    for row in table:
        patch = parse_patch_name(row["patch_id"])
        s1 = parse_s1_name(row["s1_name"])
        v1 = parse_v1_patch_name(row["s2v1_name"])
        assert (patch.col, patch.row) == (s1.col, s1.row) == (v1.col, v1.row)
        assert patch.tile_dir.endswith("_T" + s1.mgrs)
