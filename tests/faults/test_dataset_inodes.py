"""Fault: an edit of the dataset must reach neither an input nor a staging tree.

Issue 14, BAD 2: the S1 files of ``results/dataset`` were writable hard links
into ``inputs.s1_root``, so one ``rasterio`` ``r+`` tag edit of a dataset
file changed the user's v1 input; the export staging trees shared writable
inodes with the dataset too.  Now the S1 files are copies and every dataset
file is read-only (hard links only to benpipe's own staging trees).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import rasterio

from benpipe.names import parse_patch_name
from digests import tree_digests
from unit.test_finalize import build_dataset

#: The unprivileged user that edits the dataset when the tests run as root
#: (root ignores permission bits).
NOBODY = 65534


@pytest.fixture
def built(request) -> Iterator[tuple[Path, dict]]:
    """A finalized dataset in a folder that an unprivileged user can enter."""
    base = Path(tempfile.mkdtemp(prefix="benpipe-inodes-", dir="/var/tmp"))
    os.chmod(base, 0o755)
    try:
        yield build_dataset(base)
    finally:
        shutil.rmtree(base)


def _edit_in_place(path: Path, *, as_uid: int | None) -> subprocess.CompletedProcess:
    """Overwrite the first bytes of ``path`` in place (``O_RDWR``, no truncation).

    What ``rasterio.open(path, "r+")`` does to the file; a shell, so that it
    also runs as ``as_uid`` (an unprivileged user who cannot enter root's
    Python installation).
    """
    return subprocess.run(
        ["sh", "-c", 'printf EDITED 1<>"$1"', "sh", str(path)],
        capture_output=True,
        text=True,
        user=as_uid,
        group=as_uid,
    )


def _s2_pair(dataset: Path, staging: dict) -> tuple[Path, Path]:
    pid = staging["labelled"][0]
    tile = parse_patch_name(pid).tile_dir
    root = next(r for r in staging["s2_roots"] if (r / tile).is_dir())
    name = f"{pid}_B04.tif"
    return dataset / "BigEarthNet-S2" / tile / pid / name, root / tile / pid / name


def _s1_pair(dataset: Path, staging: dict) -> tuple[Path, Path]:
    s1 = next(
        p for p in sorted((dataset / "BigEarthNet-S1").rglob("*_VV.tif")) if p.is_file()
    )
    return s1, staging["s1_root"] / s1.parent.name / s1.name


def test_no_dataset_file_shares_an_inode_with_an_s1_input(built):
    dataset, staging = built
    inputs = {
        (st.st_dev, st.st_ino)
        for p in staging["s1_root"].rglob("*.tif")
        for st in [p.stat()]
    }
    for path in (dataset / "BigEarthNet-S1").rglob("*.tif"):
        st = path.stat()
        assert (st.st_dev, st.st_ino) not in inputs, path
        assert st.st_nlink == 1, path


def test_every_dataset_file_and_its_staging_twin_is_read_only(built):
    dataset, staging = built
    files = [p for p in dataset.rglob("*") if p.is_file()]
    assert len(files) > 50
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) & 0o222 == 0, path
    for root in staging["s2_roots"] + staging["map_roots"]:
        for path in root.rglob("*.tif"):
            if path.stat().st_nlink > 1:  # linked into the dataset
                assert stat.S_IMODE(path.stat().st_mode) & 0o222 == 0, path


def test_editing_an_s1_file_of_the_dataset_leaves_the_input_unchanged(built):
    dataset, staging = built
    before = tree_digests(staging["s1_root"])
    target, source = _s1_pair(dataset, staging)
    target.chmod(0o644)  # a user who makes the file writable on purpose
    with rasterio.open(target, "r+") as ds:
        ds.update_tags(EDITED="by a user")
    with rasterio.open(target) as ds:
        assert ds.tags()["EDITED"] == "by a user"
    with rasterio.open(source) as ds:
        assert "EDITED" not in ds.tags()
    assert tree_digests(staging["s1_root"]) == before


def test_editing_an_s2_file_of_the_dataset_fails_and_staging_is_unchanged(built):
    dataset, staging = built
    staging_roots = [Path(r) for r in staging["s2_roots"] + staging["map_roots"]]
    before = {str(r): tree_digests(r) for r in staging_roots}
    target, twin = _s2_pair(dataset, staging)
    assert os.path.samefile(target, twin)  # benpipe's own staging: a hard link
    uid = None
    if os.geteuid() == 0:
        # Root writes whatever the mode says: edit as an ordinary user who
        # owns the files, as a user of a real run does.
        uid = NOBODY
        for root in (dataset, *staging_roots):
            for path in [root, *root.rglob("*")]:
                os.chown(path, NOBODY, NOBODY, follow_symlinks=False)
    result = _edit_in_place(target, as_uid=uid)
    assert result.returncode != 0, "the edit of a read-only dataset file succeeded"
    assert "Permission denied" in result.stderr
    assert {str(r): tree_digests(r) for r in staging_roots} == before
