-- benpipe schema V001: the PostGIS extension.
CREATE EXTENSION IF NOT EXISTS postgis;
