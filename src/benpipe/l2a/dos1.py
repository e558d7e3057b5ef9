"""The fallback converter's pixel rules (pure NumPy, no I/O).

DOS1-like dark-object subtraction per band (``FALLBACK_VERSION`` 1, see
:mod:`benpipe.l2a.fallback` for the whole algorithm), integer-exact
resampling between the 10/20/60 m sets, and the fixed spectral rules of the
fallback scene classification (SCL).
"""

from __future__ import annotations

import numpy as np

from benpipe.errors import ProductLayoutError

#: Percentile (in %) of valid DNs taken as the dark object of a band.
DARK_PERCENTILE = 0.1
#: Assumed reflectance of the dark object (DOS1).
DOS1_REFLECTANCE = 0.01

#: SCL classes produced by the fallback rules (sen2cor class codes).
SCL_NODATA = 0
SCL_VEGETATION = 4
SCL_NOT_VEGETATED = 5
SCL_WATER = 6
SCL_CLOUD_MEDIUM = 8
SCL_CLOUD_HIGH = 9

SCL_BANDS = ("B02", "B03", "B04", "B8A", "B11")
#: Rows per chunk in the pixel loops (bounds temporary memory on full tiles).
_CHUNK_ROWS = 1024


def dark_value(dn: np.ndarray, *, percentile: float = DARK_PERCENTILE) -> int:
    """Exact low percentile of the non-zero DNs of a uint16 band (0 if none)."""
    hist = np.zeros(65536, dtype=np.int64)
    for start in range(0, dn.shape[0], _CHUNK_ROWS):
        chunk = dn[start : start + _CHUNK_ROWS]
        hist += np.bincount(chunk.ravel(), minlength=65536)
    hist[0] = 0
    total = int(hist.sum())
    if total == 0:
        return 0
    rank = max(1, int(np.ceil(total * percentile / 100.0)))
    return int(np.searchsorted(np.cumsum(hist), rank))


def dos1(
    dn: np.ndarray, *, dark: int, quantification: int, boa_add_offset: int
) -> np.ndarray:
    """Dark-object subtraction of one band; 0 stays 0, valid → [1, 65535]."""
    shift = round(DOS1_REFLECTANCE * quantification) - boa_add_offset - dark
    result = np.empty(dn.shape, dtype=np.uint16)
    for start in range(0, dn.shape[0], _CHUNK_ROWS):
        chunk = dn[start : start + _CHUNK_ROWS]
        out = chunk.astype(np.int32)
        out += shift
        np.clip(out, 1, 65535, out=out)
        out[chunk == 0] = 0
        result[start : start + _CHUNK_ROWS] = out
    return result


def block_mean(band: np.ndarray, factor: int) -> np.ndarray:
    """Down-sample by ``factor``: rounded block mean; a block with a 0 is 0."""
    rows, cols = band.shape
    if rows % factor or cols % factor:
        raise ProductLayoutError(
            f"band of {cols}x{rows} px cannot be down-sampled by {factor}: the size "
            "is not a multiple of the factor"
        )
    blocks = band.reshape(rows // factor, factor, cols // factor, factor)
    total = blocks.sum(axis=(1, 3), dtype=np.uint32)
    n = factor * factor
    mean = (total + n // 2) // n
    mean[blocks.min(axis=(1, 3)) == 0] = 0
    result: np.ndarray = mean.astype(np.uint16)
    return result


def repeat_pixels(band: np.ndarray, factor: int) -> np.ndarray:
    """Up-sample by ``factor`` with nearest neighbour (pixel repetition)."""
    return np.repeat(np.repeat(band, factor, axis=0), factor, axis=1)


def resample(band: np.ndarray, *, from_m: int, to_m: int) -> np.ndarray:
    """Integer-exact resampling between S2 resolutions (10, 20, 60 m)."""
    if from_m == to_m:
        return band
    if to_m > from_m:
        return block_mean(band, to_m // from_m)
    return repeat_pixels(band, from_m // to_m)


def scene_classification(
    bands: dict[str, np.ndarray], *, quantification: int, offsets: dict[str, int]
) -> np.ndarray:
    """Fallback SCL from B02 B03 B04 B8A B11 at one resolution (uint8).

    Rules on reflectance·Q (``DN + BOA_ADD_OFFSET``), in this order, integer
    arithmetic only: 0 nodata (any of the bands is 0); 9 cloud high
    probability (mean of B02–B04 ≥ 0.40); 8 cloud medium probability (mean ≥
    0.25); 6 water (NDVI < 0 and B8A < 0.15); 4 vegetation (NDVI ≥ 0.4);
    5 not vegetated otherwise.  NDVI uses B8A and B04.
    """
    shape = bands["B02"].shape
    scl = np.empty(shape, dtype=np.uint8)
    for start in range(0, shape[0], _CHUNK_ROWS):
        rows = slice(start, start + _CHUNK_ROWS)
        chunk = {band: bands[band][rows] for band in SCL_BANDS}
        scl[rows] = _classify(chunk, quantification=quantification, offsets=offsets)
    return scl


def _classify(
    bands: dict[str, np.ndarray], *, quantification: int, offsets: dict[str, int]
) -> np.ndarray:
    refl = {
        band: bands[band].astype(np.int32) + offsets.get(band, 0) for band in SCL_BANDS
    }
    q = int(quantification)
    visible = refl["B02"] + refl["B03"] + refl["B04"]
    nir, red = refl["B8A"], refl["B04"]
    scl = np.full(bands["B02"].shape, SCL_NOT_VEGETATED, dtype=np.uint8)
    scl[3 * nir >= 7 * red] = SCL_VEGETATION
    scl[(nir < red) & (20 * nir < 3 * q)] = SCL_WATER
    scl[4 * visible >= 3 * q] = SCL_CLOUD_MEDIUM
    scl[5 * visible >= 6 * q] = SCL_CLOUD_HIGH
    nodata = np.zeros(scl.shape, dtype=bool)
    for band in SCL_BANDS:
        nodata |= bands[band] == 0
    scl[nodata] = SCL_NODATA
    return scl
