"""The db stage's SQL, in one place: named statements, grouped by concern.

Two parameter styles meet here, and the type says which one a statement has:

* plain strings and ``psycopg.sql.SQL`` templates run on psycopg connections
  (:func:`benpipe.db.lifecycle.connect`): ``%s`` parameters, identifiers
  composed with ``psycopg.sql.Identifier``;
* ``sqlalchemy.text`` clauses run on SQLAlchemy connections (migrations and
  the catalog): ``:name`` parameters.  Where a name must be quoted by the
  dialect (``identifier_preparer``), the statement is a ``str.format``
  template with named fields, wrapped in ``text()`` once filled.

The tables themselves are defined in :mod:`benpipe.db.model`, created by the
Alembic revisions in ``alembic/versions`` (frozen history: they keep their
own SQL).  The dataset stage's statements are in :mod:`benpipe.dataset.sql`.
"""

from __future__ import annotations

from psycopg.sql import SQL
from sqlalchemy import text

# ---------------------------------------------------------------- server and session
# (benpipe.db.lifecycle; psycopg)

#: Is the server there at all (an external server's first contact).
PING = "SELECT 1"
#: The server's version, for ``status`` and the schema receipt.
SERVER_VERSION = "SHOW server_version"
#: Does the embedded cluster's database exist yet.
DATABASE_EXISTS = "SELECT 1 FROM pg_database WHERE datname = %s"
#: Create the embedded cluster's database (fill in its Identifier).
CREATE_DATABASE = SQL("CREATE DATABASE {} TEMPLATE template0")
#: Prepend the run's schema to the session's search_path (keeping the
#: server's own entries, e.g. where PostGIS lives) for the whole session.
SET_SEARCH_PATH = (
    "SELECT set_config('search_path', quote_ident(%s) || ', '"
    " || current_setting('search_path'), false)"
)
#: Where unqualified table names now resolve (None: no schema of the path exists).
CURRENT_SCHEMA = "SELECT current_schema()"

# ---------------------------------------------------------------- run schemas
# (benpipe.db.schema; psycopg)

#: Keep other runs from claiming the schema until the transaction ends.
LOCK_RUN_OWNER = "LOCK TABLE run_owner IN EXCLUSIVE MODE"
#: The working directory (or directories) that claimed the run's schema.
RUN_OWNERS = "SELECT working_dir FROM run_owner"
#: Claim the run's schema for a working directory.
CLAIM_RUN = "INSERT INTO run_owner (working_dir) VALUES (%s)"
#: The PostGIS library version, for the schema receipt.
POSTGIS_VERSION = "SELECT postgis_lib_version()"
#: Schemas that hold a run's tables (a ``run_owner`` table), with their size.
RUN_SCHEMAS = """
SELECT n.nspname,
       (SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)
        FROM pg_class c WHERE c.relnamespace = n.oid AND c.relkind = 'r')
FROM pg_namespace n
WHERE EXISTS (SELECT 1 FROM pg_class c
              WHERE c.relnamespace = n.oid AND c.relname = 'run_owner')
ORDER BY n.nspname
"""
#: The owners of one run schema (fill in its Identifier).
SCHEMA_RUN_OWNERS = SQL("SELECT working_dir FROM {}.run_owner")
#: The Alembic revision of one run schema (fill in its Identifier).
SCHEMA_REVISION = SQL("SELECT version_num FROM {}.alembic_version")
#: Drop one run schema with every table and row (fill in its Identifier).
DROP_SCHEMA = SQL("DROP SCHEMA {} CASCADE")

# ---------------------------------------------------------------- migrations
# (benpipe.db.migrate; SQLAlchemy)

#: Serialise migrations of every run (until the transaction ends).
ADVISORY_XACT_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
#: PostGIS goes into ``public``, never into a run's schema.
INSTALL_POSTGIS = text("CREATE EXTENSION IF NOT EXISTS postgis SCHEMA public")
#: Template: create the run's schema (``schema`` quoted by the dialect).
CREATE_SCHEMA = "CREATE SCHEMA IF NOT EXISTS {schema}"
#: Prepend ``:schema`` to the search_path until the transaction ends.
SET_LOCAL_SEARCH_PATH = text(
    "SELECT set_config('search_path', quote_ident(:schema) || ', '"
    " || current_setting('search_path'), true)"
)
#: The name of the session's temporary schema (``pg_temp_<n>``).
TEMP_SCHEMA = text("SELECT nspname FROM pg_namespace WHERE oid = pg_my_temp_schema()")
#: Which of ``:names`` are tables in the first schema of the search_path.
TABLES_PRESENT = text(
    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
    "AND tablename = ANY(:names) ORDER BY tablename"
)
#: Template: the migrations the old hand-written runner recorded in ``table``.
LEGACY_RECORDED = "SELECT version, name FROM {table} ORDER BY version"
#: Template: the number of rows of ``table`` (quoted by the dialect).
COUNT_ROWS = "SELECT count(*) FROM {table}"
#: Template: drop ``tables`` (a comma-separated list of quoted names).
DROP_TABLES = "DROP TABLE {tables}"

# ---------------------------------------------------------------- catalog
# (benpipe.db.catalog; SQLAlchemy; ``:every`` or ``relname = ANY(:tables)``)

#: Every column of the tables in ``:schema``, in table order: name, type with
#: the PostGIS typmod, NOT NULL, default.
TABLE_COLUMNS = text(
    """
    SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
           a.attnotnull, pg_get_expr(d.adbin, d.adrelid)
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
    WHERE n.nspname = :schema AND c.relkind IN ('r', 'p') AND (:every OR c.relname = ANY(:tables))
    ORDER BY c.relname, a.attnum
    """
)
#: Every constraint of the tables in ``:schema``, with its definition.
TABLE_CONSTRAINTS = text(
    """
    SELECT c.relname, k.conname, pg_get_constraintdef(k.oid)
    FROM pg_constraint k
    JOIN pg_class c ON c.oid = k.conrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = :schema AND (:every OR c.relname = ANY(:tables))
    """
)
#: Every index of the tables in ``:schema``, with its definition.
TABLE_INDEXES = text(
    """
    SELECT c.relname, i.relname, pg_get_indexdef(i.oid)
    FROM pg_index x
    JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_class c ON c.oid = x.indrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = :schema AND (:every OR c.relname = ANY(:tables))
    """
)

# ---------------------------------------------------------------- input sources
# (benpipe.db.ingest; psycopg)

#: Serialise ingests of one kind into one schema (key: a text, until commit).
INGEST_LOCK = "SELECT pg_advisory_xact_lock(hashtext(%s))"
#: Record (or replace) what an ingest loaded: kind, sha256, source, rows, detail.
RECORD_INPUT = (
    "INSERT INTO input_sources (kind, sha256, source, rows, detail)"
    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (kind) DO UPDATE SET"
    " sha256 = EXCLUDED.sha256, source = EXCLUDED.source,"
    " rows = EXCLUDED.rows, detail = EXCLUDED.detail"
)
#: What the run's schema holds for one kind, locked until the reader commits.
INPUT_SOURCE_FOR_SHARE = (
    "SELECT sha256, source, rows FROM input_sources WHERE kind = %s FOR SHARE"
)

# ---------------------------------------------------------------- CORINE
# (benpipe.db.ingest.ingest_clc; psycopg)

#: The features as read, before they are dumped into polygons.
CREATE_CLC_STAGING = (
    "CREATE TEMP TABLE clc_staging (clc_id text, code_18 smallint, remark text,"
    " area_ha double precision, geom geometry) ON COMMIT DROP"
)
#: Load the features (clc_id, code_18, remark, area_ha, hex EWKB).
COPY_CLC_STAGING = (
    "COPY clc_staging (clc_id, code_18, remark, area_ha, geom) FROM STDIN"
)
#: Empty both CLC tables (the pieces reference the polygons).
TRUNCATE_CLC = "TRUNCATE clc_subdivided, clc_polygons"
#: Whole polygons: each feature dumped (``part`` = the polygon's index in it),
#: invalid ones repaired with ST_MakeValid first.
INSERT_CLC_POLYGONS = """
INSERT INTO clc_polygons (clc_id, part, code_18, remark, area_ha, geom)
SELECT s.clc_id, COALESCE(d.path[1], 1), s.code_18, s.remark, s.area_ha,
       ST_SetSRID(d.geom, 3035)
FROM clc_staging s,
LATERAL ST_Dump(
    CASE WHEN ST_IsValid(s.geom) THEN s.geom
         ELSE ST_CollectionExtract(ST_MakeValid(s.geom), 3) END
) AS d
WHERE GeometryType(d.geom) = 'POLYGON'
"""
#: The prefilter: pieces of at most ``%s`` vertices
#: (:data:`benpipe.db.ingest.SUBDIVIDE_MAX_VERTICES`).
INSERT_CLC_SUBDIVIDED = """
INSERT INTO clc_subdivided (clc_id, part, piece, geom)
SELECT clc_id, part,
       row_number() OVER (PARTITION BY clc_id, part ORDER BY ST_AsBinary(g)), g
FROM (
    SELECT clc_id, part, ST_Subdivide(geom, %s) AS g FROM clc_polygons
) AS q
"""
#: Fresh planner statistics once the rows are committed.
ANALYZE_CLC = ("ANALYZE clc_polygons", "ANALYZE clc_subdivided")

# ---------------------------------------------------------------- countries
# (benpipe.db.ingest.ingest_countries; psycopg)

#: Empty the table before the load (the ingest replaces it whole).
TRUNCATE_COUNTRIES = "TRUNCATE countries"
#: Load the countries (name, hex EWKB MultiPolygon in EPSG:4326).
COPY_COUNTRIES = "COPY countries (name, geom) FROM STDIN"
#: Fresh planner statistics once the rows are committed.
ANALYZE_COUNTRIES = "ANALYZE countries"

# ---------------------------------------------------------------- v1 footprints
# (benpipe.db.ingest.ingest_v1_footprints; psycopg)

#: Empty the table before the load (the ingest replaces it whole).
TRUNCATE_V1_FOOTPRINTS = "TRUNCATE v1_footprints"
#: Load the footprints (patch name, EPSG, sensing time, season, hex EWKB).
COPY_V1_FOOTPRINTS = (
    "COPY v1_footprints (patch_name, epsg, sensing_time, season, geom) FROM STDIN"
)
#: Fresh planner statistics once the rows are committed.
ANALYZE_V1_FOOTPRINTS = "ANALYZE v1_footprints"
