"""The acquisition rules under Snakemake against the emulator; no secret leaks."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from benpipe.cdse.catalogue import read_sidecar
from benpipe.cdse.emulator import DEMO_PASSWORD, EmulatorServer
from benpipe.cdse.emulator.synthetic_products import make_synthetic_world

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin" / "snakemake"
P1 = "S2A_MSIL1C_20170613T101031_N0205_R022_T33UUP_20170613T101608"
P2 = "S2B_MSIL1C_20180525T094029_N0206_R036_T35VNK_20180525T114839"

pytestmark = [
    pytest.mark.skipif(
        not SNAKEMAKE.exists() and shutil.which("snakemake") is None,
        reason="snakemake is not installed",
    ),
    pytest.mark.usefixtures("isolated_cdse_env"),
]


def _run(
    workdir: Path, env: dict[str, str], *targets: str
) -> subprocess.CompletedProcess[str]:
    exe = str(SNAKEMAKE) if SNAKEMAKE.exists() else "snakemake"
    proc = subprocess.run(
        [
            exe,
            *targets,
            "--directory",
            str(workdir),
            "--snakefile",
            str(REPO / "Snakefile"),
            "--configfile",
            str(workdir / "config.yaml"),
            "--cores",
            "2",
            "--resources",
            "cdse_slots=2",
        ],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    (workdir / f"snakemake-{targets[0].replace('/', '_')}.out").write_text(
        proc.stdout + proc.stderr
    )
    return proc


def test_rules_download_and_hash_without_leaking_secrets(tmp_path: Path) -> None:
    world = tmp_path / "world"
    entries = make_synthetic_world(world, [P1, P2], payload_bytes=300 << 10)
    link = "https://scihub.copernicus.eu/apihub/odata/v1/Products('x')/$value"
    (world / "tile_names_and_links.csv").write_bytes(
        (
            f"S2A_MSIL2A_20170613T101031_26_57,{P1}.SAFE,{link}\r\n"
            f"S2B_MSIL2A_20180525T94029_1_1,{P2}.SAFE,{link}\r\n"
            f"S2A_MSIL2A_20170613T101031_26_58,{P1}.SAFE,{link}\r\n"
        ).encode()
    )
    work = tmp_path / "work"
    work.mkdir()
    config = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    config["inputs"]["tile_names_and_links"] = str(world / "tile_names_and_links.csv")
    config["tracked_artifacts_dir"] = "tracked"
    env = {
        **os.environ,
        "CDSE_USERNAME": "demo",
        "CDSE_PASSWORD": DEMO_PASSWORD,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    with EmulatorServer(world, faults="503@1,expire-token@2,cut@3,redirect") as emu:
        config["cdse"].update(
            catalogue_url=emu.catalogue_url,
            download_url=emu.download_url,
            token_url=emu.token_url,
            netrc=None,
            backoff_initial_s=0.01,
            backoff_max_s=0.05,
        )
        (work / "config.yaml").write_text(yaml.safe_dump(config))
        for targets in (("search_cdse", "freeze_tile_ids"), ("hash_l1c",)):
            proc = _run(work, env, *targets)
            assert proc.returncode == 0, proc.stderr[-3000:]
        tokens = set(emu.issued_tokens)
        assert emu.stats.password_grants == 1

    ids = {str(e["Name"]): str(e["Id"]) for e in entries}
    with (work / "tracked" / "bigearthnet_s2_tile_ids.csv").open(newline="") as handle:
        assert {row["tile"]: row["id"] for row in csv.DictReader(handle)} == ids
    for name in (P1, P2):
        served = (world / "cdse" / "products" / f"{name}.zip").read_bytes()
        assert (work / "resources" / "l1c" / f"{name}.zip").read_bytes() == served
    assert not list((work / "resources" / "l1c").glob("*.part"))
    # the frozen sidecar carries BLAKE3, and the downloads were verified with it
    sidecar = read_sidecar(work / "tracked" / "cdse_catalogue.csv")
    assert sorted(len(e.blake3 or "") for e in sidecar.values()) == [64, 64]
    for name in (P1, P2):
        log = (work / "logs" / "download_l1c" / f"{name}.log").read_text()
        assert "BLAKE3 verified" in log, log[-2000:]
    hashes = (work / "results" / "hashes" / "ben_s2_l1c_hashes.csv").read_text()
    assert f"{ids[P1 + '.SAFE']}.out," in hashes

    # secrets: nowhere in logs, Snakemake metadata, outputs or snakemake's output
    assert len(tokens) >= 4  # two access + two refresh tokens at least
    secrets_ = [DEMO_PASSWORD, *tokens]
    leaks = []
    for path in work.rglob("*"):
        if not path.is_file() or path.suffix == ".zip":
            continue
        data = path.read_bytes()
        leaks += [f"{path.relative_to(work)}" for s in secrets_ if s.encode() in data]
    assert leaks == []
    assert (work / ".snakemake" / "metadata").is_dir()
    assert list((work / "logs" / "download_l1c").glob("*.log"))
