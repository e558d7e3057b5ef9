"""Fault: ``check-dataset`` must see broken payloads and changed bytes.

Issue 14, BAD 4: a GeoTIFF truncated to 1,000 of its bytes passed (only the
headers were read).  WEAK: an unreadable GeoTIFF crashed the check with a
traceback and hid its other findings.  WEAK/BAD 3: a changed file passed
because contents were never compared with the hash lists.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from benpipe.cli import main
from benpipe.dataset.check import check_dataset
from benpipe.errors import InputDataError
from benpipe.names import parse_patch_name
from benpipe.release.hashing import hash_outputs
from unit.test_finalize import build_dataset, s1_of


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> tuple[Path, dict, Path]:
    """A good dataset and its hash lists (as hash_outputs writes them)."""
    base = tmp_path_factory.mktemp("published")
    dataset, staging = build_dataset(base)
    lists = base / "hashes"
    lists.mkdir()
    hash_outputs(
        dataset,
        patch_csv=lists / "patch_hashes.csv",
        reference_maps_csv=lists / "reference_maps_hashes.csv",
        s1_csv=lists / "s1_hashes.csv",
        metadata_csv=lists / "metadata_hashes.csv",
        workers=1,
    )
    return dataset, staging, lists


@pytest.fixture
def copy(published, tmp_path) -> tuple[Path, dict, Path]:
    dataset, staging, hashes = published
    target = tmp_path / "dataset"
    shutil.copytree(dataset, target, copy_function=shutil.copyfile)
    return target, staging, hashes


def _band(root: Path, pid: str, band: str) -> Path:
    tile = parse_patch_name(pid).tile_dir
    return root / "BigEarthNet-S2" / tile / pid / f"{pid}_{band}.tif"


def _run(*args: str):
    return CliRunner().invoke(main, ["check-dataset", *args])


def test_truncated_geotiff_is_one_finding_naming_the_file(copy):
    root, staging, _ = copy
    pid = staging["labelled"][1]
    victim = _band(root, pid, "B04")
    victim.write_bytes(victim.read_bytes()[:1000])
    report = check_dataset(root)
    assert report.problem_count == 1, report.problems
    assert victim.name in report.problems[0]
    assert "decoded" in report.problems[0]


def test_unreadable_files_do_not_stop_the_check(copy):
    root, staging, _ = copy
    first, second = staging["labelled"][0], staging["labelled"][3]
    garbage = _band(root, first, "B8A")
    garbage.write_bytes(b"this is not a GeoTIFF at all" * 10)
    s1 = next((root / "BigEarthNet-S1").rglob("*_VH.tif"))
    s1.write_bytes(s1.read_bytes()[:700])
    _band(root, second, "B11").unlink()
    result = _run(str(root), "--workers", "2")
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "GeoTIFFs decoded and checked:" in result.output  # the summary
    assert "FAILED: 3 problem(s)" in result.output
    assert f"{garbage.name}: cannot be read as a GeoTIFF" in result.output
    assert f"{s1.name}: cannot be" in result.output
    assert f"missing {second}_B11.tif" in result.output


def test_a_changed_file_is_named_with_hash_lists(copy):
    root, staging, hashes = copy
    pid = staging["labelled"][2]
    victim = _band(root, pid, "B02")
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0xFF  # one pixel: the file still decodes
    victim.write_bytes(bytes(data))
    without = _run(str(root))
    assert without.exit_code == 0, without.output
    assert "NOT compared" in without.output
    lists = [
        hashes / name
        for name in (
            "patch_hashes.csv",
            "reference_maps_hashes.csv",
            "s1_hashes.csv",
            "metadata_hashes.csv",
        )
    ]
    result = _run(str(root), *[a for p in lists for a in ("--hashes", str(p))])
    assert result.exit_code == 1
    assert f"{victim.name}: sha256" in result.output
    assert "differs from" in result.output
    assert "in patch_hashes.csv" in result.output
    assert "FAILED: 1 problem(s)" in result.output


def test_hash_lists_see_changed_parquets_and_unlisted_files(copy, tmp_path):
    root, staging, hashes = copy
    flagged = root / "metadata_for_patches_with_snow_cloud_or_shadow.parquet"
    flagged.write_bytes(flagged.read_bytes() + b"\0")  # unreadable now
    clean_s1 = s1_of(
        sorted(set(staging["labelled"]) - {staging["snowy"], staging["cloudy"]})[0]
    )
    s1_list = tmp_path / "s1_hashes.csv"
    s1_list.write_text(
        "".join(
            line
            for line in (hashes / "s1_hashes.csv").read_text().splitlines(True)
            if not line.startswith(f"{clean_s1}_VV,")
        )
    )
    report = check_dataset(
        root, hashes=[hashes / "metadata_hashes.csv", s1_list], workers=1
    )
    messages = "\n".join(report.problems)
    assert f"{flagged.name}: sha256" in messages
    assert f"{flagged.name}: cannot be read as parquet" in messages
    assert f"{clean_s1}_VV.tif: not in the hash lists of BigEarthNet-S1" in messages
    # the 5 clean patches' S1 pairs (one unlisted) and both parquets
    assert report.summary["hashes"]["compared"] == 2 * 5 - 1 + 2
    assert report.summary["hashes"]["unlisted"] == 1


def test_listed_files_absent_from_the_dataset_are_findings(copy, tmp_path):
    root, staging, hashes = copy
    extra = tmp_path / "s1_hashes.csv"
    extra.write_text(
        (hashes / "s1_hashes.csv").read_text()
        + "S1A_IW_GRDH_1SDV_20170819T183432_29SNB_9_9_VV,"
        + "0" * 64
        + "\n"
    )
    report = check_dataset(root, hashes=[extra], workers=1)
    assert report.problems == [
        "S1A_IW_GRDH_1SDV_20170819T183432_29SNB_9_9_VV: listed in s1_hashes.csv "
        "but absent from the dataset"
    ]


def test_a_hash_list_of_another_format_is_refused(copy, tmp_path):
    root, _, _ = copy
    wrong = tmp_path / "hashes.txt"
    wrong.write_text("0123  BigEarthNet-S2.tar.zst\n")
    with pytest.raises(InputDataError, match="hash list .*hashes.txt: header"):
        check_dataset(root, hashes=[wrong])


def test_a_hash_that_is_not_a_sha256_is_named_with_its_line(copy, tmp_path):
    root, _, hashes = copy
    lines = (hashes / "s1_hashes.csv").read_text().splitlines(True)
    key = lines[2].split(",")[0]
    lines[2] = f"{key},not-a-digest\n"
    broken = tmp_path / "s1_hashes.csv"
    broken.write_text("".join(lines))
    with pytest.raises(
        InputDataError,
        match=rf"s1_hashes.csv line 3: 'not-a-digest' for {key} is not a sha256",
    ):
        check_dataset(root, hashes=[broken])


def test_a_key_listed_twice_with_different_hashes_is_refused(copy, tmp_path):
    root, _, hashes = copy
    line = (hashes / "s1_hashes.csv").read_text().splitlines()[1]
    key = line.split(",")[0]
    other = tmp_path / "more_hashes.csv"
    other.write_text(f"name,hash-sha256\n{key},{'0' * 64}\n")
    with pytest.raises(InputDataError, match=f"{key} has different hashes in"):
        check_dataset(root, hashes=[hashes / "s1_hashes.csv", other])
