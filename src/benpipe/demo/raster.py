"""Synthetic reflectance-like rasters and their writers.

Fields are multi-octave value noise defined in world (UTM) coordinates, so the
10, 20 and 60 m bands of one product, and overlapping products of one zone,
show the same landscape.  Everything is vectorised numpy, computed in row
blocks to bound memory for full-size (10 980 px) tiles.

Two textures (docs/demo-world.md, "Texture"):

* ``smooth`` (the default demo's frozen bytes): class signature x smooth
  texture field; lossless JPEG 2000 codes it at about 3.3 bits per pixel;
* ``realistic``: adds agricultural parcels (rows of fields of varying width,
  each with its own brightness, so sharp edges), sub-parcel heterogeneity per
  land-cover class (shared by the bands of a resolution) and per-band sensor
  noise whose standard deviation grows with the square root of the signal.
  Written with ESA's codestream options (:data:`ESA_JP2_OPTIONS`), its 10 m
  bands carry about 5.3 bits per pixel, like real Sentinel-2 L2A bands.

Every random draw of the realistic texture is either a hash of world
coordinates (parcels) or comes from a generator seeded per fixed row block,
so the bytes do not depend on the number of threads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt
import rasterio

from benpipe.geotiff import geotiff_float32_bytes
from benpipe.l2a.jp2 import ESA_JP2_OPTIONS
from benpipe.names import L1C_BANDS

F32 = npt.NDArray[np.float32]
_T = TypeVar("_T")

#: JP2 options of the smooth texture: lossless, GDAL's defaults otherwise
#: (MACHINE-FACTS §3).  The default demo's bytes depend on them.
JP2_OPTIONS: dict[str, str] = {"REVERSIBLE": "YES", "QUALITY": "100"}

Texture = Literal["smooth", "realistic"]
TEXTURES: tuple[Texture, ...] = ("smooth", "realistic")


def jp2_options(texture: Texture) -> dict[str, str]:
    """The JPEG 2000 creation options of a texture's band files."""
    return dict(ESA_JP2_OPTIONS if texture == "realistic" else JP2_OPTIONS)


_BLOCK_ROWS = 1024

#: TOA reflectance x 10 000 per land-cover class (rows) and L1C band (columns,
#: in L1C_BANDS order: B01 B02 B03 B04 B05 B06 B07 B08 B8A B09 B10 B11 B12).
_SIGNATURES = np.array(
    [
        [1300, 1050, 850, 600, 550, 500, 480, 420, 400, 150, 20, 250, 180],  # water
        [1350, 1000, 850, 600, 1000, 2300, 2800, 3000, 3200, 900, 25, 1500, 700],
        [1400, 1150, 1100, 1000, 1500, 2600, 3100, 3400, 3500, 1000, 30, 2600, 1700],
        [1400, 1100, 1050, 900, 1350, 2400, 2800, 3100, 3200, 950, 28, 2400, 1500],
        [1600, 1400, 1400, 1450, 1650, 1900, 2050, 2200, 2300, 800, 35, 2600, 2200],
        [1700, 1500, 1650, 1900, 2200, 2500, 2700, 2900, 3000, 1000, 40, 3600, 3000],
    ],
    dtype=np.float32,
)
#: Class thresholds on the cover field (water, forest, crop, grass, urban, bare).
_CLASS_EDGES = np.array([-1.1, -0.1, 0.45, 0.8, 1.05], dtype=np.float32)

#: Per-season multipliers for visible (B01-B05) and NIR/SWIR (B06-B12) bands.
_SEASON_GAIN: dict[str, tuple[float, float]] = {
    "spring": (1.0, 0.95),
    "summer": (1.0, 1.0),
    "fall": (1.05, 0.85),
    "winter": (1.15, 0.7),
}


@dataclass(frozen=True, slots=True)
class _Octave:
    left: float
    top: float
    cell_m: float
    amplitude: float
    grid: F32


class SmoothField:
    """Multi-octave value noise f(x, y) on a rectangle of the world."""

    def __init__(
        self,
        rng: np.random.Generator,
        *,
        left: float,
        top: float,
        width_m: float,
        height_m: float,
        octaves: tuple[tuple[float, float], ...],
    ) -> None:
        self._octaves: list[_Octave] = []
        for cell_m, amplitude in octaves:
            nx = int(np.ceil(width_m / cell_m)) + 2
            ny = int(np.ceil(height_m / cell_m)) + 2
            grid = rng.standard_normal((ny, nx)).astype(np.float32)
            self._octaves.append(_Octave(left, top, cell_m, amplitude, grid))

    def sample(self, *, ulx: float, uly: float, res_m: float, size_px: int) -> F32:
        """The field at the pixel centres of a square raster."""
        out = np.zeros((size_px, size_px), dtype=np.float32)
        centres = (np.arange(size_px, dtype=np.float64) + 0.5) * res_m
        for octave in self._octaves:
            fx = (ulx + centres - octave.left) / octave.cell_m
            fy = (octave.top - (uly - centres)) / octave.cell_m
            ix = np.floor(fx).astype(np.intp)
            iy = np.floor(fy).astype(np.intp)
            tx = _smoothstep(fx - ix)
            ty = _smoothstep(fy - iy)
            for r0 in range(0, size_px, _BLOCK_ROWS):
                r1 = min(size_px, r0 + _BLOCK_ROWS)
                rows = (
                    octave.grid[iy[r0:r1]] * (1 - ty[r0:r1, None])
                    + octave.grid[iy[r0:r1] + 1] * ty[r0:r1, None]
                )
                block = rows[:, ix] * (1 - tx) + rows[:, ix + 1] * tx
                out[r0:r1] += octave.amplitude * block
        return out


def _smoothstep(t: npt.NDArray[np.float64]) -> F32:
    return (t * t * (3 - 2 * t)).astype(np.float32)


@dataclass(frozen=True, slots=True)
class Detail:
    """What the realistic texture adds to a landscape: its random streams.

    ``seed`` keys the parcel hash (world coordinates, shared by every product
    of the world) and ``product`` the per-product noise generators.
    """

    seed: int
    product: int


@dataclass(frozen=True, slots=True)
class Landscape:
    """The cover and texture fields of one UTM zone, plus a product's own noise.

    ``detail`` is None for the smooth texture, else the realistic texture's
    streams (parcels, heterogeneity, sensor noise).
    """

    cover: SmoothField
    texture: SmoothField
    product_noise: SmoothField
    detail: Detail | None = None


def make_zone_fields(
    rng: np.random.Generator,
    *,
    left: float,
    top: float,
    width_m: float,
    height_m: float,
) -> tuple[SmoothField, SmoothField]:
    """Cover (classes) and texture fields shared by every product of a zone."""
    kw = {"left": left, "top": top, "width_m": width_m, "height_m": height_m}
    cover = SmoothField(
        rng, octaves=((6000.0, 0.7), (2400.0, 0.4), (900.0, 0.25), (300.0, 0.1)), **kw
    )
    texture = SmoothField(rng, octaves=((500.0, 0.6), (150.0, 0.3), (50.0, 0.2)), **kw)
    return cover, texture


@dataclass(frozen=True, slots=True)
class ResolutionFields:
    """Land-cover classes and texture of one product at one resolution."""

    classes: npt.NDArray[np.uint8]
    texture: F32


def resolution_fields(
    landscape: Landscape,
    *,
    ulx: float,
    uly: float,
    res_m: int,
    size_px: int,
    threads: int = 1,
) -> ResolutionFields:
    """Sample the landscape once per resolution (shared by its bands).

    With a realistic landscape (``landscape.detail``), the texture also
    carries the parcels and the sub-parcel heterogeneity, computed in row
    blocks on ``threads`` threads (same values for any number).
    """
    cover = landscape.cover.sample(ulx=ulx, uly=uly, res_m=res_m, size_px=size_px)
    classes = np.digitize(cover, _CLASS_EDGES).astype(np.uint8)
    del cover
    texture = landscape.texture.sample(ulx=ulx, uly=uly, res_m=res_m, size_px=size_px)
    texture += landscape.product_noise.sample(
        ulx=ulx, uly=uly, res_m=res_m, size_px=size_px
    )
    texture *= np.float32(0.12)
    texture += np.float32(1.0)
    detail = landscape.detail
    if detail is not None:

        def add_detail(rows: slice) -> None:
            texture[rows] *= _parcel_gain(
                detail, classes[rows], ulx=ulx, uly=uly, res_m=res_m, rows=rows
            )
            rng = np.random.default_rng(
                [detail.seed, _HETEROGENEITY, detail.product, res_m, rows.start]
            )
            noise = rng.standard_normal(texture[rows].shape, dtype=np.float32)
            noise *= _HETEROGENEITY_BY_CLASS[classes[rows]]
            noise += np.float32(1.0)
            texture[rows] *= noise

        _in_row_blocks(add_detail, size_px, threads=threads)
    return ResolutionFields(classes=classes, texture=texture)


# ------------------------------------------------------ the realistic texture

#: Stream keys (second element of a generator seed / hash salt).
_PARCELS, _HETEROGENEITY, _SENSOR = 8, 9, 10
#: Parcel rows are this tall (m); a row's fields are 150-450 m wide.
_PARCEL_ROW_M = 240.0
_PARCEL_MIN_M, _PARCEL_SPAN_M = 150.0, 300.0
#: Relative brightness spread of parcels, per class (water, forest, crop,
#: grass, urban, bare): strong in fields, weak over water and forest.
_PARCEL_AMPLITUDE = np.array([0.02, 0.06, 0.25, 0.15, 0.18, 0.10], dtype=np.float32)
#: Relative per-pixel heterogeneity within a parcel, per class (shared by the
#: bands of one resolution): trees, buildings and roads vary pixel to pixel.
_HETEROGENEITY_BY_CLASS = np.array(
    [0.0006, 0.003, 0.0015, 0.0018, 0.0072, 0.0024], dtype=np.float32
)
#: Sensor noise: standard deviation = this x sqrt(signal) (DN).
SENSOR_NOISE_PER_SQRT_DN = 0.07

_U64 = npt.NDArray[np.uint64]


def _mix(x: _U64) -> _U64:
    """splitmix64's finaliser: a well-spread 64-bit hash of each element."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _hash01(
    seed: int, a: npt.NDArray[np.int64], b: npt.NDArray[np.int64] | int
) -> npt.NDArray[np.float64]:
    """A uniform [0, 1) value per (seed, a, b), independent of array layout."""
    a64 = np.asarray(a, dtype=np.int64).view(np.uint64)
    b64 = np.asarray(b, dtype=np.int64).view(np.uint64)
    h = _mix(_mix(a64 ^ np.uint64(seed & 0xFFFFFFFFFFFFFFFF)) ^ b64)
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def _parcel_gain(
    detail: Detail,
    classes: npt.NDArray[np.uint8],
    *,
    ulx: float,
    uly: float,
    res_m: int,
    rows: slice,
) -> F32:
    """Brightness factor of each pixel's parcel (rows of fields, world coordinates)."""
    n_rows, n_cols = classes.shape
    salt = detail.seed * 16 + _PARCELS
    y = uly - (np.arange(rows.start, rows.start + n_rows) + 0.5) * res_m
    x = ulx + (np.arange(n_cols) + 0.5) * res_m
    parcel_row = np.floor(y / _PARCEL_ROW_M).astype(np.int64)
    width = _PARCEL_MIN_M + _PARCEL_SPAN_M * _hash01(salt, parcel_row, 1)
    offset = width * _hash01(salt, parcel_row, 2)
    parcel_col = np.floor((x[None, :] + offset[:, None]) / width[:, None]).astype(
        np.int64
    )
    u = _hash01(salt, parcel_col, parcel_row[:, None] * 4 + 3).astype(np.float32)
    u *= np.float32(2.0)
    u -= np.float32(1.0)
    u *= _PARCEL_AMPLITUDE[classes]
    u += np.float32(1.0)
    return u


def _in_row_blocks(
    work: Callable[[slice], None], size_px: int, *, threads: int
) -> None:
    """Run ``work(rows)`` on fixed blocks of ``_BLOCK_ROWS`` rows, on ``threads``."""
    blocks = [
        slice(r0, min(size_px, r0 + _BLOCK_ROWS))
        for r0 in range(0, size_px, _BLOCK_ROWS)
    ]
    _run_all(work, blocks, threads=threads)


def _run_all(work: Callable[[_T], None], items: list[_T], *, threads: int) -> None:
    if threads <= 1 or len(items) <= 1:
        for item in items:
            work(item)
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        _drain(pool.map(work, items))


def _drain(results: Iterator[None]) -> None:
    for _ in results:
        pass


def band_array(
    fields: ResolutionFields,
    *,
    band: str,
    season: str,
    res_m: int,
    nodata_from_m: int | None,
    detail: Detail | None = None,
    threads: int = 1,
) -> npt.NDArray[np.uint16]:
    """One L1C band: class signature x seasonal gain x texture, never 0.

    With ``detail`` (the realistic texture), per-pixel sensor noise of
    standard deviation :data:`SENSOR_NOISE_PER_SQRT_DN` x sqrt(signal) is
    added, from one generator per (product, band, row block), computed on
    ``threads`` threads.  Columns east of ``nodata_from_m`` (metres from the
    tile's west edge) are 0 (nodata).
    """
    band_idx = L1C_BANDS.index(band)
    vis_gain, nir_gain = _SEASON_GAIN[season]
    gain = vis_gain if band_idx <= L1C_BANDS.index("B05") else nir_gain
    lut = _SIGNATURES[:, band_idx] * np.float32(gain)
    if detail is None:
        values = lut[fields.classes]
        values *= fields.texture
        np.clip(values, 10.0, 12000.0, out=values)
        out: npt.NDArray[np.uint16] = np.rint(values).astype(np.uint16)
        del values
    else:
        out = np.empty(fields.classes.shape, dtype=np.uint16)

        def block(rows: slice) -> None:
            values = lut[fields.classes[rows]]
            values *= fields.texture[rows]
            np.clip(values, 10.0, 12000.0, out=values)
            rng = np.random.default_rng(
                [detail.seed, _SENSOR, detail.product, band_idx, rows.start]
            )
            noise = rng.standard_normal(values.shape, dtype=np.float32)
            noise *= np.sqrt(values)
            noise *= np.float32(SENSOR_NOISE_PER_SQRT_DN)
            values += noise
            np.clip(values, 1.0, 20000.0, out=values)
            out[rows] = np.rint(values)

        _in_row_blocks(block, int(fields.classes.shape[0]), threads=threads)
    if nodata_from_m is not None:
        out[:, nodata_from_m // res_m :] = 0
    return out


def bits_per_pixel(path: Path) -> float:
    """File bytes x 8 / pixels of a single-band raster file (its coded rate)."""
    with rasterio.Env(GDAL_PAM_ENABLED="NO"), rasterio.open(path) as src:
        pixels = int(src.width) * int(src.height)
    return float(path.stat().st_size * 8 / pixels)


def s1_backscatter(
    rng: np.random.Generator, *, size_px: int, polarisation: str
) -> npt.NDArray[np.float32]:
    """A smooth linear-power S1 backscatter patch (VV around -11 dB, VH -18 dB)."""
    base_db = -11.0 if polarisation == "VV" else -18.0
    coarse = rng.standard_normal((5, 5)).astype(np.float32)
    idx = np.linspace(0, 4, size_px, dtype=np.float32)
    i0 = np.minimum(np.floor(idx).astype(np.intp), 3)
    t = idx - i0
    rows = coarse[i0] * (1 - t[:, None]) + coarse[i0 + 1] * t[:, None]
    field = rows[:, i0] * (1 - t) + rows[:, i0 + 1] * t
    db = base_db + 2.5 * field
    return np.asarray(db, dtype=np.float32)


def write_s1_tif(path: Path, data: npt.NDArray[np.float32], *, epsg: int,
                 ulx: float, uly: float) -> None:  # fmt: skip
    """Write an uncompressed float32 GeoTIFF at 10 m."""
    path.write_bytes(
        geotiff_float32_bytes(data, epsg=epsg, left=ulx, top=uly, res_m=10.0)
    )
