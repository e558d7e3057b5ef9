"""A ``benpipe demo-world --products N`` world through the DAG (dry run).

Products 5..N of such a world come from reBEN's product list at their real
MGRS tile corners, in other UTM zones than the demo's; the pipeline must
schedule every per-product job for each of them once the product list is
frozen the real way (``search_cdse`` + ``freeze_tile_ids`` against the
emulator serving the world).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely
import yaml
from pyproj import Transformer

from benpipe.grid import s2_tile_corner
from benpipe.names import parse_product_name

from .demo import (
    BIN,
    REPO,
    demo_config,
    dry_run_jobs,
    emulator,
    free_port,
    snakemake_command,
)

N = 6
PER_PRODUCT = (
    "download_l1c",
    "extract_l1c",
    "convert_l2a",
    "build_patch_grid",
    "label_patches",
    "export_patches",
    "qa_product",
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("products") / "world"
    subprocess.run(
        [str(BIN / "benpipe"), "-q", "demo-world", "--out", str(out)]
        + ["--products", str(N)],
        check=True,
        cwd=REPO,
    )
    return out


def test_products_5_to_n_sit_on_their_real_tiles_with_clc(world: Path) -> None:
    manifest = json.loads((world / "manifest.json").read_text())
    products = manifest["products"]
    assert [p["key"] for p in products] == [f"P{i}" for i in range(1, N + 1)]
    assert all(p["generated"] for p in products)
    clc = pyogrio.read_dataframe(world / manifest["clc"]["path"])
    for product in products[4:]:
        tile = parse_product_name(product["name"]).tile
        epsg, ulx, uly = s2_tile_corner(tile)
        assert (product["epsg"], product["ulx"], product["uly"]) == (epsg, ulx, uly)
        # CORINE covers the whole (small) tile
        side = product["tile_side_m"]
        to_3035 = Transformer.from_crs(epsg, 3035, always_xy=True)
        tile_box = shapely.box(ulx, uly - side, ulx + side, uly)
        tile_3035 = shapely.transform(
            tile_box,
            lambda xy, t=to_3035: np.column_stack(t.transform(xy[:, 0], xy[:, 1])),
        )
        covered = shapely.union_all(clc.geometry.values[clc.intersects(tile_3035)])
        assert shapely.difference(tile_3035, covered).area < 1.0
    v1 = (world / "tile_names_and_links.csv").read_text().splitlines()
    names = [line.split(",")[0] for line in v1]
    assert len(names) == len(set(names))
    zones = {
        p.name.rsplit("_", 1)[1].removesuffix(".parquet")
        for p in (world / "ben-v1-metadata").iterdir()
    }
    assert zones == {str(p["epsg"]) for p in products}


@pytest.mark.slow
def test_the_dag_schedules_every_product(world: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "run"
    workdir.mkdir()
    with emulator(world, log=workdir / "logs" / "cdse-emulator.log") as port:
        config = demo_config(world, emulator_port=port, db_port=free_port())
        config["tracked_artifacts_dir"] = str(workdir / "tracked")
        config_path = workdir / "config.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=True))
        frozen = subprocess.run(
            snakemake_command(
                workdir,
                config_path,
                "--cores",
                "1",
                targets=("search_cdse", "freeze_tile_ids"),
            ),
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=300,
        )
        assert frozen.returncode == 0, frozen.stdout[-3000:] + frozen.stderr[-3000:]
    jobs = dry_run_jobs(workdir, config, config_path=config_path)
    assert not isinstance(jobs, str), jobs
    for rule in PER_PRODUCT:
        assert jobs[rule] == N, (rule, jobs)
    for rule in ("align_v1", "finalize_dataset", "hash_outputs", "package_release"):
        assert jobs[rule] == 1, (rule, jobs)
