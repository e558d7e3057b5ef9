"""``start_database``: start (or reach) the server, migrate the run's schema
and claim it for the run."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from psycopg.sql import Identifier

from benpipe.db import sql
from benpipe.db.lifecycle import DbSettings, connect, start
from benpipe.db.migrate import upgrade_schema
from benpipe.errors import DatabaseError
from benpipe.fileio import write_json_atomic

log = logging.getLogger(__name__)

#: 2: Alembic revisions replace the hand-written runner's migration list.
#: 3: one schema per run, claimed by the run's working directory.
ALGORITHM_VERSION = 3


def claim_schema(settings: DbSettings, owner: str) -> None:
    """Record ``owner`` (a run's working directory) as the schema's run.

    A schema already claimed by another working directory is refused: two
    runs writing the same tables would replace each other's inputs and rows.
    """
    with connect(settings) as conn, conn.transaction():
        conn.execute(sql.LOCK_RUN_OWNER)
        rows = [str(r[0]) for r in conn.execute(sql.RUN_OWNERS)]
        if not rows:
            conn.execute(sql.CLAIM_RUN, (owner,))
            return
    if rows != [owner]:
        raise DatabaseError(
            f"{settings.redacted_schema_target()} belongs to the run in "
            f"{', '.join(rows)}, not to this one ({owner}): two runs in one "
            "schema would replace each other's inputs and results. Set "
            "database.schema to another name (or null: one schema per working "
            "directory); if that run is gone, drop its schema with "
            f"`benpipe db drop-schema {settings.schema} --config <your config>`"
        )


def init_database(
    settings: DbSettings,
    *,
    receipt: Path | None = None,
    rebuild: bool = False,
    owner: str | None = None,
) -> dict[str, Any]:
    """Start/reach the server, upgrade the run's schema, write the schema receipt.

    The receipt holds the server kind and versions, the schema and its
    Alembic revision, never the URL's user info or a password.  ``owner``
    (the run's working directory) claims the schema, see :func:`claim_schema`.
    ``rebuild``: see :func:`benpipe.db.migrate.upgrade_schema`.
    """
    target = start(settings)
    state = upgrade_schema(settings, rebuild=rebuild)
    if owner is not None:
        claim_schema(settings, owner)
    with connect(settings) as conn:
        row = conn.execute(sql.SERVER_VERSION).fetchone()
        postgis = conn.execute(sql.POSTGIS_VERSION).fetchone()
    info: dict[str, Any] = {
        "server_kind": settings.kind,
        "server_version": str(row[0]) if row else None,
        "postgis_version": str(postgis[0]) if postgis else None,
        "schema": settings.schema,
        "schema_revision": state.revision,
        "migrations": state.migrations,
        "algorithm_version": ALGORITHM_VERSION,
    }
    log.info(
        "schema %s ready on %s: revision %s (%s)",
        settings.schema,
        target,
        state.revision,
        state.outcome,
    )
    if receipt is not None:
        write_json_atomic(receipt, info)
    return info


def _server_connection(settings: DbSettings) -> Any:
    """A connection to the server, in no run's schema (lists and drops)."""
    start(settings)
    return connect(dataclasses.replace(settings, schema="public"))


def run_schemas(settings: DbSettings) -> list[dict[str, Any]]:
    """Every run schema on the server: name, owner directory, revision, bytes."""
    out: list[dict[str, Any]] = []
    with _server_connection(settings) as conn:
        for name, size in conn.execute(sql.RUN_SCHEMAS).fetchall():
            quoted = Identifier(str(name))
            owners = conn.execute(sql.SCHEMA_RUN_OWNERS.format(quoted)).fetchall()
            revision = conn.execute(sql.SCHEMA_REVISION.format(quoted)).fetchone()
            out.append(
                {
                    "schema": str(name),
                    "working_dir": [str(r[0]) for r in owners],
                    "revision": str(revision[0]) if revision else None,
                    "bytes": int(size),
                }
            )
    return out


def drop_schema(settings: DbSettings) -> str:
    """Drop the run schema ``settings.schema`` with every table and row.

    Only a schema that holds benpipe's ``run_owner`` table, never ``public``
    (PostGIS lives there).  Returns what was done, for the user.
    """
    name = settings.schema
    if name == "public":
        raise DatabaseError(
            "refusing to drop schema public: PostGIS and other software live there; "
            "drop benpipe's tables in it by hand if you must"
        )
    with _server_connection(settings) as conn:
        if name not in {r["schema"] for r in run_schemas(settings)}:
            raise DatabaseError(
                f"{settings.redacted_schema_target()} is not a benpipe run schema "
                "(it has no run_owner table, or does not exist); nothing dropped"
            )
        conn.execute(sql.DROP_SCHEMA.format(Identifier(name)))
        conn.commit()
    log.warning("dropped %s with all its tables", settings.redacted_schema_target())
    return f"dropped schema {name}"
