"""Alembic script directory of benpipe's schema (``env.py`` + ``versions/``).

Run through :mod:`benpipe.db.migrate` (``benpipe db up``, rule
``start_database``); no ``alembic.ini`` is needed.
"""
