"""What tables really look like on the server, read from PostgreSQL's catalog.

A table's shape is its columns (name, ``format_type`` with the PostGIS typmod,
so ``geometry(Polygon,3035)``, NOT NULL, default) in order, its constraints
(``pg_get_constraintdef``) and its indexes (``pg_get_indexdef``), all by name.
Two databases whose shapes are equal accept and answer the same queries; this
is how a database built by the old hand-written SQL is checked before it is
adopted by Alembic, and how the tests compare the model with that SQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import Connection

from benpipe.db import sql


@dataclass(frozen=True, slots=True)
class TableShape:
    """Columns (in table order), constraints and indexes: name -> definition."""

    columns: dict[str, str] = field(default_factory=dict)
    constraints: dict[str, str] = field(default_factory=dict)
    indexes: dict[str, str] = field(default_factory=dict)


def _unqualified(definition: str, schema: str) -> str:
    """Drop ``<schema>.`` before table names (``ON s.t``, ``REFERENCES s.t``).

    The session's temporary schema (``pg_temp_<n>``) is also spelt ``pg_temp``.
    """
    names = {schema, "pg_temp"} if schema.startswith("pg_temp") else {schema}
    spellings = "|".join(re.escape(n) for n in sorted(names))
    return re.sub(rf'\b(ON|REFERENCES) "?(?:{spellings})"?\.', r"\1 ", definition)


def table_shapes(
    conn: Connection, schema: str, tables: Iterable[str] | None
) -> dict[str, TableShape]:
    """The shape of each of ``tables`` (None: every table) found in ``schema``."""
    params = {
        "schema": schema,
        "every": tables is None,
        "tables": sorted(tables or ()),
    }
    shapes: dict[str, TableShape] = {}
    for table, column, type_, not_null, default in conn.execute(
        sql.TABLE_COLUMNS, params
    ):
        spec = str(type_) + (" NOT NULL" if not_null else "")
        if default is not None:
            spec += f" DEFAULT {default}"
        shapes.setdefault(table, TableShape()).columns[column] = spec
    for table, name, definition in conn.execute(sql.TABLE_CONSTRAINTS, params):
        shapes[table].constraints[name] = _unqualified(definition, schema)
    for table, name, definition in conn.execute(sql.TABLE_INDEXES, params):
        shapes[table].indexes[name] = _unqualified(definition, schema)
    return shapes


def _named_differences(
    what: str, found: Mapping[str, str], expected: Mapping[str, str]
) -> list[str]:
    out = [f"{what} {name} is missing" for name in sorted(set(expected) - set(found))]
    out += [f"unexpected {what} {name}" for name in sorted(set(found) - set(expected))]
    out += [
        f"{what} {name} is {found[name]!r}, expected {expected[name]!r}"
        for name in sorted(set(found) & set(expected))
        if found[name] != expected[name]
    ]
    return out


def shape_differences(
    found: Mapping[str, TableShape], expected: Mapping[str, TableShape]
) -> list[str]:
    """Readable differences, one line each, of ``found`` from ``expected``."""
    out: list[str] = []
    for table in sorted(expected):
        if table not in found:
            out.append(f"table {table} is missing")
            continue
        have, want = found[table], expected[table]
        lines = _named_differences("column", have.columns, want.columns)
        if not lines and list(have.columns) != list(want.columns):
            lines.append(
                f"columns are in the order {', '.join(have.columns)}, expected "
                f"{', '.join(want.columns)}"
            )
        lines += _named_differences("constraint", have.constraints, want.constraints)
        lines += _named_differences("index", have.indexes, want.indexes)
        out += [f"table {table}: {line}" for line in lines]
    out += [f"unexpected table {table}" for table in sorted(set(found) - set(expected))]
    return out
