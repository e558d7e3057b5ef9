"""Benchmark: the whole-run stages on synthetic datasets of 10^4 .. 10^6 files.

For each ``--files`` size it builds the finalizer's inputs (``--workdir``):
staging trees of real GeoTIFFs in the published layout
(``benpipe.dataset.layout``): per patch 12 uncompressed S2 bands (4 × 120²,
6 × 60², 2 × 20² uint16: 28.8, 7.2 and 0.8 kB plus the header, written with
the export's GDAL byte template), a DEFLATE reference map and an S1 VV/VH
pair (120² float32), on tiles of 91 × 91 patches, plus the seven metadata
CSVs.  Then it runs, each in a fresh process (so the peak RSS is the
stage's own):

* ``finalize``: ``finalize_dataset`` as the pipeline runs it (S2 bands and
  maps hard-linked from the staging trees, S1 copied from the user's input);
* ``link`` and ``copy``: the two per-file operations alone
  (``FileCopier.link`` / ``FileCopier.copy`` of every S2 and map file into a
  scratch tree), so the cost of copying instead of linking shows;
* ``hash_outputs`` (the four hash lists, ``--workers``), ``package_release``
  (three ``.tar.zst``, the pipeline's zstd level, all cores) and
  ``check-dataset`` (every file decoded, every sha256 compared with the
  hash lists just written).

It prints per stage: wall time, µs per file, MB/s, the peak RSS of the stage
process and of its largest worker, and one summary table over the sizes, so
linearity and flat memory show.  Finalize's cost "beyond the bytes it
copies" subtracts the S1 bytes at the copy bandwidth of one large file.
Hashing and packaging are also given as a ratio to their floors, measured
on the same tree right after them in the same way (fresh process, same
workers): ``hash_floor`` walks the trees and reads and sha256s every file,
nothing else; ``package_floor`` pipes GNU tar (sorted names) into the zstd
CLI at the pipeline's level per tree, into a file.  Never asserts times.

Generating 10^6 files takes about 19 GB (inputs) + 8 GB (copied S1) + the
archives; sizes whose free-disk need exceeds ``df`` minus a margin are
refused before anything is written.

    .venv/bin/python bench/bench_wholerun.py                    # 10^4, 10^5
    .venv/bin/python bench/bench_wholerun.py --max-files 1000000  # + 10^6
    .venv/bin/python bench/bench_wholerun.py --files 10000 --json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import multiprocessing
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benpipe.dataset.finalize import FinalizeInputs
from benpipe.dataset.layout import (
    S1_SUFFIXES,
    S2_SUFFIXES,
    TREES,
)
from benpipe.geotiff import GeoTiffTemplate, geotiff_bytes, geotiff_float32_bytes
from benpipe.grid import PATCH_SIDE_M, patch_corner
from benpipe.names import BAND_RESOLUTION_M, BANDS

SIZES = (10_000, 100_000, 1_000_000)
FILES_PER_PATCH = len(S2_SUFFIXES) + 1 + len(S1_SUFFIXES)  # 15
PATCHES_PER_TILE = 91 * 91
EPSG = 32633
#: Tile letters (T33U?P); 24 tiles hold 198,744 patches, about 3 M files.
TILE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
TILE_DIR = "S2A_MSIL2A_20170613T101031_N9999_R022_T33U{}P"
S1_GROUP = "S1B_IW_GRDH_1SDV_20170612T165809"
#: zstd level of package_release (config ``release.zstd_level``).
ZSTD_LEVEL = 6
#: Bytes per patch on disk (S2 ~160 kB, map ~3 kB, S1 2 × 57.8 kB, folders).
PATCH_DISK_BYTES = 285_000
DISK_MARGIN_BYTES = 8 * 10**9


# ------------------------------------------------------------------ inputs
@dataclass(frozen=True)
class SyntheticPatch:
    patch_id: str
    tile_dir: str
    col: int
    row: int
    s2v1_name: str
    s1_name: str


def synthetic_patches(files: int) -> list[SyntheticPatch]:
    """``ceil(files / 15)`` patches, 91 × 91 per tile, on consecutive tiles."""
    n = math.ceil(files / FILES_PER_PATCH)
    if n > PATCHES_PER_TILE * len(TILE_LETTERS):
        raise SystemExit(f"at most {PATCHES_PER_TILE * len(TILE_LETTERS)} patches")
    out = []
    for i in range(n):
        tile, k = divmod(i, PATCHES_PER_TILE)
        row, col = divmod(k, 91)
        letter = TILE_LETTERS[tile]
        tile_dir = TILE_DIR.format(letter)
        out.append(
            SyntheticPatch(
                patch_id=f"{tile_dir}_{col:02d}_{row:02d}",
                tile_dir=tile_dir,
                col=col,
                row=row,
                s2v1_name=f"S2A_MSIL2A_201706{tile + 1:02d}T101031_{col}_{row}",
                s1_name=f"{S1_GROUP}_33U{letter}P_{col}_{row}",
            )
        )
    return out


def _tile_corner(tile_dir: str) -> tuple[float, float]:
    index = TILE_LETTERS.index(tile_dir[-2])
    return 300_000.0 + 109_800.0 * (index % 6), 5_500_020.0 - 109_800.0 * (index // 6)


def _base_field(side: int) -> np.ndarray:
    """A smooth uint16 field like L2A reflectance, to add noise to."""
    y, x = np.mgrid[0:side, 0:side] / side
    field = 1900 + 300 * np.sin(2 * np.pi * x) * np.cos(2 * np.pi * y)
    return field.astype(np.uint16)


class PatchWriter:
    """Writes one patch's 15 GeoTIFFs (S2 bands, reference map, S1 pair)."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.templates: dict[str, GeoTiffTemplate] = {}
        self.fields: dict[str, np.ndarray] = {}
        for band in BANDS:
            res = BAND_RESOLUTION_M[band]
            side = PATCH_SIDE_M // res
            self.templates[band] = GeoTiffTemplate.from_gdal(
                epsg=EPSG, side_px=side, res_m=float(res)
            )
            self.fields[band] = _base_field(side)
        self.noise = sum(f.size for f in self.fields.values())

    def write(self, root: Path, patch: SyntheticPatch) -> int:
        """Write the patch under ``root``; return the bytes written."""
        ulx, uly = _tile_corner(patch.tile_dir)
        left, top = patch_corner(
            ulx, uly, col=patch.col, row=patch.row, side_m=PATCH_SIDE_M
        )
        noise = self.rng.integers(0, 24, self.noise, dtype=np.uint16)
        written = 0
        s2_dir = root / "export" / "s2" / patch.tile_dir / patch.patch_id
        s2_dir.mkdir(parents=True)
        start = 0
        for band in BANDS:
            base = self.fields[band]
            pixels = base + noise[start : start + base.size].reshape(base.shape)
            start += base.size
            data = self.templates[band].render(pixels, left=left, top=top)
            (s2_dir / f"{patch.patch_id}_{band}.tif").write_bytes(data)
            written += len(data)
        map_dir = root / "export" / "maps" / patch.tile_dir / patch.patch_id
        map_dir.mkdir(parents=True)
        codes = np.array([211, 311, 312, 231], dtype=np.uint16)
        blocks = codes[(noise[:16] % 4).reshape(4, 4)]
        land = np.kron(blocks, np.ones((30, 30), dtype=np.uint16))
        data = geotiff_bytes(land, epsg=EPSG, left=left, top=top, res_m=10.0)
        (map_dir / f"{patch.patch_id}_reference_map.tif").write_bytes(data)
        written += len(data)
        s1_dir = root / "s1" / patch.s1_name
        s1_dir.mkdir(parents=True)
        for suffix in S1_SUFFIXES:
            backscatter = self.rng.standard_normal((120, 120), dtype=np.float32)
            data = geotiff_float32_bytes(
                backscatter, epsg=EPSG, left=left, top=top, res_m=10.0
            )
            (s1_dir / f"{patch.s1_name}{suffix}").write_bytes(data)
            written += len(data)
        return written


def build_inputs(root: Path, files: int, *, log_every_s: float = 30.0) -> int:
    """Staging trees, S1 root and metadata CSVs for ``files`` files; bytes written."""
    patches = synthetic_patches(files)
    writer = PatchWriter()
    total = 0
    last = time.monotonic()
    for done, patch in enumerate(patches, start=1):
        total += writer.write(root, patch)
        if time.monotonic() - last > log_every_s:
            print(f"  built {done}/{len(patches)} patches", flush=True)
            last = time.monotonic()
    meta = root / "metadata"
    meta.mkdir()
    splits = ("train", "validation", "test")

    def csv(path: Path, header: str | None, lines: Iterator[str]) -> None:
        with path.open("w") as handle:
            if header:
                handle.write(header + "\n")
            handle.writelines(f"{line}\n" for line in lines)

    csv(
        meta / "labels.csv",
        "patch_id,label",
        (f"{p.patch_id},Arable land" for p in patches),
    )
    csv(
        meta / "s2v1.csv",
        "patch_id,s2v1_name",
        (f"{p.patch_id},{p.s2v1_name}" for p in patches),
    )
    csv(
        meta / "split.csv",
        "patch_id,split",
        (f"{p.patch_id},{splits[i % 3]}" for i, p in enumerate(patches)),
    )
    csv(
        meta / "country.csv",
        "patch_id,country",
        (f"{p.patch_id},Austria" for p in patches),
    )
    csv(root / "s1s2.csv", None, (f"{p.s2v1_name},{p.s1_name}" for p in patches))
    csv(root / "snow.csv", None, iter([patches[0].s2v1_name]))
    csv(root / "cloud.csv", None, iter([patches[-1].s2v1_name]))
    return total


def finalize_kwargs(base: Path) -> dict[str, Any]:
    """The finalizer's keyword arguments for inputs built under ``base``."""
    meta = base / "metadata"
    return {
        "inputs": FinalizeInputs(
            label_mapping=meta / "labels.csv",
            s2v1_mapping=meta / "s2v1.csv",
            split_mapping=meta / "split.csv",
            country_mapping=meta / "country.csv",
            s1s2_mapping=base / "s1s2.csv",
            seasonal_snow_list=base / "snow.csv",
            cloud_shadow_list=base / "cloud.csv",
        ),
        "s2_roots": [base / "export" / "s2"],
        "reference_map_roots": [base / "export" / "maps"],
        "s1_root": base / "s1",
    }


# ------------------------------------------------------------------ stages
def _tree_files(root: Path) -> Iterator[Path]:
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            yield Path(dirpath) / name


def stage_finalize(base: Path) -> dict[str, Any]:
    from benpipe.dataset.finalize import finalize_dataset

    result = finalize_dataset(**finalize_kwargs(base), out_dir=base / "dataset")
    return {"files_by_mode": result.manifest.get("files_by_mode")}


def _put_all(base: Path, how: str) -> dict[str, Any]:
    """``FileCopier.<how>`` of every S2 and map staging file into a scratch tree."""
    from benpipe.fileio import FileCopier

    copier = FileCopier()
    put = copier.link if how == "link" else copier.copy
    scratch = base / f"scratch-{how}"
    shutil.rmtree(scratch, ignore_errors=True)
    files = 0
    nbytes = 0
    started = time.perf_counter()
    for tree in ("s2", "maps"):
        for tile in sorted((base / "export" / tree).iterdir()):
            for patch in sorted(tile.iterdir()):
                dst = scratch / tree / tile.name / patch.name
                dst.mkdir(parents=True)
                for src in sorted(patch.iterdir()):
                    put(src, dst / src.name)
                    files += 1
                    nbytes += src.stat().st_size if how == "copy" else 0
    seconds = time.perf_counter() - started
    shutil.rmtree(scratch)
    return {
        "files": files,
        "bytes": nbytes,
        "seconds": seconds,
        "counts": copier.counts,
    }


def stage_link(base: Path) -> dict[str, Any]:
    return _put_all(base, "link")


def stage_copy(base: Path) -> dict[str, Any]:
    return _put_all(base, "copy")


def stage_large_copy(base: Path) -> dict[str, Any]:
    """Copy bandwidth of one 1 GiB file (FileCopier.copy), page cache warm."""
    from benpipe.fileio import FileCopier

    src, dst = base / "large.bin", base / "large-copy.bin"
    with src.open("wb") as handle:
        for _ in range(64):
            handle.write(os.urandom(1 << 24))
    with src.open("rb") as handle:  # warm the page cache
        while handle.read(1 << 24):
            pass
    dst.unlink(missing_ok=True)
    started = time.perf_counter()
    FileCopier().copy(src, dst)
    seconds = time.perf_counter() - started
    size = src.stat().st_size
    src.unlink()
    dst.unlink()
    return {"bytes": size, "seconds": seconds}


def _release_dir(base: Path) -> Path:
    return base / "release"


def stage_hash(base: Path, workers: int) -> dict[str, Any]:
    from benpipe.release.hashing import hash_outputs

    out = base / "hashes"
    out.mkdir(exist_ok=True)
    hash_outputs(
        base / "dataset",
        patch_csv=out / "patch_hashes.csv",
        reference_maps_csv=out / "reference_maps_hashes.csv",
        s1_csv=out / "s1_hashes.csv",
        metadata_csv=out / "metadata_hashes.csv",
        workers=workers,
    )
    return {}


def stage_package(base: Path, workers: int) -> dict[str, Any]:
    from benpipe.release.packaging import package_release

    out = _release_dir(base)
    shutil.rmtree(out, ignore_errors=True)
    result = package_release(base / "dataset", out, level=ZSTD_LEVEL, threads=workers)
    sizes = {name: d.zst_size for name, d in result.archives.items()}
    tar = sum(d.tar_size for d in result.archives.values())
    shutil.rmtree(out)
    return {"zst_bytes": sizes, "tar_bytes": tar}


def _read_and_hash(paths: list[str]) -> int:
    total = 0
    for path in paths:
        with open(path, "rb", buffering=0) as handle:
            data = handle.read()
        hashlib.sha256(data).digest()
        total += len(data)
    return total


def stage_hash_floor(base: Path, workers: int) -> dict[str, Any]:
    """The floor of hash_outputs: walk the three trees, read and sha256 every
    file (``workers`` processes, files dealt round-robin), and nothing else:
    no sorted order, no CSV, no digest of the lists."""
    from concurrent.futures import ProcessPoolExecutor

    paths = [str(p) for tree in TREES for p in _tree_files(base / "dataset" / tree)]
    chunks = [paths[i::workers] for i in range(workers)]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        total = sum(pool.map(_read_and_hash, chunks))
    return {"bytes": total}


def stage_package_floor(base: Path, workers: int) -> dict[str, Any]:
    """The floor of package_release: per tree, GNU tar (sorted names) piped
    into the zstd CLI at the pipeline's level on ``workers`` threads, written
    to a file like the archives (then removed); no digests."""
    out = base / "release-floor"
    out.mkdir(exist_ok=True)
    for tree in TREES:
        target = out / f"{tree}.tar.zst"
        with target.open("wb") as sink:
            tar = subprocess.Popen(
                ["tar", "--sort=name", "-C", str(base / "dataset"), "-cf", "-", tree],
                stdout=subprocess.PIPE,
            )
            assert tar.stdout is not None
            zstd = subprocess.run(
                ["zstd", f"-{ZSTD_LEVEL}", f"-T{workers}", "-q", "-c"],
                stdin=tar.stdout,
                stdout=sink,
                check=False,
            )
            tar.stdout.close()
            if tar.wait() != 0 or zstd.returncode != 0:
                raise SystemExit(f"tar | zstd of {tree} failed")
    shutil.rmtree(out)
    return {}


def stage_check(base: Path, workers: int) -> dict[str, Any]:
    from benpipe.dataset.check import check_dataset

    hashes = sorted((base / "hashes").glob("*_hashes.csv"))
    report = check_dataset(base / "dataset", hashes=hashes, workers=workers)
    if not report.ok:
        raise SystemExit(
            "check-dataset found problems:\n" + "\n".join(report.problems[:10])
        )
    return {"decoded": report.summary["geotiffs_checked"]}


STAGES: dict[str, Callable[..., dict[str, Any]]] = {
    "finalize": stage_finalize,
    "link": stage_link,
    "copy": stage_copy,
    "large_copy": stage_large_copy,
    "hash_outputs": stage_hash,
    "hash_floor": stage_hash_floor,
    "package_release": stage_package,
    "package_floor": stage_package_floor,
    "check_dataset": stage_check,
}


def _peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: of this image, not the forking parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(name: str, args: tuple[Any, ...], conn: Any) -> None:
    import rasterio  # noqa: F401  (imports are not the stage's cost)

    import benpipe.dataset.check
    import benpipe.dataset.finalize
    import benpipe.release.hashing
    import benpipe.release.packaging  # noqa: F401

    started = time.perf_counter()
    extra = STAGES[name](*args)
    seconds = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    conn.send(
        {
            "seconds": seconds,
            "rss_mb": _peak_rss_mb(),
            "worker_rss_mb": kids.ru_maxrss / 1024,
            "cpu_s": own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime,
            **extra,
        }
    )
    conn.close()


def run_stage(name: str, *args: Any) -> dict[str, Any]:
    """Run one stage in a fresh interpreter; its time, peak RSS and extras."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(name, args, child))
    process.start()
    child.close()
    try:
        result: dict[str, Any] = parent.recv()
    except EOFError:
        process.join()
        raise SystemExit(
            f"stage {name} failed (exit code {process.exitcode})"
        ) from None
    process.join()
    return result


# ------------------------------------------------------------------ driver
@dataclass
class SizeResult:
    files: int
    patches: int
    bytes: int
    build_s: float
    load: str
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)


def _disk_needed(files: int, copy: bool) -> int:
    """Peak bytes: inputs, the copied S1 pairs, then the larger of the copy
    scratch (S2 and maps, removed at once) and the archives."""
    inputs = math.ceil(files / FILES_PER_PATCH) * PATCH_DISK_BYTES
    return int(inputs * (1.0 + 0.42 + max(0.6 if copy else 0.0, 0.75)))


#: The stages that take the worker count.
PARALLEL_STAGES = frozenset(
    {"hash_outputs", "hash_floor", "package_release", "package_floor", "check_dataset"}
)

#: What each stage reads that another stage writes (the dataset tree, the hash lists).
PREREQUISITES: dict[str, tuple[str, ...]] = {
    "finalize": (),
    "link": (),
    "copy": (),
    "large_copy": (),
    "hash_outputs": ("finalize",),
    "hash_floor": ("finalize",),
    "package_release": ("finalize",),
    "package_floor": ("finalize",),
    "check_dataset": ("finalize", "hash_outputs"),
}

#: The floor each stage is measured against; run whenever the stage runs.
FLOORS = {"hash_outputs": "hash_floor", "package_release": "package_floor"}


def stage_plan(wanted: Sequence[str] | None, *, copy: bool) -> list[str]:
    """The stages to run, in pipeline order: *wanted* (default all) and what
    they read; the copy stages only with *copy*."""
    names = [n for n in STAGES if copy or n not in ("copy", "large_copy")]
    if wanted is None:
        return names
    chosen = set(wanted)
    for name in wanted:
        chosen.update(PREREQUISITES[name])
    chosen.update(FLOORS[name] for name in list(chosen) if name in FLOORS)
    return [n for n in names if n in chosen]


def run_size(
    base: Path,
    files: int,
    workers: int,
    *,
    copy: bool,
    stages: Sequence[str] | None = None,
) -> SizeResult:
    base.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(base).free
    if _disk_needed(files, copy) > free - DISK_MARGIN_BYTES:
        raise SystemExit(
            f"{files} files need about {_disk_needed(files, copy) / 1e9:.0f} GB "
            f"under {base}, {free / 1e9:.0f} GB are free (margin "
            f"{DISK_MARGIN_BYTES / 1e9:.0f} GB); pass --workdir elsewhere or --no-copy"
        )
    started = time.perf_counter()
    nbytes = build_inputs(base, files)
    patches = math.ceil(files / FILES_PER_PATCH)
    result = SizeResult(
        files=patches * FILES_PER_PATCH,
        patches=patches,
        bytes=nbytes,
        build_s=time.perf_counter() - started,
        load=_load(),
    )
    print(
        f"{result.files} files ({patches} patches, {nbytes / 1e9:.2f} GB) built in "
        f"{result.build_s:.0f} s",
        flush=True,
    )
    for name in stage_plan(stages, copy=copy):
        os.sync()
        args = (base, workers) if name in PARALLEL_STAGES else (base,)
        stage = run_stage(name, *args)
        result.stages[name] = stage
        if name != "large_copy":
            print(f"  {_stage_line(name, stage, result)}  [{_load()}]", flush=True)
    return result


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f} {five:.2f}"


def _per_file_us(stage: dict[str, Any], files: int) -> float:
    return stage["seconds"] / max(1, stage.get("files", files)) * 1e6


def _stage_line(name: str, stage: dict[str, Any], size: SizeResult) -> str:
    files = stage.get("files", size.files)
    return (
        f"{name:<16} {stage['seconds']:9.1f} s {_per_file_us(stage, size.files):8.1f} µs/file"
        f"  RSS {stage['rss_mb']:7.0f} MB (workers {stage['worker_rss_mb']:5.0f} MB)"
        f"  {files} files"
    )


def finalize_beyond_bytes_us(size: SizeResult) -> float | None:
    """Finalize µs per file after taking off the S1 bytes at large-file bandwidth."""
    large = size.stages.get("large_copy")
    if large is None:
        return None
    bandwidth = large["bytes"] / large["seconds"]
    s1_bytes = size.patches * len(S1_SUFFIXES) * (8 + 120 * 120 * 4 + 300)
    seconds = size.stages["finalize"]["seconds"] - s1_bytes / bandwidth
    return seconds / size.files * 1e6


def summary(results: list[SizeResult], workers: int) -> str:
    lines = [
        f"whole-run stages, {workers} worker(s), cores {os.cpu_count()}:",
        f"{'stage':<16} {'files':>9} {'wall s':>9} {'µs/file':>9} {'MB/s':>8} "
        f"{'RSS MB':>8} {'worker MB':>9}",
    ]
    for size in results:
        for name, stage in size.stages.items():
            if name == "large_copy":
                continue
            nbytes = stage.get("bytes", size.bytes)
            rate = nbytes / stage["seconds"] / 1e6 if nbytes else math.nan
            lines.append(
                f"{name:<16} {stage.get('files', size.files):>9} {stage['seconds']:>9.1f} "
                f"{_per_file_us(stage, size.files):>9.1f} {rate:>8.0f} "
                f"{stage['rss_mb']:>8.0f} {stage['worker_rss_mb']:>9.0f}"
            )
        beyond = finalize_beyond_bytes_us(size)
        if beyond is not None:
            large = size.stages["large_copy"]
            lines.append(
                f"  finalize beyond the copied bytes: {beyond:.1f} µs/file (goal <= 50; "
                f"large-file copy {large['bytes'] / large['seconds'] / 1e6:.0f} MB/s)"
            )
        ratios = [
            f"{name} / {floor}: "
            f"{size.stages[name]['seconds'] / size.stages[floor]['seconds']:.2f}"
            for name, floor in FLOORS.items()
            if {name, floor} <= size.stages.keys()
        ]
        if ratios:
            lines.append("  " + "; ".join(ratios))
        lines.append(f"  (inputs built in {size.build_s:.0f} s; {size.load} at build)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--files", type=int, nargs="+", help=f"sizes to run (default {SIZES[:2]})"
    )
    parser.add_argument(
        "--max-files",
        type=int,
        default=100_000,
        help="run the default sizes up to this",
    )
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--workdir", type=Path, default=Path("/var/tmp"))
    parser.add_argument("--keep", action="store_true", help="keep the trees")
    parser.add_argument(
        "--no-copy", dest="copy", action="store_false", help="skip the copy stages"
    )
    parser.add_argument(
        "--stages",
        nargs="+",
        choices=list(STAGES),
        help="run only these stages and the ones they read (finalize for all but "
        "the copies, hash_outputs for check_dataset); default: all",
    )
    parser.add_argument("--json", action="store_true", help="print JSON results")
    args = parser.parse_args()
    # a terminated bench removes its trees (up to 40 GB) like an interrupted one
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = args.files or [s for s in SIZES if s <= args.max_files]
    results = []
    for files in sizes:
        base = Path(
            tempfile.mkdtemp(prefix=f"bench-wholerun-{files}-", dir=args.workdir)
        )
        try:
            results.append(
                run_size(base, files, args.workers, copy=args.copy, stages=args.stages)
            )
        finally:
            if not args.keep:
                shutil.rmtree(base, ignore_errors=True)
    print(summary(results, args.workers))
    if args.json:
        print(json.dumps([asdict(r) for r in results], sort_keys=True))


if __name__ == "__main__":
    sys.exit(main())
