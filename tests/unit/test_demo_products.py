"""``benpipe demo-world --products N``: which products a world of N holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from benpipe.demo.spec import PRODUCTS, REBEN_TILE_IDS, world_products
from benpipe.demo.world import read_product_names
from benpipe.errors import ConfigError, InputDataError
from benpipe.grid import s2_tile_corner, season_of
from benpipe.names import parse_product_name

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def reben_names() -> list[str]:
    return read_product_names(REPO / REBEN_TILE_IDS)


def test_the_reben_list_holds_125_products(reben_names: list[str]) -> None:
    assert len(reben_names) == 125
    assert PRODUCTS[0].name in reben_names


def test_up_to_four_products_are_the_demo_products(reben_names: list[str]) -> None:
    assert world_products(3, reben_names) == PRODUCTS[:3]
    assert world_products(4, reben_names) == PRODUCTS


def test_125_products_sit_at_their_real_tile_corners(reben_names: list[str]) -> None:
    specs = world_products(125, reben_names)
    assert [s.key for s in specs] == [f"P{i}" for i in range(1, 126)]
    assert len({s.name for s in specs}) == 125
    extra = specs[4:]
    # the list's products in its order, skipping the demo's own (P1) and the
    # T29SND winter product (P4 is the demo's T29SND winter product)
    demo = {p.name for p in PRODUCTS}
    t29snd_winter = "S2A_MSIL1C_20171221T112501_N0206_R037_T29SND_20171221T114356"
    expected = [n for n in reben_names if n not in demo and n != t29snd_winter]
    assert [s.name for s in extra] == expected[:121]
    # one product per tile and season: they would share v1 patches
    assert len({(s.mgrs, s.season) for s in specs}) == 125
    for spec in extra:
        product = parse_product_name(spec.name)
        assert (spec.epsg, spec.real_ulx, spec.real_uly) == s2_tile_corner(product.tile)
        assert spec.season == season_of(product.sensing_time)
        assert spec.has_clc and not spec.failed_checks and not spec.nodata_strip


def test_products_of_one_datatake_get_distinct_v1_time_offsets(
    reben_names: list[str],
) -> None:
    specs = world_products(125, reben_names)
    seen: dict[tuple[str, int], str] = {}
    for spec in specs:
        key = (parse_product_name(spec.name).datatake, spec.v1_time_offset_s)
        assert key not in seen, (spec.name, seen.get(key))
        seen[key] = spec.name
    # P1 and P2 share a datatake with T34VER: offsets 0, 1, then 2
    t34ver = next(s for s in specs if "_T34VER_" in s.name and "20170613" in s.name)
    assert t34ver.v1_time_offset_s == 2


def test_a_short_or_bad_product_list_is_a_named_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least 1"):
        world_products(0, [])
    with pytest.raises(InputDataError, match="only 4 usable"):
        world_products(6, [p.name for p in PRODUCTS])
    with pytest.raises(InputDataError, match="NOT_A_PRODUCT"):
        world_products(5, ["NOT_A_PRODUCT"])
    bad = tmp_path / "ids.csv"
    bad.write_text("name\nx\n")
    with pytest.raises(InputDataError, match="'tile' column"):
        read_product_names(bad)
    with pytest.raises(InputDataError, match="--product-names"):
        read_product_names(tmp_path / "missing.csv")
