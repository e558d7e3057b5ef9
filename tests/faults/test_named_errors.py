"""Faults that must end in a named error (or a recorded warning), never silence.

Issue 14, WEAK: a corrupt JP2 inside a valid zip gave a raw rasterio error
naming the temporary extracted SAFE instead of the zip to delete (and with
GDAL's multi-threaded decoding a truncated band even decoded to zeros); a
missing ``Quality_Inspections`` block counted as PASSED silently; the
refreeze hint named ``freeze_release_artifacts`` for every artifact.
"""

from __future__ import annotations

import logging
import re
import zipfile
from pathlib import Path

import pytest

from benpipe.dataset.patching import quality_fields, warn_missing_quality_checks
from benpipe.errors import InputDataError, ProductLayoutError, VerificationError
from benpipe.l1c.extract import extract_l1c
from benpipe.l2a.convert import L2AParams, convert_product
from benpipe.l2a.fallback import convert_fallback
from benpipe.l2a.products import open_l1c, open_l2a, read_raster
from unit.l2a_fixture import L1C_NAME, make_l1c_safe
from unit.test_verify import _freeze, _produce, _run, _write

FOUR_CHECKS = [
    "GEOMETRIC_QUALITY",
    "GENERAL_QUALITY",
    "RADIOMETRIC_QUALITY",
    "SENSOR_QUALITY",
]


def _zip_safe(safe: Path, zip_path: Path, *, damage: str | None = None) -> None:
    """Zip ``safe`` as CDSE does (top folder ``<name>.SAFE``), a valid zip.

    ``damage``: a member name suffix whose bytes are cut to a third; the zip
    CRCs are of the damaged bytes, so the zip itself stays intact.
    """
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(safe.rglob("*")):
            arcname = f"{safe.name}/{path.relative_to(safe).as_posix()}"
            if path.is_dir():
                continue
            data = path.read_bytes()
            if damage and arcname.endswith(damage):
                data = data[: len(data) // 3]
            archive.writestr(arcname, data)


def test_a_damaged_band_in_a_valid_zip_names_the_zip_and_the_remedy(tmp_path):
    source = make_l1c_safe(tmp_path / "source")
    downloads = tmp_path / "resources" / "l1c"
    downloads.mkdir(parents=True)
    zip_path = downloads / f"{L1C_NAME}.zip"
    _zip_safe(source, zip_path, damage="_B04.jp2")
    assert zipfile.ZipFile(zip_path).testzip() is None  # a valid zip
    safe = extract_l1c(zip_path, downloads / f"{L1C_NAME}.SAFE")
    out = (
        tmp_path
        / "results"
        / "l2a"
        / "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_20240101T000000.SAFE"
    )
    with pytest.raises(InputDataError) as info:
        # as the rule calls it: the zip is found next to the extracted SAFE
        convert_product(safe, out, params=L2AParams(processor="fallback"))
    message = str(info.value)
    assert f"delete {zip_path} and rerun" in message
    assert "B04.jp2" in message
    assert not out.exists()


def test_a_truncated_jpeg2000_band_never_decodes_silently(tmp_path):
    """GDAL's multi-threaded JP2 decoder returns zeros for a cut codestream."""
    safe = make_l1c_safe(tmp_path)
    band = open_l1c(safe).band_path("B02")
    band.write_bytes(band.read_bytes()[: band.stat().st_size // 2])
    with pytest.raises(ProductLayoutError, match=re.escape(str(band))):
        read_raster(band)
    with pytest.raises(ProductLayoutError, match="cannot be decoded"):
        open_l1c(safe).read_band("B02")


def _without_quality_block(safe: Path) -> None:
    mtd = safe / "MTD_MSIL1C.xml"
    text = mtd.read_text(encoding="utf-8")
    stripped = re.sub(
        r"<Quality_Inspections>.*?</Quality_Inspections>", "", text, flags=re.S
    )
    assert stripped != text
    mtd.write_text(stripped, encoding="utf-8")


def test_a_missing_quality_block_warns_and_is_recorded(tmp_path, caplog):
    safe = make_l1c_safe(tmp_path / "l1c")
    _without_quality_block(safe)
    l2a = open_l2a(convert_fallback(safe, tmp_path / "l2a"))
    assert l2a.missing_quality_checks == tuple(FOUR_CHECKS)
    assert not l2a.fails_quality  # PASSED by default, as in the reference
    with caplog.at_level(logging.WARNING, logger="benpipe.dataset.patching"):
        warn_missing_quality_checks(l2a)
    (record,) = [
        r
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name == "benpipe.dataset.patching"
    ]
    assert l2a.name in record.getMessage()
    assert "count as PASSED" in record.getMessage()
    assert quality_fields(l2a) == {
        "fails_quality": False,
        "missing_quality_checks": FOUR_CHECKS,
    }


def test_a_complete_quality_block_adds_nothing_to_the_receipt(tmp_path, caplog):
    l2a = open_l2a(convert_fallback(make_l1c_safe(tmp_path / "l1c"), tmp_path / "l2a"))
    with caplog.at_level(logging.WARNING, logger="benpipe.dataset.patching"):
        warn_missing_quality_checks(l2a)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert quality_fields(l2a) == {"fails_quality": False}


def test_the_refreeze_hint_names_the_rule_that_freezes_each_artifact(tmp_path):
    produced = _produce(tmp_path)
    tracked = tmp_path / "tracked"
    _freeze(produced, tracked)
    # the L1C zip hashes changed (an edited zip), and one release list
    _write(tracked / "ben_s2_l1c_hashes.csv", b"name,hash-sha256\nid-1.out,00\n")
    _write(tracked / "hashes.txt", b"00  BigEarthNet-S2.tar\n")
    with pytest.raises(VerificationError) as info:
        _run(tmp_path, tracked, strict=True)
    message = str(info.value)
    assert "`snakemake -f freeze_l1c_hashes` (ben_s2_l1c_hashes.csv)" in message
    assert "`snakemake -f freeze_release_artifacts` (hashes.txt)" in message
