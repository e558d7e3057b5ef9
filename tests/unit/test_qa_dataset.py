"""Dataset QA: figures, gallery and page from a dataset folder; benpipe qa."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from pyproj import Transformer

from benpipe.cli import main
from benpipe.dataset.layout import METADATA_FILE
from benpipe.errors import InputDataError
from benpipe.grid import patch_corner
from benpipe.names import parse_patch_name
from benpipe.qa.dataset import (
    DATASET_FIGURES,
    MAP_EPSG,
    DatasetQa,
    build_dataset_figures,
    patch_centres,
    read_records,
    tile_geocoding,
)
from benpipe.qa.page import render_page, verification_section, write_qa_page
from benpipe.qa.product import ProductQa

from .test_finalize import PRODUCTS, build_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root, _ = build_dataset(tmp_path_factory.mktemp("qa-ds"))
    return root


@pytest.fixture(scope="module")
def countries(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("countries") / "countries.geojson"
    square = [[[5.0, 35.0], [20.0, 35.0], [20.0, 50.0], [5.0, 50.0], [5.0, 35.0]]]
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"NAME_LONG": "Testland"},
                        "geometry": {"type": "Polygon", "coordinates": square},
                    }
                ],
            }
        )
    )
    return path


@pytest.fixture(scope="module")
def built(dataset, countries, tmp_path_factory) -> tuple[Path, DatasetQa]:
    out = tmp_path_factory.mktemp("qa-out")
    return out, build_dataset_figures(
        dataset, out, countries=countries, samples_per_class=2
    )


def test_figures_gallery_and_summary_are_written(built, dataset):
    out, qa = built
    assert sorted(p.stem for p in (out / "dataset").glob("*.png")) == sorted(
        DATASET_FIGURES
    )
    assert [f.file for f in qa.figures] == [
        f"dataset/{stem}.png" for stem in DATASET_FIGURES
    ]
    records = read_records(dataset)
    classes = {label for r in records if not r.flagged for label in r.labels}
    assert len(qa.gallery) == len(classes)
    assert {p.name for p in (out / "gallery").iterdir()} == {
        Path(f.file).name for f in qa.gallery
    }
    assert qa.patches == 5 and qa.flagged == 2
    expected: dict[str, int] = {}
    for r in records:
        if not r.flagged:
            expected[r.country] = expected.get(r.country, 0) + 1
    assert qa.countries == dict(sorted(expected.items()))
    assert qa.tiles == len(PRODUCTS)
    assert DatasetQa.read(out / "dataset" / "summary.json") == qa


def test_rebuilding_gives_identical_bytes(built, dataset, countries, tmp_path):
    out, _ = built
    build_dataset_figures(dataset, tmp_path, countries=countries, samples_per_class=2)
    for path in sorted(out.rglob("*.png")) + [out / "dataset" / "summary.json"]:
        assert (tmp_path / path.relative_to(out)).read_bytes() == path.read_bytes()


def test_patch_positions_come_from_one_header_per_tile(dataset):
    records = read_records(dataset)
    tiles = tile_geocoding(dataset, records)
    assert len(tiles) == len(PRODUCTS)
    for name, (epsg, ulx, uly, _, _) in PRODUCTS.items():
        geo = tiles[name.rsplit("_", 1)[0]]
        assert (geo.epsg, geo.ulx, geo.uly, geo.patch_side_m) == (epsg, ulx, uly, 1200)
    x, y = patch_centres(records, tiles, epsg=MAP_EPSG)
    rec = records[0]
    name = parse_patch_name(rec.patch_id)
    product = next(p for p in PRODUCTS if p.startswith(name.tile_dir))
    epsg, ulx, uly, _, _ = PRODUCTS[product]
    left, top = patch_corner(ulx, uly, col=name.col, row=name.row, side_m=1200)
    ex, ey = Transformer.from_crs(epsg, MAP_EPSG, always_xy=True).transform(
        left + 600, top - 600
    )
    assert (x[0], y[0]) == pytest.approx((ex, ey))


def test_a_folder_without_parquets_is_named(tmp_path):
    with pytest.raises(InputDataError, match=METADATA_FILE):
        build_dataset_figures(tmp_path, tmp_path / "qa")


def test_page_links_every_figure_relatively_and_needs_no_network(built, tmp_path):
    out, qa = built
    verification = tmp_path / "verification.json"
    verification.write_text(
        json.dumps(
            {
                "all_match": False,
                "counts": {"match": 1, "differ": 1},
                "tracked_artifacts_dir": "tracked-artifacts/demo",
                "artifacts": {
                    "patch_hashes": {
                        "status": "differ",
                        "rows_produced": 3,
                        "rows_tracked": 4,
                        "added": 0,
                        "removed": 1,
                        "changed": 0,
                    },
                    "s1_hashes": {"status": "match", "note": "<b>no</b> markup"},
                },
            }
        )
    )
    page = write_qa_page(out, title="QA <test>", verification=verification)
    html = page.read_text()
    assert "http:" not in html and "https:" not in html and "<script" not in html
    for figure in qa.figures + qa.gallery:
        assert f'src="{figure.file}"' in html
    assert '<tr class="differ"><td>patch_hashes</td><td>differ</td>' in html
    assert "3 rows produced, 4 tracked; 0 added, 1 removed, 0 changed" in html
    assert "&lt;b&gt;no&lt;/b&gt; markup" in html and "QA &lt;test&gt;" in html
    assert "NOT all match" in html
    write_qa_page(out, title="QA <test>", verification=verification)
    assert page.read_text() == html


def test_page_refuses_to_link_a_missing_figure(built, tmp_path):
    out, _ = built
    copy = tmp_path / "qa"
    shutil.copytree(out, copy)
    (copy / "dataset" / "patch_map.png").unlink()
    with pytest.raises(InputDataError, match="patch_map.png"):
        write_qa_page(copy, title="t")


def test_page_lists_products_with_their_outcomes():
    qa = ProductQa(
        product="S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_20240101T000000",
        patches=100,
        outcomes={"kept": 90, "dropped: nodata pixel": 10},
        splits={"train": 36, "validation": 48, "test": 16},
        reference_maps=90,
        has_clc=True,
        fails_quality=False,
        unlabeled_max_fraction=0.25,
    )
    from benpipe.qa.page import product_files

    files = product_files(qa.product)
    html = render_page(
        title="t", dataset=None, products=[(qa, files)], verification=None
    )
    assert f'src="products/{qa.product}_quicklook.png"' in html
    assert '<td class="num">90</td><td class="num">10</td>' in html
    assert "No verification result" in verification_section(None)


def test_cli_builds_the_page_and_refuses_to_overwrite(dataset, countries, tmp_path):
    out = tmp_path / "qa"
    runner = CliRunner()
    args = ["qa", str(dataset), "--out", str(out), "--samples-per-class", "1"]
    result = runner.invoke(main, [*args, "--countries", str(countries)])
    assert result.exit_code == 0, result.output
    assert f"QA page: {(out / 'index.html').resolve()}" in result.output
    assert (out / "gallery").is_dir() and (out / "dataset" / "patch_map.png").is_file()
    again = runner.invoke(main, args)
    assert again.exit_code == 2 and "--overwrite" in again.output
    forced = runner.invoke(main, [*args, "--overwrite"])
    assert forced.exit_code == 0, forced.output
    # without --countries the map has no outlines; the page still builds
    assert "over the country outlines" not in (out / "index.html").read_text()
    assert sorted(p.name for p in (out / "dataset").glob("*.png")) == sorted(
        f"{s}.png" for s in DATASET_FIGURES
    )


def test_unreadable_country_outlines_are_named(dataset, tmp_path):
    bad = tmp_path / "countries.geojson"
    bad.write_text("not json")
    with pytest.raises(InputDataError, match="countries.geojson cannot be read"):
        build_dataset_figures(dataset, tmp_path / "qa", countries=bad)
