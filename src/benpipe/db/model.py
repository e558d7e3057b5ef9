"""The database model: every table, index and constraint of benpipe's PostGIS.

SQLAlchemy Core + GeoAlchemy2, the one home of the schema.  Alembic revisions
(``benpipe/db/alembic/versions``) move a database from one state of this model
to the next; a test checks that upgrading an empty database to the head
revision gives exactly these definitions (types, SRIDs, indexes, constraints).

Geometries of patches and v1 footprints keep their tile's UTM SRID: the column
type has no SRID and a CHECK ties each row's SRID to its ``epsg`` column.  CLC
is EPSG:3035, countries EPSG:4326.  Spatial indexes are declared explicitly
(GiST, named ``<table>_<column>_gist``) instead of GeoAlchemy2's automatic ones.

Constraint names follow PostgreSQL's own defaults (``<table>_pkey``,
``<table>_<columns>_key``, ``<table>_<columns>_fkey``, ``<table>_<column>_check``
or ``<table>_check`` for a check on two columns),
the names the first schema (hand-written SQL) got from the server, so a
database built by that SQL and one built by Alembic are identical.
"""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(
    naming_convention={
        "pk": "%(table_name)s_pkey",
        "uq": "%(table_name)s_%(column_0_N_name)s_key",
        "fk": "%(table_name)s_%(column_0_N_name)s_fkey",
    }
)


def _geometry(kind: str, srid: int | None = None) -> Geometry:
    """A PostGIS geometry column type; no SRID = one SRID per row (checked)."""
    return Geometry(kind, srid=srid if srid is not None else -1, spatial_index=False)


def _patch_fk() -> ForeignKey:
    return ForeignKey("patches.patch_id", ondelete="CASCADE")


def _srid_is_epsg(table: str) -> CheckConstraint:
    # PostgreSQL named this two-column check <table>_check in the first schema
    return CheckConstraint("ST_SRID(geom) = epsg", name=f"{table}_check")


# ---------------------------------------------------------------- the run
#: The run that owns this schema (one row: its working directory).  A second
#: run that names the same schema is refused (docs/labelling.md, "Shared
#: servers").
run_owner = Table(
    "run_owner",
    metadata,
    Column("working_dir", Text, primary_key=True),
)

#: What each input table holds: the sha256 of the source it was loaded from
#: (for a folder, of its files' names and hashes).  Every step that reads an
#: input checks it against the receipt of the ingest it depends on.
input_sources = Table(
    "input_sources",
    metadata,
    Column("kind", Text, primary_key=True),
    Column("sha256", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("detail", JSONB, nullable=False),
    CheckConstraint(
        "kind IN ('clc', 'countries', 'v1_footprints')",
        name="input_sources_kind_check",
    ),
)

# ---------------------------------------------------------------- inputs
#: CORINE Land Cover polygons, dumped to single polygons (``part`` = the
#: polygon's 1-based index in its feature), whole: what the labels burn.
clc_polygons = Table(
    "clc_polygons",
    metadata,
    Column("clc_id", Text, nullable=False),
    Column("part", Integer, nullable=False),
    Column("code_18", SmallInteger, nullable=False),
    Column("remark", Text),
    Column("area_ha", Double),
    Column("geom", _geometry("POLYGON", 3035), nullable=False),
    PrimaryKeyConstraint("clc_id", "part"),
    Index("clc_polygons_geom_gist", "geom", postgresql_using="gist"),
)

#: ``ST_Subdivide`` pieces (<= 256 vertices) of each CLC polygon: only the
#: spatial prefilter of the labelling (a piece that meets a tile selects its
#: whole polygon).  Never burnt: their straight cut lines, transformed piece
#: by piece, leave cracks between neighbours.
clc_subdivided = Table(
    "clc_subdivided",
    metadata,
    Column("clc_id", Text, nullable=False),
    Column("part", Integer, nullable=False),
    Column("piece", Integer, nullable=False),
    Column("geom", _geometry("POLYGON", 3035), nullable=False),
    PrimaryKeyConstraint("clc_id", "part", "piece"),
    ForeignKeyConstraint(
        ["clc_id", "part"],
        ["clc_polygons.clc_id", "clc_polygons.part"],
        ondelete="CASCADE",
    ),
    Index("clc_subdivided_geom_gist", "geom", postgresql_using="gist"),
)

#: The 10 BigEarthNet countries (Natural Earth admin-0, EPSG:4326).
countries = Table(
    "countries",
    metadata,
    Column("name", Text, primary_key=True),
    Column("geom", _geometry("MULTIPOLYGON", 4326), nullable=False),
    Index("countries_geom_gist", "geom", postgresql_using="gist"),
)

#: BigEarthNet v1 footprints (``bigearthnet_v1_spatial_<EPSG>.parquet``).
v1_footprints = Table(
    "v1_footprints",
    metadata,
    Column("patch_name", Text, primary_key=True),
    Column("epsg", Integer, nullable=False),
    Column("sensing_time", DateTime(timezone=True), nullable=False),
    Column("season", Text, nullable=False),
    Column("geom", _geometry("POLYGON"), nullable=False),
    _srid_is_epsg("v1_footprints"),
    Index("v1_footprints_epsg_season", "epsg", "season"),
    Index("v1_footprints_geom_gist", "geom", postgresql_using="gist"),
)

# ---------------------------------------------------------------- per product
#: One row per L2A product (``product_id`` = L2A name without .SAFE).
products = Table(
    "products",
    metadata,
    Column("product_id", Text, primary_key=True),
    Column("tile_dir", Text, nullable=False),
    Column("epsg", Integer, nullable=False),
    Column("ulx", Double, nullable=False),
    Column("uly", Double, nullable=False),
    Column("tile_side_m", Double, nullable=False),
    Column("sensing_time", DateTime(timezone=True), nullable=False),
    Column("season", Text, nullable=False),
    Column("quality_checks", JSONB, nullable=False),
    Column("fails_quality", Boolean, nullable=False),
    Column("processor", Text, nullable=False),
)

#: The patch grid: complete patches from the tile's upper-left corner.
patches = Table(
    "patches",
    metadata,
    Column("patch_id", Text, primary_key=True),
    Column(
        "product_id",
        Text,
        ForeignKey("products.product_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("col", SmallInteger, nullable=False),
    Column("row", SmallInteger, nullable=False),
    Column("epsg", Integer, nullable=False),
    Column("season", Text, nullable=False),
    Column("split", Text, nullable=False),
    Column("valid", Boolean, nullable=False),
    Column("geom", _geometry("POLYGON"), nullable=False),
    Column("geom_3035", _geometry("POLYGON", 3035), nullable=False),
    CheckConstraint(
        "split IN ('train', 'validation', 'test')", name="patches_split_check"
    ),
    _srid_is_epsg("patches"),
    UniqueConstraint("product_id", "col", "row"),
    Index("patches_product", "product_id"),
    Index("patches_epsg_season", "epsg", "season"),
    Index("patches_geom_gist", "geom", postgresql_using="gist"),
    Index("patches_geom_3035_gist", "geom_3035", postgresql_using="gist"),
)

#: Labelling status of a product (label_patches).
product_labelling = Table(
    "product_labelling",
    metadata,
    Column(
        "product_id",
        Text,
        ForeignKey("products.product_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("has_clc", Boolean, nullable=False),
    Column("clc_polygons", Integer, nullable=False),
    Column("fails_quality", Boolean, nullable=False),
    Column("maps", Integer, nullable=False),
    Column("kept", Integer, nullable=False),
)

#: Per-patch labelling result (valid patches of products with CLC).
patch_labelling = Table(
    "patch_labelling",
    metadata,
    Column("patch_id", Text, _patch_fk(), primary_key=True),
    Column("unlabeled_fraction", Double, nullable=False),
    Column("kept", Boolean, nullable=False),
    Column("has_reference_map", Boolean, nullable=False),
)

#: Pixel counts per CLC code of each reference map.
patch_class_counts = Table(
    "patch_class_counts",
    metadata,
    Column("patch_id", Text, _patch_fk(), nullable=False),
    Column("code_18", SmallInteger, nullable=False),
    Column("pixels", Integer, nullable=False),
    PrimaryKeyConstraint("patch_id", "code_18"),
    CheckConstraint("pixels > 0", name="patch_class_counts_pixels_check"),
)

#: BEN-19 labels of kept patches of products that pass the quality checks.
patch_labels = Table(
    "patch_labels",
    metadata,
    Column("patch_id", Text, _patch_fk(), nullable=False),
    Column("label", Text, nullable=False),
    PrimaryKeyConstraint("patch_id", "label"),
)

# ---------------------------------------------------------------- across products
#: v2 patch -> v1 patch name (align_v1).
patch_alignment = Table(
    "patch_alignment",
    metadata,
    Column("patch_id", Text, _patch_fk(), primary_key=True),
    Column("s2v1_name", Text, nullable=False),
)

#: Country of each patch (align_v1).
patch_country = Table(
    "patch_country",
    metadata,
    Column("patch_id", Text, _patch_fk(), primary_key=True),
    Column("country", Text, nullable=False),
    Column("distance_m", Double, nullable=False),
)

#: Cross-tile overlaps of same-season patches (align_v1).
patch_overlaps = Table(
    "patch_overlaps",
    metadata,
    Column("patch_id", Text, _patch_fk(), nullable=False),
    Column(
        "other_patch_id",
        Text,
        ForeignKey("patches.patch_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("share", Double, nullable=False),
    PrimaryKeyConstraint("patch_id", "other_patch_id"),
)

#: Table names in creation order (referenced tables first).
TABLE_NAMES: tuple[str, ...] = tuple(t.name for t in metadata.sorted_tables)
