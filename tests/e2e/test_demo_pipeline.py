"""End-to-end: the whole pipeline on the demo world, twice, in two directories.

Downloads go through the CDSE emulator, L1C→L2A through the fallback converter
(sen2cor is not installed here), patching and labelling through a real
embedded PostGIS; hashing, verification and packaging run for real.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .demo import BIN, RELEASE_FILES

pytestmark = [pytest.mark.slow, pytest.mark.postgis]


def test_verify_reports_every_artifact_matching(run_a):
    report = json.loads((run_a.results / "verification.json").read_text())
    statuses = {name: a["status"] for name, a in report["artifacts"].items()}
    assert report["all_match"] is True, statuses
    # the tile-id list is the run's product list: reported, never compared
    assert statuses.pop("tile_ids") == "input"
    assert statuses and set(statuses.values()) == {"match"}
    first = (run_a.results / "verification.md").read_text().splitlines()[0]
    assert first.startswith("# Verification: all 9 compared artifacts match")
    for name in ("patch_hashes", "reference_maps_hashes", "s1_hashes"):
        recheck = report["artifacts"][name]["recheck"]
        assert recheck["basis"] == "file stats", (name, recheck)
        assert recheck["files_checked"] > 0 and recheck["files_rehashed"] == 0


def test_dataset_passes_check_dataset(run_a):
    result = subprocess.run(
        [str(BIN / "benpipe"), "check-dataset", str(run_a.results / "dataset")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dataset_has_the_published_layout(run_a):
    dataset = run_a.results / "dataset"
    # Snakemake stamps directory() outputs with a hidden .snakemake_timestamp;
    # archives, hash lists and check-dataset ignore it.
    names = sorted(
        p.name for p in dataset.iterdir() if p.name != ".snakemake_timestamp"
    )
    assert names == [
        "BigEarthNet-S1",
        "BigEarthNet-S2",
        "Reference_Maps",
        "metadata.parquet",
        "metadata_for_patches_with_snow_cloud_or_shadow.parquet",
    ]


def test_release_archives_are_byte_identical_across_directories(run_a, run_b):
    for name in RELEASE_FILES:
        a = (run_a.results / "release" / name).read_bytes()
        b = (run_b.results / "release" / name).read_bytes()
        assert a == b, f"{name} differs between two runs in different directories"


def test_logs_and_metadata_never_contain_the_cdse_password(run_a, demo_world):
    secret = "demo-password"
    assert secret in (demo_world / "cdse.netrc").read_text()
    for folder in ("logs", ".snakemake", "results"):
        for path in (run_a.workdir / folder).rglob("*"):
            if path.is_file() and path.stat().st_size < 50_000_000:
                assert secret.encode() not in path.read_bytes(), path


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-v"]))
