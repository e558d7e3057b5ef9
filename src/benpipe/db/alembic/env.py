"""Alembic environment: migrate the connection that benpipe hands over.

:func:`benpipe.db.migrate.upgrade_schema` opens one transaction (holding an
advisory lock), puts its connection into ``config.attributes["connection"]``
and calls ``alembic.command.upgrade``; every revision then runs inside that
transaction.  There is no offline (``--sql``) mode and no ``alembic.ini``.
"""

from __future__ import annotations

from alembic import context

from benpipe.db.migrate import autogenerate_options
from benpipe.errors import DatabaseError


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if context.is_offline_mode() or connection is None:
        raise DatabaseError(
            "benpipe's Alembic environment needs a live connection; run the "
            "migrations with `benpipe db up` (or benpipe.db.migrate.upgrade_schema)"
        )
    context.configure(
        connection=connection,
        version_table_schema=context.config.attributes.get("version_table_schema"),
        **autogenerate_options(),
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
