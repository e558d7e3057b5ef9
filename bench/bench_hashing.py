"""Benchmark: the parallel tree hasher vs single-core hashlib.sha256.

Builds a synthetic S2-like tree (12 files per patch with the reference sizes:
4 × 120×120, 6 × 60×60, 2 × 20×20 uint16 plus a small header), warms the
page cache, then measures on the same bytes:

* ``hashlib.sha256`` on one core over the file contents held in memory
  (the pure hashing cost, the baseline);
* a plain sequential read+hash loop (one thread);
* ``benpipe.release.hashing.write_tree_hashes`` with 1 and 2 (or ``--workers``)
  threads, end to end (walk, read, hash, CSV).

It prints MB/s and the throughput per worker as a share of the baseline
(goal >= 90 %).  Never asserts times.

    .venv/bin/python bench/bench_hashing.py            # ~150 MB, < 1 min
    .venv/bin/python bench/bench_hashing.py --size-mb 1000 --workers 2 4
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benpipe.release.hashing import iter_sorted_files, write_tree_hashes

TILE = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
SIDES = {"B02": 120, "B03": 120, "B04": 120, "B08": 120, "B05": 60, "B06": 60}
SIDES |= {"B07": 60, "B8A": 60, "B11": 60, "B12": 60, "B01": 20, "B09": 20}
HEADER = 400  # bytes of a typical uncompressed GeoTIFF header


def build_tree(root: Path, size_mb: float, seed: int = 0) -> int:
    """Write patches until ``size_mb`` is reached; return bytes written."""
    rng = np.random.default_rng(seed)
    patch_bytes = sum(HEADER + 2 * s * s for s in SIDES.values())
    n_patches = max(1, int(size_mb * 1e6 // patch_bytes))
    total = 0
    for i in range(n_patches):
        col, row = i % 91, i // 91
        patch = f"{TILE}_{col:02d}_{row:02d}"
        folder = root / TILE / patch
        folder.mkdir(parents=True, exist_ok=True)
        for band, side in SIDES.items():
            pixels = rng.normal(2000, 500, (side, side)).astype("<u2").tobytes()
            data = b"II*\x00" + bytes(HEADER - 4) + pixels
            (folder / f"{patch}_{band}.tif").write_bytes(data)
            total += len(data)
    return total


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=150.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--large-mb", type=int, default=100, help="size of each large file"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="bench_hashing_") as tmp:
        small_files(Path(tmp), args)
        large_files(Path(tmp), args)


def small_files(tmp: Path, args: argparse.Namespace) -> None:
    """S2-like patch files: in-memory and sequential baselines, then the hasher."""
    root = tmp / "BigEarthNet-S2"
    t0 = time.perf_counter()
    total = build_tree(root, args.size_mb)
    paths = list(iter_sorted_files(root))
    blobs = [p.read_bytes() for p in paths]  # also warms the page cache
    mb = total / 1e6
    print(
        f"tree: {len(paths)} files, {mb:.1f} MB (mean {total / len(paths) / 1e3:.1f}"
        f" kB/file), built in {time.perf_counter() - t0:.1f} s; cores {os.cpu_count()}"
    )

    def in_memory() -> None:
        for blob in blobs:
            hashlib.sha256(blob).hexdigest()

    def sequential() -> None:
        for path in paths:
            with open(path, "rb") as handle:
                hashlib.file_digest(handle, "sha256").hexdigest()

    base = mb / best_of(args.repeats, in_memory)
    seq = mb / best_of(args.repeats, sequential)
    print(f"baseline hashlib.sha256 in memory, 1 core : {base:8.1f} MB/s")
    print(
        f"sequential read + sha256, 1 thread       : {seq:8.1f} MB/s ({seq / base:.0%})"
    )
    blobs.clear()
    out = tmp / "patch_hashes.csv"
    digests = set()
    for workers in args.workers:
        samples = []
        for _ in range(args.repeats):
            t1 = time.perf_counter()
            result = write_tree_hashes(root, out, workers=workers)
            samples.append(time.perf_counter() - t1)
            digests.add(result.digest)
        rate = mb / min(samples)
        per_core = rate / min(workers, os.cpu_count() or 1)
        print(
            f"write_tree_hashes, {workers} worker(s)          : {rate:8.1f} MB/s "
            f"(median {mb / statistics.median(samples):.1f}); per core "
            f"{per_core:.1f} MB/s = {per_core / base:.0%} of in-memory, "
            f"{per_core / seq:.0%} of sequential read+hash"
        )
    print(f"identical CSV digest for every worker count: {len(digests) == 1}")


def large_files(tmp: Path, args: argparse.Namespace) -> None:
    """L1C archives, parquets: the read cost per byte is small, so the hasher
    should run at the in-memory sha256 rate."""
    big = tmp / "products"
    big.mkdir()
    blob = np.random.default_rng(1).bytes(args.large_mb * 1_000_000)
    for i in range(4):
        (big / f"product_{i}.zip").write_bytes(blob)
    big_mb = 4 * len(blob) / 1e6
    base_big = (
        len(blob)
        / 1e6
        / best_of(args.repeats, lambda: hashlib.sha256(blob).hexdigest())
    )
    print(
        f"large files: 4 x {len(blob) / 1e6:.0f} MB; in-memory sha256 "
        f"{base_big:.1f} MB/s"
    )
    for workers in args.workers:
        seconds = best_of(
            args.repeats,
            lambda workers=workers: write_tree_hashes(
                big, tmp / "big.csv", workers=workers, suffixes=[".zip"]
            ),
        )
        per_core = big_mb / seconds / min(workers, os.cpu_count() or 1)
        print(
            f"write_tree_hashes, {workers} worker(s), large   : "
            f"{big_mb / seconds:8.1f} MB/s; per core {per_core:.1f} MB/s = "
            f"{per_core / base_big:.0%} of in-memory"
        )


if __name__ == "__main__":
    main()
