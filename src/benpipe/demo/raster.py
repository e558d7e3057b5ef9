"""Synthetic, spatially smooth reflectance-like rasters and their writers.

Fields are multi-octave value noise defined in world (UTM) coordinates, so the
10, 20 and 60 m bands of one product, and overlapping products of one zone,
show the same landscape.  Everything is vectorised numpy, computed in row
blocks to bound memory for full-size (10 980 px) tiles.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import rasterio
from affine import Affine
from rasterio.crs import CRS

from benpipe.geotiff import geotiff_float32_bytes
from benpipe.names import L1C_BANDS

F32 = npt.NDArray[np.float32]

#: JP2 options for lossless output (MACHINE-FACTS §3).
JP2_OPTIONS: dict[str, str] = {"REVERSIBLE": "YES", "QUALITY": "100"}

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
class Landscape:
    """The cover and texture fields of one UTM zone, plus a product's own noise."""

    cover: SmoothField
    texture: SmoothField
    product_noise: SmoothField


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
    landscape: Landscape, *, ulx: float, uly: float, res_m: int, size_px: int
) -> ResolutionFields:
    """Sample the landscape once per resolution (shared by its bands)."""
    cover = landscape.cover.sample(ulx=ulx, uly=uly, res_m=res_m, size_px=size_px)
    classes = np.digitize(cover, _CLASS_EDGES).astype(np.uint8)
    del cover
    texture = landscape.texture.sample(ulx=ulx, uly=uly, res_m=res_m, size_px=size_px)
    texture += landscape.product_noise.sample(
        ulx=ulx, uly=uly, res_m=res_m, size_px=size_px
    )
    texture *= np.float32(0.12)
    texture += np.float32(1.0)
    return ResolutionFields(classes=classes, texture=texture)


def band_array(
    fields: ResolutionFields,
    *,
    band: str,
    season: str,
    res_m: int,
    nodata_from_m: int | None,
) -> npt.NDArray[np.uint16]:
    """One L1C band: class signature x seasonal gain x texture, never 0.

    Columns east of ``nodata_from_m`` (metres from the tile's west edge) are
    0 (nodata).
    """
    band_idx = L1C_BANDS.index(band)
    vis_gain, nir_gain = _SEASON_GAIN[season]
    gain = vis_gain if band_idx <= L1C_BANDS.index("B05") else nir_gain
    lut = _SIGNATURES[:, band_idx] * np.float32(gain)
    values = lut[fields.classes]
    values *= fields.texture
    np.clip(values, 10.0, 12000.0, out=values)
    out: npt.NDArray[np.uint16] = np.rint(values).astype(np.uint16)
    del values
    if nodata_from_m is not None:
        out[:, nodata_from_m // res_m :] = 0
    return out


def write_jp2(path: Path, data: npt.NDArray[np.uint16], *, epsg: int, ulx: float,
              uly: float, res_m: int) -> None:  # fmt: skip
    """Write a lossless single-band JPEG 2000 with CRS and transform."""
    with (
        rasterio.Env(GDAL_PAM_ENABLED="NO"),
        rasterio.open(
            path,
            "w",
            driver="JP2OpenJPEG",
            width=data.shape[1],
            height=data.shape[0],
            count=1,
            dtype="uint16",
            crs=CRS.from_epsg(epsg),
            transform=Affine(res_m, 0.0, ulx, 0.0, -res_m, uly),
            **JP2_OPTIONS,
        ) as dst,
    ):
        dst.write(data, 1)


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
