"""Cross-product SQL: v1 alignment, country, overlaps, and the metadata CSVs.

``align_v1`` (one job after every grid and the v1 ingest) replaces
``patch_alignment``, ``patch_country`` and ``patch_overlaps`` in one
transaction.  ``export_metadata_tables`` writes the four reference CSVs.

Rules (docs/labelling.md):

* **alignment**: a patch and a v1 footprint align when they are the same
  1200 m square (``ST_Equals``, same SRID, GiST ``&&`` prefilter) and have the
  same season.  Names of v1 patches are never parsed for times.  If several v1
  footprints match (not expected), the byte-smallest name wins.
* **country**: the nearest of the BEN countries, by distance in the tile's UTM
  (0 inside); ties are broken by the larger intersection area, then by the
  country name (byte order).
* **overlaps**: same season, different product, and
  area(p1 ∩ p2) / (area(p1) + area(p2)) > 0.5 × ``overlap_threshold``, in
  EPSG:3035 (§5.2 D4).  Stored in both directions.
"""

from __future__ import annotations

import csv
import logging
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benpipe.db.lifecycle import DbSettings, connect
from benpipe.fileio import write_json_atomic

log = logging.getLogger(__name__)

ALGORITHM_VERSION = 1

_ALIGN_SQL = """
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
"""

# Country, in two statements with the same result as one nearest-country
# query per patch, about 30x faster: patches that touch a BEN country take
# the one they share the most area with (distance 0).  The join runs country
# by country, so PostGIS reuses each prepared country polygon for
# ST_Intersects/ST_Covers, and a patch inside a country needs no
# ST_Intersection.  Only the rest (at sea, in other countries) is measured
# against all ten.
_COUNTRY_INSIDE_SQL = """
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
"""

_COUNTRY_NEAREST_SQL = """
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
"""

_OVERLAP_SQL = """
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
        / (ST_Area(a.geom_3035) + ST_Area(b.geom_3035)) > 0.5 * %(threshold)s
"""


def align_v1(
    settings: DbSettings,
    *,
    overlap_threshold: float = 0.01,
    receipt: Path | None = None,
    timings: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Replace alignment, country and overlap tables from all grids in the DB.

    Each step is logged with its duration; ``timings`` (if given) receives
    ``{step: seconds}`` (bench/bench_align.py).
    """
    steps = {} if timings is None else timings

    def step(name: str, sql: str, params: Mapping[str, Any] | None = None) -> None:
        start = time.monotonic()
        conn.execute(sql, params)
        steps[name] = time.monotonic() - start
        log.info("align_v1: %s done in %.1f s", name, steps[name])

    with connect(settings) as conn, conn.transaction():
        for table in ("patch_alignment", "patch_country", "patch_overlaps"):
            conn.execute(f"TRUNCATE {table}")
        step("alignment", _ALIGN_SQL)
        conn.execute(
            "CREATE TEMP TABLE countries_utm ON COMMIT DROP AS"
            " SELECT e.epsg, c.name, ST_Transform(c.geom, e.epsg) AS geom"
            " FROM countries c, (SELECT DISTINCT epsg FROM patches) e"
        )
        conn.execute("CREATE INDEX ON countries_utm (epsg)")
        step("country", _COUNTRY_INSIDE_SQL)
        step("country_nearest", _COUNTRY_NEAREST_SQL)
        step("overlaps", _OVERLAP_SQL, {"threshold": overlap_threshold})
        stats = conn.execute(
            """
            SELECT (SELECT count(*) FROM patches),
                   (SELECT count(*) FROM patches WHERE valid),
                   (SELECT count(*) FROM patch_alignment),
                   (SELECT count(*) FROM patch_alignment a JOIN patches p USING (patch_id)
                     WHERE p.valid),
                   (SELECT count(*) FROM patch_country),
                   (SELECT count(*) FROM patch_overlaps),
                   (SELECT count(DISTINCT patch_id) FROM patch_overlaps),
                   (SELECT count(*) FROM products),
                   (SELECT count(*) FROM v1_footprints),
                   (SELECT count(*) FROM countries)
            """
        ).fetchone()
    keys = (
        "patches",
        "valid",
        "aligned",
        "valid_aligned",
        "with_country",
        "overlap_pairs",
        "overlapping_patches",
        "products",
        "v1_footprints",
        "countries",
    )
    info: dict[str, Any] = dict(zip(keys, (int(v) for v in stats or ()), strict=True))
    if info.get("countries", 0) and info["with_country"] != info["patches"]:
        log.warning("%d patches got no country", info["patches"] - info["with_country"])
    info.update(
        overlap_threshold=overlap_threshold,
        tables=["patch_alignment", "patch_country", "patch_overlaps"],
        algorithm_version=ALGORITHM_VERSION,
    )
    log.info(
        "alignment: %d of %d valid patches aligned with v1; %d overlap pairs",
        info["valid_aligned"],
        info["valid"],
        info["overlap_pairs"],
    )
    if receipt is not None:
        write_json_atomic(receipt, info)
    return info


#: file name -> (header, SQL).  Sorting is by patch_id, then the second
#: column, in byte order (COLLATE "C"), as the reference's text sort.
EXPORTS: dict[str, tuple[tuple[str, str], str]] = {
    "patch_id_label_mapping.csv": (
        ("patch_id", "label"),
        """
        SELECT l.patch_id, l.label
        FROM patch_labels l
        JOIN patches p USING (patch_id)
        JOIN products pr USING (product_id)
        JOIN patch_labelling pl USING (patch_id)
        JOIN patch_alignment a USING (patch_id)
        WHERE p.valid AND pl.kept AND NOT pr.fails_quality
        ORDER BY l.patch_id COLLATE "C", l.label COLLATE "C"
        """,
    ),
    "patch_id_s2v1_mapping.csv": (
        ("patch_id", "s2v1_name"),
        """
        SELECT a.patch_id, a.s2v1_name
        FROM patch_alignment a JOIN patches p USING (patch_id)
        WHERE p.valid
        ORDER BY a.patch_id COLLATE "C", a.s2v1_name COLLATE "C"
        """,
    ),
    "patch_id_split_mapping.csv": (
        ("patch_id", "split"),
        'SELECT patch_id, split FROM patches ORDER BY patch_id COLLATE "C", split COLLATE "C"',
    ),
    "patch_id_country_mapping.csv": (
        ("patch_id", "country"),
        """
        SELECT patch_id, country FROM patch_country
        ORDER BY patch_id COLLATE "C", country COLLATE "C"
        """,
    ),
}


def _write_csv(
    path: Path, header: tuple[str, str], rows: list[tuple[Any, ...]]
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
            writer.writerow(header)
            writer.writerows(rows)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_metadata_tables(
    settings: DbSettings, outputs: Path | Mapping[str, Path]
) -> dict[str, int]:
    """Write the four metadata CSVs; return their row counts.

    ``outputs`` is a folder (files get their reference names) or a mapping
    from each reference file name in :data:`EXPORTS` to its path.
    """
    if isinstance(outputs, Path):
        targets = {name: outputs / name for name in EXPORTS}
    else:
        targets = dict(outputs)
        if set(targets) != set(EXPORTS):
            raise ValueError(f"outputs must name exactly {sorted(EXPORTS)}")
    counts: dict[str, int] = {}
    with connect(settings) as conn:
        for name, (header, sql) in EXPORTS.items():
            rows = [tuple(r) for r in conn.execute(sql).fetchall()]
            _write_csv(targets[name], header, rows)
            counts[name] = len(rows)
            log.info("%s: %d rows", name, len(rows))
    return counts
