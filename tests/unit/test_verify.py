"""The verification report against tracked artifacts.

verify never passes on nothing: untracked and missing artifacts are "not
compared" (never a match; strict mode fails), known-unreproducible artifacts
carry their reason, and a dataset file changed after hashing is named.
"""

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from benpipe.errors import InputDataError, VerificationError
from benpipe.release.checksums import render_hashes_txt, render_sha256sums
from benpipe.release.freeze import freeze_artifacts
from benpipe.release.hashing import (
    write_catalogue_hashes,
    write_metadata_hashes,
    write_tree_hashes,
)
from benpipe.release.verify import ProducedPaths, verify

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO.parent / "shared" / "reference-artifacts"
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


def _band(base: Path, col: int, band: str = "B03") -> Path:
    patch = f"{TILE}_{col:02d}_00"
    return (
        base / "results/dataset/BigEarthNet-S2" / TILE / patch / f"{patch}_{band}.tif"
    )


def _produce(base: Path) -> ProducedPaths:
    """A run's hash lists under ``base`` (the Snakemake workdir), as hash_outputs."""
    produced = ProducedPaths.under(base)
    ds = produced.dataset
    if not ds.exists():
        for col in range(4):
            patch = f"{TILE}_{col:02d}_00"
            for band in ("B02", "B03"):
                _write(_band(base, col, band), f"{patch}{band}".encode())
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
    for tree, csv in (
        ("BigEarthNet-S2", produced.patch_hashes),
        ("Reference_Maps", produced.reference_maps_hashes),
        ("BigEarthNet-S1", produced.s1_hashes),
    ):
        write_tree_hashes(ds / tree, csv, file_stats=True)
    write_metadata_hashes(
        [ds / "metadata.parquet"], produced.metadata_hashes, file_stats=True
    )
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
    _write(tracked / "bigearthnet_s2_tile_ids.csv", b"tile,id\nX.SAFE,1\n")


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


def _md(base: Path) -> str:
    return (base / "results" / "verification.md").read_text()


def _frozen(tmp_path: Path, **kwargs) -> tuple[ProducedPaths, Path]:
    produced = _produce(tmp_path)
    tracked = tmp_path / "tracked"
    _freeze(produced, tracked, **kwargs)
    return produced, tracked


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[0] ^= 1
    path.write_bytes(bytes(data))


# ---------------------------------------------------------------- statuses
def test_all_match_after_freeze(tmp_path: Path) -> None:
    _, tracked = _frozen(tmp_path)
    report = _run(tmp_path, tracked, strict=True)
    assert report.all_match
    data = _json(tmp_path)
    assert data["all_match"] is True
    statuses = {k: v["status"] for k, v in data["artifacts"].items()}
    # The tile-id list is the run's input: reported as such, never compared.
    assert statuses.pop("tile_ids") == "input"
    assert set(statuses.values()) == {"match"}
    assert data["not_compared"] == ["tile_ids"]
    first = _md(tmp_path).splitlines()[0]
    assert first == (
        "# Verification: all 9 compared artifacts match; 1 not compared "
        "(tile_ids: the run's own input list)"
    )
    assert data["verdict"] == first.removeprefix("# Verification: ")


def test_untracked_and_missing_are_not_compared_and_never_match(
    tmp_path: Path,
) -> None:
    produced, tracked = _frozen(tmp_path)
    produced.l1c_content_hashes.unlink()  # tracked, not produced: missing
    (tracked / "sha256sums.txt").unlink()  # produced, not tracked: untracked
    report = _run(tmp_path, tracked)
    assert not report.all_match
    data = _json(tmp_path)
    arts = data["artifacts"]
    assert arts["l1c_content_hashes"]["status"] == "missing"
    assert arts["release_sha256"]["status"] == "untracked"
    assert data["all_match"] is False
    assert data["not_compared"] == ["tile_ids", "l1c_content_hashes", "release_sha256"]
    md = _md(tmp_path)
    assert md.splitlines()[0] == (
        "# Verification: NOT ALL MATCH: 2 of 10 artifacts NOT COMPARED (1 untracked, "
        "1 missing: l1c_content_hashes, release_sha256); 1 not compared "
        "(tile_ids: input); 7 match"
    )
    assert "## l1c_content_hashes: NOT COMPARED (missing)" in md
    assert (
        "- note: not compared: tracked, but the run did not produce this artifact"
    ) in md
    assert "## release_sha256: NOT COMPARED (untracked)" in md
    assert "nothing tracked under" in arts["release_sha256"]["note"]


def test_strict_mode_fails_on_one_untracked_artifact(tmp_path: Path) -> None:
    _, tracked = _frozen(tmp_path)
    (tracked / "s1_hashes.csv").unlink()
    (tracked / "s1_hashes.csv.sha256").unlink()
    with pytest.raises(VerificationError, match=r"untracked: s1_hashes"):
        _run(tmp_path, tracked, strict=True)
    assert _json(tmp_path)["all_match"] is False


def test_strict_mode_raises_after_writing_both_reports(tmp_path: Path) -> None:
    _, tracked = _frozen(tmp_path)
    _write(
        tracked / "metadata_hashes.csv", b"name,hash-sha256,md5\nmetadata.parquet,x,y\n"
    )
    copies = (
        tmp_path / "logs" / "verification.md",
        tmp_path / "logs" / "verification.json",
    )
    with pytest.raises(VerificationError, match="differ: metadata_hashes"):
        _run(tmp_path, tracked, strict=True, copies=copies)
    assert _json(tmp_path)["all_match"] is False
    assert "metadata_hashes" in _md(tmp_path)
    assert (
        copies[1].read_bytes()
        == (tmp_path / "results" / "verification.json").read_bytes()
    )


@pytest.mark.parametrize("folder", ["nonexistent", "empty"])
def test_a_missing_or_empty_tracked_folder_is_an_error(
    tmp_path: Path, folder: str
) -> None:
    _produce(tmp_path)
    tracked = tmp_path / folder
    if folder == "empty":
        tracked.mkdir()
        (tracked / "unrelated.txt").write_text("x")
    with pytest.raises(InputDataError, match=f"{tracked}.*freeze"):
        _run(tmp_path, tracked)
    assert not (tmp_path / "results" / "verification.json").exists()


def test_verify_cli(tmp_path: Path) -> None:
    from benpipe.cli import main

    _, tracked = _frozen(tmp_path)
    runner = CliRunner()
    args = ["verify", "--results", str(tmp_path), "--strict"]
    ok = runner.invoke(main, [*args, "--tracked", str(tracked)])
    assert ok.exit_code == 0, ok.output
    assert "all_match: true" in ok.output
    _write(tracked / "ben_s2_l1c_hashes.csv", b"name,hash-sha256\n")
    bad = runner.invoke(main, [*args, "--tracked", str(tracked)])
    assert bad.exit_code == 1
    assert (tmp_path / "results" / "verification.md").is_file()
    # benpipe verify --tracked /nonexistent --strict fails, naming the folder
    none = runner.invoke(main, [*args, "--tracked", str(tmp_path / "nonexistent")])
    assert none.exit_code == 1
    assert "nonexistent does not exist: nothing to verify against" in none.output


# ---------------------------------------------------------------- differences
def test_one_changed_byte_names_the_patch_file(tmp_path: Path) -> None:
    _, tracked = _frozen(tmp_path)
    _flip_byte(_band(tmp_path, 2))
    _produce(tmp_path)  # hash_outputs reran

    report = _run(tmp_path, tracked)
    assert not report.all_match
    art = _json(tmp_path)["artifacts"]["patch_hashes"]
    assert art["status"] == "differ"
    assert (art["added"], art["removed"], art["changed"]) == (0, 0, 1)
    assert art["changed_rows"][0]["name"] == f"{TILE}_02_00_B03"
    assert art["digest_produced"] != art["digest_tracked"]
    assert "dataset_changed" not in art  # the hash lists are up to date
    assert f"{TILE}_02_00_B03" in _md(tmp_path)
    assert _json(tmp_path)["artifacts"]["reference_maps_hashes"]["status"] == "match"


@pytest.mark.parametrize("full_csvs", [True, False])
def test_a_dataset_file_changed_after_hashing_is_named(
    tmp_path: Path, full_csvs: bool
) -> None:
    # A byte changes in results/dataset after hash_outputs: no -R hash_outputs.
    _, tracked = _frozen(tmp_path, full_csvs=full_csvs)
    assert _run(tmp_path, tracked).all_match
    _flip_byte(_band(tmp_path, 1))
    with pytest.raises(VerificationError, match="differ: patch_hashes"):
        _run(tmp_path, tracked, strict=True)
    art = _json(tmp_path)["artifacts"]["patch_hashes"]
    assert art["status"] == "differ"
    changed = art["dataset_changed"]
    assert (changed["changed"], changed["added"], changed["removed"]) == (1, 0, 0)
    assert changed["changed_rows"][0]["name"] == f"{TILE}_01_00_B03"
    assert art["recheck"] == {
        "basis": "file stats",
        "files_checked": 8,
        "files_rehashed": 1,
    }
    md = _md(tmp_path)
    assert f"changed since hashing: `{TILE}_01_00_B03`" in md
    assert "DATASET CHANGED" in md
    if full_csvs:  # the current bytes are also compared with the tracked rows
        assert art["changed_rows"][0]["name"] == f"{TILE}_01_00_B03"
    others = _json(tmp_path)["artifacts"]
    assert others["reference_maps_hashes"]["status"] == "match"


def test_new_removed_and_touched_files(tmp_path: Path) -> None:
    _, tracked = _frozen(tmp_path)
    _band(tmp_path, 0, "B02").unlink()
    _write(_band(tmp_path, 3, "B04"), b"new band")
    touched = _band(tmp_path, 2)
    os.utime(touched, ns=(1, 1))  # same bytes, other mtime: re-hashed, no change
    _run(tmp_path, tracked)
    art = _json(tmp_path)["artifacts"]["patch_hashes"]
    changed = art["dataset_changed"]
    assert (changed["changed"], changed["added"], changed["removed"]) == (0, 1, 1)
    assert changed["added_rows"] == [f"{TILE}_03_00_B04"]
    assert changed["removed_rows"] == [f"{TILE}_00_00_B02"]
    assert art["recheck"]["files_rehashed"] == 2  # the touched and the new file


def test_rehash_finds_a_change_that_kept_size_and_mtime(tmp_path: Path) -> None:
    _, tracked = _frozen(tmp_path)
    target = _band(tmp_path, 1)
    st = target.stat()
    _flip_byte(target)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert _run(tmp_path, tracked).all_match  # size and mtime as recorded
    report = _run(tmp_path, tracked, rehash=True)
    assert not report.all_match
    art = _json(tmp_path)["artifacts"]["patch_hashes"]
    assert art["recheck"]["basis"] == "rehash"
    assert art["dataset_changed"]["changed_rows"][0]["name"] == f"{TILE}_01_00_B03"


def test_a_changed_metadata_parquet_is_named(tmp_path: Path) -> None:
    _, tracked = _frozen(tmp_path)
    (tmp_path / "results/dataset/metadata.parquet").write_bytes(b"other")
    _run(tmp_path, tracked)
    art = _json(tmp_path)["artifacts"]["metadata_hashes"]
    assert art["status"] == "differ"
    assert art["dataset_changed"]["changed_rows"][0]["name"] == "metadata.parquet"


def test_hash_lists_without_file_stats_say_so(tmp_path: Path) -> None:
    produced, tracked = _frozen(tmp_path)
    produced.patch_hashes.with_name("patch_hashes.filestat.csv").unlink()
    _run(tmp_path, tracked)
    recheck = _json(tmp_path)["artifacts"]["patch_hashes"]["recheck"]
    assert recheck["basis"] == "no file stats"
    assert "--rehash" in recheck["note"]


def test_digest_only_tracking_still_detects_a_difference(tmp_path: Path) -> None:
    _, tracked = _frozen(tmp_path, full_csvs=False)
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
    produced, tracked = _frozen(tmp_path)
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
    assert "_keys" not in art


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


# ---------------------------------------------------------------- known-unreproducible
def _declare(tracked: Path, *rows: str) -> None:
    _write(
        tracked / "known_unreproducible.csv",
        ("artifact,entry,reason\n" + "".join(f"{r}\n" for r in rows)).encode(),
    )


def test_known_unreproducible_artifacts_carry_their_reason(tmp_path: Path) -> None:
    produced, tracked = _frozen(tmp_path, full_csvs=False)
    _write(tracked / "reference_maps_hashes.csv.sha256", b"ab" * 32)
    _write(
        tracked / "hashes.txt",
        render_hashes_txt({"BigEarthNet-S2.tar.zst": "9" * 32}),
    )
    _declare(
        tracked,
        'reference_maps_hashes,*,"computed under the old *_segmentation.tiff names"',
        "release_md5,*.tar.zst,libzstd version not recorded",
    )
    report = _run(tmp_path, tracked, strict=True)  # does not fail strict mode
    assert not report.all_match  # and is never a match
    data = _json(tmp_path)
    maps = data["artifacts"]["reference_maps_hashes"]
    assert maps["status"] == "known-unreproducible"
    assert maps["known_unreproducible"] == [
        {"entry": "*", "reason": "computed under the old *_segmentation.tiff names"}
    ]
    md5 = data["artifacts"]["release_md5"]
    assert md5["status"] == "known-unreproducible"
    assert md5["known_unreproducible"][0]["rows"] == ["BigEarthNet-S2.tar.zst"]
    md = _md(tmp_path)
    assert md.splitlines()[0] == (
        "# Verification: NOT ALL MATCH: 2 known-unreproducible "
        "(reference_maps_hashes, release_md5); 1 not compared (tile_ids: input); "
        "7 match"
    )
    assert "## reference_maps_hashes: known-unreproducible" in md
    assert (
        "- known-unreproducible `*`: computed under the old *_segmentation.tiff names"
    ) in md
    assert (
        "- known-unreproducible `*.tar.zst` (`BigEarthNet-S2.tar.zst`): "
        "libzstd version not recorded"
    ) in md


def test_undeclared_differences_stay_differ(tmp_path: Path) -> None:
    produced, tracked = _frozen(tmp_path)
    _write(
        produced.release_md5,
        render_hashes_txt({"BigEarthNet-S2.tar.zst": "8" * 32, "X.tar": "7" * 32}),
    )
    _declare(tracked, "release_md5,*.tar.zst,libzstd version not recorded")
    with pytest.raises(VerificationError, match="differ: release_md5"):
        _run(tmp_path, tracked, strict=True)
    art = _json(tmp_path)["artifacts"]["release_md5"]
    assert art["status"] == "differ"
    assert art["unexplained"] == ["X.tar"]
    assert art["known_unreproducible"][0]["rows"] == ["BigEarthNet-S2.tar.zst"]


def test_a_changed_dataset_is_never_excused(tmp_path: Path) -> None:
    _, tracked = _frozen(tmp_path, full_csvs=False)
    _declare(tracked, "patch_hashes,*,pixel values depend on the sen2cor build")
    _flip_byte(_band(tmp_path, 0))
    with pytest.raises(VerificationError, match="differ: patch_hashes"):
        _run(tmp_path, tracked, strict=True)
    assert _json(tmp_path)["artifacts"]["patch_hashes"]["status"] == "differ"


def test_a_bad_declaration_is_named(tmp_path: Path) -> None:
    _, tracked = _frozen(tmp_path)
    _declare(tracked, "patch_hashes_typo,*,a reason")
    with pytest.raises(InputDataError, match="line 2: unknown artifact"):
        _run(tmp_path, tracked)


# ---------------------------------------------------------------- the published facts
def test_against_the_published_reben_facts(tmp_path: Path) -> None:
    """tracked-artifacts/reben-v2.0 with its declarations, and the real parquets."""
    if not (REFERENCE / "metadata.parquet").is_file():
        pytest.skip(f"reference artifacts not found at {REFERENCE}")
    produced = _produce(tmp_path)
    parquets = [
        REFERENCE / "metadata.parquet",
        REFERENCE / "metadata_for_patches_with_snow_cloud_or_shadow.parquet",
    ]
    ds = produced.dataset
    for p in parquets:
        shutil.copy(p, ds / p.name)
    write_metadata_hashes(
        [ds / p.name for p in parquets], produced.metadata_hashes, file_stats=True
    )
    _run(tmp_path, REPO / "tracked-artifacts" / "reben-v2.0")
    arts = _json(tmp_path)["artifacts"]
    # The published parquets' md5s are in the published hashes.txt (§11).
    assert arts["metadata_hashes"]["status"] == "match"
    assert arts["metadata_hashes"]["rows_tracked"] == 2
    # The stale reference-map digest can never match: known, with its reason.
    maps = arts["reference_maps_hashes"]
    assert maps["status"] == "known-unreproducible"
    assert "segmentation" in maps["known_unreproducible"][0]["reason"]
    # Not published, so not compared: untracked, never a match.
    assert {arts[n]["status"] for n in ("s1_hashes", "release_sha256")} == {"untracked"}
    assert arts["tile_ids"]["status"] == "input"
    # Synthetic zips differ from the published ones: a real difference.
    assert arts["l1c_hashes"]["status"] == "differ"


def test_metadata_content_section(tmp_path: Path) -> None:
    if not (REFERENCE / "metadata.parquet").is_file():
        pytest.skip(f"reference artifacts not found at {REFERENCE}")
    import pyarrow.parquet as pq

    produced = _produce(tmp_path)
    published = tmp_path / "published"
    published.mkdir()
    table = pq.read_table(REFERENCE / "metadata.parquet").slice(0, 50)
    flagged = pq.read_table(
        REFERENCE / "metadata_for_patches_with_snow_cloud_or_shadow.parquet"
    ).slice(0, 5)
    names = (
        "metadata.parquet",
        "metadata_for_patches_with_snow_cloud_or_shadow.parquet",
    )
    for folder in (published, produced.dataset):
        pq.write_table(table, folder / names[0])
        pq.write_table(flagged, folder / names[1])
    write_metadata_hashes(
        [produced.dataset / n for n in names], produced.metadata_hashes, file_stats=True
    )
    tracked = tmp_path / "tracked"
    _freeze(produced, tracked)
    assert _run(tmp_path, tracked, published_metadata=published).all_match
    art = _json(tmp_path)["artifacts"]["metadata_content"]
    assert art["status"] == "match"
    assert art["summary"] == "identical: 55 patches, every column equal"
    rows = table.to_pylist()
    rows[7]["split"] = "train" if rows[7]["split"] != "train" else "test"
    pq.write_table(
        type(table).from_pylist(rows, schema=table.schema),
        published / "metadata.parquet",
    )
    report = _run(tmp_path, tracked, published_metadata=published)
    assert not report.all_match
    art = _json(tmp_path)["artifacts"]["metadata_content"]
    assert art["status"] == "differ"
    assert (
        art["comparison"]["columns"]["split"]["examples"][0]["patch_id"]
        == (rows[7]["patch_id"])
    )
    assert "## split: 1 patch(es) differ" in _md(tmp_path)
