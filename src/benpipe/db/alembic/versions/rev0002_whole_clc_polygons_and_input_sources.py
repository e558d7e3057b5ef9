"""Whole CLC polygons, their subdivided pieces, input sources and the run owner.

Revision ID: 0002
Revises: 0001

* ``clc_polygons`` now holds each dumped CORINE polygon whole (the labels
  burn it, transformed once, as the reference intersects it); the
  ``ST_Subdivide`` pieces move to the new ``clc_subdivided``, the spatial
  prefilter only.  Rows of ``clc_polygons`` written under 0001 are pieces,
  from which the whole polygons cannot be rebuilt exactly, so they are
  deleted: the ingest's new algorithm version reruns ``ingest_clc``, and until
  then ``label_patches`` reports that the CLC table is empty.
* ``input_sources``: the sha256 of what each input table was loaded from,
  checked by every step that reads an input (a shared server never mixes
  runs' inputs).
* ``run_owner``: the working directory of the run that owns the schema.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_owner",
        sa.Column("working_dir", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("working_dir", name="run_owner_pkey"),
    )
    op.create_table(
        "input_sources",
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("detail", postgresql.JSONB(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('clc', 'countries', 'v1_footprints')",
            name="input_sources_kind_check",
        ),
        sa.PrimaryKeyConstraint("kind", name="input_sources_pkey"),
    )
    # 0001 stored subdivided pieces here: not the whole polygons (see above).
    op.execute("DELETE FROM clc_polygons")
    op.create_table(
        "clc_subdivided",
        sa.Column("clc_id", sa.Text(), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("piece", sa.Integer(), nullable=False),
        sa.Column(
            "geom",
            Geometry("POLYGON", srid=3035, spatial_index=False),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["clc_id", "part"],
            ["clc_polygons.clc_id", "clc_polygons.part"],
            name="clc_subdivided_clc_id_part_fkey",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("clc_id", "part", "piece", name="clc_subdivided_pkey"),
    )
    op.create_index(
        "clc_subdivided_geom_gist",
        "clc_subdivided",
        ["geom"],
        postgresql_using="gist",
    )


def downgrade() -> None:
    """Drop the new tables; ``clc_polygons`` is emptied (0001 held pieces)."""
    op.drop_table("clc_subdivided")
    op.drop_table("input_sources")
    op.drop_table("run_owner")
    op.execute("DELETE FROM clc_polygons")
