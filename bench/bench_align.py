"""Benchmark: align_v1 (v1 alignment, country, overlaps) at production scale.

Default (``--grid real``): the reBEN grid itself.  The 125 products of
``bigearthnet_s2_tile_ids.csv`` (``../shared/reference-artifacts``) are laid
out as 91 x 91 patches each (1,035,125 patches in 7 UTM zones) from their
MGRS tile (``benpipe.grid.s2_tile_corner``, checked against the real v1
footprints of the 48 products that have them), with the season of their
sensing time.  The inputs are the real
ones: the v1 footprints (``ben-v1-metadata``: 219,963 in five zones) and the
Natural Earth 110 m countries the pipeline uses.  ``--products N`` takes the
first N products.

``--grid synthetic``: products on an MGRS-like raster in two zones and ten
wobbly synthetic countries (most patches then take the slow, nearest-country
path).

The same run first times the former statements of align_v1 (before the
country rule, the plans and the ANALYZE were reworked), on the patch table
as the pipeline left it (bulk-loaded, never analysed: autovacuum is off for
it while they run; each statement stops after ``--before-limit`` seconds),
then the current ``benpipe.dataset.cross_product.align_v1``.  With the real
grid it also compares the countries and v1 names with the published
metadata.  Prints figures, the machine's load and core count; never asserts.

    .venv/bin/python bench/bench_align.py                       # 1.04 M patches
    .venv/bin/python bench/bench_align.py --products 12         # 99 k patches
    .venv/bin/python bench/bench_align.py --grid synthetic --products 125
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import shapely
from shapely import wkb

from benpipe.dataset.cross_product import align_v1
from benpipe.db.ingest import ingest_countries, ingest_v1_footprints
from benpipe.db.lifecycle import DbSettings, connect, stop
from benpipe.db.schema import init_database
from benpipe.demo.world import write_countries
from benpipe.grid import s2_tile_corner, season_of
from benpipe.names import BEN_COUNTRIES, l2a_name_for, parse_product_name

SIDE = 91  # patches per tile side (109.8 km / 1200 m)
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference-artifacts"


def real_products(limit: int | None) -> list[dict[str, Any]]:
    names = pd.read_csv(REFERENCE / "bigearthnet_s2_tile_ids.csv")["tile"]
    out = []
    for l1c in sorted(names)[:limit]:
        l2a = l2a_name_for(l1c)
        parsed = parse_product_name(l2a)
        epsg, ulx, uly = s2_tile_corner(parsed.tile)
        out.append(
            {
                "product_id": l2a,
                "tile_dir": parsed.tile_dir,
                "epsg": epsg,
                "ulx": ulx,
                "uly": uly,
                "sensing_time": parsed.sensing_time,
                "season": season_of(parsed.sensing_time),
            }
        )
    return out


def synthetic_products(n: int) -> list[dict[str, Any]]:
    """An MGRS-like raster in zones 33/34 with 100 km steps, two seasons."""
    return [
        {
            "product_id": f"P{i}",
            "tile_dir": f"T{i}",
            "epsg": 32633 if i % 2 == 0 else 32634,
            "ulx": 300_000.0 + (i // 2 % 6) * 100_000,
            "uly": 5_500_000.0 - (i // 12) * 100_000,
            "sensing_time": "2017-06-13T10:10:31Z",
            "season": "Summer" if i % 4 < 2 else "Autumn",
        }
        for i in range(n)
    ]


def synthetic_countries(vertices: int, seed: int = 0) -> list[bytes]:
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


# ---------------------------------------------------------------- filling
_INSERT_PRODUCT = """
INSERT INTO products (product_id, tile_dir, epsg, ulx, uly, tile_side_m,
                      sensing_time, season, quality_checks, fails_quality, processor)
VALUES (%(product_id)s, %(tile_dir)s, %(epsg)s, %(ulx)s, %(uly)s, 109800,
        %(sensing_time)s, %(season)s, '{}'::jsonb, false, 'bench')
"""
#: Patch ids as benpipe.names.patch_name spells them.
_INSERT_PATCHES = """
INSERT INTO patches (patch_id, product_id, col, "row", epsg, season, split,
                     valid, geom, geom_3035)
SELECT format('%%s_%%s_%%s', p.tile_dir, lpad(c::text, 2, '0'), lpad(r::text, 2, '0')),
       p.product_id, c, r, p.epsg, p.season, 'train', true, g.geom,
       ST_Transform(g.geom, 3035)
FROM products p
CROSS JOIN generate_series(0, %(side)s - 1) AS c
CROSS JOIN generate_series(0, %(side)s - 1) AS r
CROSS JOIN LATERAL (
    SELECT ST_MakeEnvelope(p.ulx + c * 1200, p.uly - (r + 1) * 1200,
                           p.ulx + (c + 1) * 1200, p.uly - r * 1200,
                           p.epsg) AS geom
) AS g
"""


def fill(settings: DbSettings, args: argparse.Namespace, work: Path) -> int:
    real = args.grid == "real"
    products = (
        real_products(args.products)
        if real
        else synthetic_products(args.products or 12)
    )
    if real:
        countries = work / "ne_110m_admin_0_countries.geojson"
        write_countries(countries)
        ingest_countries(settings, countries)
        ingest_v1_footprints(settings, REFERENCE / "ben-v1-metadata")
    with connect(settings) as conn, conn.transaction():
        # As the pipeline leaves it: bulk-loaded, never analysed.
        conn.execute("ALTER TABLE patches SET (autovacuum_enabled = off)")
        if not real:
            for name, geom in zip(
                BEN_COUNTRIES, synthetic_countries(args.country_vertices), strict=True
            ):
                conn.execute(
                    "INSERT INTO countries (name, geom) VALUES (%s, ST_GeomFromEWKB(%s))",
                    (name, geom),
                )
        for product in products:
            conn.execute(_INSERT_PRODUCT, product)
        conn.execute(_INSERT_PATCHES, {"side": SIDE})
        if not real:
            conn.execute(
                """
                INSERT INTO v1_footprints (patch_name, epsg, sensing_time, season, geom)
                SELECT 'v1_' || patch_id, epsg, '2017-06-13T10:10:31Z', season, geom
                FROM patches WHERE (col + "row") %% 2 = 0
                """
            )
            conn.execute("ANALYZE v1_footprints")
            conn.execute("ANALYZE countries")
        row = conn.execute("SELECT count(*) FROM patches").fetchone()
    return int(row[0]) if row else 0


# ---------------------------------------------------------------- before
#: align_v1's statements before this revision (country by larger share,
#: no ANALYZE of the grid), verbatim.
_BEFORE_COUNTRIES_UTM = (
    "CREATE TEMP TABLE countries_utm ON COMMIT DROP AS"
    " SELECT e.epsg, c.name, ST_Transform(c.geom, e.epsg) AS geom"
    " FROM countries c, (SELECT DISTINCT epsg FROM patches) e"
)
_BEFORE: dict[str, str] = {
    "alignment": """
INSERT INTO patch_alignment (patch_id, s2v1_name)
SELECT DISTINCT ON (p.patch_id) p.patch_id, v.patch_name
FROM patches p
JOIN v1_footprints v
  ON v.epsg = p.epsg
 AND v.season = p.season
 AND v.geom && p.geom
 AND CASE WHEN ST_SRID(v.geom) = ST_SRID(p.geom)
          THEN ST_Equals(v.geom, p.geom) ELSE false END
ORDER BY p.patch_id, v.patch_name COLLATE "C"
""",
    "country": """
INSERT INTO patch_country (patch_id, country, distance_m)
SELECT DISTINCT ON (patch_id) patch_id, name, 0
FROM (
    SELECT p.patch_id, c.name,
           CASE WHEN ST_Covers(c.geom, p.geom) THEN ST_Area(p.geom)
                ELSE ST_Area(ST_Intersection(p.geom, c.geom)) END AS area
    FROM countries_utm c
    JOIN patches p ON p.epsg = c.epsg AND ST_Intersects(c.geom, p.geom)
) AS touching
ORDER BY patch_id, area DESC, name COLLATE "C"
""",
    "country_nearest": """
INSERT INTO patch_country (patch_id, country, distance_m)
SELECT p.patch_id, best.name, best.distance_m
FROM patches p
CROSS JOIN LATERAL (
    SELECT c.name, ST_Distance(p.geom, c.geom) AS distance_m
    FROM countries_utm c
    WHERE c.epsg = p.epsg
    ORDER BY 2, c.name COLLATE "C"
    LIMIT 1
) AS best
WHERE NOT EXISTS (SELECT 1 FROM patch_country pc WHERE pc.patch_id = p.patch_id)
""",
    "overlaps": """
INSERT INTO patch_overlaps (patch_id, other_patch_id, share)
SELECT a.patch_id, b.patch_id,
       ST_Area(ST_Intersection(a.geom_3035, b.geom_3035))
         / (ST_Area(a.geom_3035) + ST_Area(b.geom_3035))
FROM patches a
JOIN patches b
  ON a.geom_3035 && b.geom_3035
 AND a.season = b.season
 AND a.product_id <> b.product_id
WHERE ST_Intersects(a.geom_3035, b.geom_3035)
  AND ST_Area(ST_Intersection(a.geom_3035, b.geom_3035))
        / (ST_Area(a.geom_3035) + ST_Area(b.geom_3035)) > 0.5 * 0.01
""",
}


def before(settings: DbSettings, limit_s: float) -> dict[str, float | None]:
    """Former statements, each stopped after ``limit_s`` (None), rolled back."""
    out: dict[str, float | None] = {}
    with connect(settings) as conn:
        conn.execute(f"SET statement_timeout = {int(limit_s * 1000)}")
        conn.execute("TRUNCATE patch_alignment, patch_country, patch_overlaps")
        conn.execute(_BEFORE_COUNTRIES_UTM)
        conn.execute("CREATE INDEX ON countries_utm (epsg)")
        for step, statement in _BEFORE.items():
            conn.execute("SAVEPOINT step")
            t0 = time.monotonic()
            try:
                conn.execute(statement)
                out[step] = time.monotonic() - t0
            except psycopg.errors.QueryCanceled:
                out[step] = None
                conn.execute("ROLLBACK TO SAVEPOINT step")
            print(f"  before {step:16s}: {_seconds(out[step], limit_s)}", flush=True)
        conn.rollback()
    return out


def _seconds(value: float | None, limit_s: float) -> str:
    return f"{value:7.1f} s" if value is not None else f"> {limit_s:.0f} s (stopped)"


# ---------------------------------------------------------------- published
def compare_published(settings: DbSettings) -> str:
    frames = [
        pd.read_parquet(REFERENCE / name, columns=["patch_id", "country", "s2v1_name"])
        for name in (
            "metadata.parquet",
            "metadata_for_patches_with_snow_cloud_or_shadow.parquet",
        )
    ]
    published = pd.concat(frames, ignore_index=True).set_index("patch_id")
    with connect(settings) as conn:
        country = dict(conn.execute("SELECT patch_id, country FROM patch_country"))
        aligned = dict(conn.execute("SELECT patch_id, s2v1_name FROM patch_alignment"))
    ours_country = published.index.map(country.get)
    same_country = int((ours_country == published["country"]).sum())
    ours_v1 = published.index.map(aligned.get)
    has_v1 = ours_v1.notna()
    same_v1 = int((ours_v1[has_v1] == published["s2v1_name"][has_v1]).sum())
    return (
        f"published patches: {len(published)}; same country {same_country} "
        f"({len(published) - same_country} differ); v1 name for {int(has_v1.sum())} "
        f"(the zones with footprints), same {same_v1}"
    )


def _timed(what: str, func: Callable[[], Any]) -> Any:
    t0 = time.monotonic()
    result = func()
    print(f"{what}: {time.monotonic() - t0:.1f} s", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", choices=("real", "synthetic"), default="real")
    parser.add_argument("--products", type=int, default=None)
    parser.add_argument("--country-vertices", type=int, default=200)
    parser.add_argument("--before-limit", type=float, default=300.0)
    parser.add_argument("--no-before", action="store_true")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    if args.grid == "real" and not REFERENCE.is_dir():
        raise SystemExit(f"--grid real needs the reference artifacts in {REFERENCE}")

    print(
        f"cores {os.cpu_count()}, load average at start "
        f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}"
    )
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="bench_align_") as tmp:
        settings = DbSettings.scratch(Path(tmp))
        try:
            init_database(settings)
            patches = _timed("fill", lambda: fill(settings, args, Path(tmp)))
            with connect(settings) as conn:
                footprints = conn.execute("SELECT count(*) FROM v1_footprints")
                n_v1 = int(footprints.fetchone()[0])  # type: ignore[index]
            print(f"{args.grid} grid: {patches} patches, {n_v1} v1 footprints")
            old: dict[str, float | None] = {}
            if not args.no_before:
                print("former statements (grid never analysed):")
                old = before(settings, args.before_limit)
            with connect(settings, autocommit=True) as conn:
                conn.execute("ALTER TABLE patches RESET (autovacuum_enabled)")
            timings: dict[str, float] = {}
            t0 = time.monotonic()
            info = align_v1(settings, timings=timings)
            total = time.monotonic() - t0
            print("align_v1 now:")
            for step, seconds in timings.items():
                print(f"  now    {step:16s}: {seconds:7.1f} s")
            print(
                f"align_v1 total now: {total:.1f} s; aligned {info['aligned']}, with "
                f"country {info['with_country']}, overlap pairs {info['overlap_pairs']}"
            )
            if old:
                stopped = [s for s, v in old.items() if v is None]
                known = sum(v for v in old.values() if v is not None)
                print(
                    "align_v1 total before: "
                    + (
                        f"> {known + args.before_limit * len(stopped):.0f} s "
                        f"({', '.join(stopped)} stopped at {args.before_limit:.0f} s)"
                        if stopped
                        else f"{known:.1f} s"
                    )
                )
            if args.grid == "real":
                print(compare_published(settings))
            print(
                f"load average at end {' '.join(f'{v:.1f}' for v in os.getloadavg())}"
            )
        finally:
            stop(settings)


if __name__ == "__main__":
    main()
