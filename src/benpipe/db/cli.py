"""``benpipe db up|down|status|url``: manage the embedded PostGIS cluster."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import yaml

from benpipe.db.lifecycle import DbSettings, status, stop
from benpipe.db.schema import init_database
from benpipe.db.url import libpq_url


def _settings(
    config: Path | None, embedded_dir: Path | None, port: int | None
) -> DbSettings:
    section: dict[str, Any] = {}
    if config is not None:
        loaded = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        section = dict(loaded.get("database") or {})
    if embedded_dir is not None:
        section["embedded_dir"] = str(embedded_dir)
    if port is not None:
        section["port"] = port
    return DbSettings.from_mapping(section)


_options = [
    click.option(
        "--config",
        "config",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="Config file whose database section to use (e.g. config/demo.yaml).",
    ),
    click.option(
        "--embedded-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Override database.embedded_dir.",
    ),
    click.option("--port", type=int, default=None, help="Override database.port."),
]


def _with_options(func: Any) -> Any:
    for option in reversed(_options):
        func = option(func)
    return func


@click.group("db")
def db() -> None:
    """Start, stop and inspect the PostGIS database of a run."""


@db.command("up")
@_with_options
@click.option(
    "--rebuild",
    is_flag=True,
    help="If the database holds benpipe tables from before Alembic that do not "
    "match the schema, drop them with all their rows and create the schema anew "
    "(without it benpipe refuses to touch them).",
)
def up(
    config: Path | None, embedded_dir: Path | None, port: int | None, rebuild: bool
) -> None:
    """Start the embedded cluster (or reach database.url) and migrate the schema.

    Prints the server kind and versions and the schema revision as JSON.
    """
    info = init_database(_settings(config, embedded_dir, port), rebuild=rebuild)
    click.echo(json.dumps(info, indent=2, sort_keys=True))


@db.command("down")
@_with_options
def down(config: Path | None, embedded_dir: Path | None, port: int | None) -> None:
    """Stop the embedded cluster (no-op for database.url)."""
    stopped = stop(_settings(config, embedded_dir, port))
    click.echo("stopped" if stopped else "not running")


@db.command("status")
@_with_options
def status_command(
    config: Path | None, embedded_dir: Path | None, port: int | None
) -> None:
    """Print kind, target and whether the server answers, as JSON."""
    click.echo(
        json.dumps(
            status(_settings(config, embedded_dir, port)), indent=2, sort_keys=True
        )
    )


@db.command("url")
@_with_options
def url(config: Path | None, embedded_dir: Path | None, port: int | None) -> None:
    """Print the database URL for psql (postgresql://, never a password)."""
    click.echo(libpq_url(_settings(config, embedded_dir, port).sqlalchemy_url))
