"""tracked-artifacts/reben-v2.0: the published facts of BigEarthNet v2.0.

The folder holds byte-for-byte copies of the reference pipeline's tracked
artifacts (kai-tub/bigearthnet-pipeline 78551a6); benpipe reads and writes
exactly their formats, so a production run uses them with no freeze step.
"""

from __future__ import annotations

import csv
import hashlib
import re
import uuid
from pathlib import Path

import pytest

from benpipe.cdse.catalogue import CatalogueEntry, write_tile_ids
from benpipe.fileio import write_csv_atomic
from benpipe.l1c.product_list import derive_l1c_names
from benpipe.release.hashing import write_tree_hashes
from benpipe.release.verify import (
    ProducedPaths,
    default_specs,
    read_digest_file,
    read_known_unreproducible,
)

REPO = Path(__file__).resolve().parents[2]
FOLDER = REPO / "tracked-artifacts" / "reben-v2.0"
REFERENCE = REPO.parent / "shared" / "reference-artifacts"
PUBLISHED = (
    "bigearthnet_s2_tile_ids.csv",
    "ben_s2_l1c_hashes.csv",
    "tile_names_and_links.csv.bz2",
    "patch_hashes.csv.sha256",
    "reference_maps_hashes.csv.sha256",
    "hashes.txt",
)


def _rows(name: str) -> list[list[str]]:
    with (FOLDER / name).open(newline="") as handle:
        return list(csv.reader(handle))


def test_the_folder_holds_exactly_the_published_files_and_ours() -> None:
    names = {p.name for p in FOLDER.iterdir()}
    assert names == {*PUBLISHED, "known_unreproducible.csv", "README.md"}


@pytest.mark.parametrize("name", PUBLISHED)
def test_files_are_byte_identical_to_the_reference_artifacts(name: str) -> None:
    if not (REFERENCE / name).is_file():
        pytest.skip(f"reference artifacts not found at {REFERENCE}")
    assert (FOLDER / name).read_bytes() == (REFERENCE / name).read_bytes(), name


def test_readme_names_every_file_and_pins_its_sha256() -> None:
    readme = (FOLDER / "README.md").read_text()
    assert "78551a6" in readme
    pins = dict(
        (name, digest)
        for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", readme, re.M)
    )
    assert set(pins) == set(PUBLISHED)
    for name, digest in pins.items():
        assert hashlib.sha256((FOLDER / name).read_bytes()).hexdigest() == digest, name
    for name in (*PUBLISHED, "known_unreproducible.csv"):
        assert f"`{name}`" in readme, name


def test_the_product_list_is_the_125_v1_products() -> None:
    header, *rows = _rows("bigearthnet_s2_tile_ids.csv")
    assert header == ["tile", "id"]
    assert len(rows) == 125
    assert rows == sorted(rows)
    for _, product_id in rows:
        assert uuid.UUID(product_id)
    # the same 125 names as the published tile_names_and_links derives
    derived = derive_l1c_names(FOLDER / "tile_names_and_links.csv.bz2")
    assert derived == [tile for tile, _ in rows]


def test_l1c_hashes_name_the_same_ids_in_benpipes_format(tmp_path: Path) -> None:
    header, *rows = _rows("ben_s2_l1c_hashes.csv")
    assert header == ["name", "hash-sha256"]
    ids = {product_id for _, product_id in _rows("bigearthnet_s2_tile_ids.csv")[1:]}
    assert {name for name, _ in rows} == {f"{i}.out" for i in ids}
    # hash_l1c writes these rows (sorted <id>.out names) with write_csv_atomic
    out = tmp_path / "ben_s2_l1c_hashes.csv"
    write_csv_atomic(out, ("name", "hash-sha256"), sorted(map(tuple, rows)))
    assert out.read_bytes() == (FOLDER / "ben_s2_l1c_hashes.csv").read_bytes()


def test_search_cdse_writes_the_published_tile_id_format(tmp_path: Path) -> None:
    rows = _rows("bigearthnet_s2_tile_ids.csv")[1:]
    entries = [CatalogueEntry(t, i, 1, None, True) for t, i in reversed(rows)]
    write_tile_ids(entries, tmp_path / "ids.csv")
    assert (tmp_path / "ids.csv").read_bytes() == (
        FOLDER / "bigearthnet_s2_tile_ids.csv"
    ).read_bytes()


def test_digest_files_have_benpipes_format(tmp_path: Path) -> None:
    for name in ("patch_hashes.csv.sha256", "reference_maps_hashes.csv.sha256"):
        data = (FOLDER / name).read_bytes()
        assert len(data) == 64 and not data.endswith(b"\n")  # no newline, no name
        assert read_digest_file(FOLDER / name) == data.decode()
    (tmp_path / "t" / "a.tif").parent.mkdir()
    (tmp_path / "t" / "a.tif").write_bytes(b"x")
    result = write_tree_hashes(tmp_path / "t", tmp_path / "h.csv", workers=1)
    assert result.digest_path.read_bytes() == result.digest.encode()  # no newline


def test_known_unreproducible_declarations_parse() -> None:
    known = read_known_unreproducible(FOLDER)
    names = {s.name for s in default_specs(ProducedPaths())}
    assert {k.artifact for k in known} <= names
    assert ("reference_maps_hashes", "*") in {(k.artifact, k.entry) for k in known}
    hashes_txt = (FOLDER / "hashes.txt").read_text()
    for k in known:
        assert len(k.reason) > 40, k
        if k.artifact == "release_md5":  # each pattern names published lines
            assert any(
                k.covers(line.split()[1])
                for line in hashes_txt.splitlines()
                if "  " in line
            ), k
