"""``start_database``: start (or reach) the server and migrate its schema."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from benpipe.db.lifecycle import DbSettings, connect, start
from benpipe.db.migrate import upgrade_schema
from benpipe.fileio import write_json_atomic

log = logging.getLogger(__name__)

#: 2: Alembic revisions replace the hand-written runner's migration list.
ALGORITHM_VERSION = 2


def init_database(
    settings: DbSettings, *, receipt: Path | None = None, rebuild: bool = False
) -> dict[str, Any]:
    """Start/reach the server, upgrade the schema, write the schema receipt.

    The receipt holds the server kind and versions and the Alembic revision,
    never the URL's user info or a password.  ``rebuild``: see
    :func:`benpipe.db.migrate.upgrade_schema`.
    """
    target = start(settings)
    state = upgrade_schema(settings, rebuild=rebuild)
    with connect(settings) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        postgis = conn.execute("SELECT postgis_lib_version()").fetchone()
    info: dict[str, Any] = {
        "server_kind": settings.kind,
        "server_version": str(row[0]) if row else None,
        "postgis_version": str(postgis[0]) if postgis else None,
        "schema_revision": state.revision,
        "migrations": state.migrations,
        "algorithm_version": ALGORITHM_VERSION,
    }
    log.info(
        "schema ready on %s: revision %s (%s)", target, state.revision, state.outcome
    )
    if receipt is not None:
        write_json_atomic(receipt, info)
    return info
