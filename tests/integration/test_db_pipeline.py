"""The database + dataset stage on the demo world, against manifest.json's facts.

Starts its own embedded PostGIS cluster (free port, tmp dir; fsync off) and
tears it down.  The world is generated at 1200 px (12 km tiles, 10x10
patches) and converted with the fallback converter.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from benpipe.cli import main
from benpipe.dataset.cross_product import align_v1, export_metadata_tables
from benpipe.dataset.export import export_patches, invalid_patches_from_manifest
from benpipe.dataset.labelling import LabelledTile, label_patches
from benpipe.dataset.labels import reference_map
from benpipe.dataset.patching import build_patch_grid
from benpipe.db.ingest import ingest_clc, ingest_countries, ingest_v1_footprints
from benpipe.db.lifecycle import DbSettings, connect, status, stop
from benpipe.db.schema import init_database
from benpipe.errors import CrsMismatchError, GridError
from benpipe.names import parse_patch_name, tile_dir_for
from benpipe.qa.previews import clc_preview

pytestmark = pytest.mark.postgis
PG_BIN = Path("/usr/lib/postgresql/15/bin")


class Run:
    """A demo world, its converted products, a cluster and all stage outputs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.world = root / "world"
        self.l2a_dir = root / "l2a"
        self.results = root / "results"
        self.settings = DbSettings.scratch(root)
        self.manifest: dict[str, Any] = {}
        self.products: list[Path] = []

    def prepare(self) -> None:
        result = CliRunner().invoke(
            main, ["demo-world", "--out", str(self.world), "--no-s1-rasters"]
        )
        assert result.exit_code == 0, result.output
        self.manifest = json.loads((self.world / "manifest.json").read_text())
        from benpipe.l2a.fallback import convert_fallback

        for archive in sorted((self.world / "cdse" / "products").glob("*.zip")):
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(self.root / "l1c")
            safe = self.root / "l1c" / (archive.stem + ".SAFE")
            l2a = convert_fallback(safe, self.l2a_dir, threads=2)
            self.products.append(l2a)
            # validity comes from the export, as in the pipeline
            export_patches(
                l2a,
                self.root / "export" / l2a.stem,
                manifest_path=self.export_manifest(l2a.stem),
            )

    def run_all(self) -> None:
        s, r, w = self.settings, self.results, self.world
        init_database(s, receipt=r / "schema.json")
        ingest_clc(
            s,
            w / "U2018_CLC2018_V2020_20u1.gpkg",
            layer="U2018_CLC2018_V2020_20u1",
            receipt=r / "clc.json",
        )
        ingest_countries(
            s, w / "ne_110m_admin_0_countries.geojson", receipt=r / "c.json"
        )
        ingest_v1_footprints(s, w / "ben-v1-metadata", receipt=r / "v1.json")
        for safe in self.products:
            self.grid(safe)
            self.label(safe.stem)
        align_v1(s, receipt=r / "align.json")
        export_metadata_tables(s, r / "metadata")

    def export_manifest(self, product: str) -> Path:
        return self.root / "export" / f"{product}.json"

    def grid(self, safe: Path) -> dict[str, Any]:
        return build_patch_grid(
            self.settings,
            safe,
            invalid_patches=invalid_patches_from_manifest(
                self.export_manifest(safe.stem), product=safe.stem, patch_side_m=1200
            ),
            receipt=self.results / "grid" / f"{safe.stem}.json",
        )

    def label(self, product: str) -> dict[str, Any]:
        return label_patches(
            self.settings,
            product,
            out_dir=self.maps_dir(product),
            receipt=self.results / "labels" / f"{product}.json",
        )

    def maps_dir(self, product: str) -> Path:
        return self.results / "maps" / product

    def receipt(self, kind: str, product: str) -> dict[str, Any]:
        return json.loads((self.results / kind / f"{product}.json").read_text())

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with connect(self.settings) as conn:
            return [tuple(row) for row in conn.execute(sql, args or None).fetchall()]

    def snapshot(self) -> dict[str, Any]:
        """Every result table's rows plus the hash of every output file."""
        tables = {}
        for table, order in [
            ("products", "product_id"),
            ("patches", "patch_id"),
            ("patch_labelling", "patch_id"),
            ("patch_class_counts", "patch_id, code_18"),
            ("patch_labels", "patch_id, label"),
            ("product_labelling", "product_id"),
            ("patch_alignment", "patch_id"),
            ("patch_country", "patch_id"),
            ("patch_overlaps", "patch_id, other_patch_id"),
            ("clc_polygons", "clc_id, part"),
            ("v1_footprints", "patch_name"),
        ]:
            tables[table] = self.query(
                f"SELECT md5(string_agg(t::text, '|' ORDER BY {order})) FROM {table} t"
            )
        files = {
            str(p.relative_to(self.results)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(self.results.rglob("*"))
            if p.is_file()
        }
        return {"tables": tables, "files": files}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL 15 binaries not found in {PG_BIN}")
    state = Run(tmp_path_factory.mktemp("h4db"))
    state.prepare()
    try:
        state.run_all()
        yield state
    finally:
        stop(state.settings)


def product_by_key(run: Run, key: str) -> dict[str, Any]:
    return next(p for p in run.manifest["products"] if p["key"] == key)


def test_invalid_patches_match_the_manifest(run: Run) -> None:
    for product, expected in run.manifest["invalid_patches"].items():
        rows = run.query(
            'SELECT col, "row" FROM patches WHERE product_id = %s AND NOT valid',
            product,
        )
        assert sorted(rows) == sorted(tuple(x) for x in expected), product
        total = run.query("SELECT count(*) FROM patches WHERE product_id = %s", product)
        assert total[0][0] == 100


def test_failing_product_has_maps_but_no_labels(run: Run) -> None:
    failing = [p for p in run.manifest["products"] if p["fails_quality"]]
    assert failing
    for product in failing:
        name = product["l2a_name"]
        receipt = run.receipt("labels", name)
        assert receipt["fails_quality"] and receipt["kept"] == 0
        assert receipt["reference_maps"] > 0
        labels = run.query(
            "SELECT count(*) FROM patch_labels l JOIN patches p USING (patch_id)"
            " WHERE p.product_id = %s",
            name,
        )
        assert labels[0][0] == 0
        exported = (run.results / "metadata" / "patch_id_label_mapping.csv").read_text()
        assert tile_dir_for(name) not in exported


def test_product_without_clc_has_no_maps_and_no_labels(run: Run) -> None:
    without = [p for p in run.manifest["products"] if not p["has_clc"]]
    assert without
    for product in without:
        name = product["l2a_name"]
        receipt = run.receipt("labels", name)
        assert receipt["has_clc"] is False and receipt["reference_maps"] == 0
        assert not any(p.is_file() for p in run.maps_dir(name).rglob("*"))
        assert run.query(
            "SELECT has_clc FROM product_labelling WHERE product_id = %s", name
        ) == [(False,)]


def test_overlaps_match_the_manifest(run: Run) -> None:
    rows = run.query(
        "SELECT patch_id, other_patch_id FROM patch_overlaps WHERE patch_id < other_patch_id"
    )
    expected = {tuple(sorted(pair)) for pair in run.manifest["overlaps"]}
    assert set(rows) == expected
    both_ways = run.query("SELECT count(*) FROM patch_overlaps")
    assert both_ways[0][0] == 2 * len(expected)


def test_hand_designed_patches_labels_kept_and_pixel_counts(run: Run) -> None:
    for patch_id, design in run.manifest["hand_designed"].items():
        labelling = run.query(
            "SELECT kept, unlabeled_fraction, has_reference_map FROM patch_labelling"
            " WHERE patch_id = %s",
            patch_id,
        )
        assert labelling, patch_id
        kept, fraction, has_map = labelling[0]
        assert kept == design["kept"], patch_id
        assert fraction == pytest.approx(design["unlabeled_fraction"]), patch_id
        labels = run.query(
            "SELECT label FROM patch_labels WHERE patch_id = %s ORDER BY label",
            patch_id,
        )
        assert [r[0] for r in labels] == sorted(design["labels"]), patch_id
        counts = dict(
            run.query(
                "SELECT code_18, pixels FROM patch_class_counts WHERE patch_id = %s",
                patch_id,
            )
        )
        expected = {int(k): v for k, v in design["pixel_counts"].items()}
        assert counts == expected, patch_id
        # the reference map on disk has exactly these pixel values
        l2a = next(
            p["l2a_name"]
            for p in run.manifest["products"]
            if p["name"] == design["product"]
        )
        path = (
            run.maps_dir(l2a)
            / tile_dir_for(l2a)
            / patch_id
            / f"{patch_id}_reference_map.tif"
        )
        assert has_map and path.is_file()
        with rasterio.open(path) as src:
            data = src.read(1)
            assert src.crs.to_epsg() == product_by_key(run, "P1")["epsg"]
            assert src.transform.a == 10 and data.shape == (120, 120)
        values, pixels = np.unique(data, return_counts=True)
        assert dict(zip(values.tolist(), pixels.tolist(), strict=True)) == expected


def test_labelling_hook_sees_the_burnt_grid_and_every_valid_patch(
    run: Run, tmp_path: Path
) -> None:
    """The QA side output comes from the labelling's arrays: same maps, same rows."""
    for patch_id, design in run.manifest["hand_designed"].items():
        l2a = next(
            p["l2a_name"]
            for p in run.manifest["products"]
            if p["name"] == design["product"]
        )
        seen: list[LabelledTile] = []
        label_patches(
            run.settings, l2a, out_dir=tmp_path / l2a, on_labelled=seen.append
        )
        (tile,) = seen
        receipt = run.receipt("labels", l2a)
        assert len(tile.patches) == receipt["valid_patches"]
        assert sum(r.labels.kept for _, _, r in tile.patches) == receipt["kept"]
        assert sum(r.covered for _, _, r in tile.patches) == receipt["reference_maps"]
        col, row = parse_patch_name(patch_id).col, parse_patch_name(patch_id).row
        assert tile.burned is not None
        window = tile.burned[row * 120 : (row + 1) * 120, col * 120 : (col + 1) * 120]
        map_path = run.maps_dir(l2a) / tile_dir_for(l2a) / patch_id
        with rasterio.open(map_path / f"{patch_id}_reference_map.tif") as src:
            assert np.array_equal(reference_map(window), src.read(1))
        preview = clc_preview(tile)
        assert int(preview.kept.sum()) == receipt["kept"]
        assert bool(preview.kept[row, col]) == design["kept"]
        assert preview.unlabeled_fraction[row, col] == pytest.approx(
            design["unlabeled_fraction"]
        )


def test_metadata_csvs_follow_the_reference_format(run: Run) -> None:
    meta = run.results / "metadata"
    with (meta / "patch_id_label_mapping.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["patch_id", "label"]
    assert rows[1:] == sorted(rows[1:], key=lambda r: (r[0].encode(), r[1].encode()))
    for patch_id, design in run.manifest["hand_designed"].items():
        got = sorted(label for pid, label in rows[1:] if pid == patch_id)
        assert got == sorted(design["labels"]), patch_id
    raw = (meta / "patch_id_label_mapping.csv").read_bytes()
    assert b"\r\n" not in raw
    assert b'"Land principally occupied by agriculture, with significant' in raw or (
        b"Land principally" not in raw
    )
    split = (meta / "patch_id_split_mapping.csv").read_text().splitlines()
    assert split[0] == "patch_id,split" and len(split) == 1 + 400
    country = (meta / "patch_id_country_mapping.csv").read_text().splitlines()
    assert country[0] == "patch_id,country" and len(country) == 1 + 400
    s2v1 = (meta / "patch_id_s2v1_mapping.csv").read_text().splitlines()
    expected_aligned = sum(run.manifest["v1_patches"].values()) - sum(
        1
        for product, invalid in run.manifest["invalid_patches"].items()
        for col, row in invalid
        if [col, row] not in run.manifest["patches_without_v1"][product]
    )
    assert len(s2v1) == 1 + expected_aligned


def test_rerunning_steps_gives_identical_contents(run: Run) -> None:
    before = run.snapshot()
    run.grid(run.products[0])
    for safe in run.products:
        run.label(safe.stem)
    timings: dict[str, float] = {}
    align_v1(run.settings, receipt=run.results / "align.json", timings=timings)
    export_metadata_tables(run.settings, run.results / "metadata")
    assert run.snapshot() == before
    # each step is timed and logged
    assert sorted(timings) == [
        "alignment",
        "analyze",
        "country",
        "country_nearest",
        "foreign_keys",
        "overlaps",
    ]


def test_connect_restarts_a_stopped_server(run: Run) -> None:
    assert stop(run.settings)
    assert status(run.settings)["running"] is False
    rows = run.query("SELECT count(*) FROM products")
    assert rows == [(4,)]
    assert status(run.settings)["running"] is True


def test_stale_pidfile_is_recovered(run: Run) -> None:
    stop(run.settings)
    pidfile = run.settings.data_dir / "postmaster.pid"
    pidfile.write_text("999999\n")  # no such process
    init_database(run.settings)
    assert status(run.settings)["running"] is True


def _edited_copy(run: Run, name: str, old: str, new: str) -> Path:
    source = run.products[0]
    target = run.root / "bad" / name / source.name
    shutil.copytree(source, target)
    mtd = next(target.glob("GRANULE/*/MTD_TL.xml"))
    text = mtd.read_text()
    assert old in text
    mtd.write_text(text.replace(old, new))
    return target


def test_wrong_crs_is_refused_naming_the_product(run: Run) -> None:
    bad = _edited_copy(run, "crs", "EPSG:32633", "EPSG:32632")
    with pytest.raises(CrsMismatchError, match=bad.stem):
        build_patch_grid(run.settings, bad, invalid_patches=())


def test_wrong_tile_side_is_refused_naming_the_product(run: Run) -> None:
    bad = _edited_copy(
        run,
        "side",
        "<NROWS>1200</NROWS><NCOLS>1200</NCOLS>",
        "<NROWS>1206</NROWS><NCOLS>1206</NCOLS>",
    )
    for old, new in (
        (
            "<NROWS>600</NROWS><NCOLS>600</NCOLS>",
            "<NROWS>603</NROWS><NCOLS>603</NCOLS>",
        ),
        (
            "<NROWS>200</NROWS><NCOLS>200</NCOLS>",
            "<NROWS>201</NROWS><NCOLS>201</NCOLS>",
        ),
    ):
        mtd = next(bad.glob("GRANULE/*/MTD_TL.xml"))
        mtd.write_text(mtd.read_text().replace(old, new))
    with pytest.raises(GridError, match=bad.stem):
        build_patch_grid(run.settings, bad, invalid_patches=())


def test_align_v1_leaves_the_foreign_keys_of_the_model(run: Run) -> None:
    """align_v1 drops the cross-product foreign keys while it loads; they are
    back, valid and with ON DELETE CASCADE, when it commits."""
    rows = run.query(
        "SELECT conname, convalidated, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE contype = 'f' AND conrelid::regclass::text IN"
        " ('patch_alignment', 'patch_country', 'patch_overlaps') ORDER BY conname"
    )
    assert [r[0] for r in rows] == [
        "patch_alignment_patch_id_fkey",
        "patch_country_patch_id_fkey",
        "patch_overlaps_other_patch_id_fkey",
        "patch_overlaps_patch_id_fkey",
    ]
    assert all(r[1] and "ON DELETE CASCADE" in r[2] for r in rows)
