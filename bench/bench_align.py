"""Benchmark: align_v1 (v1 alignment, country, overlaps) at production scale.

The reference grid has about 1.04 M patches in 7 UTM zones; its country step
took "about 30 s".  This bench starts a throwaway embedded PostGIS and fills
it with SQL only:

* ``--products`` synthetic products of 91 x 91 patches (1200 m) on a
  109.8 km MGRS-like raster with 100 km steps (so neighbours overlap by
  9.8 km, as real tiles do), split over two UTM zones and two seasons.  The
  raster reaches far beyond the countries, so most patches take the slow
  path (nearest country by distance); real grids mostly lie inside a BEN
  country, where the country step is much faster;
* v1 footprints equal to every other patch (the alignment join);
* the 10 BEN countries as polygons of ``--country-vertices`` vertices each
  (Natural Earth 110 m polygons have tens to a few hundred), around the
  products, in EPSG:4326.

It then times each statement of ``benpipe.dataset.cross_product.align_v1`` and the whole
call.  Prints figures; never asserts times.

    .venv/bin/python bench/bench_align.py                   # 12 products, ~100 k patches
    .venv/bin/python bench/bench_align.py --products 125    # ~1.04 M patches
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import shapely
from shapely import wkb

from benpipe.dataset.cross_product import align_v1
from benpipe.db.lifecycle import DbSettings, connect, stop
from benpipe.db.schema import init_database
from benpipe.names import BEN_COUNTRIES

SIDE = 91  # patches per tile side (109.8 km / 1200 m)


def country_polygons(vertices: int, seed: int = 0) -> list[bytes]:
    """Ten wobbly, non-overlapping polygons tiling 9-21 E, 45-51 N (WKB, 4326)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(len(BEN_COUNTRIES)):
        cx, cy = 9.6 + 2.4 * (i % 5), 46.5 + 3.0 * (i // 5)
        angles = np.linspace(0, 2 * math.pi, vertices, endpoint=False)
        radius = 1.1 + 0.08 * rng.standard_normal(vertices)
        ring = np.c_[cx + radius * np.cos(angles), cy + 0.9 * radius * np.sin(angles)]
        polygon = shapely.make_valid(shapely.Polygon(ring))
        out.append(wkb.dumps(shapely.MultiPolygon([polygon]), srid=4326))
    return out


def fill(settings: DbSettings, products: int, vertices: int) -> int:
    with connect(settings) as conn, conn.transaction():
        for name, geom in zip(BEN_COUNTRIES, country_polygons(vertices), strict=True):
            conn.execute(
                "INSERT INTO countries (name, geom) VALUES (%s, ST_GeomFromEWKB(%s))",
                (name, geom),
            )
        conn.execute(
            """
            INSERT INTO products (product_id, tile_dir, epsg, ulx, uly, tile_side_m,
                                  sensing_time, season, quality_checks, fails_quality,
                                  processor)
            SELECT format('P%%s', i), format('T%%s', i),
                   CASE WHEN i %% 2 = 0 THEN 32633 ELSE 32634 END,
                   300000 + (i / 2 %% 6) * 100000, 5500000 - (i / 12) * 100000,
                   109800, '2017-06-13T10:10:31Z',
                   CASE WHEN i %% 4 < 2 THEN 'Summer' ELSE 'Autumn' END,
                   '{}'::jsonb, false, 'bench'
            FROM generate_series(0, %(n)s - 1) AS i
            """,
            {"n": products},
        )
        conn.execute(
            """
            INSERT INTO patches (patch_id, product_id, col, "row", epsg, season, split,
                                 valid, geom, geom_3035)
            SELECT format('%%s_%%s_%%s', p.product_id, c, r), p.product_id, c, r,
                   p.epsg, p.season, 'train', true, g.geom, ST_Transform(g.geom, 3035)
            FROM products p
            CROSS JOIN generate_series(0, %(side)s - 1) AS c
            CROSS JOIN generate_series(0, %(side)s - 1) AS r
            CROSS JOIN LATERAL (
                SELECT ST_MakeEnvelope(p.ulx + c * 1200, p.uly - (r + 1) * 1200,
                                       p.ulx + (c + 1) * 1200, p.uly - r * 1200,
                                       p.epsg) AS geom
            ) AS g
            """,
            {"side": SIDE},
        )
        conn.execute(
            """
            INSERT INTO v1_footprints (patch_name, epsg, sensing_time, season, geom)
            SELECT 'v1_' || patch_id, epsg, '2017-06-13T10:10:31Z', season, geom
            FROM patches WHERE (col + "row") % 2 = 0
            """
        )
        conn.execute("ANALYZE")
        row = conn.execute("SELECT count(*) FROM patches").fetchone()
    return int(row[0]) if row else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=12)
    parser.add_argument("--country-vertices", type=int, default=200)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="bench_align_") as tmp:
        settings = DbSettings.scratch(Path(tmp))
        try:
            init_database(settings)
            t0 = time.monotonic()
            patches = fill(settings, args.products, args.country_vertices)
            print(
                f"{args.products} products, {patches} patches, 10 countries of "
                f"{args.country_vertices} vertices; filled in {time.monotonic() - t0:.1f} s"
            )
            t0 = time.monotonic()
            info = align_v1(settings, timings=(timings := {}))
            total = time.monotonic() - t0
            for step, seconds in timings.items():
                print(
                    f"  {step:10s}: {seconds:7.1f} s  "
                    f"({patches / max(seconds, 1e-9) / 1000:.0f} k patches/s)"
                )
            with connect(settings) as conn:
                row = conn.execute(
                    "SELECT count(*) FILTER (WHERE distance_m = 0) FROM patch_country"
                ).fetchone()
            touching = int(row[0]) if row else 0
            print(
                f"align_v1 total: {total:.1f} s; aligned {info['aligned']}, with "
                f"country {info['with_country']} ({touching} touching one, "
                f"{info['with_country'] - touching} by nearest distance), overlap "
                f"pairs {info['overlap_pairs']}"
            )
        finally:
            stop(settings)


if __name__ == "__main__":
    main()
