"""Fast, deterministic writers of small single-band GeoTIFFs: the one home.

GDAL's per-file overhead (dataset creation, CRS to GeoKeys through PROJ)
costs several milliseconds per file, which dominates when a product yields
~100 000 patch files.  Three writers share the TIFF packing here:

* :func:`geotiff_bytes` — reference maps: UInt16, classic little-endian TIFF,
  one strip, DEFLATE (zlib, level 6) with horizontal differencing
  (predictor 2), ModelPixelScale + ModelTiepoint, a GeoKeyDirectory with the
  projected EPSG code (PixelIsArea, metres) and the GDAL_NODATA tag.
* :func:`geotiff_float32_bytes` — the demo world's S1 patches: float32,
  uncompressed, one strip, GeoKeys without the linear unit, no nodata.
* :class:`GeoTiffTemplate` — S2 patches exactly as GDAL writes them
  (uncompressed UInt16, GTiff defaults, nodata 0): for each (CRS, size,
  resolution) one file is written with rasterio/GDAL, its header is kept, and
  every patch file is that header with the tie point replaced, followed by the
  pixel bytes.  The template is verified at run time: a second probe with a
  different origin and pixel values (zeros included) must come out
  byte-identical to what GDAL writes, otherwise :class:`TemplateError` is
  raised and the caller falls back to :func:`write_band_gdal`.

The bytes depend only on the pixels and the georeferencing.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from benpipe.errors import ProductLayoutError
from benpipe.fileio import write_file

# TIFF field types and their sizes / struct codes
_SHORT, _LONG, _ASCII, _DOUBLE = 3, 4, 2, 12
_FMT = {_SHORT: "H", _LONG: "I", _DOUBLE: "d"}
_TIFF_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 11: 4, 12: 8, 16: 8}

_TAG_STRIP_OFFSETS = 273
_TAG_STRIP_BYTE_COUNTS = 279
_TAG_MODEL_TIEPOINT = 33922

ZLIB_LEVEL = 6

#: One IFD entry: (tag, field type, values or raw bytes for ASCII).
TiffEntry = tuple[int, int, list[float] | list[int] | bytes]


# ------------------------------------------------------------- TIFF packing
def _geokey_directory(epsg: int, *, linear_unit_metre: bool = True) -> list[int]:
    """GeoKeyDirectory: projected model, PixelIsArea, ``EPSG:epsg`` (, metres)."""
    keys = [
        1024, 0, 1, 1,  # GTModelType = projected
        1025, 0, 1, 1,  # GTRasterType = PixelIsArea
        3072, 0, 1, epsg,  # ProjectedCSType = EPSG code
    ]  # fmt: skip
    if linear_unit_metre:
        keys += [3076, 0, 1, 9001]  # ProjLinearUnits = metre
    return [1, 1, 0, len(keys) // 4, *keys]  # version 1.1.0, key count


def _image_entries(
    *,
    width: int,
    height: int,
    bits_per_sample: int,
    compression: int,
    strip_bytes: int,
    predictor: int | None,
    sample_format: int,
) -> list[TiffEntry]:
    """Baseline tags of a one-band, one-strip, BlackIsZero image (tags 256-339)."""
    entries: list[TiffEntry] = [
        (256, _SHORT, [width]),
        (257, _SHORT, [height]),
        (258, _SHORT, [bits_per_sample]),
        (259, _SHORT, [compression]),
        (262, _SHORT, [1]),  # BlackIsZero
        (273, _LONG, [0]),  # StripOffsets, filled in by _tiff_bytes
        (277, _SHORT, [1]),  # one sample per pixel
        (278, _SHORT, [height]),  # RowsPerStrip: one strip
        (279, _LONG, [strip_bytes]),
        (284, _SHORT, [1]),  # chunky
    ]
    if predictor is not None:
        entries.append((317, _SHORT, [predictor]))
    entries.append((339, _SHORT, [sample_format]))
    return entries


def _georef_entries(
    *, epsg: int, left: float, top: float, res_m: float, linear_unit_metre: bool
) -> list[TiffEntry]:
    """ModelPixelScale, ModelTiepoint (upper-left corner) and GeoKeyDirectory."""
    return [
        (33550, _DOUBLE, [float(res_m), float(res_m), 0.0]),
        (33922, _DOUBLE, [0.0, 0.0, 0.0, float(left), float(top), 0.0]),
        (
            34735,
            _SHORT,
            _geokey_directory(epsg, linear_unit_metre=linear_unit_metre),
        ),
    ]


def _tiff_bytes(entries: list[TiffEntry], strip: bytes) -> bytes:
    """A classic little-endian TIFF: header, one IFD, large values, one strip.

    ``entries`` are in ascending tag order; the StripOffsets (273) value is
    filled in.  Values longer than 4 bytes follow the IFD, word aligned, and
    the strip follows them (word aligned).
    """
    ifd_offset = 8
    ifd_size = 2 + 12 * len(entries) + 4
    extra_offset = ifd_offset + ifd_size
    extra = bytearray()
    packed: list[tuple[int, int, int, bytes]] = []
    for tag, kind, values in entries:
        if isinstance(values, bytes):
            payload, count = values, len(values)
        else:
            payload = struct.pack(f"<{len(values)}{_FMT[kind]}", *values)
            count = len(values)
        packed.append((tag, kind, count, payload))
    value_fields: list[bytes] = []
    for _tag, _kind, _count, payload in packed:
        if len(payload) <= 4:
            value_fields.append(payload.ljust(4, b"\0"))
        else:
            if (extra_offset + len(extra)) % 2:
                extra += b"\0"
            value_fields.append(struct.pack("<I", extra_offset + len(extra)))
            extra += payload
    if (extra_offset + len(extra)) % 2:
        extra += b"\0"
    strip_offset = extra_offset + len(extra)
    out = bytearray(b"II*\0" + struct.pack("<I", ifd_offset))
    out += struct.pack("<H", len(packed))
    for (tag, kind, count, _payload), field in zip(packed, value_fields, strict=True):
        if tag == _TAG_STRIP_OFFSETS:
            field = struct.pack("<I", strip_offset)
        out += struct.pack("<HHI", tag, kind, count) + field
    out += struct.pack("<I", 0)  # no next IFD
    out += extra
    out += strip
    return bytes(out)


# ------------------------------------------------------- reference maps (u16)
def _predict(data: np.ndarray) -> bytes:
    """TIFF predictor 2 on uint16 rows (mod 2**16), little-endian bytes."""
    diff = data.astype(np.uint16, copy=True)
    diff[:, 1:] = data[:, 1:] - data[:, :-1]
    return diff.astype("<u2").tobytes()


def geotiff_bytes(
    data: np.ndarray,
    *,
    epsg: int,
    left: float,
    top: float,
    res_m: float,
    nodata: int = 0,
) -> bytes:
    """The GeoTIFF file bytes of one UInt16 band, DEFLATE + predictor 2."""
    if data.dtype != np.uint16 or data.ndim != 2:
        raise ValueError(f"expected a 2-D uint16 array, got {data.dtype} {data.shape}")
    height, width = data.shape
    strip = zlib.compress(_predict(data), ZLIB_LEVEL)
    entries: list[TiffEntry] = [
        *_image_entries(
            width=width,
            height=height,
            bits_per_sample=16,
            compression=8,  # Adobe DEFLATE
            strip_bytes=len(strip),
            predictor=2,  # horizontal differencing
            sample_format=1,  # unsigned integer
        ),
        *_georef_entries(
            epsg=epsg, left=left, top=top, res_m=res_m, linear_unit_metre=True
        ),
        (42113, _ASCII, f"{nodata}\0".encode("ascii")),  # GDAL_NODATA
    ]
    return _tiff_bytes(entries, strip)


def write_geotiff(
    path: Path,
    data: np.ndarray,
    *,
    epsg: int,
    left: float,
    top: float,
    res_m: float,
    nodata: int = 0,
) -> None:
    """Write :func:`geotiff_bytes` to ``path`` (plain write; callers stage atomically)."""
    payload = geotiff_bytes(
        data, epsg=epsg, left=left, top=top, res_m=res_m, nodata=nodata
    )
    write_file(path, payload)


# ------------------------------------------------------------ S1 (float32)
def geotiff_float32_bytes(
    data: npt.NDArray[np.float32], *, epsg: int, left: float, top: float, res_m: float
) -> bytes:
    """An uncompressed, single-strip float32 GeoTIFF (little endian).

    Tags: the baseline image tags plus ModelPixelScale, ModelTiepoint and a
    GeoKeyDirectory (projected CRS ``epsg``, PixelIsArea); no nodata tag.
    """
    height, width = data.shape
    pixels = np.ascontiguousarray(data, dtype="<f4").tobytes()
    entries: list[TiffEntry] = [
        *_image_entries(
            width=width,
            height=height,
            bits_per_sample=32,
            compression=1,  # none
            strip_bytes=len(pixels),
            predictor=None,
            sample_format=3,  # IEEE floating point
        ),
        *_georef_entries(
            epsg=epsg, left=left, top=top, res_m=res_m, linear_unit_metre=False
        ),
    ]
    return _tiff_bytes(entries, pixels)


# ------------------------------------------- S2 patches (GDAL byte template)
def _gtiff_profile(
    *, epsg: int, side_px: int, res_m: float, left: float, top: float
) -> dict[str, Any]:
    from affine import Affine
    from rasterio.crs import CRS

    return {
        "driver": "GTiff",
        "width": side_px,
        "height": side_px,
        "count": 1,
        "dtype": "uint16",
        "crs": CRS.from_epsg(epsg),
        "transform": Affine(res_m, 0.0, left, 0.0, -res_m, top),
        "nodata": 0,
    }


def write_band_gdal(
    path: Path,
    data: npt.NDArray[np.uint16],
    *,
    epsg: int,
    res_m: float,
    left: float,
    top: float,
) -> None:
    """Write one patch band with rasterio/GDAL (the reference writer's settings)."""
    import rasterio

    profile = _gtiff_profile(
        epsg=epsg, side_px=data.shape[0], res_m=res_m, left=left, top=top
    )
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)


def gdal_band_bytes(
    data: npt.NDArray[np.uint16], *, epsg: int, res_m: float, left: float, top: float
) -> bytes:
    """The bytes GDAL writes for one patch band (in memory)."""
    from rasterio.io import MemoryFile

    profile = _gtiff_profile(
        epsg=epsg, side_px=data.shape[0], res_m=res_m, left=left, top=top
    )
    with MemoryFile() as memfile:
        with memfile.open(**profile) as dst:
            dst.write(data, 1)
        return bytes(memfile.read())


class TemplateError(ProductLayoutError):
    """GDAL's output does not have the layout the byte template relies on."""


@dataclass(frozen=True, slots=True)
class GeoTiffTemplate:
    """GDAL's uncompressed single-band GeoTIFF as header + pixels + trailer."""

    header: bytes
    trailer: bytes
    tiepoint_offset: int
    side_px: int

    @classmethod
    def from_gdal(cls, *, epsg: int, side_px: int, res_m: float) -> GeoTiffTemplate:
        """Build from a GDAL probe and verify it against a second probe."""
        rng = np.random.default_rng(side_px)
        probe = rng.integers(1, 65535, (side_px, side_px), dtype=np.uint16)
        origin = (600_000.0, 5_000_040.0)
        raw = gdal_band_bytes(
            probe, epsg=epsg, res_m=res_m, left=origin[0], top=origin[1]
        )
        template = cls._parse(raw, side_px=side_px, origin=origin)
        check = rng.integers(0, 65535, (side_px, side_px), dtype=np.uint16)
        check[0, :] = 0
        left, top = 412_345.0, 4_987_650.0
        expected = gdal_band_bytes(check, epsg=epsg, res_m=res_m, left=left, top=top)
        if template.render(check, left=left, top=top) != expected:
            raise TemplateError(
                f"GDAL's GeoTIFF for EPSG:{epsg}, {side_px} px differs from the byte "
                "template in more than the tie point and pixels; using rasterio"
            )
        return template

    @classmethod
    def _parse(
        cls, raw: bytes, *, side_px: int, origin: tuple[float, float]
    ) -> GeoTiffTemplate:
        if raw[:4] != b"II*\x00":
            raise TemplateError("GDAL did not write a little-endian classic TIFF")
        (ifd,) = struct.unpack_from("<I", raw, 4)
        (count,) = struct.unpack_from("<H", raw, ifd)
        tags: dict[int, tuple[int, int, int]] = {}
        for i in range(count):
            tag, typ, n, value = struct.unpack_from("<HHII", raw, ifd + 2 + 12 * i)
            tags[tag] = (typ, n, value)

        def values(tag: int) -> list[int]:
            typ, n, value = tags[tag]
            code = _FMT.get(typ) if typ in (_SHORT, _LONG) else None
            if code is None:
                raise TemplateError(f"TIFF tag {tag} has unexpected type {typ}")
            size = _TIFF_TYPE_SIZES[typ] * n
            if size <= 4:
                return list(struct.unpack_from(f"<{n}{code}", struct.pack("<I", value)))
            return list(struct.unpack_from(f"<{n}{code}", raw, value))

        try:
            offsets = values(_TAG_STRIP_OFFSETS)
            counts = values(_TAG_STRIP_BYTE_COUNTS)
            tie_typ, tie_n, tie_offset = tags[_TAG_MODEL_TIEPOINT]
        except KeyError as exc:
            raise TemplateError(f"GDAL's GeoTIFF lacks TIFF tag {exc}") from exc
        start = offsets[0]
        data_size = side_px * side_px * 2
        contiguous = all(
            off == start + sum(counts[:i]) for i, off in enumerate(offsets)
        )
        if not contiguous or sum(counts) != data_size:
            raise TemplateError("GDAL's strips are not one contiguous pixel block")
        if tie_typ != 12 or tie_n != 6:
            raise TemplateError("GDAL's ModelTiepoint is not 6 doubles")
        tie = struct.unpack_from("<6d", raw, tie_offset)
        if tie[3:5] != origin:
            raise TemplateError("GDAL's ModelTiepoint does not hold the origin")
        return cls(
            header=raw[:start],
            trailer=raw[start + data_size :],
            tiepoint_offset=tie_offset + 24,
            side_px=side_px,
        )

    def render(self, data: npt.NDArray[np.uint16], *, left: float, top: float) -> bytes:
        """File bytes for one patch band with upper-left corner (left, top)."""
        header = bytearray(self.header)
        struct.pack_into("<2d", header, self.tiepoint_offset, left, top)
        pixels = np.ascontiguousarray(data, dtype="<u2").tobytes()
        return bytes(header) + pixels + self.trailer
