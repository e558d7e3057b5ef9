"""Hash lists in the reference tiff-hasher format (REFERENCE-PIPELINE.md §7.2)."""

import hashlib
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from benpipe.errors import InputDataError
from benpipe.fileio import file_hashes
from benpipe.release.checksums import parse_checksum_lines
from benpipe.release.hashing import (
    iter_sorted_files,
    write_metadata_hashes,
    write_tree_hashes,
)

REFERENCE = (
    Path(__file__).resolve().parents[2].parent / "shared" / "reference-artifacts"
)
TILE = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _s2_tree(root: Path) -> dict[str, bytes]:
    """A small S2 tree; returns {stem: bytes}."""
    contents = {}
    for col in (0, 1):
        patch = f"{TILE}_{col:02d}_03"
        for band in ("B01", "B8A", "B11"):
            stem = f"{patch}_{band}"
            data = f"{stem}-payload".encode() * (col + 1)
            _write(root / TILE / patch / f"{stem}.tif", data)
            contents[stem] = data
    return contents


def test_hash_csv_matches_reference_format_and_digest(tmp_path: Path) -> None:
    root = tmp_path / "BigEarthNet-S2"
    contents = _s2_tree(root)
    _write(root / TILE / "notes.txt", b"not hashed")
    _write(root / "extra" / "zz_map.tiff", b"tiff too")
    contents["zz_map"] = b"tiff too"
    out = tmp_path / "hashes" / "patch_hashes.csv"

    result = write_tree_hashes(root, out, workers=2)

    expected_lines = ["name,hash-sha256"] + [
        f"{stem},{hashlib.sha256(data).hexdigest()}"
        for stem, data in sorted(contents.items())
    ]
    data = out.read_bytes()
    assert data == ("\n".join(expected_lines) + "\n").encode()
    digest_file = out.with_name("patch_hashes.csv.sha256").read_bytes()
    assert digest_file == hashlib.sha256(data).hexdigest().encode()
    assert len(digest_file) == 64 and not digest_file.endswith(b"\n")
    assert result.rows == len(contents)
    assert result.digest == digest_file.decode()
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []


def test_duplicate_stems_raise_and_leave_no_csv(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    _write(root / "a" / "same_B01.tif", b"1")
    _write(root / "b" / "same_B01.tif", b"2")
    _write(root / "b" / "other.tif", b"3")
    out = tmp_path / "out.csv"
    with pytest.raises(InputDataError, match="same_B01"):
        write_tree_hashes(root, out)
    assert list(tmp_path.glob("*out.csv*")) == []


def test_stems_out_of_path_order_are_sorted(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    _write(root / "a" / "zeta.tif", b"z")
    _write(root / "b" / "alpha.tif", b"a")
    _write(root / "c" / "alpha.tif", b"dup")  # duplicate found after sorting
    with pytest.raises(InputDataError, match="alpha"):
        write_tree_hashes(root, tmp_path / "dup.csv")
    (root / "c" / "alpha.tif").unlink()
    write_tree_hashes(root, tmp_path / "ok.csv")
    names = [line.split(",")[0] for line in (tmp_path / "ok.csv").read_text().split()]
    assert names == ["name", "alpha", "zeta"]


def test_worker_count_does_not_change_bytes(tmp_path: Path) -> None:
    # Files above, in and below the patch-folder level that workers take whole,
    # with names whose bytewise order differs from per-level order.
    root = tmp_path / "tree"
    _s2_tree(root)
    expected = {}
    for i in range(60):  # many batches of work units
        rel = f"{TILE}/{TILE}_{i % 7:02d}_{i:02d}/f{i:03d}.tif"
        expected[rel] = os.urandom(i * 37)
    for rel in ("top.tif", f"{TILE}/loose.tif", f"{TILE}-x/p/deep/er/d.tif"):
        expected[rel] = os.urandom(100)
    for rel, data in expected.items():
        _write(root / rel, data)
    one = write_tree_hashes(root, tmp_path / "one.csv", workers=1)
    three = write_tree_hashes(root, tmp_path / "three.csv", workers=3, batch_units=2)
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "three.csv").read_bytes()
    assert one.digest == three.digest
    rows = dict(line.split(",") for line in (tmp_path / "one.csv").read_text().split())
    for rel, data in expected.items():
        assert rows[Path(rel).stem] == hashlib.sha256(data).hexdigest()


def test_sorted_walk_is_bytewise_on_full_paths(tmp_path: Path) -> None:
    # Per-level sorting would put "x/…" before "x-y/…"; bytewise full paths
    # ("-" < "/") put "x-y/…" first, as `sort` on a path list does.
    for rel in ("x/b.tif", "x-y/a.tif", "x.tif", "w/z.tif", "x/a.tif"):
        _write(tmp_path / "t" / rel, b".")
    got = [
        p.relative_to(tmp_path / "t").as_posix()
        for p in iter_sorted_files(tmp_path / "t")
    ]
    assert got == sorted(got, key=str.encode)
    assert got.index("x-y/a.tif") < got.index("x/a.tif")


def test_metadata_hashes_have_sha256_and_md5(tmp_path: Path) -> None:
    a = _write(tmp_path / "metadata.parquet", b"clean")
    b = _write(
        tmp_path / "metadata_for_patches_with_snow_cloud_or_shadow.parquet", b"flagged"
    )
    out = tmp_path / "metadata_hashes.csv"
    write_metadata_hashes([b, a], out)
    lines = out.read_text().splitlines()
    assert lines[0] == "name,hash-sha256,md5"
    assert lines[1] == (
        f"metadata.parquet,{hashlib.sha256(b'clean').hexdigest()},"
        f"{hashlib.md5(b'clean').hexdigest()}"
    )
    assert lines[2].startswith("metadata_for_patches")
    with pytest.raises(InputDataError, match="missing"):
        write_metadata_hashes([tmp_path / "nope.parquet"], out)


def test_hash_tree_cli_refuses_to_overwrite(tmp_path: Path) -> None:
    from benpipe.cli import main

    root = tmp_path / "tree"
    _s2_tree(root)
    out = tmp_path / "h.csv"
    runner = CliRunner()
    first = runner.invoke(main, ["hash-tree", str(root), str(out)])
    assert first.exit_code == 0, first.output
    second = runner.invoke(main, ["hash-tree", str(root), str(out)])
    assert second.exit_code != 0 and "--overwrite" in second.output


def test_reference_parquet_md5s_match_reference_hashes_txt() -> None:
    if not (REFERENCE / "hashes.txt").is_file():
        pytest.skip(f"reference artifacts not found at {REFERENCE}")
    listed = parse_checksum_lines((REFERENCE / "hashes.txt").read_text())
    assert len(listed) == 8
    for name in (
        "metadata.parquet",
        "metadata_for_patches_with_snow_cloud_or_shadow.parquet",
    ):
        assert file_hashes(REFERENCE / name).md5 == listed[name]


def test_catalogue_hashes_use_relative_paths_and_skip_hidden_files(tmp_path):
    from benpipe.release.hashing import write_catalogue_hashes

    cat = tmp_path / "catalogue"
    (cat / "stac" / "T1").mkdir(parents=True)
    (cat / "patches.parquet").write_bytes(b"p")
    (cat / "stac" / "collection.json").write_bytes(b"{}")
    (cat / "stac" / "T1" / "collection.json").write_bytes(b"[]")
    (cat / "stac" / ".snakemake_timestamp").write_bytes(b"")
    out = tmp_path / "catalogue_hashes.csv"
    rows = write_catalogue_hashes(cat, out)
    names = [r.name for r in rows]
    assert names == [
        "patches.parquet",
        "stac/T1/collection.json",
        "stac/collection.json",
    ]
    lines = out.read_text().splitlines()
    assert lines[0] == "name,hash-sha256,md5"
    assert lines[1].startswith("patches.parquet," + hashlib.sha256(b"p").hexdigest())
