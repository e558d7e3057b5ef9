"""Benchmark: decode-only vs grid + validity + CLC overlay + maps + labels, one product.

Generates one demo product (``benpipe demo-world --only-first --texture
realistic``: bands of about 5.3 bits per pixel at 10 m like real Sentinel-2,
ESA's codestream options), converts it with the fallback converter, prints the
bits per pixel of the L2A bands it decodes, replaces the demo CLC with a dense synthetic one
(Voronoi cells, thousands of polygons, EPSG:3035) plus a large "sea" polygon
(``--sea-vertices``, a wiggly coast over the western third of the tile and
50 km beyond, as real CLC has them), starts a throwaway embedded PostGIS and
times each step.  Then it times the former burn (the ``ST_Subdivide`` pieces,
each transformed on its own) on the same tile and counts the pixels where it
differs from the whole-polygon burn: the cracks between pieces, burnt 999.
The decode floor is the 12 bands decoded on ``--threads`` threads in the
export's order (as ``export_patches`` decodes them); label_patches writes its
maps on the same threads.  Goal: (grid + labels) <= 1.2 x decode (issue 18).
Prints figures (``--json``: one JSON line at the end); never asserts times.

    .venv/bin/python bench/bench_labelling.py                 # 2400 px tile (quick)
    .venv/bin/python bench/bench_labelling.py --full          # 10980 px (real size)
    .venv/bin/python bench/bench_labelling.py --work /tmp/b   # keep/reuse inputs
    .venv/bin/python bench/bench_labelling.py --full --json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from affine import Affine
from click.testing import CliRunner
from pyproj import Transformer

from benpipe.clc import CLC_TO_BEN19
from benpipe.cli import main as cli_main
from benpipe.dataset.labelling import label_patches
from benpipe.dataset.labels import ClcShape, burn_clc
from benpipe.dataset.patching import build_patch_grid
from benpipe.dataset.sql import clc_shapes
from benpipe.dataset.tile_grid import invalid_windows
from benpipe.db.ingest import ingest_clc
from benpipe.db.lifecycle import DbSettings, connect, stop
from benpipe.db.schema import init_database
from benpipe.demo.raster import bits_per_pixel
from benpipe.l2a.products import L2AProduct, decode_order, open_l2a
from benpipe.names import BAND_RESOLUTION_M, BANDS, patch_name

LAYER = "U2018_CLC2018_V2020_20u1"


def dense_clc(
    path: Path,
    *,
    epsg: int,
    ulx: float,
    uly: float,
    side_m: float,
    cells: int,
    sea_vertices: int = 0,
    seed: int = 0,
) -> int:
    """Voronoi CLC covering the tile (+5 km margin), written in EPSG:3035.

    With ``sea_vertices``, one polygon of that many vertices (code 523) takes
    the western third of the tile and reaches 50 km beyond it.
    """
    rng = np.random.default_rng(seed)
    margin = 5000.0
    left, right = ulx - margin, ulx + side_m + margin
    bottom, top = uly - side_m - margin, uly + margin
    points = shapely.points(
        rng.uniform(left, right, cells), rng.uniform(bottom, top, cells)
    )
    extent = shapely.box(left, bottom, right, top)
    polys = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(points), extend_to=extent)
    )
    polys = shapely.intersection(polys, extent)
    polys = shapely.segmentize(polys, 200.0)  # wiggly edges: realistic vertex counts
    sea = None
    if sea_vertices:
        y = np.linspace(top + 50_000, bottom - 50_000, sea_vertices - 3)
        wiggle = 800 * np.sin(y / 900) + rng.normal(0, 60, len(y)).cumsum() / 20
        coast = np.c_[ulx + side_m / 3 + wiggle, y]
        far = left - 50_000
        sea = shapely.make_valid(
            shapely.Polygon(np.r_[coast, [[far, y[-1]], [far, y[0]]]])
        )
        polys = shapely.difference(polys, sea)
        polys = shapely.get_parts(polys[~shapely.is_empty(polys)])
        polys = polys[shapely.get_type_id(polys) == 3]
        polys = np.append(polys, sea)
    to3035 = Transformer.from_crs(epsg, 3035, always_xy=True)
    polys = shapely.transform(
        polys, lambda xy: np.column_stack(to3035.transform(xy[:, 0], xy[:, 1]))
    )
    codes = rng.choice(
        [c for c in CLC_TO_BEN19 if c not in (999, 523)], size=len(polys)
    )
    if sea is not None:
        codes[-1] = 523
    frame = gpd.GeoDataFrame(
        {
            "ID": [f"EU_{i:07d}" for i in range(len(polys))],
            "Code_18": [str(c) for c in codes],
            "Remark": [None] * len(polys),
            "Area_Ha": shapely.area(polys) / 1e4,
        },
        geometry=polys,
        crs="EPSG:3035",
    )
    frame.to_file(path, layer=LAYER, driver="GPKG")
    return len(frame)


def prepare(work: Path, tile_size_px: int) -> Path:
    from benpipe.l2a.fallback import convert_fallback

    l2a_dir = work / "l2a"
    done = sorted(l2a_dir.glob("*.SAFE"))
    if done:
        return done[0]
    t0 = time.monotonic()
    result = CliRunner().invoke(
        cli_main,
        [
            "demo-world",
            "--out",
            str(work / "world"),
            "--tile-size-px",
            str(tile_size_px),
            "--only-first",
            "--no-s1-rasters",
            "--texture",
            "realistic",
            "--overwrite",
        ],
    )
    if result.exit_code != 0:
        raise SystemExit(result.output)
    print(f"demo world ({tile_size_px} px): {time.monotonic() - t0:.1f} s")
    archive = next((work / "world" / "cdse" / "products").glob("*.zip"))
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(work / "l1c")
    t0 = time.monotonic()
    safe = convert_fallback(work / "l1c" / (archive.stem + ".SAFE"), l2a_dir, threads=2)
    print(f"fallback conversion: {time.monotonic() - t0:.1f} s")
    return safe


def decode_and_find_invalid(product: L2AProduct, threads: int) -> list[str]:
    """What export_patches does before build_patch_grid: decode every band once
    (on ``threads`` threads, in the export's order) and record the patches
    holding a 0 pixel."""
    n = int(product.tile_side_m // 1200)
    nodata = np.zeros((n, n), dtype=bool)

    def invalid(band: str) -> np.ndarray:
        data = product.read_band(band)
        window_px = 1200 // BAND_RESOLUTION_M[band]
        return invalid_windows(data, window_px=window_px, n=n)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for found in pool.map(invalid, decode_order(BANDS)):
            nodata |= found
    return [
        patch_name(product.name, col=int(c), row=int(r))
        for r, c in zip(*np.nonzero(nodata), strict=True)
    ]


#: The former labelling query: every subdivided piece, transformed on its own.
_PIECES = """
WITH tile AS (
    SELECT ST_Buffer(ST_Transform(ST_Segmentize(ST_MakeEnvelope(
        %(left)s, %(bottom)s, %(right)s, %(top)s, %(epsg)s), 1000), 3035), 100) AS g
)
SELECT c.code_18, c.clc_id, s.piece, ST_AsBinary(ST_Transform(s.geom, %(epsg)s))
FROM clc_subdivided s JOIN clc_polygons c USING (clc_id, part), tile
WHERE ST_Intersects(s.geom, tile.g)
"""


def _burn(
    settings: DbSettings, product: L2AProduct, pieces: bool
) -> tuple[float, float, int, np.ndarray]:
    """(query s, burn s, shapes, burnt grid) of the whole tile."""
    side = product.tile_side_m
    box: dict[str, Any] = {
        "left": product.ulx,
        "bottom": product.uly - side,
        "right": product.ulx + side,
        "top": product.uly,
        "epsg": product.epsg,
    }
    t0 = time.monotonic()
    if pieces:
        with connect(settings) as conn:
            rows = conn.execute(_PIECES, box).fetchall()
        shapes = [
            ClcShape(int(r[0]), str(r[1]), int(r[2]), shapely.from_wkb(bytes(r[3])))
            for r in rows
        ]
    else:
        with connect(settings) as conn:
            shapes = clc_shapes(conn, **box)
    query_s = time.monotonic() - t0
    n = int(round(side / 10))
    t0 = time.monotonic()
    burned = burn_clc(
        shapes,
        transform=Affine(10, 0, product.ulx, 0, -10, product.uly),
        height=n,
        width=n,
    )
    return query_s, time.monotonic() - t0, len(shapes), burned


def burn_pieces(
    settings: DbSettings, product: L2AProduct
) -> tuple[float, float, int, np.ndarray]:
    return _burn(settings, product, pieces=True)


def burn_whole(
    settings: DbSettings, product: L2AProduct
) -> tuple[float, float, int, np.ndarray]:
    return _burn(settings, product, pieces=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="10980 px tile (real size)")
    parser.add_argument("--tile-size-px", type=int, default=None)
    parser.add_argument(
        "--cells",
        type=int,
        default=None,
        help="CLC polygons (default: 3000 full size, scaled by area)",
    )
    parser.add_argument(
        "--sea-vertices",
        type=int,
        default=50_000,
        help="vertices of the large sea polygon (0: none)",
    )
    parser.add_argument(
        "--threads", type=int, default=2, help="decode and map-writing threads"
    )
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument(
        "--json", action="store_true", help="print a JSON line at the end"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    size = args.tile_size_px or (10980 if args.full else 2400)
    cells = args.cells or max(200, int(3000 * (size / 10980) ** 2))
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-labelling-"))
    work.mkdir(parents=True, exist_ok=True)
    safe = prepare(work, size)
    product = open_l2a(safe)
    bpp = {band: bits_per_pixel(product.band_path(band)) for band in BANDS}
    by_res = {
        f"{res}m": round(
            float(np.mean([v for b, v in bpp.items() if BAND_RESOLUTION_M[b] == res])),
            3,
        )
        for res in (10, 20, 60)
    }
    print(
        "bits per pixel of the decoded L2A bands: "
        + ", ".join(f"{res} {v:.2f}" for res, v in by_res.items())
    )
    n_cells = dense_clc(
        work / "clc.gpkg",
        epsg=product.epsg,
        ulx=product.ulx,
        uly=product.uly,
        side_m=product.tile_side_m,
        cells=cells,
        sea_vertices=args.sea_vertices,
    )

    load = os.getloadavg()[0]
    t0 = time.monotonic()
    invalid = decode_and_find_invalid(product, args.threads)
    decode_s = time.monotonic() - t0

    settings = DbSettings.scratch(work)
    try:
        init_database(settings)
        t0 = time.monotonic()
        clc = ingest_clc(settings, work / "clc.gpkg", layer=LAYER)
        ingest_s = time.monotonic() - t0
        t0 = time.monotonic()
        grid = build_patch_grid(settings, safe, invalid_patches=invalid)
        grid_s = time.monotonic() - t0
        t0 = time.monotonic()
        labels = label_patches(
            settings,
            product.name,
            out_dir=work / "maps" / product.name,
            threads=args.threads,
        )
        label_s = time.monotonic() - t0
        before = burn_pieces(settings, product)
        now = burn_whole(settings, product)
    finally:
        stop(settings)
    t0 = time.monotonic()
    decode_and_find_invalid(product, args.threads)
    decode_again_s = time.monotonic() - t0

    print(
        f"tile {size} px ({product.tile_side_m / 1000:.1f} km), {grid['patches']} patches, "
        f"{grid['valid']} valid; CLC {n_cells} polygons ({clc['rows']} after dump, "
        f"{clc['subdivided_pieces']} subdivided pieces), {labels['clc_polygons']} "
        f"intersect the tile; sea polygon {args.sea_vertices} vertices; "
        f"cores {os.cpu_count()}, threads {args.threads}, load {load:.1f} at the start"
    )
    print(f"{'step':<40}{'wall s':>10}")
    rows = [
        (f"decode 12 bands + validity ({args.threads} thr)", decode_s),
        ("ingest_clc (once per run)", ingest_s),
        ("build_patch_grid (grid, validity ids, DB)", grid_s),
    ]
    rows += [
        (f"label_patches: {k.removesuffix('_s')}", v)
        for k, v in labels["timings_s"].items()
    ]
    rows.append(("label_patches: total", label_s))
    rows.append(("grid + labels (per product)", grid_s + label_s))
    rows.append(("decode again, after the labelling", decode_again_s))
    for what, seconds in rows:
        print(f"{what:<40}{seconds:>10.1f}")
    floor = (decode_s + decode_again_s) / 2
    ratio = (grid_s + label_s) / floor
    print(
        f"ratio (grid + labels) / decode (mean of the decodes before and after): "
        f"{ratio:.2f}  (goal <= 1.2)"
    )
    print("CLC query + burn of the tile, whole polygons (now) vs subdivided pieces:")
    for what, (query_s, burn_s, shapes, _) in (("whole", now), ("pieces", before)):
        print(
            f"  {what:<7} {shapes:>7} shapes  query {query_s:6.1f} s  "
            f"burn {burn_s:6.1f} s  total {query_s + burn_s:6.1f} s"
        )
    cracks = int(((now[3] != 0) & (before[3] == 0)).sum())
    print(f"  pixels inside CLC that the pieces left uncovered (999): {cracks}")
    print(f"work dir: {work}")
    if args.json:
        print(
            json.dumps(
                {
                    "bench": "labelling",
                    "tile_size_px": size,
                    "threads": args.threads,
                    "cores": os.cpu_count(),
                    "bits_per_pixel": by_res,
                    "patches": grid["patches"],
                    "valid": grid["valid"],
                    "reference_maps": labels["reference_maps"],
                    "clc_polygons": labels["clc_polygons"],
                    "decode_s": round(decode_s, 2),
                    "decode_again_s": round(decode_again_s, 2),
                    "grid_s": round(grid_s, 2),
                    "label_s": round(label_s, 2),
                    "label_timings_s": {
                        k: round(v, 2) for k, v in labels["timings_s"].items()
                    },
                    "ratio": round(ratio, 3),
                    "load_1min_start": round(load, 2),
                    "load_1min_end": round(os.getloadavg()[0], 2),
                },
                sort_keys=True,
            )
        )


if __name__ == "__main__":
    main()
