"""Benchmark the S2 patch export: decode 12 bands vs decode + write all patches.

Writes one synthetic L2A-like product (12 lossless JPEG 2000 bands at their
native 10/20/60 m resolution, smooth field + noise, a nodata corner) once into
a cache folder, then times

1. decoding the 12 bands only (the floor of any export), and
2. ``benpipe.dataset.export.export_product`` (decode + cut + validity + 12 GeoTIFFs
   per valid patch), with the byte-template writer,

and the per-file cost of the template writer versus rasterio on a sample.
Goal: export wall time <= 1.3 x decode wall time.

Usage::

    .venv/bin/python bench/bench_export.py            # scaled tile (3 660 px, 900 patches)
    .venv/bin/python bench/bench_export.py --full     # real tile (10 980 px, 8 281 patches)
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS

from benpipe.dataset.export import export_product
from benpipe.geotiff import GeoTiffTemplate, write_band_gdal
from benpipe.l2a.products import read_raster
from benpipe.names import BAND_RESOLUTION_M, BANDS

NAME = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_20240101T000000"
EPSG, ULX, ULY = 32633, 300_000.0, 5_400_000.0


@dataclass
class JP2Product:
    """A BandSource over one JP2 per band (decoded like benpipe.l2a.products)."""

    folder: Path
    tile_side_m: float
    name: str = NAME
    epsg: int = EPSG
    ulx: float = ULX
    uly: float = ULY

    def read_band(self, band: str) -> np.ndarray:
        return read_raster(self.folder / f"{band}.jp2")


def _synthetic_band(side_px: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.normal(2000, 500, (side_px // 60 + 2, side_px // 60 + 2))
    field = np.kron(coarse, np.ones((60, 60)))[:side_px, :side_px]
    data = field + rng.normal(0, 12, (side_px, side_px))
    data = np.clip(data, 1, 20000).astype(np.uint16)
    rows, cols = np.mgrid[0:side_px, 0:side_px]
    data[rows + cols < side_px // 4] = 0  # a nodata corner, as at a swath edge
    return data


def make_product(folder: Path, side_px_10m: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, band in enumerate(BANDS):
        path = folder / f"{band}.jp2"
        if path.exists():
            continue
        res = BAND_RESOLUTION_M[band]
        side = side_px_10m * 10 // res
        data = _synthetic_band(side, seed=i)
        tmp = folder / f".{band}.tmp.jp2"
        profile = {
            "driver": "JP2OpenJPEG",
            "width": side,
            "height": side,
            "count": 1,
            "dtype": "uint16",
            "crs": CRS.from_epsg(EPSG),
            "transform": Affine(res, 0.0, ULX, 0.0, -res, ULY),
            "REVERSIBLE": "YES",
            "QUALITY": "100",
            "BLOCKXSIZE": "1024",
            "BLOCKYSIZE": "1024",
            "NUM_THREADS": "ALL_CPUS",
        }
        with (
            rasterio.Env(GDAL_PAM_ENABLED="NO"),
            rasterio.open(tmp, "w", **profile) as dst,
        ):
            dst.write(data, 1)
        os.replace(tmp, path)
        print(f"  wrote {band} ({side} px)", flush=True)


def time_decode(product: JP2Product, threads: int) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for data in pool.map(product.read_band, BANDS):
            del data
    return time.perf_counter() - start


def time_writers(work: Path, n_patches: int) -> tuple[float, float]:
    """ms per file: template writer vs rasterio, on n_patches x 12 files."""
    rng = np.random.default_rng(0)
    arrays = {
        b: rng.integers(1, 9999, (1200 // BAND_RESOLUTION_M[b],) * 2, dtype=np.uint16)
        for b in BANDS
    }
    templates = {
        b: GeoTiffTemplate.from_gdal(
            epsg=EPSG, side_px=1200 // BAND_RESOLUTION_M[b], res_m=BAND_RESOLUTION_M[b]
        )
        for b in BANDS
    }
    results = []
    for mode in ("template", "rasterio"):
        folder = work / f"writers-{mode}"
        folder.mkdir()
        start = time.perf_counter()
        with rasterio.Env():
            for i in range(n_patches):
                patch = folder / f"p{i}"
                patch.mkdir()
                for b in BANDS:
                    path = patch / f"{b}.tif"
                    if mode == "template":
                        path.write_bytes(
                            templates[b].render(arrays[b], left=ULX, top=ULY)
                        )
                    else:
                        res = float(BAND_RESOLUTION_M[b])
                        write_band_gdal(
                            path, arrays[b], epsg=EPSG, res_m=res, left=ULX, top=ULY
                        )
        results.append((time.perf_counter() - start) / (n_patches * 12) * 1e3)
        shutil.rmtree(folder)
    return results[0], results[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="real 10 980 px tile")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "benpipe-bench-export",
        help="where the synthetic JP2s are kept between runs",
    )
    args = parser.parse_args()
    side_px = 10980 if args.full else 3660
    src = args.cache / f"jp2-{side_px}"
    print(f"synthetic product: {side_px} px at 10 m, cache {src}")
    start = time.perf_counter()
    make_product(src, side_px)
    print(f"  input ready in {time.perf_counter() - start:.1f} s")
    product = JP2Product(src, tile_side_m=side_px * 10.0)

    decode_s = time_decode(product, args.threads)
    print(f"decode 12 bands ({args.threads} threads): {decode_s:.1f} s")

    work = Path(tempfile.mkdtemp(prefix="bench-export-", dir=args.cache))
    try:
        start = time.perf_counter()
        result = export_product(product, work / "out", threads=args.threads)
        export_s = time.perf_counter() - start
        files = result.files_written
        print(
            f"export: {export_s:.1f} s wall for {result.patches_exported} of "
            f"{result.patches_on_grid} patches ({files} files, writer {result.writer}, "
            f"skipped {result.skipped})"
        )
        dec, wri = result.timings_s["decode"], result.timings_s["write"]
        print(
            f"  share: decode+cut {dec:.1f} s ({100 * dec / export_s:.0f} %), "
            f"write {wri:.1f} s ({100 * wri / export_s:.0f} %)"
        )
        print(
            f"  {result.patches_exported / export_s:.0f} patches/s overall, "
            f"{result.patches_exported / wri:.0f} patches/s written "
            f"({wri / max(files, 1) * 1e6:.0f} us per file)"
        )
        print(f"  export / decode-only = {export_s / decode_s:.2f} (goal <= 1.3)")
        shutil.rmtree(work / "out")
        tpl_ms, rio_ms = time_writers(work, 100)
        print(
            f"per-file writer cost (1 thread, 1200 files): template {tpl_ms:.3f} ms, "
            f"rasterio {rio_ms:.3f} ms"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
