"""Tiny synthetic CDSE worlds for tests and benchmarks.

The full demo world comes from ``benpipe demo-world``; this module only makes
what the emulator needs to serve bytes: SAFE-like product zips under
``<root>/cdse/products/``, ``<root>/cdse/catalogue.json`` and
``<root>/cdse.netrc`` (DESIGN.md §4 layout, same id rule).
"""

from __future__ import annotations

import hashlib
import json
import uuid
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import blake3
import numpy as np

from benpipe.names import L1C_BANDS, parse_product_name

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password"  # noqa: S105 (the documented demo credential)

_FIXED_TIME = (2024, 1, 1, 0, 0, 0)


def product_id_for(safe_name: str) -> str:
    """The demo-world CDSE id: ``uuid5(NAMESPACE_URL, "benpipe-demo:" + name.SAFE)``."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "benpipe-demo:" + safe_name))


def _member(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


def make_product_zip(
    path: Path,
    name: str,
    *,
    payload_bytes: int = 64 << 10,
    seed: int = 0,
    extra_preview: bool = False,
) -> Path:
    """Write a SAFE-like L1C zip (stored, deterministic) of about ``payload_bytes``.

    Members: ``manifest.safe``, ``MTD_MSIL1C.xml``, one granule with
    ``MTD_TL.xml`` and 13 band "JP2s" of random bytes, one datastrip with
    ``MTD_DS.xml``.  The empty ``QI_DATA``/``AUX_DATA`` folders are left out,
    as CDSE does.  ``extra_preview`` adds an HTML file and a preview JP2 (what
    CDSE added to some zips later).
    """
    parsed = parse_product_name(name)
    safe = parsed.safe_name
    rng = np.random.default_rng(seed)
    granule = f"L1C_T{parsed.tile}_A010000_{parsed.discriminator}"
    datastrip = f"DS_SGS__{parsed.discriminator}_S{parsed.discriminator}"
    per_band = max(1, payload_bytes // len(L1C_BANDS))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as archive:
        _member(
            archive, f"{safe}/manifest.safe", f"<manifest name='{safe}'/>\n".encode()
        )
        _member(
            archive, f"{safe}/MTD_MSIL1C.xml", f"<MTD product='{name}'/>\n".encode()
        )
        _member(archive, f"{safe}/GRANULE/{granule}/MTD_TL.xml", b"<Tile_Geocoding/>\n")
        for band in L1C_BANDS:
            _member(
                archive,
                f"{safe}/GRANULE/{granule}/IMG_DATA/T{parsed.tile}_{parsed.datatake}_{band}.jp2",
                rng.bytes(per_band),
            )
        _member(archive, f"{safe}/DATASTRIP/{datastrip}/MTD_DS.xml", b"<Datastrip/>\n")
        if extra_preview:
            _member(archive, f"{safe}/HTML/UserProduct_index.html", b"<html></html>\n")
            _member(
                archive,
                f"{safe}/GRANULE/{granule}/QI_DATA/T{parsed.tile}_{parsed.datatake}_PVI.jp2",
                rng.bytes(1024),
            )
    tmp.replace(path)
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
        entries.append(
            {
                "Id": product_id_for(f"{name}.SAFE"),
                "Name": f"{name}.SAFE",
                "ContentLength": zip_path.stat().st_size,
                "Checksum": values,
                "Online": name not in offline_set,
                "ContentDate": {
                    "Start": parse_product_name(name).sensing_time.strftime(
                        "%Y-%m-%dT%H:%M:%S.000Z"
                    )
                },
            }
        )
    (Path(root) / "cdse" / "catalogue.json").write_text(
        json.dumps(entries, indent=1), encoding="utf-8"
    )
    return entries


def write_netrc(root: Path, host: str = "127.0.0.1") -> Path:
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
