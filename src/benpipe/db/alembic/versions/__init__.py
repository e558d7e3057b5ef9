"""Alembic revisions, one file per schema change (``rev<id>_<slug>.py``)."""
