"""Shared file helpers: directory staging, CSV writing, the sorted tree walk,
copies and read-only links."""

import os
import stat
import subprocess
from pathlib import Path

import pytest

from benpipe.errors import InputDataError
from benpipe.fileio import (
    FileCopier,
    atomic_write_bytes,
    iter_sorted_tree,
    staged_directory,
    write_csv_atomic,
)


def test_staged_directory_resumes_after_an_interrupted_run(tmp_path: Path) -> None:
    out = tmp_path / "dataset"
    (tmp_path / ".dataset.tmp" / "half").mkdir(parents=True)  # left by a kill -9
    (tmp_path / ".dataset.tmp-k3j2" / "x").mkdir(parents=True)  # older versions
    (tmp_path / ".dataset.old").mkdir()  # killed while replacing
    (tmp_path / ".dataset.json.123.abcd.tmp").write_text("{}")  # a sibling's temp
    out.mkdir()  # empty, as a scheduler pre-creates directory outputs
    with staged_directory(out, "dataset directory") as staging:
        assert staging.path == tmp_path / ".dataset.tmp"
        assert list(staging.path.iterdir()) == []
        assert not out.exists()
        (staging.path / "file").write_text("new")
    assert (out / "file").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".dataset.json.123.abcd.tmp",
        "dataset",
    ]


def test_staged_directory_refuses_to_overwrite_a_built_output(tmp_path: Path) -> None:
    out = tmp_path / "dataset"
    (out / "BigEarthNet-S2").mkdir(parents=True)
    with (
        pytest.raises(InputDataError, match=f"dataset directory {out} already"),
        staged_directory(out, "dataset directory"),
    ):
        pass
    assert (out / "BigEarthNet-S2").is_dir()
    assert not (tmp_path / ".dataset.tmp").exists()


def test_staged_directory_replaces_only_when_asked_and_only_at_the_end(
    tmp_path: Path,
) -> None:
    out = tmp_path / "maps"
    (out / "old").mkdir(parents=True)
    with staged_directory(out, "maps", replace=True) as staging:
        (staging.path / "new").mkdir()
        assert (out / "old").is_dir()  # the old output stays until the rename
    assert [p.name for p in out.iterdir()] == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["maps"]


def test_a_failed_build_leaves_no_staging_and_the_old_output(tmp_path: Path) -> None:
    out = tmp_path / "maps"
    (out / "old").mkdir(parents=True)
    with (
        pytest.raises(RuntimeError, match="boom"),
        staged_directory(out, "maps", replace=True) as staging,
    ):
        (staging.path / "half").mkdir()
        raise RuntimeError("boom")
    assert [p.name for p in out.iterdir()] == ["old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["maps"]


def test_commit_of_a_folder_built_inside_the_staging(tmp_path: Path) -> None:
    out = tmp_path / "X.SAFE"
    with staged_directory(out, "L2A product") as staging:
        product = staging.path / "S2A_sen2cor_name.SAFE"
        (product / "GRANULE").mkdir(parents=True)
        (staging.path / "L2A_Process.log").write_text("scratch")
        staging.commit(product)
    assert (out / "GRANULE").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X.SAFE"]


def test_csv_is_written_with_lf_and_minimal_quoting(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "t.csv"
    write_csv_atomic(path, ("name", "value"), [("a", "1"), ("b,c", 'say "x"')])
    assert path.read_bytes() == b'name,value\na,1\n"b,c","say ""x"""\n'
    assert [p.name for p in path.parent.iterdir()] == ["t.csv"]


def test_sorted_tree_stops_at_max_depth(tmp_path: Path) -> None:
    for rel in ("a/b/c/d.tif", "a/b-x.tif", "a/b/e.tif", "z.tif"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b".")
    full = [rel for rel, _ in iter_sorted_tree(tmp_path, "T/")]
    assert full == ["T/a/b-x.tif", "T/a/b/c/d.tif", "T/a/b/e.tif", "T/z.tif"]
    units = [(rel, e.is_dir()) for rel, e in iter_sorted_tree(tmp_path, max_depth=2)]
    # the unit "a/b" sorts where its files do: after "a/b-x.tif" ("-" < "/")
    assert units == [("a/b-x.tif", False), ("a/b", True), ("z.tif", False)]


def test_copy_makes_an_independent_read_only_file(tmp_path: Path) -> None:
    src = tmp_path / "input.tif"
    payload = bytes(range(256)) * 4099
    src.write_bytes(payload)
    src.chmod(0o664)
    copier = FileCopier()
    copier.copy(src, tmp_path / "out.tif")
    out = tmp_path / "out.tif"
    assert out.read_bytes() == payload
    assert not os.path.samefile(src, out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o444
    assert stat.S_IMODE(src.stat().st_mode) == 0o664  # the input is untouched
    assert copier.counts["copy"] + copier.counts["reflink"] == 1
    (tmp_path / "empty").write_bytes(b"")
    copier.copy(tmp_path / "empty", tmp_path / "empty-copy")
    assert (tmp_path / "empty-copy").read_bytes() == b""


def test_copy_never_overwrites_and_leaves_nothing_on_failure(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "b").write_bytes(b"b")
    with pytest.raises(FileExistsError):
        FileCopier().copy(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "b").read_bytes() == b"b"
    with pytest.raises(FileNotFoundError):
        FileCopier().copy(tmp_path / "missing", tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_link_shares_the_staging_inode_and_write_protects_it(tmp_path: Path) -> None:
    staging = tmp_path / "staging.tif"
    staging.write_bytes(b"pixels")
    staging.chmod(0o640)
    copier = FileCopier()
    copier.link(staging, tmp_path / "dataset.tif")
    assert os.path.samefile(staging, tmp_path / "dataset.tif")
    assert stat.S_IMODE(staging.stat().st_mode) == 0o440
    assert copier.counts == {"hardlink": 1, "reflink": 0, "copy": 0}


def test_a_killed_writers_temporary_file_is_removed_by_the_next_writer(
    tmp_path: Path,
) -> None:
    finished = subprocess.Popen(["true"])
    finished.wait()
    archive = tmp_path / "BigEarthNet-S1.tar.zst"
    stale = tmp_path / f".{archive.name}.{finished.pid}.0123456789ab.tmp"
    live = tmp_path / f".{archive.name}.{os.getpid()}.ba9876543210.tmp"
    other = tmp_path / ".BigEarthNet-S2.tar.zst.1.0123456789ab.tmp"
    for path in (stale, live, other):
        path.write_bytes(b"half an archive")
    atomic_write_bytes(archive, b"archive")
    assert archive.read_bytes() == b"archive"
    assert not stale.exists()  # its writer is gone
    assert live.exists()  # a running writer's (here: ours)
    assert other.exists()  # another output's
