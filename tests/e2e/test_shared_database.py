"""End-to-end: two pipelines with different CORINE files share one PostGIS server.

Run A uses the demo world's CLC; run B a copy whose land-cover codes are
changed (same polygons).  Both run at the same time against one server
(``database.url``), as runs on a cluster do, up to the reference maps and
the metadata tables.  Each must get exactly what it gets alone: A what the
session's solo demo run (``run_a``, embedded database) got, B what a solo run
of B got.  Before runs had their own schemas, the ingest of one replaced the
other's CLC table and both burnt the same CORINE.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyogrio
import pytest

from .demo import DemoRun, external_postgis, run_demo

pytestmark = [pytest.mark.slow, pytest.mark.postgis]

CLC_NAME = "U2018_CLC2018_V2020_20u1.gpkg"
#: Up to the reference maps, the labels and the four metadata tables.
TARGETS = [
    f"results/metadata/patch_id_{what}_mapping.csv"
    for what in ("label", "s2v1", "split", "country")
]
#: Run B's land cover: forests and fields swapped (every code stays valid).
SWAP = {"311": "312", "312": "311", "211": "231", "231": "211", "242": "243"}


@pytest.fixture(scope="module")
def shared_server() -> Iterator[str]:
    """One PostGIS server, started outside the runs, as a site server."""
    with external_postgis("benpipe-shared-pg-") as url:
        yield url


def other_clc(world: Path, out: Path) -> Path:
    """The demo CLC with some codes swapped (same layer, geometries, ids)."""
    layer = CLC_NAME.removesuffix(".gpkg")
    frame = pyogrio.read_dataframe(world / CLC_NAME, layer=layer)
    frame["Code_18"] = frame["Code_18"].map(lambda c: SWAP.get(c, c))
    out.parent.mkdir(parents=True, exist_ok=True)
    pyogrio.write_dataframe(frame, out, layer=layer, driver="GPKG")
    return out


def _checked(run: DemoRun) -> DemoRun:
    if run.result.returncode != 0:
        pytest.fail(
            f"run in {run.workdir} failed:\n"
            + run.result.stdout[-4000:]
            + run.result.stderr[-8000:]
        )
    return run


def outputs(run: DemoRun) -> dict[str, str]:
    """sha256 of every reference map and metadata table of a run."""
    found: dict[str, str] = {}
    for folder in ("export/reference_maps", "metadata"):
        root = run.results / folder
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                found[path.relative_to(run.results).as_posix()] = digest
    return found


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def runs(demo_world, shared_server, tmp_path_factory) -> dict[str, DemoRun]:
    root = tmp_path_factory.mktemp("shared-db")
    clc_b = other_clc(demo_world, root / "clc-b" / CLC_NAME)
    b = {"inputs.clc_gpkg": str(clc_b)}
    solo_b = _checked(
        run_demo(demo_world, root / "solo-b", settings=b, extra_args=TARGETS)
    )
    with ThreadPoolExecutor(max_workers=2) as pool:
        shared_a = pool.submit(
            run_demo,
            demo_world,
            root / "shared-a",
            database_url=shared_server,
            extra_args=TARGETS,
        )
        shared_b = pool.submit(
            run_demo,
            demo_world,
            root / "shared-b",
            database_url=shared_server,
            settings=b,
            extra_args=TARGETS,
        )
        return {
            "solo_b": solo_b,
            "shared_a": _checked(shared_a.result()),
            "shared_b": _checked(shared_b.result()),
            "clc_b": clc_b,  # type: ignore[dict-item]
        }


def test_the_two_clc_files_give_different_maps(runs, run_a) -> None:
    a, b = outputs(run_a), outputs(runs["solo_b"])
    assert set(a) == set(b)  # the same patches get maps
    differ = [name for name in a if a[name] != b[name]]
    assert len(differ) > 10, "run B's CLC must change the maps"


def test_each_shared_run_gets_what_it_gets_alone(runs, run_a) -> None:
    solo_a = {
        name: digest
        for name, digest in outputs(run_a).items()
        if name.startswith(("export/reference_maps/", "metadata/"))
    }
    assert outputs(runs["shared_a"]) == solo_a
    assert outputs(runs["shared_b"]) == outputs(runs["solo_b"])


def test_each_run_has_its_own_schema_and_its_receipts_name_its_clc(
    runs, demo_world
) -> None:
    schemas = {
        name: json.loads((runs[name].results / "db" / "schema.json").read_text())[
            "schema"
        ]
        for name in ("shared_a", "shared_b")
    }
    assert schemas["shared_a"] != schemas["shared_b"]
    expected = {
        "shared_a": _sha256(demo_world / CLC_NAME),
        "shared_b": _sha256(runs["clc_b"]),
    }
    for name, sha256 in expected.items():
        results = runs[name].results
        clc = json.loads((results / "db" / "receipts" / "clc.json").read_text())
        assert clc["sha256"] == sha256 and clc["schema"] == schemas[name]
        labels = sorted((results / "db" / "receipts" / "labels").glob("*.json"))
        assert labels
        for path in labels:
            receipt = json.loads(path.read_text())
            assert receipt["schema"] == schemas[name]
            assert receipt["clc_sha256"] == sha256
