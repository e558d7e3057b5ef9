"""The dataset stage's SQL, in one place: named statements and the few
functions that run several of them (COPY loads, delete-and-insert).

Every function takes an open psycopg connection; the caller owns the
transaction (``with connect(settings) as conn, conn.transaction():``), so a
step's rows are replaced all at once or not at all.  Tables: :mod:`benpipe.db.model`.
The last section is SQLite: check-dataset's private table of hash lists.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from benpipe.dataset.labels import ClcShape, PatchLabels
from benpipe.dataset.tile_grid import PatchRow
from benpipe.db.copy import copy_rows

Connection = psycopg.Connection[Any]


# ---------------------------------------------------------------- build_patch_grid
@dataclass(frozen=True, slots=True)
class ProductRow:
    """One row of ``products``."""

    product_id: str
    tile_dir: str
    epsg: int
    ulx: float
    uly: float
    tile_side_m: float
    sensing_time: datetime
    season: str
    quality_checks: dict[str, str]
    fails_quality: bool
    processor: str


@dataclass(frozen=True, slots=True)
class PatchGridRow:
    """One row of ``patches`` (``geom_3035`` is derived in SQL)."""

    patch_id: str
    col: int
    row: int
    split: str
    valid: bool
    left: float
    bottom: float
    right: float
    top: float

    @classmethod
    def of(cls, patch: PatchRow, *, valid: bool) -> PatchGridRow:
        """The row of a grid patch, with its validity."""
        return cls(
            patch_id=patch.patch_id,
            col=patch.col,
            row=patch.row,
            split=patch.split,
            valid=valid,
            left=patch.left,
            bottom=patch.bottom,
            right=patch.right,
            top=patch.top,
        )


DELETE_PRODUCT = "DELETE FROM products WHERE product_id = %s"
INSERT_PRODUCT = (
    "INSERT INTO products (product_id, tile_dir, epsg, ulx, uly, tile_side_m,"
    " sensing_time, season, quality_checks, fails_quality, processor)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
CREATE_PATCHES_STAGING = (
    "CREATE TEMP TABLE patches_staging (LIKE patches INCLUDING DEFAULTS) ON COMMIT DROP"
)
PATCHES_STAGING_ALLOW_NULL_3035 = (
    "ALTER TABLE patches_staging ALTER geom_3035 DROP NOT NULL"
)
COPY_PATCHES_STAGING = (
    'COPY patches_staging (patch_id, product_id, col, "row", epsg, season,'
    " split, valid, geom) FROM STDIN"
)
INSERT_PATCHES_FROM_STAGING = (
    'INSERT INTO patches (patch_id, product_id, col, "row", epsg, season, split,'
    ' valid, geom, geom_3035) SELECT patch_id, product_id, col, "row", epsg,'
    " season, split, valid, geom, ST_Transform(geom, 3035)"
    " FROM patches_staging ORDER BY patch_id"
)


def patch_ewkt(p: PatchGridRow, epsg: int) -> str:
    """The patch square as EWKT in the tile's UTM."""
    return (
        f"SRID={epsg};POLYGON(({p.left} {p.bottom},{p.left} {p.top},"
        f"{p.right} {p.top},{p.right} {p.bottom},{p.left} {p.bottom}))"
    )


def replace_product_grid(
    conn: Connection, product: ProductRow, patches: Iterable[PatchGridRow]
) -> None:
    """Replace the product's row and its patches (deleting cascades to its rows)."""
    conn.execute(DELETE_PRODUCT, (product.product_id,))
    conn.execute(
        INSERT_PRODUCT,
        (
            product.product_id,
            product.tile_dir,
            product.epsg,
            product.ulx,
            product.uly,
            product.tile_side_m,
            product.sensing_time,
            product.season,
            json.dumps(product.quality_checks, sort_keys=True),
            product.fails_quality,
            product.processor,
        ),
    )
    conn.execute(CREATE_PATCHES_STAGING)
    conn.execute(PATCHES_STAGING_ALLOW_NULL_3035)
    copy_rows(
        conn,
        COPY_PATCHES_STAGING,
        (
            (
                p.patch_id,
                product.product_id,
                p.col,
                p.row,
                product.epsg,
                product.season,
                p.split,
                p.valid,
                patch_ewkt(p, product.epsg),
            )
            for p in patches
        ),
    )
    conn.execute(INSERT_PATCHES_FROM_STAGING)


# ---------------------------------------------------------------- label_patches
SELECT_PRODUCT_GRID = (
    "SELECT epsg, ulx, uly, tile_side_m, fails_quality, tile_dir FROM products"
    " WHERE product_id = %s"
)
COUNT_CLC_POLYGONS = "SELECT count(*) FROM clc_polygons"
SELECT_CLC_SOURCE = "SELECT sha256, source, rows FROM input_sources WHERE kind = 'clc'"
SELECT_VALID_PATCHES = (
    'SELECT patch_id, col, "row" FROM patches WHERE product_id = %s AND valid'
    ' ORDER BY "row", col'
)
#: CLC polygons intersecting a UTM box (segmentized and buffered by 100 m in
#: EPSG:3035), each transformed whole to the box's EPSG, in the burn order
#: (ascending clc_id in byte order, then part).  The subdivided pieces are
#: only the prefilter: a piece that meets the box selects its polygon.
#: Burning the pieces instead would leave cracks: a cut line that has extra
#: vertices on one side only bends differently on the two sides once
#: transformed, and pixel centres in the gap become 999.
SELECT_CLC_SHAPES = """
WITH tile AS (
    SELECT ST_Buffer(
        ST_Transform(ST_Segmentize(ST_MakeEnvelope(%(left)s, %(bottom)s, %(right)s,
                                                   %(top)s, %(epsg)s), 1000), 3035),
        100) AS g
), hits AS (
    SELECT DISTINCT s.clc_id, s.part
    FROM clc_subdivided s, tile
    WHERE ST_Intersects(s.geom, tile.g)
)
SELECT c.code_18, c.clc_id, c.part, ST_AsBinary(ST_Transform(c.geom, %(epsg)s))
FROM clc_polygons c JOIN hits USING (clc_id, part)
ORDER BY c.clc_id COLLATE "C", c.part
"""
DELETE_PATCH_LABELS = (
    "DELETE FROM patch_labels WHERE patch_id IN"
    " (SELECT patch_id FROM patches WHERE product_id = %s)"
)
DELETE_PATCH_CLASS_COUNTS = (
    "DELETE FROM patch_class_counts WHERE patch_id IN"
    " (SELECT patch_id FROM patches WHERE product_id = %s)"
)
DELETE_PATCH_LABELLING = (
    "DELETE FROM patch_labelling WHERE patch_id IN"
    " (SELECT patch_id FROM patches WHERE product_id = %s)"
)
DELETE_PRODUCT_LABELLING = "DELETE FROM product_labelling WHERE product_id = %s"
COPY_PATCH_LABELLING = (
    "COPY patch_labelling (patch_id, unlabeled_fraction, kept, has_reference_map)"
    " FROM STDIN"
)
COPY_PATCH_CLASS_COUNTS = (
    "COPY patch_class_counts (patch_id, code_18, pixels) FROM STDIN"
)
COPY_PATCH_LABELS = "COPY patch_labels (patch_id, label) FROM STDIN"
INSERT_PRODUCT_LABELLING = (
    "INSERT INTO product_labelling (product_id, has_clc, clc_polygons,"
    " fails_quality, maps, kept) VALUES (%s, %s, %s, %s, %s, %s)"
)


@dataclass(frozen=True, slots=True)
class LabelledPatch:
    """The labelling result of one valid patch."""

    patch_id: str
    labels: PatchLabels
    #: True when CLC covers at least one pixel (the patch has a reference map).
    covered: bool


def clc_shapes(
    conn: Connection,
    *,
    epsg: int,
    left: float,
    bottom: float,
    right: float,
    top: float,
) -> list[ClcShape]:
    """CLC polygons intersecting a UTM box, transformed to its EPSG."""
    import shapely

    rows = conn.execute(
        SELECT_CLC_SHAPES,
        {"left": left, "bottom": bottom, "right": right, "top": top, "epsg": epsg},
    ).fetchall()
    if not rows:
        return []
    geoms = shapely.from_wkb([bytes(r[3]) for r in rows])
    return [
        ClcShape(code_18=int(r[0]), clc_id=str(r[1]), part=int(r[2]), geometry=g)
        for r, g in zip(rows, geoms, strict=True)
    ]


def replace_labels(
    conn: Connection,
    product_id: str,
    patches: Sequence[LabelledPatch],
    *,
    has_clc: bool,
    clc_polygons: int,
    fails_quality: bool,
) -> None:
    """Replace the product's rows in the four labelling tables."""
    for statement in (
        DELETE_PATCH_LABELS,
        DELETE_PATCH_CLASS_COUNTS,
        DELETE_PATCH_LABELLING,
        DELETE_PRODUCT_LABELLING,
    ):
        conn.execute(statement, (product_id,))
    copy_rows(
        conn,
        COPY_PATCH_LABELLING,
        (
            (p.patch_id, p.labels.unlabeled_fraction, p.labels.kept, p.covered)
            for p in patches
        ),
    )
    copy_rows(
        conn,
        COPY_PATCH_CLASS_COUNTS,
        (
            (p.patch_id, code, px)
            for p in patches
            for code, px in p.labels.counts.items()
        ),
    )
    copy_rows(
        conn,
        COPY_PATCH_LABELS,
        ((p.patch_id, label) for p in patches for label in p.labels.labels),
    )
    conn.execute(
        INSERT_PRODUCT_LABELLING,
        (
            product_id,
            has_clc,
            clc_polygons,
            fails_quality,
            sum(1 for p in patches if p.covered),
            sum(1 for p in patches if p.labels.kept),
        ),
    )


# ---------------------------------------------------------------- align_v1
#: The cross-product tables ``align_v1`` replaces, in the order it fills them.
CROSS_PRODUCT_TABLES: tuple[str, ...] = (
    "patch_alignment",
    "patch_country",
    "patch_overlaps",
)
TRUNCATE_CROSS_PRODUCT_TABLES = (
    "TRUNCATE patch_alignment, patch_country, patch_overlaps"
)

#: Patches and v1 footprints are the same 1200 m square when their SRID,
#: season and corners agree and ST_Equals says so.  The corners make it a
#: merge or hash join on exact keys: a GiST join lets the planner AND the
#: bitmap of the (epsg, season) index into every probe, which reads that
#: index's ~10,000 entries per patch (60 s for 100 k patches).  The
#: footprints are materialised, so no index can be chosen.  Equal geometries
#: have equal corners, so no pair is lost.
ALIGN_V1 = """
WITH v AS MATERIALIZED (
    SELECT patch_name, epsg, season, geom, ST_XMin(geom) AS x, ST_YMax(geom) AS y
    FROM v1_footprints
)
INSERT INTO patch_alignment (patch_id, s2v1_name)
SELECT DISTINCT ON (p.patch_id) p.patch_id, v.patch_name
FROM patches p
JOIN v
  ON v.epsg = p.epsg
 AND v.season = p.season
 AND v.x = ST_XMin(p.geom)
 AND v.y = ST_YMax(p.geom)
WHERE CASE WHEN ST_SRID(v.geom) = ST_SRID(p.geom)
           THEN ST_Equals(v.geom, p.geom) ELSE false END
ORDER BY p.patch_id, v.patch_name COLLATE "C"
"""

# Country (docs/labelling.md): the nearest BEN country, with the same result
# as the reference's one nearest-country query per patch, but much faster.
# A patch that touches BEN countries (distance 0) takes one of those; the
# join runs country by country, so PostGIS reuses each prepared country
# polygon for ST_Intersects.  Only the rest (at sea, in other countries) is
# measured against the countries that can be nearest (COUNTRY_NEAREST).
#
# Rules (``patching.country_rule``) for a patch that touches several:
# * ``reference``: the one the reference's own query returns first.  It
#   orders the countries by ``patch <-> country`` (``LIMIT 1``) through a
#   GiST index on them in the tile's UTM; at distance 0 the index's order
#   decides (PostgreSQL keeps the first tied row).  That order comes from the
#   index's sorted build (PostGIS >= 3.2), a space-filling curve through the
#   countries' boxes, not from their names: Belgium before Luxembourg, but
#   Serbia before Kosovo.  So these patches (about 0.2 %) are resolved by
#   that very query (COUNTRY_TIES_KNN), with the index forced.
# * ``largest_share``: the country the patch shares the most area with, then
#   the name.  A patch inside a country needs no ST_Intersection.
CREATE_COUNTRY_TOUCHING = """
CREATE TEMP TABLE country_touching ON COMMIT DROP AS
SELECT p.patch_id, p.epsg, c.name
FROM countries_utm c
JOIN patches p ON p.epsg = c.epsg AND ST_Intersects(c.geom, p.geom)
"""
#: ``reference``: patches that touch exactly one BEN country.
COUNTRY_ONE_TOUCHED = """
INSERT INTO patch_country (patch_id, country, distance_m)
SELECT patch_id, min(name), 0
FROM country_touching
GROUP BY patch_id
HAVING count(*) = 1
"""
#: ``reference``: the UTM zones with patches that touch several countries.
SELECT_COUNTRY_TIE_ZONES = """
SELECT DISTINCT epsg FROM (
    SELECT patch_id, epsg FROM country_touching
    GROUP BY patch_id, epsg HAVING count(*) > 1
) AS ties ORDER BY epsg
"""
#: The BEN countries of one zone (%(epsg)s) with a GiST index, as the
#: reference builds it (``gist(st_transform(geom, epsg))``).
CREATE_COUNTRIES_KNN = """
CREATE TEMP TABLE countries_knn ON COMMIT DROP AS
SELECT name, geom FROM countries_utm WHERE epsg = %(epsg)s
"""
INDEX_COUNTRIES_KNN = "CREATE INDEX ON countries_knn USING gist (geom)"
#: Around COUNTRY_TIES_KNN: the plan must be the index scan.
FORCE_INDEX_SCAN = "SET LOCAL enable_seqscan = off"
ALLOW_SEQ_SCAN = "SET LOCAL enable_seqscan = on"
DROP_COUNTRIES_KNN = "DROP TABLE countries_knn"
#: The reference's query (``ORDER BY patch <-> country LIMIT 1``) for the
#: patches of one zone that touch several countries; run with
#: ``enable_seqscan`` off, so that the index scan, whose order decides the
#: ties, is the plan (as it was in the reference).
COUNTRY_TIES_KNN = """
INSERT INTO patch_country (patch_id, country, distance_m)
SELECT p.patch_id, k.name, 0
FROM (
    SELECT patch_id FROM country_touching WHERE epsg = %(epsg)s
    GROUP BY patch_id HAVING count(*) > 1
) AS t
JOIN patches p USING (patch_id)
CROSS JOIN LATERAL (
    SELECT c.name FROM countries_knn c ORDER BY c.geom <-> p.geom LIMIT 1
) AS k
"""
#: ``largest_share``: every patch that touches a BEN country.
COUNTRY_LARGEST_SHARE = """
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
#: The values of ``patching.country_rule``; the first is the default.
COUNTRY_RULES: tuple[str, ...] = ("reference", "largest_share")

#: For each product, the countries that can be the nearest one of any of its
#: patches: c qualifies unless it lies farther from the whole tile than some
#: other country c' can lie from any patch of it (the distance from the tile's
#: centre to c', plus half the tile's diagonal).  Usually one to three of ten.
CREATE_COUNTRY_CANDIDATES = """
CREATE TEMP TABLE country_candidates ON COMMIT DROP AS
WITH tile AS (
    SELECT product_id, epsg,
           ST_MakeEnvelope(ulx, uly - tile_side_m, ulx + tile_side_m, uly, epsg) AS g,
           ST_SetSRID(ST_MakePoint(ulx + tile_side_m / 2, uly - tile_side_m / 2),
                      epsg) AS centre,
           tile_side_m * sqrt(2) / 2 AS half_diagonal
    FROM products
)
SELECT t.product_id, c.name, c.geom
FROM tile t
JOIN countries_utm c ON c.epsg = t.epsg
WHERE ST_Distance(t.g, c.geom) <= (
    SELECT min(ST_Distance(t.centre, c2.geom)) + t.half_diagonal
    FROM countries_utm c2 WHERE c2.epsg = t.epsg
)
"""
INDEX_COUNTRY_CANDIDATES = "CREATE INDEX ON country_candidates (product_id)"
ANALYZE_COUNTRY_CANDIDATES = "ANALYZE country_candidates"
#: Patches that touch no BEN country: the nearest candidate, then the name.
COUNTRY_NEAREST = """
INSERT INTO patch_country (patch_id, country, distance_m)
SELECT p.patch_id, best.name, best.distance_m
FROM patches p
CROSS JOIN LATERAL (
    SELECT c.name, ST_Distance(p.geom, c.geom) AS distance_m
    FROM country_candidates c
    WHERE c.product_id = p.product_id
    ORDER BY 2, c.name COLLATE "C"
    LIMIT 1
) AS best
WHERE NOT EXISTS (SELECT 1 FROM patch_country pc WHERE pc.patch_id = p.patch_id)
"""

#: Pairs of same-season products whose tiles meet (in EPSG:3035, each tile
#: buffered by 100 m) and the zone where they meet: only patches there can
#: overlap a patch of the other product (about 9 % of a full grid).
CREATE_OVERLAP_ZONES = """
CREATE TEMP TABLE overlap_zones ON COMMIT DROP AS
WITH tile AS (
    SELECT product_id, season,
           ST_Buffer(ST_Transform(ST_Segmentize(ST_MakeEnvelope(
               ulx, uly - tile_side_m, ulx + tile_side_m, uly, epsg), 1000), 3035),
               100) AS g
    FROM products
)
SELECT t1.product_id AS a, t2.product_id AS b, ST_Intersection(t1.g, t2.g) AS g
FROM tile t1
JOIN tile t2
  ON t1.season = t2.season
 AND t1.product_id <> t2.product_id
 AND ST_Intersects(t1.g, t2.g)
"""
#: For each zone, its patches of product a against the patches of product b
#: they meet.  The inner query is planned on its own (OFFSET 0), so the
#: cheap product test runs before ST_Intersects, and the intersection is
#: computed once per pair.
OVERLAPS = """
INSERT INTO patch_overlaps (patch_id, other_patch_id, share)
SELECT a.patch_id, o.patch_id, o.share
FROM overlap_zones z
JOIN patches a ON a.product_id = z.a AND a.geom_3035 && z.g
CROSS JOIN LATERAL (
    SELECT b.patch_id,
           ST_Area(ST_Intersection(a.geom_3035, b.geom_3035))
             / (ST_Area(a.geom_3035) + ST_Area(b.geom_3035)) AS share
    FROM patches b
    WHERE b.geom_3035 && a.geom_3035
      AND b.product_id = z.b
      AND ST_Intersects(a.geom_3035, b.geom_3035)
    OFFSET 0
) AS o
WHERE o.share > 0.5 * %(threshold)s
"""

#: Every BEN country in the UTM zone of each product (dropped at commit).
CREATE_COUNTRIES_UTM = (
    "CREATE TEMP TABLE countries_utm ON COMMIT DROP AS"
    " SELECT e.epsg, c.name, ST_Transform(c.geom, e.epsg) AS geom"
    " FROM countries c, (SELECT DISTINCT epsg FROM patches) e"
)
INDEX_COUNTRIES_UTM = "CREATE INDEX ON countries_utm (epsg)"
#: Temporary tables are never analysed by autovacuum.
ANALYZE_COUNTRIES_UTM = "ANALYZE countries_utm"
ANALYZE_PATCHES = "ANALYZE patches"


def cross_product_foreign_keys() -> list[tuple[str, str]]:
    """(DROP CONSTRAINT, ADD CONSTRAINT) statements of the cross-product tables.

    align_v1 drops these foreign keys while it refills the tables and adds
    them back before it commits (PostgreSQL's advice for bulk loads): one
    validating join instead of a row-locking check per inserted row, 12 s of
    the 1 M-patch run.  The statements come from the model, the one home of
    the schema.
    """
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import AddConstraint

    from benpipe.db.model import metadata

    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    out = []
    for name in CROSS_PRODUCT_TABLES:
        table = metadata.tables[name]
        for fk in sorted(table.foreign_key_constraints, key=lambda c: str(c.name)):
            # isolate_from_table=False: by default AddConstraint takes the
            # constraint out of every later CREATE TABLE of this process
            # (metadata.create_all would then build the table without it).
            add = str(
                AddConstraint(fk, isolate_from_table=False).compile(dialect=dialect)
            )
            out.append((f"ALTER TABLE {name} DROP CONSTRAINT {fk.name}", add))
    return out


#: Counts for the align_v1 receipt, in the order of ALIGN_V1_STATS_KEYS.
ALIGN_V1_STATS = """
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
ALIGN_V1_STATS_KEYS: tuple[str, ...] = (
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


# ---------------------------------------------------------------- export_metadata_tables
#: file name -> (header, SQL).  Sorting is by patch_id, then the second
#: column, in byte order (COLLATE "C"), as the reference's text sort.
METADATA_TABLES: dict[str, tuple[tuple[str, str], str]] = {
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


# ------------------------------------------- check-dataset's hash lists (SQLite)
#: ``other``: a later list that gives the key a different hash.
HASH_LIST_CREATE = (
    "CREATE TABLE listed (key TEXT PRIMARY KEY, digest BLOB NOT NULL, "
    "list INTEGER NOT NULL, other INTEGER) WITHOUT ROWID"
)
HASH_LIST_INSERT = (
    "INSERT INTO listed VALUES (?, ?, ?, NULL) ON CONFLICT (key) DO "
    "UPDATE SET other = excluded.list WHERE digest != excluded.digest"
)
HASH_LIST_CLASH = "SELECT key, list FROM listed WHERE other = ? LIMIT 1"
HASH_LIST_FIND = "SELECT digest, list FROM listed WHERE key = ?"
HASH_LIST_TAKE = "DELETE FROM listed WHERE key = ? RETURNING digest, list"
HASH_LIST_ENTRIES = "SELECT key, list FROM listed ORDER BY key"


def hash_list_any_ending(endings: int) -> str:
    """Whether some key ends with one of ``endings`` suffixes (parameters:
    length, suffix per ending)."""
    where = " OR ".join("substr(key, -?) = ?" for _ in range(endings))
    return f"SELECT EXISTS (SELECT 1 FROM listed WHERE {where})"
