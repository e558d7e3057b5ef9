"""Schema migrations with Alembic, run in code (no ``alembic.ini``).

:func:`upgrade_schema` opens one transaction, takes an advisory lock (so
concurrent runs wait for each other), creates the run's schema if needed and
upgrades it to the head revision of ``benpipe/db/alembic/versions``; running
it again is a no-op.  Each run's schema has its own ``alembic_version``: the
revisions create their tables unqualified, in the first schema of the
``search_path``, which is the run's.

A database built by benpipe's first, hand-written migration runner has that
runner's ``schema_migrations`` table (V001 postgis, V002 tables) and no
``alembic_version``.  Its tables are compared, in PostgreSQL's catalog, with
the tables revision 0001 creates (built in the session's temporary schema and
rolled back).  If they match, the database is stamped at revision 0001, the
old table is dropped and every row is kept.  If they do not, benpipe leaves
the database unchanged and says how to rebuild it; ``rebuild=True``
(``benpipe db up --rebuild``) drops those tables with their rows first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from alembic import command
from alembic.config import Config
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from geoalchemy2.alembic_helpers import render_item, writer
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from benpipe.db import sql
from benpipe.db.catalog import TableShape, shape_differences, table_shapes
from benpipe.db.lifecycle import DbSettings, engine
from benpipe.db.model import TABLE_NAMES, metadata
from benpipe.errors import DatabaseError

log = logging.getLogger(__name__)

SCRIPT_LOCATION = Path(__file__).with_name("alembic")
#: The old runner's bookkeeping table and the migrations it recorded.
LEGACY_TABLE = "schema_migrations"
LEGACY_MIGRATIONS = ((1, "postgis"), (2, "tables"))
#: The revision whose schema the old runner's V001 + V002 built.
LEGACY_REVISION = "0001"
#: "benp", the old runner's key too: an old and a new run wait for each other.
_LOCK_KEY = 0x62656E70

Outcome = Literal["upgraded", "adopted", "rebuilt"]


@dataclass(frozen=True, slots=True)
class SchemaState:
    """Where a database's schema stands after :func:`upgrade_schema`."""

    revision: str
    #: The revisions from the first to ``revision``: {"revision", "description"}.
    migrations: list[dict[str, str]]
    #: ``adopted``/``rebuilt``: the database came from the old runner.
    outcome: Outcome


# ---------------------------------------------------------------- Alembic set-up
def _include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Autogenerate looks at benpipe's tables only (not spatial_ref_sys, …)."""
    return type_ != "table" or name in metadata.tables


def autogenerate_options() -> dict[str, Any]:
    """``context.configure`` options of ``env.py`` (model, GeoAlchemy2 rendering)."""
    return {
        "target_metadata": metadata,
        "include_object": _include_object,
        "render_item": render_item,
        "process_revision_directives": writer,
        "compare_type": True,
    }


def alembic_config(
    connection: Connection | None = None, *, schema: str = "public"
) -> Config:
    """An Alembic config for the packaged scripts, migrating ``connection``.

    ``schema`` holds the ``alembic_version`` table (the run's schema).
    """
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.set_main_option("file_template", "rev%%(rev)s_%%(slug)s")
    config.attributes["connection"] = connection
    config.attributes["version_table_schema"] = schema
    return config


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def history(revision: str) -> list[dict[str, str]]:
    """The revisions from the first up to ``revision``, oldest first."""
    scripts = script_directory().iterate_revisions(revision, "base")
    return [
        {"revision": str(s.revision), "description": (s.doc or "").strip()}
        for s in reversed(list(scripts))
    ]


def current_revision(conn: Connection, schema: str = "public") -> str | None:
    """The Alembic revision of ``schema``; None before the first migration."""
    return MigrationContext.configure(
        conn, opts={"version_table_schema": schema}
    ).get_current_revision()


def _prepare_schema(conn: Connection, schema: str) -> None:
    """Create the run's schema and make it the first of the search_path.

    PostGIS is installed first, into ``public``, so that revision 0001's
    ``CREATE EXTENSION IF NOT EXISTS`` never puts it into a run's schema
    (one run's ``DROP SCHEMA`` would take it from every run).  The
    search_path change lasts until the transaction ends.
    """
    conn.execute(sql.INSTALL_POSTGIS)
    quote = conn.dialect.identifier_preparer.quote_schema
    conn.execute(text(sql.CREATE_SCHEMA.format(schema=quote(schema))))
    conn.execute(sql.SET_LOCAL_SEARCH_PATH, {"schema": schema})


# ---------------------------------------------------------------- the old runner
def _revision_shapes(conn: Connection, revision: str) -> dict[str, TableShape]:
    """The tables the revisions up to ``revision`` create, read from the catalog.

    The revisions' own operations run in the session's temporary schema
    (every table name translated to ``pg_temp``) inside a savepoint that is
    rolled back: no CREATE privilege is needed and nothing is left behind.
    """
    scripts = list(script_directory().iterate_revisions(revision, "base"))
    savepoint = conn.begin_nested()
    previous = conn.get_execution_options().get("schema_translate_map")
    conn.execution_options(schema_translate_map={None: "pg_temp"})
    try:
        with Operations.context(MigrationContext.configure(conn)):
            for script in reversed(scripts):
                script.module.upgrade()
        temp_schema = str(conn.scalar(sql.TEMP_SCHEMA))
        return table_shapes(conn, temp_schema, None)
    finally:
        conn.execution_options(schema_translate_map=previous)
        savepoint.rollback()


def _unversioned_tables(conn: Connection) -> list[str]:
    """benpipe tables (and the old runner's) in a database without Alembic."""
    rows = conn.execute(sql.TABLES_PRESENT, {"names": [*TABLE_NAMES, LEGACY_TABLE]})
    return [str(row[0]) for row in rows]


def _legacy_problems(conn: Connection, present: list[str]) -> list[str]:
    """Why the unversioned tables cannot be adopted at LEGACY_REVISION ([] = fine)."""
    problems: list[str] = []
    if LEGACY_TABLE in present:
        recorded = tuple(
            (int(v), str(n))
            for v, n in conn.execute(
                text(sql.LEGACY_RECORDED.format(table=LEGACY_TABLE))
            )
        )
        if recorded != LEGACY_MIGRATIONS:
            problems.append(
                f"{LEGACY_TABLE} records {list(recorded)}, expected "
                f"{list(LEGACY_MIGRATIONS)} (V001__postgis.sql, V002__tables.sql)"
            )
    expected = _revision_shapes(conn, LEGACY_REVISION)
    schema = str(conn.scalar(text(sql.CURRENT_SCHEMA)))
    found = table_shapes(conn, schema, expected)
    return problems + shape_differences(found, expected)


def _row_counts(conn: Connection, tables: list[str]) -> dict[str, int]:
    quote = conn.dialect.identifier_preparer.quote
    return {
        table: int(conn.scalar(text(sql.COUNT_ROWS.format(table=quote(table)))) or 0)
        for table in tables
    }


def _rebuild_help(settings: DbSettings) -> str:
    return (
        "`benpipe db up --rebuild` with the same database settings (for a "
        "pipeline run: `--config <your config>`) drops these tables with all "
        "their rows and creates the schema anew; then delete "
        "results/db/schema.json, and the next run loads the inputs again and "
        "recomputes every table (the files come out identical)"
        + (
            f"; or delete the embedded cluster ({settings.embedded_dir}) "
            "together with results/db/schema.json"
            if settings.url is None
            else ""
        )
    )


def _adopt_or_rebuild(
    conn: Connection, settings: DbSettings, *, rebuild: bool
) -> tuple[Outcome, str]:
    """Bring a database without ``alembic_version`` under Alembic.

    Returns the outcome and what to tell the user once the transaction commits.
    """
    present = _unversioned_tables(conn)
    if not present:
        return "upgraded", ""
    target = settings.redacted_schema_target()
    problems = _legacy_problems(conn, present)
    if not problems:
        command.stamp(alembic_config(conn, schema=settings.schema), LEGACY_REVISION)
        if LEGACY_TABLE in present:
            conn.execute(text(sql.DROP_TABLES.format(tables=LEGACY_TABLE)))
        return "adopted", (
            f"{target} was built by benpipe's old migration runner; its tables "
            f"match revision {LEGACY_REVISION}, so it is now managed by Alembic at "
            f"that revision ({LEGACY_TABLE} dropped) and all its data is kept"
        )
    counts = _row_counts(conn, present)
    listing = ", ".join(
        f"{t} ({n} row{'' if n == 1 else 's'})" for t, n in counts.items()
    )
    if not rebuild:
        details = "\n".join(f"  - {line}" for line in problems)
        raise DatabaseError(
            f"{target} holds benpipe tables from before Alembic that do not match "
            f"revision {LEGACY_REVISION}:\n{details}\nbenpipe left the database "
            f"unchanged. Its tables: {listing}. To rebuild it: "
            f"{_rebuild_help(settings)}."
        )
    quote = conn.dialect.identifier_preparer.quote
    tables = ", ".join(quote(t) for t in present)
    conn.execute(text(sql.DROP_TABLES.format(tables=tables)))
    return "rebuilt", (
        f"rebuilt {target}: its tables did not match revision {LEGACY_REVISION} "
        f"({'; '.join(problems)}); dropped {listing}: that data is gone, and a "
        "pipeline run recomputes it once results/db/schema.json is deleted"
    )


# ---------------------------------------------------------------- public API
def upgrade_schema(settings: DbSettings, *, rebuild: bool = False) -> SchemaState:
    """Upgrade the (running, reachable) database to the head revision.

    An old-runner database is adopted or, if its tables differ, refused
    (``DatabaseError`` saying how to rebuild) or rebuilt with ``rebuild``.
    """
    target = settings.redacted_schema_target()
    db = engine(settings)
    try:
        with db.begin() as conn:
            conn.execute(sql.ADVISORY_XACT_LOCK, {"key": _LOCK_KEY})
            _prepare_schema(conn, settings.schema)
            outcome: Outcome = "upgraded"
            note = ""
            if current_revision(conn, settings.schema) is None:
                outcome, note = _adopt_or_rebuild(conn, settings, rebuild=rebuild)
            command.upgrade(alembic_config(conn, schema=settings.schema), "head")
            revision = current_revision(conn, settings.schema)
    except CommandError as exc:
        raise DatabaseError(
            f"cannot migrate {target}: {exc}; a database migrated by a newer "
            "benpipe needs that benpipe (or a fresh database)"
        ) from exc
    except DBAPIError as exc:
        raise DatabaseError(
            f"schema migration on {target} failed: {exc.orig or exc}; check that "
            "the role may create tables (and the postgis extension, unless it "
            "is installed), and PGPASSWORD or ~/.pgpass for an external server"
        ) from exc
    finally:
        db.dispose()
    if note:
        log.warning("%s", note)
    if revision is None:
        raise DatabaseError(f"{target} has no schema revision after the upgrade")
    return SchemaState(revision=revision, migrations=history(revision), outcome=outcome)
