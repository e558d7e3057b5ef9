"""database.url: accepted forms, refused passwords, rendering without secrets."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import URL

from benpipe.config_checks import check_config
from benpipe.db.lifecycle import DbSettings
from benpipe.db.url import (
    embedded_url,
    libpq_url,
    parse_database_url,
    psycopg_params,
    render_url,
)
from benpipe.errors import ConfigError

SECRET = "s3cr3t-Pa55"


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://ben@dbhost:5432/bigearthnet",
        "postgresql+psycopg://ben@dbhost:5432/bigearthnet",
    ],
)
def test_both_postgresql_forms_give_the_psycopg_driver(text: str) -> None:
    url = parse_database_url(text)
    assert url.drivername == "postgresql+psycopg"
    assert (url.username, url.host, url.port, url.database) == (
        "ben",
        "dbhost",
        5432,
        "bigearthnet",
    )
    assert psycopg_params(url) == {
        "host": "dbhost",
        "port": 5432,
        "user": "ben",
        "dbname": "bigearthnet",
    }
    assert libpq_url(url) == "postgresql://ben@dbhost:5432/bigearthnet"


def test_libpq_query_parameters_and_defaults_reach_psycopg() -> None:
    url = parse_database_url(
        "postgresql:///bigearthnet?host=/run/postgresql&sslmode=require"
    )
    assert psycopg_params(url) == {
        "host": "/run/postgresql",
        "dbname": "bigearthnet",
        "sslmode": "require",
    }
    multi = parse_database_url("postgresql://ben@/db?host=a&host=b&port=5432&port=5433")
    params = psycopg_params(multi)
    assert params["host"] == "a,b" and params["port"] == "5432,5433"


@pytest.mark.parametrize(
    "text",
    [
        f"postgresql://ben:{SECRET}@dbhost:5432/bigearthnet",
        f"postgresql+psycopg://ben:{SECRET}@dbhost/bigearthnet",
        f"postgresql://ben@dbhost/bigearthnet?password={SECRET}",
    ],
)
def test_a_password_in_the_url_is_refused_without_echoing_it(text: str) -> None:
    with pytest.raises(ConfigError, match="PGPASSWORD or ~/.pgpass") as caught:
        parse_database_url(text)
    assert SECRET not in str(caught.value)
    assert "database.url contains a password" in str(caught.value)
    with pytest.raises(ConfigError) as from_section:
        DbSettings.from_mapping({"url": text})
    assert SECRET not in str(from_section.value)
    with pytest.raises(ConfigError) as from_config:
        check_config({"database": {"url": text}})
    assert SECRET not in str(from_config.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mysql://ben@dbhost/ben", "uses mysql://, expected postgresql://"),
        ("postgresql+psycopg2://ben@dbhost/ben", "psycopg 3"),
        ("dbhost:5432/bigearthnet", "is not a URL"),
    ],
)
def test_other_drivers_and_non_urls_name_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match="database.url") as caught:
        check_config({"database": {"url": text}})
    assert message in str(caught.value)


def test_rendering_hides_a_password_even_if_one_got_in() -> None:
    url = URL.create("postgresql+psycopg", "ben", SECRET, "dbhost", 5432, "db")
    assert SECRET not in render_url(url) and SECRET not in libpq_url(url)
    assert render_url(url) == "postgresql+psycopg://ben:***@dbhost:5432/db"


def test_settings_describe_the_server_without_secrets() -> None:
    embedded = DbSettings.from_mapping({"url": None, "port": 55999})
    assert embedded.kind == "embedded"
    assert embedded.sqlalchemy_url == embedded_url(
        port=55999, user="postgres", database="bigearthnet"
    )
    assert libpq_url(embedded.sqlalchemy_url) == (
        "postgresql://postgres@127.0.0.1:55999/bigearthnet"
    )
    external = DbSettings.from_mapping({"url": "postgresql://ben@db.example:5432/ben"})
    assert external.kind == "external"
    assert external.redacted_target() == (
        "external postgresql+psycopg://ben@db.example:5432/ben"
    )
