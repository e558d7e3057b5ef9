"""The catalogue stage: GeoParquet patch catalogue, STAC, query and subset."""
