"""``database.url``: parsed, checked and rendered with ``sqlalchemy.engine.URL``.

Accepted forms: ``postgresql://user@host:port/dbname`` and
``postgresql+psycopg://…`` (psycopg 3 is the driver either way), with libpq
query parameters such as ``?sslmode=require``.  Host, port, user and database
may be left out; libpq then uses its defaults (``PGHOST``, a Unix socket, …).

A URL never carries a password: one in the user info or in a ``password=``
query parameter is refused, because the config ends up in Snakemake's
metadata and in logs.  libpq reads the password from ``PGPASSWORD`` or the
password file (``~/.pgpass``, or ``PGPASSFILE``) when it connects.  Every URL
benpipe shows is rendered with :func:`render_url` (password hidden anyway).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from benpipe.errors import ConfigError

DRIVERNAME = "postgresql+psycopg"
_ACCEPTED_DRIVERNAMES = ("postgresql", DRIVERNAME)
_PASSWORD_HELP = (
    "remove it and give the password through PGPASSWORD or ~/.pgpass "
    "(or a file named by PGPASSFILE), so it never reaches the config, "
    "Snakemake's metadata or the logs"
)


def parse_database_url(text: str, *, key: str = "database.url") -> URL:
    """The URL of ``text`` with driver ``postgresql+psycopg``; ConfigError if unusable."""
    try:
        url = make_url(text)
    except ArgumentError as exc:
        raise ConfigError(
            f"{key} is not a URL (expected e.g. postgresql://ben@dbhost:5432/"
            f"bigearthnet): {exc}"
        ) from exc
    if url.password is not None or "password" in url.query:
        raise ConfigError(f"{key} contains a password; {_PASSWORD_HELP}")
    if url.drivername not in _ACCEPTED_DRIVERNAMES:
        raise ConfigError(
            f"{key} uses {url.drivername}://, expected postgresql:// or "
            f"postgresql+psycopg:// (benpipe connects with psycopg 3): "
            f"{render_url(url)}"
        )
    return url.set(drivername=DRIVERNAME)


def embedded_url(*, port: int, user: str, database: str) -> URL:
    """The URL of the embedded cluster: loopback TCP, trusted user, no password."""
    return URL.create(
        DRIVERNAME, username=user, host="127.0.0.1", port=port, database=database
    )


def render_url(url: URL) -> str:
    """``url`` as text for logs, receipts and messages (password hidden)."""
    return url.render_as_string(hide_password=True)


def libpq_url(url: URL, *, schema: str | None = None) -> str:
    """``url`` as a libpq connection URI for psql (``postgresql://``, no password).

    With ``schema``, the URI sets ``search_path`` to that schema (then
    ``public``, where PostGIS lives), so unqualified table names are the run's.
    """
    if schema is not None:
        url = url.update_query_dict({"options": f"-csearch_path={schema},public"})
    return render_url(url.set(drivername="postgresql"))


def psycopg_params(url: URL) -> dict[str, Any]:
    """Keyword arguments of ``psycopg.connect`` for ``url`` (libpq parameters).

    Repeated query parameters (``?host=a&host=b``) become libpq's comma lists.
    """
    params: dict[str, Any] = {
        name: value
        for name, value in (
            ("host", url.host),
            ("port", url.port),
            ("user", url.username),
            ("dbname", url.database),
        )
        if value is not None
    }
    for name, value in url.query.items():
        params[name] = value if isinstance(value, str) else ",".join(value)
    return params
