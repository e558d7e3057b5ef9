"""End-to-end: the catalogue, STAC, query and subset on the demo run.

Uses the session's demo run (``run_a``), so the pipeline runs once.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import tarfile
from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import zstandard

from benpipe.catalogue.core import FRACTION_COLUMNS
from benpipe.catalogue.query import Query, run_query
from benpipe.catalogue.stac import item_from_row
from benpipe.clc import BEN19_CLASSES
from benpipe.dataset.layout import METADATA_COLUMNS
from benpipe.db.lifecycle import DbSettings, connect, free_port, start, stop
from benpipe.runsettings import default_db_schema

from .demo import BIN, REPO

pytestmark = [pytest.mark.slow, pytest.mark.postgis]

TILE_IDS = REPO / "tracked-artifacts" / "demo" / "bigearthnet_s2_tile_ids.csv"


def _benpipe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "benpipe"), *args], capture_output=True, text=True, cwd=REPO
    )


@pytest.fixture(scope="module")
def catalogue(run_a) -> Path:
    return run_a.results / "catalogue" / "patches.parquet"


@pytest.fixture(scope="module")
def rows(catalogue):
    return pq.read_table(catalogue).to_pylist()


# ---------------------------------------------------------------- content
def test_one_row_per_patch_of_either_parquet(run_a, rows):
    dataset = run_a.results / "dataset"
    meta = {}
    for name in (
        "metadata.parquet",
        "metadata_for_patches_with_snow_cloud_or_shadow.parquet",
    ):
        for r in pq.read_table(dataset / name).to_pylist():
            meta[r["patch_id"]] = r
    assert sorted(r["id"] for r in rows) == sorted(meta)
    for r in rows:
        m = meta[r["id"]]
        for key in METADATA_COLUMNS:
            assert r[key] == m[key], (r["id"], key)
        for asset in r["assets"].values():
            assert (dataset / asset["href"]).is_file()


def test_fractions_reproduce_the_labels_and_the_unlabeled_rule(rows):
    for r in rows:
        present = {
            cls
            for cls, col in zip(BEN19_CLASSES, FRACTION_COLUMNS, strict=False)
            if r[col] > 0
        }
        assert present == set(r["labels"]), r["id"]
        assert r["fraction_unlabeled"] < 0.25  # kept patches are >= 75 % labelled
        assert sum(r[c] for c in FRACTION_COLUMNS) == pytest.approx(1.0)


def test_tile_products_and_native_grid(rows):
    ids = {}
    for line in TILE_IDS.read_text().splitlines()[1:]:
        name, cdse = line.split(",")
        ids[name.removesuffix(".SAFE")] = cdse
    for r in rows:
        assert ids[r["l1c_product"]] == r["cdse_id"]
        assert r["l1c_product"].split("_")[5] == "T" + r["tile"]
        assert r["proj:code"] == "EPSG:32633"
        left, bottom, right, top = r["proj:bbox"]
        assert (right - left, top - bottom) == (1200.0, 1200.0)
        assert r["season"] == "summer"
        assert r["grid_cell"].endswith("R") and "U_" in r["grid_cell"]


def test_overlaps_agree_with_the_pipeline_database(run_a, rows):
    """The shapely overlap rule gives exactly the pipeline's patch_overlaps rows
    (restricted to catalogue patches): the embedded PostGIS of the run is
    started again on its data directory and its schema queried."""
    ids = {r["id"] for r in rows}
    ours = {(r["id"], o) for r in rows for o in r["overlapping_patches"]}
    settings = DbSettings.from_mapping(
        {
            "embedded_dir": str(run_a.results / "db" / "pg"),
            "port": free_port(),
            "schema": default_db_schema(run_a.workdir),  # the run's own schema
        }
    )
    start(settings)
    try:
        with connect(settings) as conn:
            pairs = conn.execute(
                "SELECT patch_id, other_patch_id FROM patch_overlaps"
            ).fetchall()
    finally:
        stop(settings)
    pipeline = {(a, b) for a, b in pairs if a in ids and b in ids}
    assert len(pipeline) > 50  # the demo's neighbour tiles overlap
    assert ours == pipeline


# ---------------------------------------------------------------- STAC
def _stac_files(run_a) -> list[Path]:
    return sorted((run_a.results / "catalogue" / "stac").rglob("*.json"))


def test_stac_validates_against_the_stac_core_schemas(run_a):
    """Every Collection and static Item validates offline against the STAC 1.1
    core and GeoJSON schemas that pystac bundles (extension schemas need the
    network; see the next test)."""
    from pystac.errors import STACValidationError
    from pystac.validation import validate_dict

    files = _stac_files(run_a)
    kinds = {"Collection": 0, "Feature": 0}
    for path in files:
        data = json.loads(path.read_text())
        kinds[data["type"]] += 1
        validate_dict(data, extensions=[], href=str(path))
    assert kinds["Collection"] == 3  # root + 2 tiles
    assert kinds["Feature"] == 159
    # the validator is not vacuous: a broken Item and Collection fail
    item = next(
        d for d in (json.loads(p.read_text()) for p in files) if d["type"] == "Feature"
    )
    broken = copy.deepcopy(item)
    broken["bbox"] = [1, 2, 3]
    with pytest.raises(STACValidationError):
        validate_dict(broken, extensions=[])
    root = json.loads(
        (run_a.results / "catalogue" / "stac" / "collection.json").read_text()
    )
    broken_root = copy.deepcopy(root)
    del broken_root["extent"]
    with pytest.raises(STACValidationError):
        validate_dict(broken_root, extensions=[])


def test_stac_validates_against_extension_schemas_when_available(run_a):
    """The label, projection, eo and scientific extension schemas cannot be
    fetched on a machine without internet.  With BENPIPE_STAC_SCHEMAS pointing
    to a mirror (``<dir>/stac-extensions.github.io/label/v1.0.0/schema.json``,
    ``<dir>/schemas.stacspec.org/...``), everything is validated in full."""
    mirror = os.environ.get("BENPIPE_STAC_SCHEMAS")
    if not mirror:
        pytest.skip(
            "extension schemas need the network or a local mirror: set "
            "BENPIPE_STAC_SCHEMAS=<dir> holding <host>/<path> copies of the schemas"
        )
    import pystac
    from pystac.validation import validate_dict

    class MirrorIO(pystac.StacIO):
        def read_text(self, source, *args, **kwargs):  # type: ignore[override]
            href = str(source)
            if href.startswith("https://"):
                return (Path(mirror) / href.removeprefix("https://")).read_text()
            return Path(href).read_text()

        def write_text(self, dest, txt, *args, **kwargs):  # pragma: no cover
            raise NotImplementedError("read-only")

    previous = pystac.StacIO.default
    pystac.StacIO.set_default(MirrorIO)
    try:
        for path in _stac_files(run_a):
            validate_dict(json.loads(path.read_text()), href=str(path))
    finally:
        pystac.StacIO.set_default(previous)


def test_catalogue_is_stac_geoparquet(run_a, catalogue, rows):
    """stac-geoparquet reads the catalogue back into the same Items that the
    static JSON files hold (up to the relative hrefs and links)."""
    from pystac.validation import validate_dict
    from stac_geoparquet.arrow import stac_table_to_items

    items = {i["id"]: i for i in stac_table_to_items(pq.read_table(catalogue))}
    assert len(items) == len(rows)
    for r in rows:
        item = json.loads(json.dumps(items[r["id"]]))
        ours = json.loads(json.dumps(item_from_row(r)))
        # the same instant (stac-geoparquet writes microseconds)
        theirs_time = item["properties"].pop("datetime")
        ours_time = ours["properties"].pop("datetime")
        assert datetime.fromisoformat(theirs_time) == datetime.fromisoformat(ours_time)
        assert item["geometry"] == ours["geometry"]
        assert item["bbox"] == ours["bbox"]
        assert item["assets"] == ours["assets"]
        assert item["properties"] == ours["properties"]
        item["properties"]["datetime"] = theirs_time
        assert item["collection"] == r["collection"]
        validate_dict(item, extensions=[])
    static = json.loads(
        (
            run_a.results
            / "catalogue"
            / "stac"
            / rows[0]["collection"]
            / rows[0]["id"]
            / f"{rows[0]['id']}.json"
        ).read_text()
    )
    assert (
        static["properties"]
        == json.loads(json.dumps(item_from_row(rows[0])))["properties"]
    )
    # static Item hrefs resolve to the dataset's files
    item_dir = (
        run_a.results / "catalogue" / "stac" / rows[0]["collection"] / rows[0]["id"]
    )
    for asset in static["assets"].values():
        assert (item_dir / asset["href"]).resolve().is_file()


# ---------------------------------------------------------------- as downloaded
def _extract_release(run_a, dest: Path) -> Path:
    """The demo release as a user downloads it: archives extracted, parquets."""
    release = run_a.results / "release"
    dest.mkdir()
    for tree in ("BigEarthNet-S1", "BigEarthNet-S2", "Reference_Maps"):
        with (release / f"{tree}.tar.zst").open("rb") as fh:
            reader = zstandard.ZstdDecompressor().stream_reader(fh)
            with tarfile.open(fileobj=reader, mode="r|") as tar:
                tar.extractall(dest, filter="data")
    for name in (
        "metadata.parquet",
        "metadata_for_patches_with_snow_cloud_or_shadow.parquet",
    ):
        (dest / name).write_bytes((release / name).read_bytes())
    return dest


def test_catalogue_build_on_the_downloaded_dataset_gives_the_same_rows(
    run_a, catalogue, tmp_path
):
    download = _extract_release(run_a, tmp_path / "reBEN")
    out = tmp_path / "catalogue"
    result = _benpipe(
        "catalogue",
        "build",
        str(download),
        "--tile-ids",
        str(TILE_IDS),
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    ours = pq.read_table(out / "patches.parquet")
    theirs = pq.read_table(catalogue)
    assert ours.equals(theirs)
    assert (out / "patches.parquet").read_bytes() == catalogue.read_bytes()
    for rel in ("collection.json", f"{ours['collection'][0]}/collection.json"):
        assert (out / "stac" / rel).read_text() == (
            run_a.results / "catalogue" / "stac" / rel
        ).read_text()


# ---------------------------------------------------------------- subset
@pytest.fixture(scope="module")
def subset(run_a, catalogue, tmp_path_factory):
    out = tmp_path_factory.mktemp("subset") / "austria-east"
    args = [
        "subset",
        str(catalogue),
        "--dataset",
        str(run_a.results / "dataset"),
        "--tile",
        "33UVP",
        "--split",
        "train,validation",
        "--labels-any",
        "Coniferous forest",
        "--labels-any",
        "Mixed forest",
        "--out",
        str(out),
        "--archives",
    ]
    result = _benpipe(*args)
    assert result.returncode == 0, result.stderr
    return out


def _subset_query() -> Query:
    return Query(
        tiles=("33UVP",),
        splits=("train", "validation"),
        labels_any=("Coniferous forest", "Mixed forest"),
    )


def test_subset_passes_check_dataset_and_check_release(subset):
    result = _benpipe("check-dataset", str(subset))
    assert result.returncode == 0, result.stdout + result.stderr
    result = _benpipe("check-release", str(subset / "release"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_subset_holds_exactly_the_queried_patches(run_a, catalogue, subset):
    wanted = run_query(catalogue, _subset_query())["id"].to_pylist()
    assert 0 < len(wanted) < 159
    source = run_a.results / "dataset"
    got = []
    for name in (
        "metadata.parquet",
        "metadata_for_patches_with_snow_cloud_or_shadow.parquet",
    ):
        part = pq.read_table(subset / name)
        full = pq.read_table(source / name)
        assert part.schema.equals(full.schema)
        expected_rows = [r for r in full.to_pylist() if r["patch_id"] in set(wanted)]
        assert part.to_pylist() == expected_rows  # same rows, same order
        got += part["patch_id"].to_pylist()
    assert sorted(got) == sorted(wanted)
    s2 = sorted(p.name for p in (subset / "BigEarthNet-S2").glob("*/*"))
    assert s2 == sorted(wanted)
    # copies, never hard links: no file shares an inode with the source
    for path in (subset / "BigEarthNet-S2").rglob("*.tif"):
        stat = path.stat()
        assert stat.st_nlink == 1
        src = source / path.relative_to(subset)
        assert src.stat().st_ino != stat.st_ino
        assert src.read_bytes() == path.read_bytes()


def test_subset_catalogue_and_hash_lists_are_consistent(
    run_a, catalogue, subset, tmp_path
):
    sub = pq.read_table(subset / "catalogue" / "patches.parquet")
    ids = set(sub["id"].to_pylist())
    source = [r for r in pq.read_table(catalogue).to_pylist() if r["id"] in ids]
    for r in source:
        r["overlapping_patches"] = [o for o in r["overlapping_patches"] if o in ids]
    assert sub.to_pylist() == source
    # the same as building the catalogue of the subset folder itself
    rebuilt = _benpipe(
        "catalogue",
        "build",
        str(subset),
        "--tile-ids",
        str(TILE_IDS),
        "--out",
        str(tmp_path / "cat"),
    )
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert pq.read_table(tmp_path / "cat" / "patches.parquet").equals(sub)
    hashes = (subset / "hashes" / "patch_hashes.csv").read_text().splitlines()
    assert len(hashes) - 1 == 12 * len(ids)
    summary = json.loads((subset / "subset.json").read_text())
    assert summary["patches"] == len(ids)


def test_torchgeo_bigearthnetv2_loads_the_subset(subset):
    torchgeo = pytest.importorskip(
        "torchgeo.datasets",
        reason="torchgeo (and torch) are not installed; docs/catalogue.md gives the "
        "manual check",
    )
    for split in ("train", "val"):
        ds = torchgeo.BigEarthNetV2(root=str(subset), split=split, bands="all")
        assert len(ds) > 0
        sample = ds[0]
        assert tuple(sample["image_s2"].shape) == (12, 120, 120)
        assert tuple(sample["mask"].shape) == (120, 120)
