"""The fallback converter's pixel rules (pure NumPy, no I/O).

DOS1-like dark-object subtraction per band (``FALLBACK_VERSION`` 2, see
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
    """Exact low percentile of the non-zero DNs of a uint16 band (0 if none).

    The ``rank``-th smallest valid DN, ``rank = ceil(valid · percentile /
    100)`` (at least 1).  Only the DNs up to a threshold are histogrammed: a
    guess from every 16th pixel, raised until at least ``rank`` valid DNs lie
    at or below it, so the answer is exact whatever the guess.
    """
    if dn.dtype != np.uint16:
        raise ProductLayoutError(f"the dark object needs a uint16 band, got {dn.dtype}")
    total = int(np.count_nonzero(dn))
    if total == 0:
        return 0
    rank = max(1, int(np.ceil(total * percentile / 100.0)))
    sample = dn.ravel()[::16]
    sample = sample[sample > 0]
    # twice the percentile in the sample (and +1): nearly always enough
    k = min(sample.size - 1, 2 * int(np.ceil(sample.size * percentile / 100.0)))
    guess = int(np.partition(sample, k)[k]) + 1 if sample.size else 65535
    threshold = min(65535, guess)
    while True:
        low = _valid_at_most(dn, threshold)
        if low.size >= rank or threshold >= 65535:
            break
        threshold = min(65535, threshold * 2)
    hist = np.bincount(low, minlength=threshold + 1)
    return int(np.searchsorted(np.cumsum(hist), rank))


def _valid_at_most(dn: np.ndarray, threshold: int) -> np.ndarray:
    """The DNs ``1 ≤ dn ≤ threshold`` of a uint16 band, as a flat array."""
    parts = []
    limit = np.uint16(threshold)
    for start in range(0, dn.shape[0], _CHUNK_ROWS):
        chunk = dn[start : start + _CHUNK_ROWS]
        shifted = chunk - np.uint16(1)  # 0 (nodata) wraps to 65535
        parts.append(chunk[shifted < limit])
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.uint16)


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


def dos1_table(*, dark: int, quantification: int, boa_add_offset: int) -> np.ndarray:
    """:func:`dos1` as a lookup table: ``dos1_table(...)[dn] == dos1(dn, ...)``.

    65 536 uint16 entries (128 kB), one per possible L1C DN.
    """
    every_dn = np.arange(65536, dtype=np.uint16)
    return dos1(
        every_dn,
        dark=dark,
        quantification=quantification,
        boa_add_offset=boa_add_offset,
    )


def dos1_in_place(
    dn: np.ndarray, *, dark: int, quantification: int, boa_add_offset: int
) -> np.ndarray:
    """:func:`dos1` written over ``dn`` itself (a uint16 band); returns ``dn``.

    One table look-up per pixel and no second band in memory: the same values
    as :func:`dos1` for every DN, since the table is :func:`dos1` of every DN.
    """
    if dn.dtype != np.uint16:
        raise ProductLayoutError(f"DOS1 needs a uint16 band, got {dn.dtype}")
    table = dos1_table(
        dark=dark, quantification=quantification, boa_add_offset=boa_add_offset
    )
    for start in range(0, dn.shape[0], _CHUNK_ROWS):
        rows = slice(start, start + _CHUNK_ROWS)
        dn[rows] = table[dn[rows]]
    return dn


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


#: Output rows per chunk of :func:`downsample` (small: the chunk stays in cache).
_DOWNSAMPLE_CHUNK_ROWS = 128


def downsample(band: np.ndarray, factors: tuple[int, ...]) -> list[np.ndarray]:
    """:func:`block_mean` of ``band`` by each of ``factors``, in one pass.

    ``factors`` ascend and each divides the next (``(2, 6)`` takes a 10 m band
    to 20 m and 60 m).  The block sums and minima of a factor are built from
    those of the previous one (the 6×6 sum of a 10 m band is the 3×3 sum of
    its 2×2 sums), with strided adds over row chunks instead of
    :func:`block_mean`'s reshaped reductions: the same values, about 10×
    faster.
    """
    rows, cols = band.shape
    for prev, factor in zip((1, *factors), factors, strict=False):
        if factor <= prev or factor % prev:
            raise ValueError(f"factors {factors} must ascend, each dividing the next")
    largest = factors[-1]
    if rows % largest or cols % largest:
        raise ProductLayoutError(
            f"band of {cols}x{rows} px cannot be down-sampled by {largest}: the size "
            "is not a multiple of the factor"
        )
    outputs = [
        np.empty((rows // factor, cols // factor), dtype=np.uint16)
        for factor in factors
    ]
    step = _DOWNSAMPLE_CHUNK_ROWS * largest
    for start in range(0, rows, step):
        chunk = band[start : start + step]
        sums, mins, prev = chunk, chunk, 1
        for factor, out in zip(factors, outputs, strict=True):
            k = factor // prev
            sums = _block_sum(sums, k)
            mins = _block_min(mins, k)
            prev = factor
            out[start // factor : (start + step) // factor] = _rounded_mean(
                sums, mins, factor * factor
            )
    return outputs


def _block_sum(a: np.ndarray, k: int) -> np.ndarray:
    """Sums of k×k blocks (uint32: at most 36 × 65535 for the S2 factors)."""
    rows = a[0::k].astype(np.uint32)
    for i in range(1, k):
        rows += a[i::k]
    total = rows[:, 0::k].copy()
    for i in range(1, k):
        total += rows[:, i::k]
    return total


def _block_min(a: np.ndarray, k: int) -> np.ndarray:
    rows = a[0::k].copy()
    for i in range(1, k):
        np.minimum(rows, a[i::k], out=rows)
    low = rows[:, 0::k].copy()
    for i in range(1, k):
        np.minimum(low, rows[:, i::k], out=low)
    return low


def _rounded_mean(sums: np.ndarray, mins: np.ndarray, n: int) -> np.ndarray:
    """``(sum + n // 2) // n`` as uint16, 0 where the block holds a 0."""
    shift = n.bit_length() - 1
    rounded = sums + n // 2
    mean = rounded >> shift if n == 1 << shift else rounded // n
    result: np.ndarray = mean.astype(np.uint16)
    result[mins == 0] = 0
    return result


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
