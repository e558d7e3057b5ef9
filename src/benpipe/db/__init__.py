"""PostGIS: the server's lifecycle, the schema and its migrations, ingest.

``lifecycle`` starts/stops a private PostgreSQL + PostGIS cluster (or reaches
an external server through ``database.url``, parsed by ``url``) and hands out
psycopg connections and SQLAlchemy engines; ``model`` defines every table
(SQLAlchemy Core + GeoAlchemy2); ``migrate`` applies the Alembic revisions in
``alembic/versions`` (``catalog`` compares tables in the server's catalog);
``ingest`` loads CLC, countries and v1 footprints; ``schema`` migrates and
claims a run's schema, lists and drops run schemas; ``sql`` holds the text of
every statement (the Alembic revisions keep theirs).  Every writer is
idempotent and transactional.
"""
