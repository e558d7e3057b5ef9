"""Benchmark: ``finalize_dataset`` on a synthetic staging tree.

Builds the finalizer's inputs for ``--patches`` patches spread over 8 tiles:
the export staging trees (12 band files per patch with the reference sizes),
the reference-map staging trees, an S1 root (VV + VH of 120×120 float32 per
patch, 57.8 kB each, as the v1 archive) and the seven metadata CSVs.  File
bodies are random bytes behind a small header: the finalizer never decodes
them.  Then it runs ``finalize_dataset`` ``--repeats`` times (warm page
cache) and prints the wall time, files per second and how each file was made
(``files_by_mode`` of the manifest: hard links, reflinks, copies).

To compare two versions of the library, run the script with each on
``PYTHONPATH`` (the script only uses ``finalize_dataset`` and
``FinalizeInputs``).  Never asserts times.

    .venv/bin/python bench/bench_finalize.py                    # 2,000 patches
    .venv/bin/python bench/bench_finalize.py --patches 20000 --keep /var/tmp/fin
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from benpipe.dataset.finalize import FinalizeInputs, finalize_dataset

PRODUCT = "S2A_MSIL2A_20170613T101031_N9999_R022_T33U{}P_20240101T000000"
S1_GROUP = "S1B_IW_GRDH_1SDV_20170612T165809"
SIDES = {"B02": 120, "B03": 120, "B04": 120, "B08": 120, "B05": 60, "B06": 60}
SIDES |= {"B07": 60, "B8A": 60, "B11": 60, "B12": 60, "B01": 20, "B09": 20}
HEADER = 400
S1_BYTES = HEADER + 4 * 120 * 120
MAP_BYTES = 9_000  # a DEFLATE reference map


def _body(size: int) -> bytes:
    return b"II*\x00" + os.urandom(size - 4)


def build_inputs(root: Path, patches: int) -> None:
    """Write the staging trees, the S1 root and the seven CSVs under ``root``."""
    tiles = "ABCDEFGH"
    rows: list[tuple[str, str, str]] = []  # patch_id, s2v1, s1
    for i in range(patches):
        letter = tiles[i % len(tiles)]
        product = PRODUCT.format(letter)
        tile_dir = product.rsplit("_", 1)[0]
        col, row = (i // len(tiles)) % 91, (i // len(tiles)) // 91
        pid = f"{tile_dir}_{col:02d}_{row:02d}"
        s2v1 = f"S2A_MSIL2A_20170613T10103{tiles.index(letter)}_{col}_{row}"
        s1 = f"{S1_GROUP}_33U{letter}P_{col}_{row}"
        rows.append((pid, s2v1, s1))
        s2_dir = root / "export" / "s2" / product / tile_dir / pid
        s2_dir.mkdir(parents=True, exist_ok=True)
        for band, side in SIDES.items():
            (s2_dir / f"{pid}_{band}.tif").write_bytes(_body(HEADER + 2 * side * side))
        map_dir = root / "export" / "maps" / product / tile_dir / pid
        map_dir.mkdir(parents=True, exist_ok=True)
        (map_dir / f"{pid}_reference_map.tif").write_bytes(_body(MAP_BYTES))
        s1_dir = root / "s1" / s1
        s1_dir.mkdir(parents=True, exist_ok=True)
        for pol in ("VV", "VH"):
            (s1_dir / f"{s1}_{pol}.tif").write_bytes(_body(S1_BYTES))
    meta = root / "metadata"
    meta.mkdir()
    splits = ("train", "validation", "test")

    def csv(path: Path, header: str | None, lines: list[str]) -> Path:
        path.write_text("".join(f"{x}\n" for x in ([header] if header else []) + lines))
        return path

    csv(meta / "labels.csv", "patch_id,label", [f"{p},Arable land" for p, _, _ in rows])
    csv(meta / "s2v1.csv", "patch_id,s2v1_name", [f"{p},{v}" for p, v, _ in rows])
    csv(
        meta / "split.csv",
        "patch_id,split",
        [f"{p},{splits[i % 3]}" for i, (p, _, _) in enumerate(rows)],
    )
    csv(meta / "country.csv", "patch_id,country", [f"{p},Austria" for p, _, _ in rows])
    csv(root / "s1s2.csv", None, [f"{v},{s}" for _, v, s in rows])
    csv(root / "snow.csv", None, [rows[0][1]])
    csv(root / "cloud.csv", None, [rows[1][1]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patches", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build the inputs here and keep them")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="bench-finalize-", dir="/var/tmp"))
    try:
        if not (base / "metadata").is_dir():
            started = time.perf_counter()
            build_inputs(base, args.patches)
            print(
                f"built inputs for {args.patches} patches in "
                f"{time.perf_counter() - started:.1f} s under {base}"
            )
        kwargs = build_inputs_kwargs(base)
        times = []
        manifest: dict = {}
        for _ in range(args.repeats):
            out = base / "dataset"
            shutil.rmtree(out, ignore_errors=True)
            started = time.perf_counter()
            result = finalize_dataset(**kwargs, out_dir=out)
            times.append(time.perf_counter() - started)
            manifest = result.manifest
        files = args.patches * (12 + 1 + 2)
        best, median = min(times), statistics.median(times)
        print(
            f"finalize_dataset, {args.patches} patches, {files} files: best "
            f"{best:.2f} s, median {median:.2f} s ({files / best:,.0f} files/s)"
        )
        modes = manifest.get("files_by_mode") or {
            "link_mode": manifest.get("link_mode")
        }
        print("files by mode:", json.dumps(modes, sort_keys=True))
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)


def build_inputs_kwargs(base: Path) -> dict:
    """The finalizer's keyword arguments for inputs already built under ``base``."""
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
        "s2_roots": sorted((base / "export" / "s2").iterdir()),
        "reference_map_roots": sorted((base / "export" / "maps").iterdir()),
        "s1_root": base / "s1",
    }


if __name__ == "__main__":
    main()
