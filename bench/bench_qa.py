"""Benchmark: the per-product QA cost against the product's post-L2A time.

On one full-size synthetic product (``bench_labelling``'s: a 10980 px demo
product converted by the fallback converter, 3000 Voronoi CLC polygons),
runs the three post-L2A steps as the pipeline does and times the QA work
they gain:

* ``export_patches`` with the ``on_band`` hook of the true-colour preview
  (time inside the hook, counted in full although the export decodes on two
  threads) and writing the preview;
* ``build_patch_grid`` (no QA work);
* ``label_patches`` with the ``on_labelled`` hook of the CLC preview;
* ``qa_product`` as a fresh Python process (interpreter start, imports,
  reading the side outputs, drawing and writing both figures).

Prints QA / (export + grid + labels); goal < 10 %.  Prints figures, never
asserts times; numbers taken while other work loads the machine are high.

    .venv/bin/python bench/bench_qa.py                 # 2400 px tile (quick)
    .venv/bin/python bench/bench_qa.py --full          # 10980 px (real size)
    .venv/bin/python bench/bench_qa.py --full --work /tmp/bqa   # keep/reuse inputs
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_labelling import LAYER, dense_clc, prepare
from benpipe.dataset.export import export_patches, invalid_patches_from_manifest
from benpipe.dataset.labelling import LabelledTile, label_patches
from benpipe.dataset.patching import build_patch_grid
from benpipe.db.ingest import ingest_clc
from benpipe.db.lifecycle import DbSettings, stop
from benpipe.db.schema import init_database
from benpipe.l2a.products import open_l2a
from benpipe.qa.previews import RgbPreviewBuilder, clc_preview

_DRAW = """
import sys
from pathlib import Path
from benpipe.qa.product import draw_product_figures
rgb, clc, manifest, out = map(Path, sys.argv[1:])
draw_product_figures(rgb_preview=rgb, clc_preview=clc, export_manifest=manifest,
                     quicklook=out / "quicklook.png", reference_map=out / "map.png",
                     summary=out / "summary.json")
"""


class TimedBuilder(RgbPreviewBuilder):
    """The export hook, with the time spent inside it (summed over threads)."""

    def __init__(self, product: str) -> None:
        super().__init__(product)
        self.hook_s = 0.0

    def add_band(self, band, data) -> None:  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        super().add_band(band, data)
        self.hook_s += time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="10980 px tile (real size)")
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    size = 10980 if args.full else 2400
    cells = max(200, int(3000 * (size / 10980) ** 2))
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-qa-"))
    work.mkdir(parents=True, exist_ok=True)
    safe = prepare(work, size)
    product = open_l2a(safe)
    name = product.name
    clc_path = work / "clc.gpkg"
    if not clc_path.exists():
        dense_clc(
            clc_path,
            epsg=product.epsg,
            ulx=product.ulx,
            uly=product.uly,
            side_m=product.tile_side_m,
            cells=cells,
        )
    run = Path(tempfile.mkdtemp(prefix="run-", dir=work))
    qa = run / "qa"
    qa.mkdir()

    # export_patches + the true-colour preview
    builder = TimedBuilder(name)
    manifest = run / "export.json"
    t0 = time.perf_counter()
    export_patches(
        safe, run / "s2", manifest_path=manifest, threads=2, on_band=builder.add_band
    )
    export_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    builder.write(qa / "rgb.npz")
    rgb_write_s = time.perf_counter() - t0

    settings = DbSettings.scratch(work / f"db-{run.name}")
    try:
        init_database(settings)
        ingest_clc(settings, clc_path, layer=LAYER)
        t0 = time.perf_counter()
        build_patch_grid(
            settings,
            safe,
            invalid_patches=invalid_patches_from_manifest(
                manifest, product=name, patch_side_m=1200
            ),
        )
        grid_s = time.perf_counter() - t0

        def write_clc(tile: LabelledTile) -> None:
            clc_preview(tile).write(qa / "clc.npz")

        t0 = time.perf_counter()
        labels = label_patches(
            settings, name, out_dir=run / "maps", on_labelled=write_clc
        )
        labels_s = time.perf_counter() - t0
    finally:
        stop(settings)
    clc_hook_s = labels["timings_s"]["hook_s"]

    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-c",
            _DRAW,
            str(qa / "rgb.npz"),
            str(qa / "clc.npz"),
            str(manifest),
            str(qa),
        ],
        check=True,
    )
    draw_s = time.perf_counter() - t0

    qa_s = builder.hook_s + rgb_write_s + clc_hook_s + draw_s
    post_l2a_s = (export_s - builder.hook_s) + grid_s + (labels_s - clc_hook_s)
    print(
        f"tile {size} px, {labels['valid_patches']} valid patches, "
        f"{labels['clc_polygons']} CLC polygons; cores {os.cpu_count()}"
    )
    print(f"{'step':<52}{'wall s':>9}")
    for what, seconds in [
        ("export_patches (with the preview hook)", export_s),
        ("  QA: true-colour hook (3 bands, summed)", builder.hook_s),
        ("  QA: write rgb preview", rgb_write_s),
        ("build_patch_grid", grid_s),
        ("label_patches (with the preview hook)", labels_s),
        ("  QA: CLC hook (preview + write)", clc_hook_s),
        ("qa_product (new process: imports, 2 figures)", draw_s),
    ]:
        print(f"{what:<52}{seconds:>9.2f}")
    sizes = {p.name: p.stat().st_size for p in sorted(qa.iterdir())}
    print("QA files: " + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in sizes.items()))
    print(
        f"post-L2A time (export + grid + labels, without QA): {post_l2a_s:.1f} s; "
        f"QA: {qa_s:.1f} s = {100 * qa_s / post_l2a_s:.1f} % (goal < 10 %)"
    )


if __name__ == "__main__":
    main()
