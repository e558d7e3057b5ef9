"""Faults on a finished demo run: the checks must not call a changed dataset OK.

Issue 14, BAD 3 and WEAK: after a byte changed in ``results/dataset``,
``check-release`` and ``check-dataset`` said OK.  ``check-release`` only
compares the release folder with its own hash lists and ``check-dataset``
only the layout and decodability; each now says what it did not compare, and
compares the dataset when asked (``--dataset``, ``--hashes``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from benpipe.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.postgis]


@pytest.fixture
def changed_dataset(run_a, tmp_path) -> tuple[Path, str]:
    """A copy of the finished dataset with one pixel of one S2 band changed."""
    dataset = tmp_path / "dataset"
    shutil.copytree(run_a.results / "dataset", dataset, copy_function=shutil.copyfile)
    victim = sorted((dataset / "BigEarthNet-S2").rglob("*_B03.tif"))[0]
    data = bytearray(victim.read_bytes())
    data[-2] ^= 0x01  # the file still decodes, with one other pixel value
    victim.write_bytes(bytes(data))
    return dataset, victim.name


def _run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_check_release_compares_the_dataset_only_when_asked_and_says_so(
    run_a, changed_dataset
):
    dataset, _ = changed_dataset
    release = run_a.results / "release"
    alone = _run("check-release", release)
    assert alone.exit_code == 0, alone.output
    assert "not compared: the dataset folder" in alone.output
    compared = _run("check-release", release, "--dataset", dataset)
    assert compared.exit_code == 1
    assert "BigEarthNet-S2 differs from BigEarthNet-S2.tar" in compared.output
    unchanged = _run("check-release", release, "--dataset", run_a.results / "dataset")
    assert unchanged.exit_code == 0, unchanged.output
    assert "holds exactly what the archives hold" in unchanged.output


def test_check_dataset_names_the_changed_file_with_the_hash_lists(
    run_a, changed_dataset
):
    dataset, name = changed_dataset
    alone = _run("check-dataset", dataset)
    assert alone.exit_code == 0, alone.output
    assert "NOT compared" in alone.output
    hashes = run_a.results / "hashes"
    compared = _run(
        "check-dataset",
        dataset,
        "--hashes",
        hashes / "patch_hashes.csv",
        "--hashes",
        hashes / "s1_hashes.csv",
    )
    assert compared.exit_code == 1
    assert f"{name}: sha256" in compared.output
    assert "FAILED: 1 problem(s)" in compared.output
