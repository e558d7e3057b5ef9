"""The verification report against tracked artifacts."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from benpipe.errors import VerificationError
from benpipe.release.checksums import render_hashes_txt, render_sha256sums
from benpipe.release.freeze import freeze_artifacts
from benpipe.release.hashing import (
    write_catalogue_hashes,
    write_metadata_hashes,
    write_tree_hashes,
)
from benpipe.release.verify import ProducedPaths, verify

TILE = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
TRACKED_NAMES = {
    "l1c_hashes": "ben_s2_l1c_hashes.csv",
    "l1c_content_hashes": "l1c_content_hashes.csv",
    "patch_hashes": "patch_hashes.csv",
    "reference_maps_hashes": "reference_maps_hashes.csv",
    "s1_hashes": "s1_hashes.csv",
    "metadata_hashes": "metadata_hashes.csv",
    "catalogue_hashes": "catalogue_hashes.csv",
    "release_md5": "hashes.txt",
    "release_sha256": "sha256sums.txt",
}


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _produce(base: Path) -> ProducedPaths:
    """A run's hash lists under ``base`` (the Snakemake workdir)."""
    produced = ProducedPaths.under(base)
    ds = base / "results" / "dataset"
    if not ds.exists():
        for col in range(4):
            patch = f"{TILE}_{col:02d}_00"
            for band in ("B02", "B03"):
                _write(
                    ds / "BigEarthNet-S2" / TILE / patch / f"{patch}_{band}.tif",
                    f"{patch}{band}".encode(),
                )
            _write(
                ds / "Reference_Maps" / TILE / patch / f"{patch}_reference_map.tif",
                patch.encode(),
            )
        s1 = "S1A_IW_GRDH_1SDV_20170613T165043_33UUP_1_1"
        for pol in ("VV", "VH"):
            _write(
                ds / "BigEarthNet-S1" / s1[:32] / s1 / f"{s1}_{pol}.tif", pol.encode()
            )
        _write(ds / "metadata.parquet", b"m")
    write_tree_hashes(ds / "BigEarthNet-S2", produced.patch_hashes)
    write_tree_hashes(ds / "Reference_Maps", produced.reference_maps_hashes)
    write_tree_hashes(ds / "BigEarthNet-S1", produced.s1_hashes)
    write_metadata_hashes([ds / "metadata.parquet"], produced.metadata_hashes)
    catalogue = base / "results" / "catalogue"
    _write(catalogue / "patches.parquet", b"c")
    _write(catalogue / "stac" / "collection.json", b"{}")
    write_catalogue_hashes(catalogue, produced.catalogue_hashes)
    _write(produced.l1c_hashes, b"name,hash-sha256\nid-1.out,aa\nid-2.out,bb\n")
    _write(produced.l1c_content_hashes, b"product,band,sha256\nP1,B01,cc\n")
    _write(
        produced.release_md5, render_hashes_txt({"BigEarthNet-S2.tar.zst": "0" * 32})
    )
    _write(
        produced.release_sha256, render_sha256sums({"BigEarthNet-S2.tar.zst": "1" * 64})
    )
    return produced


def _freeze(produced: ProducedPaths, tracked: Path, *, full_csvs: bool = True) -> None:
    pairs = []
    for key, name in TRACKED_NAMES.items():
        src = getattr(produced, key)
        if key in ("patch_hashes", "reference_maps_hashes", "s1_hashes"):
            pairs.append(
                (src.with_name(src.name + ".sha256"), tracked / (name + ".sha256"))
            )
            if not full_csvs:
                continue
        pairs.append((src, tracked / name))
    freeze_artifacts(pairs)


def _run(base: Path, tracked: Path, **kwargs):
    return verify(
        tracked_dir=tracked,
        out_md=base / "results" / "verification.md",
        out_json=base / "results" / "verification.json",
        produced=ProducedPaths.under(base),
        **kwargs,
    )


def _json(base: Path) -> dict:
    return json.loads((base / "results" / "verification.json").read_text())


def test_all_match_after_freeze(tmp_path: Path) -> None:
    produced = _produce(tmp_path)
    tracked = tmp_path / "tracked"
    _freeze(produced, tracked)
    _write(tracked / "bigearthnet_s2_tile_ids.csv", b"tile,id\nX.SAFE,1\n")
    report = _run(tmp_path, tracked, strict=True)
    assert report.all_match
    data = _json(tmp_path)
    assert data["all_match"] is True
    statuses = {k: v["status"] for k, v in data["artifacts"].items()}
    assert set(statuses.values()) == {"match"}
    # The tile-id list is the run's input: reported as such, not compared.
    assert data["artifacts"]["tile_ids"]["basis"] == "input"
    assert "match (input)" in (tmp_path / "results" / "verification.md").read_text()


def test_one_changed_byte_names_the_patch_file(tmp_path: Path) -> None:
    produced = _produce(tmp_path)
    tracked = tmp_path / "tracked"
    _freeze(produced, tracked)
    patch = f"{TILE}_02_00"
    target = (
        tmp_path / "results/dataset/BigEarthNet-S2" / TILE / patch / f"{patch}_B03.tif"
    )
    data = bytearray(target.read_bytes())
    data[0] ^= 1
    target.write_bytes(bytes(data))
    _produce(tmp_path)

    report = _run(tmp_path, tracked)
    assert not report.all_match
    art = _json(tmp_path)["artifacts"]["patch_hashes"]
    assert art["status"] == "differ"
    assert (art["added"], art["removed"], art["changed"]) == (0, 0, 1)
    assert art["changed_rows"][0]["name"] == f"{patch}_B03"
    assert art["digest_produced"] != art["digest_tracked"]
    assert f"{patch}_B03" in (tmp_path / "results" / "verification.md").read_text()
    assert _json(tmp_path)["artifacts"]["reference_maps_hashes"]["status"] == "match"


def test_digest_only_tracking_still_detects_a_difference(tmp_path: Path) -> None:
    produced = _produce(tmp_path)
    tracked = tmp_path / "tracked"
    _freeze(produced, tracked, full_csvs=False)
    assert _run(tmp_path, tracked).all_match
    (
        tmp_path
        / "results/dataset/Reference_Maps"
        / TILE
        / f"{TILE}_00_00"
        / f"{TILE}_00_00_reference_map.tif"
    ).write_bytes(b"new")
    _produce(tmp_path)
    _run(tmp_path, tracked)
    art = _json(tmp_path)["artifacts"]["reference_maps_hashes"]
    assert art["status"] == "differ"
    assert "hint" in art and "changed_rows" not in art


def test_added_removed_and_max_listed(tmp_path: Path) -> None:
    produced = _produce(tmp_path)
    tracked = tmp_path / "tracked"
    _freeze(produced, tracked)
    rows = "".join(f"id-{i}.out,{i:02x}\n" for i in range(3, 9))
    _write(produced.l1c_hashes, f"name,hash-sha256\nid-1.out,ff\n{rows}".encode())
    _run(tmp_path, tracked, max_listed=2)
    art = _json(tmp_path)["artifacts"]["l1c_hashes"]
    assert (art["added"], art["removed"], art["changed"]) == (6, 1, 1)
    assert art["added_rows"] == ["id-3.out", "id-4.out"]
    assert art["removed_rows"] == ["id-2.out"]
    assert art["changed_rows"] == [
        {"name": "id-1.out", "produced": "ff", "tracked": "aa"}
    ]


def test_missing_and_untracked(tmp_path: Path) -> None:
    produced = _produce(tmp_path)
    tracked = tmp_path / "tracked"
    _freeze(produced, tracked)
    produced.l1c_content_hashes.unlink()
    (tracked / "sha256sums.txt").unlink()
    report = _run(tmp_path, tracked)
    arts = _json(tmp_path)["artifacts"]
    assert arts["l1c_content_hashes"]["status"] == "missing"
    assert arts["release_sha256"]["status"] == "untracked"
    assert not report.all_match

    empty = tmp_path / "empty-tracked"
    empty.mkdir()
    _produce(tmp_path)
    report = _run(tmp_path, empty, strict=True)  # untracked never fails
    assert report.all_match
    assert {a.status for a in report.artifacts} == {"untracked"}


def test_strict_mode_raises_after_writing_both_reports(tmp_path: Path) -> None:
    produced = _produce(tmp_path)
    tracked = tmp_path / "tracked"
    _freeze(produced, tracked)
    _write(
        tracked / "metadata_hashes.csv", b"name,hash-sha256,md5\nmetadata.parquet,x,y\n"
    )
    copies = (
        tmp_path / "logs" / "verification.md",
        tmp_path / "logs" / "verification.json",
    )
    with pytest.raises(VerificationError, match="metadata_hashes"):
        _run(tmp_path, tracked, strict=True, copies=copies)
    assert _json(tmp_path)["all_match"] is False
    assert "metadata_hashes" in (tmp_path / "results" / "verification.md").read_text()
    assert (
        copies[1].read_bytes()
        == (tmp_path / "results" / "verification.json").read_bytes()
    )


def test_tile_ids_search_result_and_metadata_fallback(tmp_path: Path) -> None:
    produced = _produce(tmp_path)
    tracked = tmp_path / "tracked"
    tracked.mkdir()
    _write(tracked / "bigearthnet_s2_tile_ids.csv", b"tile,id\nA.SAFE,1\nB.SAFE,2\n")
    _write(produced.search_tile_ids, b"tile,id\nA.SAFE,1\nB.SAFE,3\n")
    # Only a reference-style hashes.txt is tracked: parquet md5s come from it.
    md5 = produced.metadata_hashes.read_text().splitlines()[1].split(",")[2]
    _write(
        tracked / "hashes.txt",
        render_hashes_txt({"metadata.parquet": md5, "X.tar": "0" * 32}),
    )
    _run(tmp_path, tracked)
    arts = _json(tmp_path)["artifacts"]
    assert arts["tile_ids"]["status"] == "differ"
    assert arts["tile_ids"]["changed_rows"][0]["name"] == "B.SAFE"
    assert arts["metadata_hashes"]["status"] == "match"
    assert arts["metadata_hashes"]["basis"].startswith("md5 entries")


def test_verify_cli(tmp_path: Path) -> None:
    from benpipe.cli import main

    produced = _produce(tmp_path)
    tracked = tmp_path / "tracked"
    _freeze(produced, tracked)
    shutil.copy(produced.l1c_hashes, tracked / "ben_s2_l1c_hashes.csv")
    runner = CliRunner()
    ok = runner.invoke(
        main,
        ["verify", "--results", str(tmp_path), "--tracked", str(tracked), "--strict"],
    )
    assert ok.exit_code == 0, ok.output
    assert "all_match: true" in ok.output
    _write(tracked / "ben_s2_l1c_hashes.csv", b"name,hash-sha256\n")
    bad = runner.invoke(
        main,
        ["verify", "--results", str(tmp_path), "--tracked", str(tracked), "--strict"],
    )
    assert bad.exit_code == 1
    assert (tmp_path / "results" / "verification.md").is_file()


def test_against_the_reference_artifacts(tmp_path: Path) -> None:
    reference = (
        Path(__file__).resolve().parents[2].parent / "shared" / "reference-artifacts"
    )
    if not (reference / "hashes.txt").is_file():
        pytest.skip(f"reference artifacts not found at {reference}")
    produced = _produce(tmp_path)
    parquets = [
        reference / "metadata.parquet",
        reference / "metadata_for_patches_with_snow_cloud_or_shadow.parquet",
    ]
    write_metadata_hashes(parquets, produced.metadata_hashes)
    _run(tmp_path, reference)
    arts = _json(tmp_path)["artifacts"]
    # The published parquets' md5s are in the reference hashes.txt (§11).
    assert arts["metadata_hashes"]["status"] == "match"
    assert arts["metadata_hashes"]["rows_tracked"] == 2
    # Only digests are tracked there: a synthetic tree differs, without a row list,
    # and the stale reference-map digest carries its note.
    assert arts["patch_hashes"]["status"] == "differ" and "hint" in arts["patch_hashes"]
    assert "segmentation" in arts["reference_maps_hashes"]["note"]
    assert arts["s1_hashes"]["status"] == "untracked"
    assert arts["tile_ids"]["basis"] == "input"
