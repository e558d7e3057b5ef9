"""benpipe check-dataset: a good dataset passes, each kind of breakage is named."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import rasterio
from click.testing import CliRunner

from benpipe.cli import main
from benpipe.dataset.check import check_dataset, load_hash_lists
from benpipe.dataset.finalize import write_metadata_parquet
from benpipe.dataset.layout import FLAGGED_METADATA_FILE, METADATA_FILE, S2_TREE
from benpipe.errors import InputDataError
from benpipe.names import parse_patch_name
from benpipe.release.hashing import write_tree_hashes

from .test_finalize import build_dataset


@pytest.fixture(scope="module")
def good_dataset(tmp_path_factory) -> tuple[Path, dict]:
    return build_dataset(tmp_path_factory.mktemp("good"))


@pytest.fixture
def broken(good_dataset, tmp_path) -> tuple[Path, dict]:
    src, staging = good_dataset
    dst = tmp_path / "broken"
    # copyfile: writable copies (the dataset's own files are read-only)
    shutil.copytree(src, dst, copy_function=shutil.copyfile)
    return dst, staging


def _patch_dir(root: Path, tree: str, pid: str) -> Path:
    return root / tree / parse_patch_name(pid).tile_dir / pid


def test_good_dataset_passes_with_summary(good_dataset):
    root, staging = good_dataset
    report = check_dataset(root)
    assert report.ok, report.problems
    assert report.summary["patches"] == {METADATA_FILE: 5, FLAGGED_METADATA_FILE: 2}
    assert sum(report.summary["split"].values()) == 7
    assert report.summary["country"] == {"Austria": 3, "Portugal": 4}
    assert report.summary["geotiffs_checked"] == 7 * (12 + 1 + 2)


def test_cli_passes_and_sample_limits_raster_checks(good_dataset):
    root, _ = good_dataset
    result = CliRunner().invoke(main, ["check-dataset", str(root), "--sample", "2"])
    assert result.exit_code == 0, result.output
    assert "OK:" in result.output
    assert "GeoTIFFs decoded and checked: 30 (2 patches)" in result.output


def test_missing_band_file(broken):
    root, staging = broken
    pid = staging["labelled"][0]
    (_patch_dir(root, "BigEarthNet-S2", pid) / f"{pid}_B8A.tif").unlink()
    report = check_dataset(root)
    assert (
        f"BigEarthNet-S2/{parse_patch_name(pid).tile_dir}/{pid}: missing {pid}_B8A.tif"
        in report.problems
    )


def test_wrong_dtype(broken):
    root, staging = broken
    pid = staging["labelled"][1]
    path = _patch_dir(root, "BigEarthNet-S2", pid) / f"{pid}_B02.tif"
    with rasterio.open(path) as src:
        profile, data = src.profile, src.read(1)
    profile.update(dtype="int32")
    path.unlink()
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype(np.int32), 1)
    report = check_dataset(root)
    assert any(
        p.endswith(f"{pid}_B02.tif: 1 band(s) of int32, expected 1 band of uint16")
        for p in report.problems
    )


def test_extra_patch_dir(broken):
    root, staging = broken
    extra = staging["unlabelled"]
    folder = _patch_dir(root, "BigEarthNet-S2", extra)
    folder.mkdir()
    report = check_dataset(root)
    assert any(extra in p and "extra patch folder" in p for p in report.problems)


def test_unsorted_parquet_and_bad_split(broken):
    root, _ = broken
    table = pq.read_table(root / METADATA_FILE)
    rows = table.to_pylist()
    rows[0]["split"] = "val"
    rows = [rows[1], rows[0], *rows[2:]]
    write_metadata_parquet(
        pa.Table.from_pylist(rows, schema=table.schema), root / METADATA_FILE
    )
    report = check_dataset(root)
    assert any("not sorted by patch_id" in p for p in report.problems)
    assert any(
        "split 'val' is not one of train, validation, test" in p
        for p in report.problems
    )


def test_problems_name_their_parquet_row_across_batches(broken, monkeypatch):
    """The parquet is checked in batches; a row's number is its place in the file."""
    import benpipe.dataset.check as check

    root, _ = broken
    table = pq.read_table(root / METADATA_FILE)
    assert table.num_rows >= 4
    rows = table.to_pylist()
    rows[3]["country"] = "Atlantis"
    write_metadata_parquet(
        pa.Table.from_pylist(rows, schema=table.schema), root / METADATA_FILE
    )
    monkeypatch.setattr(check, "_PARQUET_BATCH", 2)
    report = check_dataset(root, workers=1)
    assert report.problems == [
        f"{METADATA_FILE} row 3 ({rows[3]['patch_id']}): country 'Atlantis' is "
        "not a BEN country"
    ]


def test_missing_s1(broken):
    root, staging = broken
    table = pq.read_table(root / METADATA_FILE)
    s1_name = table.column("s1_name")[0].as_py()
    group = s1_name.rsplit("_", 3)[0]
    shutil.rmtree(root / "BigEarthNet-S1" / group / s1_name)
    report = check_dataset(root)
    assert (
        f"BigEarthNet-S1: no folder for S1 patch {s1_name} of the metadata"
        in report.problems
    )


def test_cli_fails_listing_problems(broken):
    root, staging = broken
    pid = staging["labelled"][0]
    shutil.rmtree(_patch_dir(root, "Reference_Maps", pid))
    result = CliRunner().invoke(
        main, ["check-dataset", str(root), "--max-problems", "1"]
    )
    assert result.exit_code == 1
    assert "FAILED: 1 problem(s)" in result.output
    assert f"Reference_Maps: no folder for patch {pid}" in result.output


def test_wrong_schema_is_reported(broken):
    root, _ = broken
    table = pq.read_table(root / FLAGGED_METADATA_FILE).drop_columns(["country"])
    pq.write_table(table, root / FLAGGED_METADATA_FILE)
    report = check_dataset(root)
    assert any(
        p.startswith(f"{FLAGGED_METADATA_FILE}: columns") for p in report.problems
    )


def test_wrong_column_type_is_reported(broken):
    root, _ = broken
    table = pq.read_table(root / METADATA_FILE)
    table = table.set_column(2, "split", table.column("split").dictionary_encode())
    pq.write_table(table, root / METADATA_FILE)
    report = check_dataset(root)
    assert (
        f"{METADATA_FILE}: column split has type dictionary<values=string, "
        "indices=int32, ordered=0>, expected string" in report.problems
    )


@pytest.mark.slow
def test_published_metadata_passes_the_metadata_checks():
    from benpipe.dataset.check import CheckReport, _check_parquet

    reference = (
        Path(__file__).resolve().parents[2].parent / "shared" / "reference-artifacts"
    )
    if not (reference / METADATA_FILE).exists():
        pytest.skip(f"reference artifacts not found under {reference}")
    report = CheckReport(root=reference)
    clean = _check_parquet(reference / METADATA_FILE, flagged=False, report=report)
    flagged = _check_parquet(
        reference / FLAGGED_METADATA_FILE, flagged=True, report=report
    )
    assert report.problems == []
    assert (len(clean), len(flagged)) == (480_038, 69_450)


def _hash_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("name,hash-sha256\n" + "".join(f"{k},{h}\n" for k, h in rows))
    return path


def test_hash_lists_find_take_and_list_what_is_left(tmp_path):
    a, b, c = "1" * 64, "2" * 64, "3" * 64
    first = _hash_csv(tmp_path / "patch_hashes.csv", [("P_1_B01", a), ("P_1_B02", b)])
    # the same key with the same hash in a second list: kept once, first list
    second = _hash_csv(tmp_path / "s1_hashes.csv", [("S_VV", c), ("P_1_B01", a)])
    with load_hash_lists([first, second]) as lists:
        assert lists.find("P_1_B01") == (bytes.fromhex(a), "patch_hashes.csv")
        assert lists.find("nothing") is None
        assert lists.names_any_ending(("_VV", "_VH"))
        assert not lists.names_any_ending(("_reference_map",))
        assert lists.take("P_1_B02") == (bytes.fromhex(b), "patch_hashes.csv")
        assert lists.take("P_1_B02") is None
        assert list(lists.entries()) == [
            ("P_1_B01", "patch_hashes.csv"),
            ("S_VV", "s1_hashes.csv"),
        ]


def test_a_key_twice_in_one_list_with_different_hashes_is_refused(tmp_path):
    listed = _hash_csv(
        tmp_path / "patch_hashes.csv", [("P_1_B01", "1" * 64), ("P_1_B01", "2" * 64)]
    )
    with pytest.raises(
        InputDataError,
        match="P_1_B01 has different hashes in patch_hashes.csv and patch_hashes.csv",
    ):
        load_hash_lists([listed])


def test_the_same_list_given_twice_compares_each_file_once(good_dataset, tmp_path):
    root, _ = good_dataset
    listed = write_tree_hashes(root / S2_TREE, tmp_path / "patch_hashes.csv", workers=1)
    copy = tmp_path / "copy_of_patch_hashes.csv"
    shutil.copyfile(listed.csv_path, copy)
    report = check_dataset(root, hashes=[listed.csv_path, copy], workers=1)
    assert report.ok, report.problems
    assert report.summary["hashes"]["compared"] == listed.rows
    assert report.summary["hashes"]["missing"] == 0
