"""Tests of benpipe.l1c: names from the v1 CSV, safe extraction, hashes."""

from __future__ import annotations

import bz2
import csv
import zipfile
from pathlib import Path

import pytest

from benpipe.cdse.emulator.synthetic_products import make_product_zip
from benpipe.errors import InputDataError
from benpipe.fileio import sha256_file
from benpipe.l1c.extract import extract_l1c
from benpipe.l1c.hashes import content_sha256, hash_l1c_zips
from benpipe.l1c.product_list import derive_l1c_names

REFERENCE = (
    Path(__file__).resolve().parents[2].parent / "shared" / "reference-artifacts"
)

P1 = "S2A_MSIL1C_20170613T101031_N0205_R022_T33UUP_20170613T101608"
P2 = "S2B_MSIL1C_20180525T094029_N0206_R036_T35VNK_20180525T114839"


def _v1_csv(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    text = "".join(f"{a},{b},{c}\r\n" for a, b, c in rows)
    if path.suffix == ".bz2":
        path.write_bytes(bz2.compress(text.encode()))
    else:
        path.write_bytes(text.encode())
    return path


@pytest.mark.parametrize("suffix", [".csv", ".csv.bz2"])
def test_derive_names_dedups_and_sorts_crlf_and_bz2(
    tmp_path: Path, suffix: str
) -> None:
    link = "https://scihub.copernicus.eu/apihub/odata/v1/Products('x')/$value"
    path = _v1_csv(
        tmp_path / f"tiles{suffix}",
        [
            ("S2B_MSIL2A_20180525T94029_1_2", f"{P2}.SAFE", link),
            ("S2A_MSIL2A_20170613T101031_26_57", f"{P1}.SAFE", link),
            ("S2A_MSIL2A_20170613T101031_26_58", f"{P1}.SAFE", link),
        ],
    )
    assert derive_l1c_names(path) == [f"{P1}.SAFE", f"{P2}.SAFE"]


def test_derive_names_rejects_wrong_shape(tmp_path: Path) -> None:
    path = _v1_csv(tmp_path / "bad.csv", [("a", P1, "x")])  # no .SAFE
    with pytest.raises(InputDataError, match=r"\.SAFE"):
        derive_l1c_names(path)
    path.write_bytes(b"only,two\r\n")
    with pytest.raises(InputDataError, match="expected 3 columns"):
        derive_l1c_names(path)


def test_golden_derive_names_matches_reference_tile_ids() -> None:
    source = REFERENCE / "tile_names_and_links.csv.bz2"
    tile_ids = REFERENCE / "bigearthnet_s2_tile_ids.csv"
    if not (source.exists() and tile_ids.exists()):
        pytest.skip(f"reference artifacts absent at {REFERENCE}")
    with tile_ids.open(newline="") as handle:
        expected = [row["tile"] for row in csv.DictReader(handle)]
    names = derive_l1c_names(source)
    assert len(names) == 125
    assert names == expected


# ------------------------------------------------------------------ extraction
def _zip_with(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize(
    "bad", ["../evil.txt", f"{P1}.SAFE/../../evil.txt", "/etc/evil", "C:/evil.txt"]
)
def test_extract_rejects_zip_slip(tmp_path: Path, bad: str) -> None:
    zpath = _zip_with(
        tmp_path / "p.zip", {f"{P1}.SAFE/MTD_MSIL1C.xml": b"<x/>", bad: b"boom"}
    )
    dest = tmp_path / "out" / f"{P1}.SAFE"
    with pytest.raises(InputDataError) as info:
        extract_l1c(zpath, dest)
    assert repr(bad)[1:-1] in str(info.value)
    assert not dest.exists()
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "out").exists()  # checked before anything is written


def test_extract_rejects_symlink_entries(tmp_path: Path) -> None:
    zpath = tmp_path / "p.zip"
    with zipfile.ZipFile(zpath, "w") as archive:
        archive.writestr(f"{P1}.SAFE/MTD_MSIL1C.xml", b"<x/>")
        info = zipfile.ZipInfo(f"{P1}.SAFE/link")
        info.external_attr = (0o120777) << 16
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(InputDataError, match="symbolic link"):
        extract_l1c(zpath, tmp_path / f"{P1}.SAFE")


def test_extract_flattens_safe_and_recreates_empty_dirs(tmp_path: Path) -> None:
    zpath = make_product_zip(tmp_path / f"{P1}.zip", P1, payload_bytes=4096)
    dest = tmp_path / "l1c" / f"{P1}.SAFE"
    extract_l1c(zpath, dest)
    assert (dest / "MTD_MSIL1C.xml").is_file()
    granules = list((dest / "GRANULE").iterdir())
    datastrips = list((dest / "DATASTRIP").iterdir())
    assert len(granules) == 1 and len(datastrips) == 1
    assert (granules[0] / "AUX_DATA").is_dir()
    assert (datastrips[0] / "QI_DATA").is_dir()
    assert len(list((granules[0] / "IMG_DATA").glob("*.jp2"))) == 13
    # no temporary folders left next to the output
    assert sorted(p.name for p in dest.parent.iterdir()) == [f"{P1}.SAFE"]


# ------------------------------------------------------------------ hashes
def test_content_hash_ignores_previews_but_not_band_bytes(tmp_path: Path) -> None:
    plain = make_product_zip(tmp_path / "a.zip", P1, payload_bytes=4096, seed=1)
    with_preview = make_product_zip(
        tmp_path / "b.zip", P1, payload_bytes=4096, seed=1, extra_preview=True
    )
    other_bands = make_product_zip(tmp_path / "c.zip", P1, payload_bytes=4096, seed=2)
    assert sha256_file(plain) != sha256_file(with_preview)
    assert content_sha256(plain) == content_sha256(with_preview)
    assert content_sha256(plain)[1] == 13 + 3  # 13 bands + 3 MTD XMLs
    assert content_sha256(plain)[0] != content_sha256(other_bands)[0]


def test_content_hash_rejects_corrupt_zip(tmp_path: Path) -> None:
    path = make_product_zip(tmp_path / "a.zip", P1, payload_bytes=4096)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside band bytes: CRC error
    path.write_bytes(bytes(data))
    with pytest.raises(InputDataError, match="not a valid zip"):
        content_sha256(path)


def test_hash_l1c_zips_writes_reference_format_and_diff(tmp_path: Path) -> None:
    zips = {
        P1: make_product_zip(tmp_path / f"{P1}.zip", P1, payload_bytes=2048, seed=1),
        P2: make_product_zip(tmp_path / f"{P2}.zip", P2, payload_bytes=2048, seed=2),
    }
    ids = {
        P1: "f602623e-fd82-5a53-ba09-b05ce085e40c",
        P2: "00a7440d-3aaa-5255-883d-4fc564211041",
    }
    tracked = tmp_path / "tracked"
    tracked.mkdir()
    out = tmp_path / "results"
    kwargs = {
        "out_zip_hashes": out / "ben_s2_l1c_hashes.csv",
        "out_content_hashes": out / "l1c_content_hashes.csv",
        "out_diff": out / "diff.md",
        "tracked_dir": tracked,
    }
    hash_l1c_zips(zips, ids, **kwargs)
    lines = (out / "ben_s2_l1c_hashes.csv").read_text().splitlines()
    assert lines[0] == "name,hash-sha256"
    assert [line.split(",")[0] for line in lines[1:]] == [
        "00a7440d-3aaa-5255-883d-4fc564211041.out",
        "f602623e-fd82-5a53-ba09-b05ce085e40c.out",
    ]
    assert lines[2].split(",")[1] == sha256_file(zips[P1])
    assert b"\r" not in (out / "ben_s2_l1c_hashes.csv").read_bytes()
    content = (out / "l1c_content_hashes.csv").read_text().splitlines()
    assert content[0] == "name,content-sha256"
    assert content[1].startswith(f"{P1}.SAFE,")
    assert "No tracked copy" in (out / "diff.md").read_text()

    # freeze, then CDSE re-packages P1 with a preview: zip hash changes, content does not
    for name in ("ben_s2_l1c_hashes.csv", "l1c_content_hashes.csv"):
        (tracked / name).write_bytes((out / name).read_bytes())
    make_product_zip(zips[P1], P1, payload_bytes=2048, seed=1, extra_preview=True)
    hash_l1c_zips(zips, ids, **kwargs)
    report = (out / "diff.md").read_text()
    zip_section, content_section = report.split("## Content sha256")
    assert "1 changed" in zip_section
    assert "f602623e-fd82-5a53-ba09-b05ce085e40c.out" in zip_section
    assert "Identical to" in content_section
