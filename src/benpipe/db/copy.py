"""Bulk loads with PostgreSQL ``COPY … FROM STDIN``: the one home of the COPY loop.

psycopg 3's ``cursor.copy`` streams rows in the text format; each row is a
sequence of Python values (``None`` for NULL) in the statement's column order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg


def copy_rows(
    conn: psycopg.Connection[Any], statement: str, rows: Iterable[Sequence[Any]]
) -> int:
    """Run ``statement`` (a ``COPY … FROM STDIN``) with ``rows``; return the count.

    Runs in the connection's current transaction, so a failure later in that
    transaction rolls the loaded rows back too.
    """
    count = 0
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count
