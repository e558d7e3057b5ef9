"""benpipe query: every filter against a brute-force evaluation of the same rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest
import shapely
from click.testing import CliRunner

from benpipe.catalogue.core import fraction_column, geo_metadata
from benpipe.catalogue.io import write_catalogue_parquet
from benpipe.catalogue.query import (
    Query,
    candidate_row_groups,
    parse_min_fraction,
    parse_time,
    read_ids,
    run_query,
    summarize,
    write_ids,
)
from benpipe.catalogue.synthetic import synthetic_catalogue
from benpipe.cli import main
from benpipe.errors import InputDataError


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    table = synthetic_catalogue(3000, seed=5, tile_side_patches=20)
    path = tmp_path_factory.mktemp("cat") / "patches.parquet"
    # small row groups, so the statistics pruning is exercised
    write_catalogue_parquet(
        table,
        path,
        geo=geo_metadata(table),
        stac={"version": "1.0.0"},
        row_group_size=128,
    )
    return path


@pytest.fixture(scope="module")
def rows(catalogue):
    return pq.read_table(catalogue).to_pylist()


def _brute(rows, query: Query) -> list[str]:
    area = query.area
    out = []
    for r in rows:
        if area is not None and not shapely.intersects(
            area, shapely.from_wkb(r["geometry"])
        ):
            continue
        if query.start and r["datetime"] < query.start:
            continue
        if query.end and r["datetime"] > query.end:
            continue
        if query.seasons and r["season"] not in query.seasons:
            continue
        if query.splits and r["split"] not in query.splits:
            continue
        if query.countries and r["country"] not in query.countries:
            continue
        if (
            query.tiles
            and r["tile"] not in query.tiles
            and r["collection"] not in query.tiles
        ):
            continue
        if query.labels_any and not set(query.labels_any) & set(r["labels"]):
            continue
        if query.labels_all and not set(query.labels_all) <= set(r["labels"]):
            continue
        if any(r[fraction_column(c)] < f for c, f in query.min_fractions):
            continue
        if query.no_snow_cloud and (
            r["contains_seasonal_snow"] or r["contains_cloud_or_shadow"]
        ):
            continue
        if query.ids is not None and r["id"] not in query.ids:
            continue
        out.append(r["id"])
    return sorted(out, key=str.encode)


def _queries(rows) -> list[Query]:
    r0 = rows[len(rows) // 2]
    b = r0["bbox"]
    small = (b["xmin"] - 0.05, b["ymin"] - 0.03, b["xmax"] + 0.05, b["ymax"] + 0.03)
    disc = shapely.Point((b["xmin"] + b["xmax"]) / 2, b["ymin"]).buffer(0.08)
    return [
        Query(),
        Query(bbox=small),
        Query(intersects=disc),
        Query(bbox=small, intersects=disc),
        Query(start=parse_time("2017-09-01"), end=parse_time("2017-12-31", end=True)),
        Query(seasons=("winter", "summer")),
        Query(splits=("test",), countries=("Austria", "Finland")),
        Query(tiles=(r0["tile"],)),
        Query(tiles=(r0["collection"],)),
        Query(labels_any=("Coniferous forest", "Inland wetlands")),
        Query(labels_all=("Arable land", "Pastures")),
        Query(min_fractions=(("Mixed forest", 0.3), ("UNLABELED", 0.01))),
        Query(no_snow_cloud=True),
        Query(ids=(r0["id"], rows[0]["id"])),
        Query(
            bbox=small,
            splits=("train", "validation"),
            labels_any=("Urban fabric", "Arable land"),
            no_snow_cloud=True,
        ),
    ]


def test_every_filter_matches_a_brute_force_evaluation(catalogue, rows):
    for query in _queries(rows):
        got = run_query(catalogue, query)["id"].to_pylist()
        assert sorted(got, key=str.encode) == _brute(rows, query), query
    # the queries are not trivial: several select a real, partial subset
    sizes = [len(_brute(rows, q)) for q in _queries(rows)]
    assert sum(0 < s < len(rows) for s in sizes) >= 10


def test_spatial_and_time_filters_prune_row_groups(catalogue, rows):
    pf = pq.ParquetFile(catalogue)
    total = pf.metadata.num_row_groups
    assert total > 20
    b = rows[len(rows) // 2]["bbox"]
    small = Query(bbox=(b["xmin"], b["ymin"], b["xmax"], b["ymax"]))
    assert len(candidate_row_groups(pf, small)) < total / 4
    far = Query(bbox=(-120.0, -40.0, -119.0, -39.0))
    assert candidate_row_groups(pf, far) == []
    assert run_query(catalogue, far).num_rows == 0


def test_summary_counts_split_country_and_class(catalogue, rows):
    result = run_query(catalogue, Query(splits=("test",)))
    summary = summarize(result)
    tests = [r for r in rows if r["split"] == "test"]
    assert summary.patches == len(tests)
    assert summary.split == {"test": len(tests)}
    assert sum(summary.country.values()) == len(tests)
    assert summary.label["Arable land"] == sum(
        "Arable land" in r["labels"] for r in tests
    )


def test_bad_values_are_rejected_with_the_allowed_ones():
    with pytest.raises(InputDataError, match="train, validation, test"):
        Query(splits=("val",))
    with pytest.raises(InputDataError, match="BEN-19"):
        Query(labels_any=("Forest",))
    with pytest.raises(InputDataError, match="WEST,SOUTH,EAST,NORTH"):
        Query(bbox=(10, 50, 9, 51))
    with pytest.raises(InputDataError, match="within 0..1"):
        Query(min_fractions=(("Mixed forest", 1.5),))
    with pytest.raises(InputDataError, match="CLASS=FRACTION"):
        parse_min_fraction("Mixed forest")
    assert parse_min_fraction("mixed_forest=0.2") == ("Mixed forest", 0.2)
    assert parse_time("2017-06-13", end=True) == datetime(
        2017, 6, 13, 23, 59, 59, 999999, tzinfo=UTC
    )


def test_ids_round_trip_as_csv_and_parquet(catalogue, tmp_path):
    result = run_query(catalogue, Query(splits=("validation",)))
    for name in ("ids.csv", "ids.parquet"):
        write_ids(result, tmp_path / name)
        assert list(read_ids(tmp_path / name)) == sorted(result["id"].to_pylist())


def test_query_command_prints_counts_and_writes_ids(catalogue, rows, tmp_path):
    area = tmp_path / "area.geojson"
    b = rows[100]["bbox"]
    poly = shapely.box(b["xmin"], b["ymin"], b["xmax"] + 0.1, b["ymax"] + 0.05)
    area.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {},
                        "geometry": shapely.geometry.mapping(poly),
                    }
                ],
            }
        )
    )
    out = tmp_path / "ids.csv"
    result = CliRunner().invoke(
        main,
        [
            "query",
            str(catalogue),
            "--intersects",
            str(area),
            "--split",
            "train,validation",
            "--labels-any",
            "Transitional woodland, shrub",
            "--labels-any",
            "arable_land",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    expected = _brute(
        rows,
        Query(
            intersects=poly,
            splits=("train", "validation"),
            labels_any=("Transitional woodland, shrub", "Arable land"),
        ),
    )
    assert f"patches: {len(expected)}" in result.output
    assert list(read_ids(out)) == expected
    again = CliRunner().invoke(main, ["query", str(catalogue), "--out", str(out)])
    assert again.exit_code != 0 and "--overwrite" in again.output
    bad = CliRunner().invoke(main, ["query", str(catalogue), "--season", "autumn"])
    assert bad.exit_code != 0 and "spring, summer, fall, winter" in bad.output
