"""Initial schema: the PostGIS extension, the inputs and the pipeline's tables.

Revision ID: 0001
Revises:

The same schema as the first hand-written SQL files (``V001__postgis.sql``,
``V002__tables.sql``), so a database built by the old migration runner is
adopted at this revision (:mod:`benpipe.db.migrate`).  Like every revision
it is frozen: later changes of :mod:`benpipe.db.model` get a new revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _geometry(kind: str, srid: int = -1) -> Geometry:
    return Geometry(kind, srid=srid, spatial_index=False)


def _patch_fk(table: str, column: str = "patch_id") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        ["patches.patch_id"],
        name=f"{table}_{column}_fkey",
        ondelete="CASCADE",
    )


def _gist(table: str, column: str) -> None:
    op.create_index(f"{table}_{column}_gist", table, [column], postgresql_using="gist")


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")

    op.create_table(
        "clc_polygons",
        sa.Column("clc_id", sa.Text(), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("code_18", sa.SmallInteger(), nullable=False),
        sa.Column("remark", sa.Text()),
        sa.Column("area_ha", sa.Double()),
        sa.Column("geom", _geometry("POLYGON", 3035), nullable=False),
        sa.PrimaryKeyConstraint("clc_id", "part", name="clc_polygons_pkey"),
    )
    _gist("clc_polygons", "geom")

    op.create_table(
        "countries",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("geom", _geometry("MULTIPOLYGON", 4326), nullable=False),
        sa.PrimaryKeyConstraint("name", name="countries_pkey"),
    )
    _gist("countries", "geom")

    op.create_table(
        "v1_footprints",
        sa.Column("patch_name", sa.Text(), nullable=False),
        sa.Column("epsg", sa.Integer(), nullable=False),
        sa.Column("sensing_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("season", sa.Text(), nullable=False),
        sa.Column("geom", _geometry("POLYGON"), nullable=False),
        sa.CheckConstraint("ST_SRID(geom) = epsg", name="v1_footprints_check"),
        sa.PrimaryKeyConstraint("patch_name", name="v1_footprints_pkey"),
    )
    op.create_index("v1_footprints_epsg_season", "v1_footprints", ["epsg", "season"])
    _gist("v1_footprints", "geom")

    op.create_table(
        "products",
        sa.Column("product_id", sa.Text(), nullable=False),
        sa.Column("tile_dir", sa.Text(), nullable=False),
        sa.Column("epsg", sa.Integer(), nullable=False),
        sa.Column("ulx", sa.Double(), nullable=False),
        sa.Column("uly", sa.Double(), nullable=False),
        sa.Column("tile_side_m", sa.Double(), nullable=False),
        sa.Column("sensing_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("season", sa.Text(), nullable=False),
        sa.Column("quality_checks", postgresql.JSONB(), nullable=False),
        sa.Column("fails_quality", sa.Boolean(), nullable=False),
        sa.Column("processor", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("product_id", name="products_pkey"),
    )

    op.create_table(
        "patches",
        sa.Column("patch_id", sa.Text(), nullable=False),
        sa.Column("product_id", sa.Text(), nullable=False),
        sa.Column("col", sa.SmallInteger(), nullable=False),
        sa.Column("row", sa.SmallInteger(), nullable=False),
        sa.Column("epsg", sa.Integer(), nullable=False),
        sa.Column("season", sa.Text(), nullable=False),
        sa.Column("split", sa.Text(), nullable=False),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.Column("geom", _geometry("POLYGON"), nullable=False),
        sa.Column("geom_3035", _geometry("POLYGON", 3035), nullable=False),
        sa.CheckConstraint(
            "split IN ('train', 'validation', 'test')", name="patches_split_check"
        ),
        sa.CheckConstraint("ST_SRID(geom) = epsg", name="patches_check"),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.product_id"],
            name="patches_product_id_fkey",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("patch_id", name="patches_pkey"),
        sa.UniqueConstraint(
            "product_id", "col", "row", name="patches_product_id_col_row_key"
        ),
    )
    op.create_index("patches_product", "patches", ["product_id"])
    op.create_index("patches_epsg_season", "patches", ["epsg", "season"])
    _gist("patches", "geom")
    _gist("patches", "geom_3035")

    op.create_table(
        "product_labelling",
        sa.Column("product_id", sa.Text(), nullable=False),
        sa.Column("has_clc", sa.Boolean(), nullable=False),
        sa.Column("clc_polygons", sa.Integer(), nullable=False),
        sa.Column("fails_quality", sa.Boolean(), nullable=False),
        sa.Column("maps", sa.Integer(), nullable=False),
        sa.Column("kept", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.product_id"],
            name="product_labelling_product_id_fkey",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("product_id", name="product_labelling_pkey"),
    )

    op.create_table(
        "patch_labelling",
        sa.Column("patch_id", sa.Text(), nullable=False),
        sa.Column("unlabeled_fraction", sa.Double(), nullable=False),
        sa.Column("kept", sa.Boolean(), nullable=False),
        sa.Column("has_reference_map", sa.Boolean(), nullable=False),
        _patch_fk("patch_labelling"),
        sa.PrimaryKeyConstraint("patch_id", name="patch_labelling_pkey"),
    )

    op.create_table(
        "patch_class_counts",
        sa.Column("patch_id", sa.Text(), nullable=False),
        sa.Column("code_18", sa.SmallInteger(), nullable=False),
        sa.Column("pixels", sa.Integer(), nullable=False),
        sa.CheckConstraint("pixels > 0", name="patch_class_counts_pixels_check"),
        _patch_fk("patch_class_counts"),
        sa.PrimaryKeyConstraint("patch_id", "code_18", name="patch_class_counts_pkey"),
    )

    op.create_table(
        "patch_labels",
        sa.Column("patch_id", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        _patch_fk("patch_labels"),
        sa.PrimaryKeyConstraint("patch_id", "label", name="patch_labels_pkey"),
    )

    op.create_table(
        "patch_alignment",
        sa.Column("patch_id", sa.Text(), nullable=False),
        sa.Column("s2v1_name", sa.Text(), nullable=False),
        _patch_fk("patch_alignment"),
        sa.PrimaryKeyConstraint("patch_id", name="patch_alignment_pkey"),
    )

    op.create_table(
        "patch_country",
        sa.Column("patch_id", sa.Text(), nullable=False),
        sa.Column("country", sa.Text(), nullable=False),
        sa.Column("distance_m", sa.Double(), nullable=False),
        _patch_fk("patch_country"),
        sa.PrimaryKeyConstraint("patch_id", name="patch_country_pkey"),
    )

    op.create_table(
        "patch_overlaps",
        sa.Column("patch_id", sa.Text(), nullable=False),
        sa.Column("other_patch_id", sa.Text(), nullable=False),
        sa.Column("share", sa.Double(), nullable=False),
        _patch_fk("patch_overlaps"),
        _patch_fk("patch_overlaps", "other_patch_id"),
        sa.PrimaryKeyConstraint(
            "patch_id", "other_patch_id", name="patch_overlaps_pkey"
        ),
    )


def downgrade() -> None:
    """Drop the tables (and their rows); the PostGIS extension stays."""
    for table in (
        "patch_overlaps",
        "patch_country",
        "patch_alignment",
        "patch_labels",
        "patch_class_counts",
        "patch_labelling",
        "product_labelling",
        "patches",
        "products",
        "v1_footprints",
        "countries",
        "clc_polygons",
    ):
        op.drop_table(table)
