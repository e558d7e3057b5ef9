"""Benchmark the S2 patch export: decode 12 bands vs decode + write all patches.

Writes the 12 bands of one synthetic product once into a cache folder: the
demo's P1 with the realistic texture (``benpipe.demo.world.write_band_files``:
lossless JPEG 2000 with ESA's codestream options, about 5.3 bits per pixel at
10 m like real Sentinel-2 L2A, its nodata strip), prints their bits per pixel,
then times

1. decoding the 12 bands only (the floor of any export), and
2. ``benpipe.dataset.export.export_product`` (decode + cut + validity + 12 GeoTIFFs
   per valid patch), with the byte-template writer,

and the per-file cost of the template writer versus rasterio on a sample.
Every round keeps its output until the bench ends (about 3 GB per round with
``--full``): see the comment in ``main`` for why.
Goal: export wall time <= 1.2 x decode wall time (issue 18).  ``--json``
prints one JSON line of the figures at the end.

Usage::

    .venv/bin/python bench/bench_export.py            # scaled tile (3 660 px, 900 patches)
    .venv/bin/python bench/bench_export.py --full     # real tile (10 980 px, 8 281 patches)
    .venv/bin/python bench/bench_export.py --full --json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio

from benpipe.dataset.export import export_product
from benpipe.demo.raster import bits_per_pixel
from benpipe.demo.world import write_band_files
from benpipe.geotiff import GeoTiffTemplate, write_band_gdal
from benpipe.l2a.products import decode_order, read_raster
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


def make_product(folder: Path, side_px_10m: int, *, threads: int) -> dict[str, float]:
    """The 12 bands of the demo's P1 (realistic texture, ESA codestream
    options, its nodata strip) in ``folder``; returns band -> bits per pixel."""
    paths = write_band_files(
        folder, tile_size_px=side_px_10m, bands=BANDS, texture="realistic",
        threads=threads,
    )  # fmt: skip
    return {band: bits_per_pixel(path) for band, path in paths.items()}


def bpp_summary(bpp: dict[str, float]) -> dict[str, float]:
    """Mean bits per pixel at each resolution (10, 20, 60 m)."""
    return {
        f"{res}m": round(
            float(np.mean([v for b, v in bpp.items() if BAND_RESOLUTION_M[b] == res])),
            3,
        )
        for res in (10, 20, 60)
    }


def cpu_s() -> float:
    """User + system CPU seconds of this process so far (all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def time_decode(product: JP2Product, threads: int) -> tuple[float, float]:
    """The floor: the 12 bands decoded on ``threads`` threads, one band each,
    in the export's order (``decode_order``), nothing else.  Returns (wall s,
    CPU s)."""
    start, cpu = time.perf_counter(), cpu_s()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for data in pool.map(product.read_band, decode_order(BANDS)):
            del data
    return time.perf_counter() - start, cpu_s() - cpu


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
        "--rounds",
        type=int,
        default=1,
        help="decode/export rounds (alternating, so both see the same load); "
        "the ratio is the median of the rounds' ratios",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "benpipe-bench-export",
        help="where the synthetic JP2s are kept between runs",
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        help="where the export writes (default: under --cache); e.g. a tmpfs "
        "such as /dev/shm to keep other processes' disk traffic out of the figure",
    )
    parser.add_argument(
        "--json", action="store_true", help="print a JSON line at the end"
    )
    args = parser.parse_args()
    side_px = 10980 if args.full else 3660
    src = args.cache / f"jp2-{side_px}-realistic"
    print(f"synthetic product: {side_px} px at 10 m, cache {src}")
    start = time.perf_counter()
    bpp = make_product(src, side_px, threads=args.threads)
    print(f"  input ready in {time.perf_counter() - start:.1f} s")
    by_res = bpp_summary(bpp)
    print(
        "  bits per pixel of the decoded bands: "
        + ", ".join(f"{res} {v:.2f}" for res, v in by_res.items())
        + " ("
        + " ".join(f"{b} {v:.2f}" for b, v in bpp.items())
        + ")"
    )
    product = JP2Product(src, tile_side_m=side_px * 10.0)

    rounds: list[dict[str, float]] = []
    out_parent = args.out_dir or args.cache
    out_parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-export-", dir=out_parent))
    try:
        for i in range(max(1, args.rounds)):
            load = os.getloadavg()[0]
            decode_s, decode_cpu = time_decode(product, args.threads)
            print(
                f"round {i + 1}: decode 12 bands ({args.threads} threads): {decode_s:.1f} s"
            )
            start, cpu = time.perf_counter(), cpu_s()
            result = export_product(product, work / f"out{i}", threads=args.threads)
            export_s, export_cpu = time.perf_counter() - start, cpu_s() - cpu
            files = result.files_written
            print(
                f"  export: {export_s:.1f} s wall for {result.patches_exported} of "
                f"{result.patches_on_grid} patches ({files} files, writer "
                f"{result.writer}, skipped {result.skipped})"
            )
            dec, wri = result.timings_s["decode"], result.timings_s["write"]
            print(
                f"  share: decode+cut {dec:.1f} s ({100 * dec / export_s:.0f} %), "
                f"write after decode {wri:.1f} s ({100 * wri / export_s:.0f} %)"
            )
            print(
                f"  export / decode-only = {export_s / decode_s:.2f} (goal <= 1.2); "
                f"CPU s: decode {decode_cpu:.1f}, export {export_cpu:.1f} (ratio "
                f"{export_cpu / decode_cpu:.2f}); load {load:.2f} before the round"
            )
            rounds.append(
                {
                    "decode_s": round(decode_s, 2),
                    "export_s": round(export_s, 2),
                    "ratio": round(export_s / decode_s, 3),
                    "decode_cpu_s": round(decode_cpu, 2),
                    "export_cpu_s": round(export_cpu, 2),
                    "cpu_ratio": round(export_cpu / decode_cpu, 3),
                    "load_1min": round(load, 2),
                }
            )
            # Each round's output stays until the end. Deleting ~10^5 files
            # just before the next round would make that round pay for it on
            # ext4 without a journal: its inode allocator skips every inode
            # deleted in the last 60-360 s, one buffer lookup each
            # (`recently_deleted()`), so each new file scans the old ones.
        ratio = float(np.median([r["ratio"] for r in rounds]))
        print(f"export / decode-only, median of {len(rounds)} round(s): {ratio:.2f}")
        tpl_ms, rio_ms = time_writers(work, 100)
        print(
            f"per-file writer cost (1 thread, 1200 files): template {tpl_ms:.3f} ms, "
            f"rasterio {rio_ms:.3f} ms"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(
            json.dumps(
                {
                    "bench": "export",
                    "tile_size_px": side_px,
                    "threads": args.threads,
                    "out_dir": str(out_parent),
                    "cores": os.cpu_count(),
                    "bits_per_pixel": by_res,
                    "bits_per_pixel_by_band": {b: round(v, 3) for b, v in bpp.items()},
                    "patches_on_grid": result.patches_on_grid,
                    "patches_exported": result.patches_exported,
                    "files_written": result.files_written,
                    "rounds": rounds,
                    "ratio_median": round(ratio, 3),
                    "template_ms_per_file": round(tpl_ms, 4),
                    "rasterio_ms_per_file": round(rio_ms, 4),
                    "load_1min_end": round(os.getloadavg()[0], 2),
                },
                sort_keys=True,
            )
        )


if __name__ == "__main__":
    main()
