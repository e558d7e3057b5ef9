"""Versioned schema migrations: ``migrations/V<nnn>__<name>.sql``.

Each file runs once, in version order, inside one transaction together with
its row in ``schema_migrations`` (version, name, sha256 of the file).  An
advisory lock serialises concurrent runs; applying again is a no-op.  Editing
an applied file is refused (its checksum no longer matches): add a new file.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg

from benpipe.errors import DatabaseError

log = logging.getLogger(__name__)

_FILE_RE = re.compile(r"^V(?P<version>\d{3})__(?P<name>[a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x62656E70  # "benp"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def available_migrations() -> list[Migration]:
    """The packaged migration files, sorted by version."""
    folder = resources.files("benpipe.db") / "migrations"
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _FILE_RE.match(entry.name)
        if match is None:
            continue
        found.append(
            Migration(
                version=int(match["version"]),
                name=match["name"],
                sql=entry.read_text(encoding="utf-8"),
            )
        )
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise DatabaseError(f"duplicate migration versions in {folder}: {versions}")
    return found


def apply_migrations(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """Apply pending migrations; return every applied migration (old and new)."""
    migrations = available_migrations()
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL, sha256 text NOT NULL)"
        )
        applied = {
            int(row[0]): (str(row[1]), str(row[2]))
            for row in conn.execute(
                "SELECT version, name, sha256 FROM schema_migrations"
            )
        }
        for migration in migrations:
            if migration.version in applied:
                if applied[migration.version][1] != migration.sha256:
                    raise DatabaseError(
                        f"migration V{migration.version:03d}__{migration.name}.sql was "
                        "changed after it was applied to this database; add a new "
                        "migration file instead, or drop the database to start over"
                    )
                continue
            log.info("applying migration V%03d__%s", migration.version, migration.name)
            try:
                conn.execute(migration.sql.encode("utf-8"))
            except psycopg.Error as exc:
                raise DatabaseError(
                    f"migration V{migration.version:03d}__{migration.name}.sql "
                    f"failed: {exc}"
                ) from exc
            conn.execute(
                "INSERT INTO schema_migrations (version, name, sha256) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.sha256),
            )
    return [
        {"version": int(v), "name": str(n), "sha256": str(s)}
        for v, n, s in conn.execute(
            "SELECT version, name, sha256 FROM schema_migrations ORDER BY version"
        )
    ]
