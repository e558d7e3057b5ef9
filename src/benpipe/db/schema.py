"""``start_database``: start (or reach) the server and apply the migrations."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from benpipe.db.lifecycle import DbSettings, connect, start
from benpipe.db.migrations import apply_migrations
from benpipe.fileio import write_json_atomic

log = logging.getLogger(__name__)

ALGORITHM_VERSION = 1


def init_database(
    settings: DbSettings, *, receipt: Path | None = None
) -> dict[str, Any]:
    """Start/reach the server, apply migrations, write the schema receipt."""
    target = start(settings)
    with connect(settings) as conn:
        applied = apply_migrations(conn)
        row = conn.execute("SHOW server_version").fetchone()
        postgis = conn.execute("SELECT postgis_lib_version()").fetchone()
    info: dict[str, Any] = {
        "server_kind": settings.kind,
        "server_version": str(row[0]) if row else None,
        "postgis_version": str(postgis[0]) if postgis else None,
        "migrations": applied,
        "algorithm_version": ALGORITHM_VERSION,
    }
    log.info("schema ready on %s: %d migrations applied", target, len(applied))
    if receipt is not None:
        write_json_atomic(receipt, info)
    return info
