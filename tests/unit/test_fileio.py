"""Shared file helpers: directory staging and the sorted tree walk."""

from pathlib import Path

import pytest

from benpipe.errors import InputDataError
from benpipe.fileio import iter_sorted_tree, stage_directory


def test_stage_directory_resumes_after_an_interrupted_run(tmp_path: Path) -> None:
    out = tmp_path / "dataset"
    stale = tmp_path / ".dataset.tmp"
    (stale / "half").mkdir(parents=True)  # left by a killed run
    out.mkdir()  # empty, as a scheduler pre-creates directory outputs
    staging = stage_directory(out, "dataset directory")
    assert staging == stale and list(staging.iterdir()) == []
    assert not out.exists()


def test_stage_directory_refuses_to_overwrite_a_built_output(tmp_path: Path) -> None:
    out = tmp_path / "dataset"
    (out / "BigEarthNet-S2").mkdir(parents=True)
    with pytest.raises(InputDataError, match=f"dataset directory {out} already"):
        stage_directory(out, "dataset directory")
    assert (out / "BigEarthNet-S2").is_dir()


def test_sorted_tree_stops_at_max_depth(tmp_path: Path) -> None:
    for rel in ("a/b/c/d.tif", "a/b-x.tif", "a/b/e.tif", "z.tif"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b".")
    full = [rel for rel, _ in iter_sorted_tree(tmp_path, "T/")]
    assert full == ["T/a/b-x.tif", "T/a/b/c/d.tif", "T/a/b/e.tif", "T/z.tif"]
    units = [(rel, e.is_dir()) for rel, e in iter_sorted_tree(tmp_path, max_depth=2)]
    # the unit "a/b" sorts where its files do: after "a/b-x.tif" ("-" < "/")
    assert units == [("a/b-x.tif", False), ("a/b", True), ("z.tif", False)]
