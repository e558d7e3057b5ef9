"""A minimal, deterministic GeoTIFF writer for small single-band UInt16 rasters.

GDAL's per-file overhead (dataset creation, CRS to GeoKeys through PROJ)
costs several milliseconds per file, which dominates when a product yields
~8,000 reference maps of 120x120 pixels.  This writer emits the same kind of
file directly: classic little-endian TIFF, one strip, DEFLATE (zlib, level 6)
with horizontal differencing (predictor 2), ModelPixelScale + ModelTiepoint,
a GeoKeyDirectory with the projected EPSG code (PixelIsArea, metres) and the
GDAL_NODATA tag.  The bytes depend only on the pixels and the georeferencing.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np

_SHORT, _LONG, _ASCII, _DOUBLE = 3, 4, 2, 12
_TYPE_SIZE = {_SHORT: 2, _LONG: 4, _ASCII: 1, _DOUBLE: 8}
_FMT = {_SHORT: "H", _LONG: "I", _DOUBLE: "d"}
ZLIB_LEVEL = 6


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
    """The GeoTIFF file bytes of one UInt16 band (see module docstring)."""
    if data.dtype != np.uint16 or data.ndim != 2:
        raise ValueError(f"expected a 2-D uint16 array, got {data.dtype} {data.shape}")
    height, width = data.shape
    strip = zlib.compress(_predict(data), ZLIB_LEVEL)
    geokeys = [
        1, 1, 0, 4,  # version 1.1.0, 4 keys
        1024, 0, 1, 1,  # GTModelType = projected
        1025, 0, 1, 1,  # GTRasterType = PixelIsArea
        3072, 0, 1, epsg,  # ProjectedCSType = EPSG code
        3076, 0, 1, 9001,  # ProjLinearUnits = metre
    ]  # fmt: skip
    nodata_text = f"{nodata}\0".encode("ascii")
    entries: list[tuple[int, int, list[float] | list[int] | bytes]] = [
        (256, _SHORT, [width]),
        (257, _SHORT, [height]),
        (258, _SHORT, [16]),
        (259, _SHORT, [8]),  # Adobe DEFLATE
        (262, _SHORT, [1]),  # BlackIsZero
        (273, _LONG, [0]),  # StripOffsets, patched below
        (277, _SHORT, [1]),
        (278, _SHORT, [height]),  # one strip
        (279, _LONG, [len(strip)]),
        (284, _SHORT, [1]),
        (317, _SHORT, [2]),  # horizontal predictor
        (339, _SHORT, [1]),  # unsigned integer
        (33550, _DOUBLE, [float(res_m), float(res_m), 0.0]),
        (33922, _DOUBLE, [0.0, 0.0, 0.0, float(left), float(top), 0.0]),
        (34735, _SHORT, geokeys),
        (42113, _ASCII, nodata_text),
    ]
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
    # large values go after the IFD (word aligned), then the strip
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
        if tag == 273:
            field = struct.pack("<I", strip_offset)
        out += struct.pack("<HHI", tag, kind, count) + field
    out += struct.pack("<I", 0)  # no next IFD
    out += extra
    out += strip
    return bytes(out)


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
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, payload)
    finally:
        os.close(fd)
