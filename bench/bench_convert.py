"""Benchmark the fallback L1C→L2A conversion against the bare decode of its L1C.

Builds one demo L1C product once (``benpipe demo-world --tile-size-px N
--only-first --no-s1-rasters``, cached under ``--cache`` and keyed on the tile
size, the seed and the demo generator's source, so a changed generator
rebuilds it), extracts it, reads its files once into the page cache, and then
per round times

1. the bare decode of its 13 L1C bands: ``read_raster`` (one decoding thread
   per band, as the converter reads them) on ``--threads`` workers, the
   largest bands first: the floor of any conversion;
2. ``benpipe.l2a.fallback.convert_fallback(threads=--threads)``, with its
   per-stage busy seconds (decode / DOS1 + resampling + SCL / encode, summed
   over its threads).

Prints both walls and CPU times, the ratio (goal: ≤ 2.0), the split, the bits
per pixel of the L1C and L2A bands, the peak memory of the conversion and the
load average.  Never asserts times.  Run timing runs one at a time
(``flock /work/wt/bench.lock …`` on the shared machine).

Usage::

    .venv/bin/python bench/bench_convert.py                       # 10 980 px, 2 threads
    .venv/bin/python bench/bench_convert.py --tile-size-px 2400   # quick
    .venv/bin/python bench/bench_convert.py --rounds 3 --json
    .venv/bin/python bench/bench_convert.py --l1c /path/to/S2A_MSIL1C_….SAFE
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benpipe.l2a.fallback import (
    FALLBACK_VERSION,
    JP2_OPTIONS,
    MAX_PARALLEL_BANDS,
    StageSeconds,
    convert_fallback,
)
from benpipe.l2a.products import L1CProduct, open_l1c, open_l2a, read_raster
from benpipe.names import BAND_RESOLUTION_M, BANDS, L1C_BANDS

DEMO_SOURCES = Path(__file__).resolve().parents[1] / "src" / "benpipe" / "demo"


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakRss:
    """Samples this process's resident memory every 0.1 s while active."""

    def __init__(self) -> None:
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, _rss_mb())
            self._stop.wait(0.1)

    def __enter__(self) -> PeakRss:
        self.peak_mb = _rss_mb()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, _rss_mb())


def _benpipe() -> list[str]:
    script = Path(sys.executable).with_name("benpipe")
    return [str(script)] if script.exists() else ["benpipe"]


def generator_key() -> str:
    """A short hash of the demo generator's source (a changed one rebuilds)."""
    digest = hashlib.sha256()
    for path in sorted(DEMO_SOURCES.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def build_l1c(cache: Path, tile_px: int, seed: int, threads: int) -> Path:
    """The cached, extracted L1C SAFE of a one-product demo world."""
    folder = cache / f"l1c-{tile_px}px-seed{seed}-{generator_key()}"
    done = folder / "extracted.ok"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        world = folder / "world"
        command = [
            *_benpipe(), "demo-world", "--out", str(world),
            "--tile-size-px", str(tile_px), "--seed", str(seed),
            "--only-first", "--no-s1-rasters",
        ]  # fmt: skip
        helptext = subprocess.run(
            [*_benpipe(), "demo-world", "--help"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        if "--threads" in helptext:  # generation threads (same bytes)
            command += ["--threads", str(threads)]
        print("building the L1C product:", " ".join(command), file=sys.stderr)
        subprocess.run(command, check=True)
        (zip_path,) = (world / "cdse" / "products").glob("*.zip")
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(folder / "l1c")
        shutil.rmtree(world)
        done.write_text("ok\n")
    (safe,) = (folder / "l1c").glob("*.SAFE")
    return safe


def _file_bpp(path: Path, shape: tuple[int, int]) -> float:
    return path.stat().st_size * 8 / (shape[0] * shape[1])


def l1c_bits_per_pixel(l1c: L1CProduct) -> dict[str, float]:
    return {
        band: _file_bpp(
            l1c.band_path(band), l1c.geocoding.shape_at(BAND_RESOLUTION_M[band])
        )
        for band in L1C_BANDS
    }


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def warm_page_cache(folder: Path) -> int:
    total = 0
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            total += len(path.read_bytes())
    return total


def decode_floor(l1c: L1CProduct, threads: int) -> int:
    """Decode the 13 L1C bands on ``threads`` workers, largest first."""
    order = sorted(L1C_BANDS, key=lambda b: (BAND_RESOLUTION_M[b], b))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        sizes = pool.map(lambda b: read_raster(l1c.band_path(b)).size, order)
        return sum(sizes)


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), _cpu_s()
    result = fn()
    return result, time.perf_counter() - wall, _cpu_s() - cpu


def one_round(l1c_path: Path, out: Path, threads: int) -> dict[str, Any]:
    l1c = open_l1c(l1c_path)
    load_before = os.getloadavg()[0]
    _, decode_wall, decode_cpu = _timed(lambda: decode_floor(l1c, threads))
    shutil.rmtree(out, ignore_errors=True)
    stages = StageSeconds()
    with PeakRss() as rss:
        baseline_mb = rss.peak_mb
        product, convert_wall, convert_cpu = _timed(
            lambda: convert_fallback(l1c_path, out, threads=threads, stages=stages)
        )
    l2a = open_l2a(product)
    l2a_bpp = {
        band: _file_bpp(
            l2a.band_path(band), l2a.geocoding.shape_at(BAND_RESOLUTION_M[band])
        )
        for band in BANDS
    }
    l2a_bytes = sum(p.stat().st_size for p in product.rglob("*") if p.is_file())
    return {
        "load_1min_before": round(load_before, 2),
        "load_1min_after": round(os.getloadavg()[0], 2),
        "decode_wall_s": round(decode_wall, 2),
        "decode_cpu_s": round(decode_cpu, 2),
        "convert_wall_s": round(convert_wall, 2),
        "convert_cpu_s": round(convert_cpu, 2),
        "ratio": round(convert_wall / decode_wall, 3),
        "cpu_ratio": round(convert_cpu / decode_cpu, 3),
        "stage_busy_s": {k: round(v, 2) for k, v in stages.as_dict().items()},
        "convert_peak_rss_mb": round(rss.peak_mb, 0),
        "convert_rss_growth_mb": round(rss.peak_mb - baseline_mb, 0),
        "l2a_bytes": l2a_bytes,
        "l2a_bpp_10m_mean": round(
            _mean([v for b, v in l2a_bpp.items() if BAND_RESOLUTION_M[b] == 10]), 3
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tile-size-px",
        type=int,
        default=10980,
        help="tile side of the demo product in 10 m pixels (default 10980)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="threads of the decode floor and of the conversion (default 2)",
    )
    parser.add_argument("--seed", type=int, default=0, help="demo-world seed")
    parser.add_argument(
        "--rounds", type=int, default=1, help="decode + conversion rounds"
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path("/var/tmp/benpipe-bench-convert"),
        help="folder of the cached L1C product and the output",
    )
    parser.add_argument(
        "--l1c",
        type=Path,
        help="an extracted L1C SAFE to convert instead of building the demo one",
    )
    parser.add_argument("--keep", action="store_true", help="keep the L2A output")
    parser.add_argument("--json", action="store_true", help="print one JSON dict")
    args = parser.parse_args()

    if args.l1c is not None:
        l1c_path = args.l1c
    else:
        l1c_path = build_l1c(args.cache, args.tile_size_px, args.seed, args.threads)
    l1c = open_l1c(l1c_path)
    tile_px = l1c.geocoding.shape_at(10)[0]
    warm_page_cache(l1c_path)
    l1c_bpp = l1c_bits_per_pixel(l1c)
    out = args.cache / "out"
    rounds = [one_round(l1c_path, out, args.threads) for _ in range(args.rounds)]
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    result: dict[str, Any] = {
        "tile_size_px": tile_px,
        "threads": args.threads,
        "cpus": os.cpu_count(),
        "parallel_bands": min(args.threads, MAX_PARALLEL_BANDS),
        "fallback_version": FALLBACK_VERSION,
        "jp2_options": JP2_OPTIONS,
        "l1c": l1c_path.name,
        "l1c_bpp": {b: round(v, 3) for b, v in l1c_bpp.items()},
        "l1c_bpp_10m_mean": round(
            _mean([v for b, v in l1c_bpp.items() if BAND_RESOLUTION_M[b] == 10]), 3
        ),
        "rounds": rounds,
        "ratio_median": statistics.median(r["ratio"] for r in rounds),
        "ratio_best": min(r["ratio"] for r in rounds),
        "peak_rss_mb_process": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0
        ),
    }
    if args.json:
        print(json.dumps(result, sort_keys=True))
        return
    print(
        f"fallback conversion (version {FALLBACK_VERSION}) of {l1c_path.name}\n"
        f"  tile {tile_px} px, {args.threads} thread(s) "
        f"({result['parallel_bands']} bands at once), {os.cpu_count()} CPUs\n"
        f"  L1C bits per pixel: 10 m mean {result['l1c_bpp_10m_mean']:.2f} "
        f"(B02 {l1c_bpp['B02']:.2f}, B8A {l1c_bpp['B8A']:.2f}, "
        f"B01 {l1c_bpp['B01']:.2f})\n"
        f"  JPEG 2000 options: {JP2_OPTIONS}"
    )
    for i, r in enumerate(rounds, start=1):
        busy = r["stage_busy_s"]
        print(
            f"round {i}: load {r['load_1min_before']:.2f} -> {r['load_1min_after']:.2f}\n"
            f"  decode 13 bands   wall {r['decode_wall_s']:7.1f} s   "
            f"cpu {r['decode_cpu_s']:7.1f} s\n"
            f"  conversion        wall {r['convert_wall_s']:7.1f} s   "
            f"cpu {r['convert_cpu_s']:7.1f} s\n"
            f"  ratio conversion / decode: {r['ratio']:.2f} (cpu {r['cpu_ratio']:.2f}; "
            "goal <= 2.0)\n"
            f"  busy seconds over threads: decode {busy['decode']:.1f}, "
            f"DOS1 + resampling + SCL {busy['correct']:.1f}, "
            f"encode {busy['encode']:.1f}\n"
            f"  conversion peak RSS {r['convert_peak_rss_mb']:.0f} MB "
            f"(+{r['convert_rss_growth_mb']:.0f} MB); L2A "
            f"{r['l2a_bytes'] / 1e6:.0f} MB, 10 m bands {r['l2a_bpp_10m_mean']:.2f} bpp"
        )
    print(
        f"ratio: median {result['ratio_median']:.2f}, best {result['ratio_best']:.2f} "
        f"over {len(rounds)} round(s)"
    )


if __name__ == "__main__":
    main()
