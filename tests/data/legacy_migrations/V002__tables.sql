-- benpipe schema V002: inputs, per-product results and cross-product results.
-- Geometries of patches and v1 footprints keep their tile's UTM SRID
-- (mixed-SRID columns, with the SRID also stored as epsg); CLC is EPSG:3035.

-- CORINE Land Cover polygons, dumped to single polygons and ST_Subdivide'd.
CREATE TABLE clc_polygons (
    clc_id   text     NOT NULL,
    part     integer  NOT NULL,
    code_18  smallint NOT NULL,
    remark   text,
    area_ha  double precision,
    geom     geometry(Polygon, 3035) NOT NULL,
    PRIMARY KEY (clc_id, part)
);
CREATE INDEX clc_polygons_geom_gist ON clc_polygons USING gist (geom);

-- The 10 BigEarthNet countries (Natural Earth admin-0, EPSG:4326).
CREATE TABLE countries (
    name text PRIMARY KEY,
    geom geometry(MultiPolygon, 4326) NOT NULL
);
CREATE INDEX countries_geom_gist ON countries USING gist (geom);

-- BigEarthNet v1 footprints (bigearthnet_v1_spatial_<EPSG>.parquet).
CREATE TABLE v1_footprints (
    patch_name   text PRIMARY KEY,
    epsg         integer     NOT NULL,
    sensing_time timestamptz NOT NULL,
    season       text        NOT NULL,
    geom         geometry(Polygon) NOT NULL CHECK (ST_SRID(geom) = epsg)
);
CREATE INDEX v1_footprints_epsg_season ON v1_footprints (epsg, season);
CREATE INDEX v1_footprints_geom_gist ON v1_footprints USING gist (geom);

-- One row per L2A product (inserted by build_patch_grid).
CREATE TABLE products (
    product_id     text PRIMARY KEY,          -- L2A name without .SAFE
    tile_dir       text        NOT NULL,
    epsg           integer     NOT NULL,
    ulx            double precision NOT NULL,
    uly            double precision NOT NULL,
    tile_side_m    double precision NOT NULL,
    sensing_time   timestamptz NOT NULL,
    season         text        NOT NULL,
    quality_checks jsonb       NOT NULL,
    fails_quality  boolean     NOT NULL,
    processor      text        NOT NULL
);

-- The patch grid: complete 1200 m patches from the tile's upper-left corner.
CREATE TABLE patches (
    patch_id   text PRIMARY KEY,
    product_id text     NOT NULL REFERENCES products ON DELETE CASCADE,
    col        smallint NOT NULL,
    "row"      smallint NOT NULL,
    epsg       integer  NOT NULL,
    season     text     NOT NULL,
    split      text     NOT NULL CHECK (split IN ('train', 'validation', 'test')),
    valid      boolean  NOT NULL,
    geom       geometry(Polygon) NOT NULL CHECK (ST_SRID(geom) = epsg),
    geom_3035  geometry(Polygon, 3035) NOT NULL,
    UNIQUE (product_id, col, "row")
);
CREATE INDEX patches_product ON patches (product_id);
CREATE INDEX patches_epsg_season ON patches (epsg, season);
CREATE INDEX patches_geom_gist ON patches USING gist (geom);
CREATE INDEX patches_geom_3035_gist ON patches USING gist (geom_3035);

-- Labelling status of a product (label_patches).
CREATE TABLE product_labelling (
    product_id    text PRIMARY KEY REFERENCES products ON DELETE CASCADE,
    has_clc       boolean NOT NULL,
    clc_polygons  integer NOT NULL,
    fails_quality boolean NOT NULL,
    maps          integer NOT NULL,
    kept          integer NOT NULL
);

-- Per-patch labelling result (valid patches of products with CLC).
CREATE TABLE patch_labelling (
    patch_id           text PRIMARY KEY REFERENCES patches ON DELETE CASCADE,
    unlabeled_fraction double precision NOT NULL,
    kept               boolean NOT NULL,
    has_reference_map  boolean NOT NULL
);

-- Pixel counts per CLC code of each reference map.
CREATE TABLE patch_class_counts (
    patch_id text     NOT NULL REFERENCES patches ON DELETE CASCADE,
    code_18  smallint NOT NULL,
    pixels   integer  NOT NULL CHECK (pixels > 0),
    PRIMARY KEY (patch_id, code_18)
);

-- BEN-19 labels of kept patches of products that pass the quality checks.
CREATE TABLE patch_labels (
    patch_id text NOT NULL REFERENCES patches ON DELETE CASCADE,
    label    text NOT NULL,
    PRIMARY KEY (patch_id, label)
);

-- Cross-product results (align_v1).
CREATE TABLE patch_alignment (
    patch_id  text PRIMARY KEY REFERENCES patches ON DELETE CASCADE,
    s2v1_name text NOT NULL
);
CREATE TABLE patch_country (
    patch_id   text PRIMARY KEY REFERENCES patches ON DELETE CASCADE,
    country    text NOT NULL,
    distance_m double precision NOT NULL
);
CREATE TABLE patch_overlaps (
    patch_id       text NOT NULL REFERENCES patches ON DELETE CASCADE,
    other_patch_id text NOT NULL REFERENCES patches ON DELETE CASCADE,
    share          double precision NOT NULL,
    PRIMARY KEY (patch_id, other_patch_id)
);
