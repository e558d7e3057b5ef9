from collections import Counter
from datetime import UTC, datetime

import pytest

from benpipe.errors import GridError
from benpipe.grid import (
    PatchGridParams,
    patch_bounds,
    patch_corner,
    patch_side_px,
    season_of,
    split_for_patch,
)

REAL = PatchGridParams(tile_side_m=109_800)


def test_full_tile_has_91_by_91_patches_and_drops_the_last_strip():
    assert REAL.patches_per_side == 91
    last = patch_bounds(300_000, 5_400_000, col=90, row=90, side_m=1200)
    assert last.right == 300_000 + 91 * 1200  # 600 m strip dropped
    assert last.bottom == 5_400_000 - 91 * 1200


def test_patch_origin_matches_reference_example():
    # ECOSYSTEM §5.1: T33UUP_75_43 → x 390000, y 5348400 with UL 300000/5400000
    corner = patch_corner(300_000, 5_400_000, col=75, row=43, side_m=1200)
    assert corner == (390_000, 5_348_400)
    box = patch_bounds(300_000, 5_400_000, col=75, row=43, side_m=1200)
    assert (box.left, box.bottom, box.right, box.top) == (
        390_000,
        5_347_200,
        391_200,
        5_348_400,
    )


def test_demo_tile_side_is_read_not_hard_coded():
    small = PatchGridParams(tile_side_m=12_000)
    assert small.patches_per_side == 10


def test_split_rings_follow_reference_distances():
    # realised d ranges (§5.2 D5): train 600-15600, validation 16200-27000
    assert split_for_patch(col=12, row=45, params=REAL) == "train"  # d = 15000
    assert split_for_patch(col=13, row=45, params=REAL) == "validation"  # 16200
    assert split_for_patch(col=22, row=45, params=REAL) == "validation"  # 27000
    assert split_for_patch(col=23, row=45, params=REAL) == "test"  # 27600
    counts = Counter(
        split_for_patch(col=c, row=r, params=REAL) for c in range(91) for r in range(91)
    )
    assert counts == {"train": 4056, "validation": 2109, "test": 2116}


def test_patch_side_must_be_multiple_of_resolution():
    assert patch_side_px(1200, 60) == 20
    with pytest.raises(GridError, match="multiple"):
        patch_side_px(1200, 70)


def test_patch_larger_than_tile_is_rejected():
    with pytest.raises(GridError, match="exceeds"):
        PatchGridParams(tile_side_m=1000, patch_side_m=1200)


@pytest.mark.parametrize(
    ("ts", "quirk", "season"),
    [
        (datetime(2017, 6, 13, 10, 10, 31), True, "summer"),
        (datetime(2017, 8, 31, 9, 50, 29), True, "winter"),  # reference quirk
        (datetime(2017, 8, 31, 9, 50, 29), False, "summer"),
        (datetime(2017, 11, 30, 0, 0, 0), True, "fall"),  # midnight is inside
        (datetime(2018, 2, 4, 9, 41, 59), True, "winter"),
        (datetime(2018, 5, 27, 9, 50, 0), True, "spring"),
        (datetime(2017, 10, 17, 10, 0, 29), True, "fall"),
    ],
)
def test_seasons(ts, quirk, season):
    assert season_of(ts.replace(tzinfo=UTC), reference_quirk=quirk) == season


# ---------------------------------------------------------------- S2 tile corners
def test_s2_tile_corner_of_known_tiles():
    from benpipe.grid import s2_tile_corner

    assert s2_tile_corner("31UGR") == (32631, 699_960.0, 5_600_040.0)
    assert s2_tile_corner("T33UUP") == (32633, 300_000.0, 5_400_000.0)
    for bad in ("31ugr", "31AGR", "31USR", "61UGR", "UGR"):
        with pytest.raises(GridError):
            s2_tile_corner(bad)


def test_s2_tile_corner_of_every_reben_product_with_v1_footprints(reference_artifacts):
    """Each footprint's corner minus its patch's x,y gives its tile's corner."""
    import geopandas as gpd
    import pandas as pd

    from benpipe.grid import s2_tile_corner
    from benpipe.names import parse_patch_name

    published = pd.concat(
        pd.read_parquet(reference_artifacts / name, columns=["patch_id", "s2v1_name"])
        for name in (
            "metadata.parquet",
            "metadata_for_patches_with_snow_cloud_or_shadow.parquet",
        )
    ).set_index("s2v1_name")["patch_id"]
    corners: dict[str, set[tuple[int, float, float]]] = {}
    for path in sorted((reference_artifacts / "ben-v1-metadata").glob("*.parquet")):
        frame = gpd.read_parquet(path)
        epsg = int(frame.crs.to_epsg())
        bounds = frame.set_index("patch_name").geometry.bounds
        common = bounds.index.intersection(published.index)
        for name, minx, maxy in zip(
            common, bounds.loc[common, "minx"], bounds.loc[common, "maxy"], strict=True
        ):
            patch = parse_patch_name(published[name])
            tile = patch.tile_dir.rsplit("_", 1)[1]
            corner = (epsg, minx - 1200 * patch.col, maxy + 1200 * patch.row)
            corners.setdefault(tile, set()).add(corner)
    assert len(corners) >= 20  # 22 tiles of 48 products
    for tile, found in sorted(corners.items()):
        assert found == {s2_tile_corner(tile)}, tile
