"""The production config, dry: 125 products out of the box, clear DAG-build errors.

``config/config.yaml`` takes its product list and its ``tile_names_and_links``
from ``tracked-artifacts/reben-v2.0`` (the published facts), so a dry run in
a fresh working directory (which, like a checkout, holds the
``tracked-artifacts`` folder) lists every product with no search or freeze
step.  The real inputs a run reads are placeholders here; one that is
missing, or a missing product list, stops the DAG build with a message naming
the config key or folder, before any job runs.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from .demo import REPO, dry_run

pytestmark = pytest.mark.slow

CONFIG = REPO / "config" / "config.yaml"
N = 125


def _workdir(tmp: Path, *, tracked: bool = True, skip: str = "") -> Path:
    """A working directory with the repository's tracked folder and placeholders."""
    tmp.mkdir(parents=True, exist_ok=True)
    if tracked:
        (tmp / "tracked-artifacts").symlink_to(REPO / "tracked-artifacts")
    config = yaml.safe_load(CONFIG.read_text())
    for key, value in config["inputs"].items():
        if key in ("clc_layer", "tile_names_and_links", skip):
            continue
        path = tmp / value
        path.parent.mkdir(parents=True, exist_ok=True)
        if key in ("v1_metadata_dir", "s1_root"):
            path.mkdir()
        else:
            path.touch()
    return tmp


def test_production_config_lists_the_125_products_out_of_the_box(tmp_path: Path):
    workdir = _workdir(tmp_path / "run")
    jobs, output = dry_run(workdir, CONFIG)
    assert jobs is not None, output[-4000:]
    per_product = (
        "download_l1c",
        "extract_l1c",
        "convert_l2a",
        "export_patches",
        "build_patch_grid",
        "label_patches",
    )
    assert {rule: jobs[rule] for rule in per_product} == dict.fromkeys(per_product, N)
    assert jobs["hash_l1c"] == jobs["verify"] == jobs["package_release"] == 1
    assert not {"search_cdse", "derive_l1c_names"} & set(jobs)  # no search step
    assert not [rule for rule in jobs if rule.startswith("freeze")]
    assert not (workdir / "results").exists()


def test_a_missing_input_stops_the_dag_build_naming_key_and_source(tmp_path: Path):
    workdir = _workdir(tmp_path / "run", skip="clc_gpkg")
    jobs, output = dry_run(workdir, CONFIG)
    assert jobs is None
    assert (
        "inputs.clc_gpkg = resources/inputs/U2018_CLC2018_V2020_20u1.gpkg does not exist"
        in output
    )
    assert "https://land.copernicus.eu/en/products/corine-land-cover/clc2018" in output
    assert "What a real run needs" in output
    assert not (workdir / "results").exists()


def test_without_the_tracked_folder_the_dag_build_names_it(tmp_path: Path):
    workdir = _workdir(tmp_path / "run", tracked=False)
    jobs, output = dry_run(workdir, CONFIG)
    assert jobs is None
    message = " ".join(output.split())
    assert (
        "no product list: tracked_artifacts_dir tracked-artifacts/reben-v2.0 (in the "
        f"working directory {workdir}) does not exist" in message
    )
    assert f"The repository has {REPO / 'tracked-artifacts' / 'reben-v2.0'}" in message
    assert (
        "`snakemake search_cdse`" in message
        and "`snakemake freeze_tile_ids`" in message
    )


def test_search_and_freeze_targets_need_no_product_list(tmp_path: Path):
    workdir = _workdir(tmp_path / "run", tracked=False)
    own = workdir / "tracked-artifacts" / "mine"
    own.mkdir(parents=True)  # an empty tracked folder
    override = workdir / "override.yaml"
    override.write_text(
        yaml.safe_dump(
            {
                "tracked_artifacts_dir": str(own),
                "inputs": {
                    "tile_names_and_links": str(
                        REPO
                        / "tracked-artifacts/reben-v2.0/tile_names_and_links.csv.bz2"
                    )
                },
            }
        )
    )
    jobs, output = dry_run(workdir, CONFIG, override, targets=("freeze_tile_ids",))
    assert jobs == Counter(
        {"derive_l1c_names": 1, "search_cdse": 1, "freeze_tile_ids": 1}
    ), output[-4000:]
    # ... while the default target names the empty folder
    jobs, output = dry_run(workdir, CONFIG, override)
    assert jobs is None
    assert (
        "no product list: tracked_artifacts_dir tracked-artifacts/mine (in the "
        f"working directory {workdir}) holds no bigearthnet_s2_tile_ids.csv"
    ) in " ".join(output.split())
