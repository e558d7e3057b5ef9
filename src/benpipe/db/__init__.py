"""PostGIS: the embedded cluster's lifecycle, schema migrations and ingest.

``lifecycle`` starts/stops a private PostgreSQL + PostGIS cluster (or selects
an external server through ``database.url``), ``migrations`` applies the
versioned SQL files in ``migrations/``, ``ingest`` loads CLC, countries and v1
footprints.  Every writer is idempotent and transactional.
"""
