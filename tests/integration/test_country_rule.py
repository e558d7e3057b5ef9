"""The country rules of align_v1 on hand-placed patches (docs/labelling.md).

Two neighbouring countries share a border at x = 510 km (UTM 33N); patches
sit inside one, straddle the border unevenly, touch it, or lie outside both.
Under the default ``reference`` rule a patch on the border takes the country
that the reference's query (a KNN scan of a GiST index on the countries)
meets first, Austria here; under ``largest_share`` the country it shares
most with.
Starts its own embedded PostGIS (free port, tmp dir, fsync off).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from benpipe.dataset.cross_product import align_v1
from benpipe.db.lifecycle import DbSettings, connect, stop
from benpipe.db.schema import init_database
from benpipe.errors import ConfigError

pytestmark = pytest.mark.postgis

EPSG = 32633
Y0 = 5_300_000
#: name -> (x min, x max) of the country, y from Y0 to Y0 + 10 km.
COUNTRIES = {"Austria": (500_000, 510_000), "Belgium": (510_000, 520_000)}
#: patch -> (x of its left edge, {rule: expected country}, expected distance in m)
PATCHES = {
    "inside_austria": (
        501_200,
        {"reference": "Austria", "largest_share": "Austria"},
        0.0,
    ),
    # 400 m in Austria, 800 m in Belgium
    "mostly_belgium": (
        509_600,
        {"reference": "Austria", "largest_share": "Belgium"},
        0.0,
    ),
    # 800 m in Austria, 400 m in Belgium
    "mostly_austria": (
        509_200,
        {"reference": "Austria", "largest_share": "Austria"},
        0.0,
    ),
    # inside Austria, its edge on the border (distance 0 to both)
    "touching_belgium": (
        508_800,
        {"reference": "Austria", "largest_share": "Austria"},
        0.0,
    ),
    "inside_belgium": (
        512_000,
        {"reference": "Belgium", "largest_share": "Belgium"},
        0.0,
    ),
    "east_of_both": (
        525_000,
        {"reference": "Belgium", "largest_share": "Belgium"},
        5_000.0,
    ),
    "west_of_both": (
        497_000,
        {"reference": "Austria", "largest_share": "Austria"},
        1_800.0,
    ),
}
RULES = ("reference", "largest_share")


@pytest.fixture(scope="module")
def countries_of(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    root: Path = tmp_path_factory.mktemp("country")
    settings = DbSettings.scratch(root)
    try:
        init_database(settings)
        with connect(settings) as conn, conn.transaction():
            for name, (x0, x1) in COUNTRIES.items():
                conn.execute(
                    "INSERT INTO countries (name, geom) VALUES (%s, ST_Multi("
                    "ST_Transform(ST_Segmentize(ST_MakeEnvelope(%s, %s, %s, %s, %s),"
                    " 500), 4326)))",
                    (name, x0, Y0, x1, Y0 + 10_000, EPSG),
                )
            conn.execute(
                "INSERT INTO products (product_id, tile_dir, epsg, ulx, uly, "
                "tile_side_m, sensing_time, season, quality_checks, fails_quality, "
                "processor) VALUES ('P', 'T', %s, 490000, 5320000, 40000, "
                "'2017-06-13T10:10:31Z', 'Summer', '{}', false, 'test')",
                (EPSG,),
            )
            for col, (patch, (x, _, _)) in enumerate(PATCHES.items()):
                conn.execute(
                    'INSERT INTO patches (patch_id, product_id, col, "row", epsg, '
                    "season, split, valid, geom, geom_3035) SELECT %s, 'P', %s, 0, "
                    "%s, 'Summer', 'train', true, g, ST_Transform(g, 3035) FROM "
                    "ST_MakeEnvelope(%s, %s, %s, %s, %s) AS g",
                    (patch, col, EPSG, x, Y0 + 4_000, x + 1_200, Y0 + 5_200, EPSG),
                )
        found: dict[str, dict] = {}
        for rule in RULES:
            align_v1(settings, country_rule=rule)
            with connect(settings) as conn:
                rows = conn.execute(
                    "SELECT patch_id, country, distance_m FROM patch_country"
                ).fetchall()
            found[rule] = {patch: (country, dist) for patch, country, dist in rows}
        yield found
    finally:
        stop(settings)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("patch", sorted(PATCHES))
def test_each_patch_gets_its_country(countries_of: dict, patch: str, rule: str) -> None:
    _, countries, distance = PATCHES[patch]
    assert countries_of[rule][patch][0] == countries[rule]
    # The countries went through EPSG:4326 and back: allow a metre.
    assert countries_of[rule][patch][1] == pytest.approx(distance, abs=1.0)


def test_an_unknown_rule_is_refused(countries_of: dict) -> None:
    settings = DbSettings.scratch(Path("/nonexistent"))
    with pytest.raises(ConfigError, match="patching.country_rule.*reference"):
        align_v1(settings, country_rule="nearest")
