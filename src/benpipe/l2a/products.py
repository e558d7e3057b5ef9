"""The one reader of L1C and L2A SAFE products (docs/DESIGN.md §5).

:func:`open_l2a` reads real sen2cor 2.11 outputs and the fallback
converter's outputs alike (same layout, ``IMG_DATA/R10m|R20m|R60m`` with
``T<tile>_<datatake>_<band>_<res>m.jp2``).  :func:`open_l1c` reads an
extracted L1C SAFE tree.  Opening parses metadata only; pixels are decoded
by :meth:`L2AProduct.read_band`, one whole band at a time (JPEG 2000 decodes
far faster in whole tiles than in windows, MACHINE-FACTS §9).
"""

from __future__ import annotations

import json
import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

from benpipe.errors import ProductLayoutError
from benpipe.l2a.safe import (
    FAILING_CHECK_TYPES,
    TileGeocoding,
    fails_quality,
    find_band_file,
    find_optional_text,
    find_text,
    parse_quality_checks,
    parse_tile_geocoding,
    parse_utc,
    parse_xml,
    single_subdir,
)
from benpipe.names import BAND_RESOLUTION_M, BANDS, L1C_BANDS

logger = logging.getLogger(__name__)

#: Band files of each L2A resolution folder, as sen2cor 2.11 writes them
#: (spectral bands and SCL; AOT, WVP and TCI are not used by benpipe).
L2A_RESOLUTION_BANDS: dict[int, tuple[str, ...]] = {
    10: ("B02", "B03", "B04", "B08"),
    20: ("B02", "B03", "B04", "B05", "B06", "B07", "B8A", "B11", "B12", "SCL"),
    60: (
        "B01",
        "B02",
        "B03",
        "B04",
        "B05",
        "B06",
        "B07",
        "B8A",
        "B09",
        "B11",
        "B12",
        "SCL",
    ),
}
#: Resolution at which :attr:`L2AProduct.scl_path` points.
SCL_RESOLUTION_M = 20
#: File written into the SAFE root by the sen2cor runner: which processor ran.
PROVENANCE_FILE = "benpipe_l2a_provenance.json"
#: Processor string when neither a tag nor a provenance file says otherwise.
UNRECORDED_SEN2COR = "sen2cor (version not recorded)"


def decode_order(bands: tuple[str, ...] = BANDS) -> tuple[str, ...]:
    """``bands`` in the order to decode them: finest resolution first.

    A 10 m band costs about 4 times a 20 m one and 36 times a 60 m one; bands
    decoded in parallel, one per thread, finish together when the largest
    start first (longest job first), and what the caller does with each band
    (cutting, writing) overlaps the decoding of the smaller ones.  Stable
    within a resolution.  The one home of this order: the export and the
    benches' decode floors use it.
    """
    return tuple(sorted(bands, key=lambda band: BAND_RESOLUTION_M[band]))


def read_raster(path: Path, *, dtype: str = "uint16") -> np.ndarray:
    """Decode band 1 of a raster file whole; its dtype must be ``dtype``.

    One decoding thread per call (``GDAL_NUM_THREADS=1``): GDAL's
    multi-threaded JPEG 2000 decoding drops decoding errors (GDAL 3.10 decodes
    a truncated or damaged codestream to zeros or noise without an error),
    while the single-threaded decoder raises.  Callers decode several bands
    in parallel instead.  A file that cannot be decoded raises
    :class:`ProductLayoutError` naming it.
    """
    try:
        with (
            rasterio.Env(GDAL_NUM_THREADS="1", GDAL_PAM_ENABLED="NO"),
            rasterio.open(path) as src,
        ):
            data: np.ndarray = src.read(1)
    except rasterio.errors.RasterioError as exc:
        raise ProductLayoutError(
            f"raster {path} cannot be decoded ({' '.join(str(exc).split())}); the "
            "file is truncated or corrupt"
        ) from exc
    if data.dtype != np.dtype(dtype):
        raise ProductLayoutError(
            f"raster {path} has dtype {data.dtype}, expected {dtype}"
        )
    return data


@dataclass(frozen=True, slots=True)
class SafeProduct:
    """What L1C and L2A products share: tile geocoding, sensing time, quality."""

    name: str
    path: Path
    epsg: int
    ulx: float
    uly: float
    tile_side_m: float
    sensing_time: datetime
    quality_checks: dict[str, str]
    granule_dir: Path
    geocoding: TileGeocoding = field(repr=False)

    @property
    def fails_quality(self) -> bool:
        """Any of GEOMETRIC/GENERAL/RADIOMETRIC/SENSOR_QUALITY not PASSED."""
        return fails_quality(self.quality_checks)

    @property
    def missing_quality_checks(self) -> tuple[str, ...]:
        """The filtered checks the metadata does not carry (a missing or empty
        ``Quality_Inspections`` block lacks all four); they count as PASSED,
        as in the reference, so callers warn and record them."""
        return tuple(c for c in FAILING_CHECK_TYPES if c not in self.quality_checks)


@dataclass(frozen=True, slots=True)
class L2AProduct(SafeProduct):
    """Metadata and file locations of one L2A product (sen2cor or fallback)."""

    processor: str

    @property
    def is_fallback(self) -> bool:
        """True for products of the built-in fallback converter (not sen2cor)."""
        return self.processor.startswith("benpipe-fallback")

    def file_path(self, band: str, res_m: int) -> Path:
        """Path of ``band`` (or ``SCL``) in the ``R<res_m>m`` folder."""
        if band not in L2A_RESOLUTION_BANDS.get(res_m, ()):
            raise ProductLayoutError(
                f"product {self.name}: no {band} in R{res_m}m; L2A R{res_m}m holds "
                f"{', '.join(L2A_RESOLUTION_BANDS.get(res_m, ()))}"
            )
        folder = self.granule_dir / "IMG_DATA" / f"R{res_m}m"
        return find_band_file(folder, f"{band}_{res_m}m.jp2", product=self.name)

    def band_path(self, band: str) -> Path:
        """Path of a spectral band at its native resolution (BANDS only)."""
        if band not in BANDS:
            raise ProductLayoutError(
                f"product {self.name}: unknown band {band!r}; expected one of "
                f"{', '.join(BANDS)}"
            )
        return self.file_path(band, BAND_RESOLUTION_M[band])

    @property
    def scl_path(self) -> Path:
        """Path of the 20 m scene classification layer."""
        return self.file_path("SCL", SCL_RESOLUTION_M)

    def read_band(self, band: str) -> np.ndarray:
        """Decode a whole spectral band at its native resolution (uint16).

        One thread per band (:func:`read_raster`); decode bands in parallel.
        """
        return read_raster(self.band_path(band))

    def validate(self) -> None:
        """Check metadata, the 12 bands + SCL, their CRS and sizes.

        Raises :class:`ProductLayoutError` naming the product and the first
        missing or wrong file.
        """
        if not (self.path / "MTD_MSIL2A.xml").is_file():
            raise ProductLayoutError(
                f"product {self.name}: MTD_MSIL2A.xml is missing in {self.path}"
            )
        expected = [(band, BAND_RESOLUTION_M[band]) for band in BANDS]
        expected.append(("SCL", SCL_RESOLUTION_M))
        for band, res_m in expected:
            path = self.file_path(band, res_m)
            _check_raster(
                path,
                product=self.name,
                epsg=self.epsg,
                ulx=self.ulx,
                uly=self.uly,
                res_m=res_m,
                shape=self.geocoding.shape_at(res_m),
                dtype="uint8" if band == "SCL" else "uint16",
            )


def _check_raster(
    path: Path,
    *,
    product: str,
    epsg: int,
    ulx: float,
    uly: float,
    res_m: int,
    shape: tuple[int, int],
    dtype: str,
) -> None:
    try:
        with rasterio.Env(GDAL_PAM_ENABLED="NO"), rasterio.open(path) as src:
            found_epsg = src.crs.to_epsg() if src.crs is not None else None
            found_shape = (src.height, src.width)
            transform = src.transform
            found_dtype = src.dtypes[0]
    except rasterio.errors.RasterioIOError as exc:
        raise ProductLayoutError(
            f"product {product}: {path} cannot be opened as a raster ({exc})"
        ) from exc
    if found_epsg != epsg:
        raise ProductLayoutError(
            f"product {product}: {path.name} has CRS EPSG:{found_epsg}, expected "
            f"EPSG:{epsg} from MTD_TL.xml"
        )
    if found_shape != shape:
        raise ProductLayoutError(
            f"product {product}: {path.name} is {found_shape[1]}x{found_shape[0]} px, "
            f"expected {shape[1]}x{shape[0]} px at {res_m} m from MTD_TL.xml"
        )
    found = (transform.c, transform.f, transform.a, transform.e)
    wanted = (ulx, uly, float(res_m), -float(res_m))
    if any(abs(a - b) > 1e-6 for a, b in zip(found, wanted, strict=True)):
        raise ProductLayoutError(
            f"product {product}: {path.name} has origin/pixel size {found}, "
            f"expected {wanted} from MTD_TL.xml"
        )
    if found_dtype != dtype:
        raise ProductLayoutError(
            f"product {product}: {path.name} has dtype {found_dtype}, expected {dtype}"
        )


def _processor_of(root_text: str | None, version: str | None, safe: Path) -> str:
    if root_text:
        return f"{root_text} {version}" if version else root_text
    provenance = safe / PROVENANCE_FILE
    if provenance.is_file():
        try:
            data = json.loads(provenance.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ProductLayoutError(
                f"product {safe.name}: {provenance.name} is not valid JSON ({exc})"
            ) from exc
        return f"{data.get('processor', 'sen2cor')} {data.get('version', '')}".strip()
    return UNRECORDED_SEN2COR


def _open_safe(
    path: Path | str, mtd_name: str
) -> tuple[Path, ET.Element, dict[str, Any]]:
    """Parse what L1C and L2A products share: the product MTD (start time,
    quality checks) and the granule's ``MTD_TL.xml`` (EPSG, corner, sizes).

    Returns the SAFE path, the parsed product MTD root and the fields of
    :class:`SafeProduct`.
    """
    safe = Path(path)
    name = safe.name.removesuffix(".SAFE")
    mtd_path = safe / mtd_name
    root = parse_xml(mtd_path, product=name)
    start = find_text(root, "PRODUCT_START_TIME", product=name, path=mtd_path)
    granule = single_subdir(safe / "GRANULE", product=name)
    geocoding = parse_tile_geocoding(granule / "MTD_TL.xml", product=name)
    common = {
        "name": name,
        "path": safe,
        "epsg": geocoding.epsg,
        "ulx": geocoding.ulx,
        "uly": geocoding.uly,
        "tile_side_m": geocoding.tile_side_m,
        "sensing_time": parse_utc(start, product=name, what="PRODUCT_START_TIME"),
        "quality_checks": parse_quality_checks(root),
        "granule_dir": granule,
        "geocoding": geocoding,
    }
    return safe, root, common


def open_l2a(path: Path | str) -> L2AProduct:
    """Open an L2A ``<name>.SAFE`` folder (sen2cor or fallback output).

    Parses ``MTD_MSIL2A.xml`` (start time, quality checks, processor tag) and
    the granule's ``MTD_TL.xml`` (EPSG, corner, sizes).  Pixels are not read;
    call :meth:`L2AProduct.validate` to check every band file.
    """
    safe, root, common = _open_safe(path, "MTD_MSIL2A.xml")
    processor = _processor_of(
        find_optional_text(root, "PROCESSOR"),
        find_optional_text(root, "PROCESSOR_VERSION"),
        safe,
    )
    return L2AProduct(**common, processor=processor)


# ---------------------------------------------------------------- L1C


#: L1C ``band_id`` attribute order (Spectral_Information, RADIO_ADD_OFFSET).
L1C_BAND_IDS: dict[str, int] = {band: idx for idx, band in enumerate(L1C_BANDS)}


@dataclass(frozen=True, slots=True)
class L1CProduct(SafeProduct):
    """Metadata and file locations of one extracted L1C product."""

    processing_baseline: str
    quantification_value: int
    #: band -> RADIO_ADD_OFFSET (0 for baselines before 04.00, which lack it)
    radio_add_offset: dict[str, int]

    def band_path(self, band: str) -> Path:
        """Path of an L1C band (13 bands incl. B10) at its native resolution."""
        if band not in L1C_BANDS:
            raise ProductLayoutError(
                f"product {self.name}: unknown L1C band {band!r}; expected one of "
                f"{', '.join(L1C_BANDS)}"
            )
        return find_band_file(
            self.granule_dir / "IMG_DATA", f"{band}.jp2", product=self.name
        )

    def read_band(self, band: str) -> np.ndarray:
        """Decode a whole L1C band at its native resolution (uint16)."""
        return read_raster(self.band_path(band))


def open_l1c(path: Path | str) -> L1CProduct:
    """Open an extracted L1C ``<name>.SAFE`` folder (metadata only)."""
    _, root, common = _open_safe(path, "MTD_MSIL1C.xml")
    baseline = find_optional_text(root, "PROCESSING_BASELINE") or ""
    quant = find_optional_text(root, "QUANTIFICATION_VALUE") or "10000"
    offsets = {band: 0 for band in L1C_BANDS}
    by_id = {idx: band for band, idx in L1C_BAND_IDS.items()}
    for el in root.iter():
        if el.tag.rsplit("}", 1)[-1] == "RADIO_ADD_OFFSET" and el.text:
            band_id = int(el.get("band_id", "-1"))
            if band_id in by_id:
                offsets[by_id[band_id]] = int(float(el.text))
    return L1CProduct(
        **common,
        processing_baseline=baseline,
        quantification_value=int(float(quant)),
        radio_add_offset=offsets,
    )
