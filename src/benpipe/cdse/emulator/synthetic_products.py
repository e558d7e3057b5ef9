"""Synthetic L1C products for the emulator: small, fast, for any product name.

``benpipe demo-world`` writes the full demo world (real JPEG 2000 bands, CLC,
v1 files); tests and benchmarks that only need the emulator to serve bytes use
this instead: SAFE zips whose bands are random bytes of a chosen size, with
the demo world's own SAFE metadata writers (``MTD_MSIL1C.xml``,
``MTD_TL.xml``, an XFDU ``manifest.safe`` listing every file), so the
emulator derives the same kind of catalogue entity from them.  Written under
``<root>/cdse/products/``, with ``<root>/cdse/catalogue.json`` and
``<root>/cdse.netrc`` (DESIGN.md §4 layout, the demo world's id rule).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import blake3
import numpy as np
from pyproj import Transformer

from benpipe.cdse.emulator.realm import DEMO_PASSWORD, DEMO_USERNAME
from benpipe.demo.safe import (
    ZIP_DATE_TIME,
    manifest_safe_xml,
    mtd_msil1c_xml,
    mtd_tl_xml,
    product_start_time,
    safe_names,
)
from benpipe.demo.spec import ProductSpec, layout_for
from benpipe.demo.world import product_id
from benpipe.names import L1C_BANDS, parse_product_name

_LATITUDE_BANDS = "CDEFGHJKLMNPQRSTUVWX"
_TILE_SIZE_PX = 1200


def _spec(name: str) -> ProductSpec:
    """A tile near the middle of its MGRS zone and latitude band (not its real corner)."""
    tile = parse_product_name(name).tile
    zone, band = int(tile[:2]), _LATITUDE_BANDS.index(tile[2])
    north = tile[2] >= "N"
    epsg = (32600 if north else 32700) + zone
    x, y = Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True).transform(
        -180 + 6 * zone - 4, -80 + 8 * band + 4
    )
    ulx, uly = round(x, -4), round(y, -4)
    return ProductSpec(
        key=name,
        name=name,
        epsg=epsg,
        real_ulx=ulx,
        real_uly=uly,
        season="summer",
        abs_orbit=10000,
        failed_checks=(),
        has_clc=False,
        v1_time_offset_s=0,
        v1_malformed=False,
        nodata_strip=False,
    )


def _write_stored(path: Path, files: Mapping[str, bytes]) -> None:
    """A deterministic zip of stored members (no folder entries, as CDSE's)."""
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as archive:
        for member in sorted(files):
            info = zipfile.ZipInfo(member, date_time=ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[member])
    tmp.replace(path)


def make_product_zip(
    path: Path,
    name: str,
    *,
    payload_bytes: int = 64 << 10,
    seed: int = 0,
    extra_preview: bool = False,
) -> Path:
    """Write a SAFE zip (stored, deterministic) of about ``payload_bytes``.

    Members: ``manifest.safe``, ``MTD_MSIL1C.xml``, one granule with
    ``MTD_TL.xml`` and 13 band "JP2s" of random bytes, one datastrip with
    ``MTD_DS.xml``.  The empty ``QI_DATA``/``AUX_DATA`` folders are left out,
    as CDSE does.  ``extra_preview`` adds an HTML file and a preview JP2 (what
    CDSE added to some zips later).
    """
    layout = layout_for(_spec(name), _TILE_SIZE_PX)
    names = safe_names(layout)
    rng = np.random.default_rng(seed)
    per_band = max(1, payload_bytes // len(L1C_BANDS))
    files: dict[str, bytes] = {
        names.band_member(band): rng.bytes(per_band) for band in L1C_BANDS
    }
    files[f"{names.root}/MTD_MSIL1C.xml"] = mtd_msil1c_xml(layout, names).encode()
    files[f"{names.root}/GRANULE/{names.granule}/MTD_TL.xml"] = mtd_tl_xml(
        layout, names
    ).encode()
    files[f"{names.root}/DATASTRIP/{names.datastrip}/MTD_DS.xml"] = b"<Datastrip/>\n"
    if extra_preview:
        files[f"{names.root}/HTML/UserProduct_index.html"] = b"<html></html>\n"
        files[
            f"{names.root}/GRANULE/{names.granule}/QI_DATA/"
            f"T{names.tile}_{names.datatake}_PVI.jp2"
        ] = rng.bytes(1024)
    manifest = manifest_safe_xml(names, dict(files))
    files[f"{names.root}/manifest.safe"] = manifest.encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_stored(path, files)
    return path


def write_catalogue(
    root: Path,
    *,
    offline: Sequence[str] = (),
    checksums: Mapping[str, Sequence[str]] | None = None,
) -> list[dict[str, object]]:
    """(Re)write ``<root>/cdse/catalogue.json`` from the zips present.

    Each entry carries an MD5 and then a BLAKE3 checksum of the zip, as CDSE
    does; ``checksums`` maps a product name to the algorithms it gets instead
    (``("MD5",)`` or ``()``, like older CDSE products); products in
    ``offline`` are ``Online: false``.
    """
    products = Path(root) / "cdse" / "products"
    offline_set = {n.removesuffix(".SAFE") for n in offline}
    algorithms = {
        n.removesuffix(".SAFE"): {a.upper() for a in algos}
        for n, algos in (checksums or {}).items()
    }
    entries: list[dict[str, object]] = []
    for zip_path in sorted(products.glob("*.zip")):
        md5 = hashlib.md5()  # noqa: S324
        b3 = blake3.blake3()
        with open(zip_path, "rb") as handle:
            while chunk := handle.read(8 << 20):
                md5.update(chunk)
                b3.update(chunk)
        name = zip_path.name.removesuffix(".zip")
        wanted = algorithms.get(name, {"MD5", "BLAKE3"})
        values = [
            {"Algorithm": algorithm, "Value": digest}
            for algorithm, digest in (
                ("MD5", md5.hexdigest()),
                ("BLAKE3", b3.hexdigest()),
            )
            if algorithm in wanted
        ]
        start = product_start_time(name)
        entries.append(
            {
                "Id": product_id(name),
                "Name": f"{name}.SAFE",
                "ContentLength": zip_path.stat().st_size,
                "Checksum": values,
                "Online": name not in offline_set,
                "ContentDate": {"Start": start, "End": start},
            }
        )
    (Path(root) / "cdse" / "catalogue.json").write_text(
        json.dumps(entries, indent=1), encoding="utf-8"
    )
    return entries


def write_netrc(root: Path, host: str = "127.0.0.1") -> Path:
    """``<root>/cdse.netrc`` with the emulator's demo account for ``host``."""
    path = Path(root) / "cdse.netrc"
    path.write_text(
        f"machine {host} login {DEMO_USERNAME} password {DEMO_PASSWORD}\n",
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path


def make_synthetic_world(
    root: Path, names: Sequence[str], *, payload_bytes: int = 64 << 10, seed: int = 0
) -> list[dict[str, object]]:
    """Product zips + catalogue + netrc for ``names`` (L1C, no ``.SAFE``)."""
    for index, name in enumerate(sorted(names)):
        make_product_zip(
            Path(root) / "cdse" / "products" / f"{name}.zip",
            name,
            payload_bytes=payload_bytes,
            seed=seed + index,
        )
    write_netrc(root)
    return write_catalogue(root)
