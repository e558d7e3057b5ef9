"""Directory inputs tracked by content: digest, hash cache, manifest."""

from __future__ import annotations

import os
from pathlib import Path

from benpipe.dirstate import (
    MISSING,
    cache_for,
    directory_digest,
    directory_state,
    write_manifest,
)


def _tree(root: Path) -> Path:
    for rel, data in {
        "g1/p1/p1_VV.tif": b"vv-1",
        "g1/p1/p1_VH.tif": b"vh-1",
        "g2/p2/p2_VV.tif": b"vv-2",
    }.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def test_the_digest_follows_content_not_stamps_or_location(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "a")
    cache = tmp_path / "cache.tsv"
    first = directory_state(tree, cache=cache)
    assert first.hashed == 3 and len(first.files) == 3
    again = directory_state(tree, cache=cache)
    assert again.hashed == 0  # unchanged stamps: read from the cache
    assert again.digest == first.digest
    os.utime(tree / "g1/p1/p1_VV.tif", ns=(1, 1))  # touch
    touched = directory_state(tree, cache=cache)
    assert touched.hashed == 1 and touched.digest == first.digest
    other = _tree(tmp_path / "b")  # the same content elsewhere
    assert directory_state(other).digest == first.digest


def test_an_edit_that_restores_the_mtime_is_seen(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "a")
    cache = tmp_path / "cache.tsv"
    before = directory_state(tree, cache=cache).digest
    victim = tree / "g2/p2/p2_VV.tif"
    st = victim.stat()
    victim.write_bytes(b"VV-2")  # same size, other bytes
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = directory_state(tree, cache=cache)
    assert after.hashed == 1
    assert after.digest != before


def test_added_and_removed_files_change_the_digest(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "a")
    cache = tmp_path / "cache.tsv"
    before = directory_state(tree, cache=cache).digest
    (tree / "g2/p2/p2_VH.tif").write_bytes(b"vh-2")
    added = directory_state(tree, cache=cache).digest
    assert added != before
    (tree / "g2/p2/p2_VH.tif").unlink()
    assert directory_state(tree, cache=cache).digest == before


def test_a_damaged_cache_only_costs_a_rehash(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "a")
    cache = tmp_path / "cache.tsv"
    digest = directory_state(tree, cache=cache).digest
    cache.write_text("garbage\tline\n")
    state = directory_state(tree, cache=cache)
    assert state.hashed == 3 and state.digest == digest


def test_manifest_and_missing_directory(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "a")
    manifest = tmp_path / "results" / "inputs" / "s1_root.manifest.csv"
    assert cache_for(manifest) == manifest.parent / ".cache" / "s1_root.tsv"
    write_manifest(directory_state(tree), manifest)
    lines = manifest.read_text().splitlines()
    assert lines[0] == "path,size,sha256"
    assert [line.split(",")[0] for line in lines[1:]] == [
        "g1/p1/p1_VH.tif",
        "g1/p1/p1_VV.tif",
        "g2/p2/p2_VV.tif",
    ]
    assert directory_digest(tmp_path / "nowhere") == MISSING
