"""``benpipe db up|down|status|url|runs|drop-schema``: the PostGIS database of a run."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import yaml

from benpipe.db.lifecycle import DbSettings, status, stop
from benpipe.db.schema import drop_schema, init_database, run_schemas
from benpipe.db.url import libpq_url
from benpipe.runsettings import default_db_schema


def _settings(
    config: Path | None,
    embedded_dir: Path | None,
    port: int | None,
    schema: str | None = None,
    directory: Path = Path("."),
) -> DbSettings:
    """The database settings a run in ``directory`` with ``config`` uses."""
    section: dict[str, Any] = {}
    if config is not None:
        loaded = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        section = dict(loaded.get("database") or {})
    if embedded_dir is not None:
        section["embedded_dir"] = str(embedded_dir)
    if port is not None:
        section["port"] = port
    if schema is not None:
        section["schema"] = schema
    if not section.get("schema"):
        section["schema"] = default_db_schema(directory)
    if not Path(section.get("embedded_dir", "results/db/pg")).is_absolute():
        section["embedded_dir"] = str(
            directory / section.get("embedded_dir", "results/db/pg")
        )
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
        "--directory",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("."),
        show_default=True,
        help="The run's working directory (snakemake --directory): it names the "
        "run's schema when database.schema is null, and relative paths start there.",
    ),
    click.option(
        "--embedded-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Override database.embedded_dir.",
    ),
    click.option("--port", type=int, default=None, help="Override database.port."),
    click.option("--schema", default=None, help="Override database.schema."),
]


@dataclass(frozen=True)
class _RunOptions:
    """The options every ``benpipe db`` command shares (see ``_options``)."""

    config: Path | None
    directory: Path
    embedded_dir: Path | None
    port: int | None
    schema: str | None

    def settings(self, schema: str | None = None) -> DbSettings:
        """The run's database settings; ``schema`` overrides ``--schema``."""
        return _settings(
            self.config,
            self.embedded_dir,
            self.port,
            self.schema if schema is None else schema,
            self.directory,
        )


def _with_options(func: Callable[..., None]) -> Callable[..., None]:
    """Add the shared options; the command gets them as one ``_RunOptions``."""

    @functools.wraps(func)
    def command(
        config: Path | None,
        directory: Path,
        embedded_dir: Path | None,
        port: int | None,
        schema: str | None,
        **params: Any,
    ) -> None:
        func(_RunOptions(config, directory, embedded_dir, port, schema), **params)

    for option in reversed(_options):
        command = option(command)
    return command


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


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
def up(run: _RunOptions, rebuild: bool) -> None:
    """Start the embedded cluster (or reach database.url) and migrate the run's schema.

    Prints the server kind and versions, the schema and its revision as JSON.
    """
    owner = str(run.directory.resolve())
    _echo_json(init_database(run.settings(), rebuild=rebuild, owner=owner))


@db.command("down")
@_with_options
def down(run: _RunOptions) -> None:
    """Stop the embedded cluster (no-op for database.url)."""
    stopped = stop(run.settings())
    click.echo("stopped" if stopped else "not running")


@db.command("status")
@_with_options
def status_command(run: _RunOptions) -> None:
    """Print kind, target, schema and whether the server answers, as JSON."""
    _echo_json(status(run.settings()))


@db.command("url")
@_with_options
def url(run: _RunOptions) -> None:
    """Print the URL for psql (postgresql://, never a password), in the run's schema."""
    settings = run.settings()
    click.echo(libpq_url(settings.sqlalchemy_url, schema=settings.schema))


@db.command("runs")
@_with_options
def runs(run: _RunOptions) -> None:
    """List the runs' schemas on the server: owner directory, revision, size."""
    _echo_json(run_schemas(run.settings()))


@db.command("drop-schema")
@_with_options
@click.argument("name")
@click.option("--yes", is_flag=True, help="Really drop it (with every row).")
def drop_schema_command(run: _RunOptions, name: str, yes: bool) -> None:
    """Drop the run schema NAME with all its tables and rows.

    The run that used it must delete its results/db (receipts) to start over.
    """
    settings = run.settings(schema=name)
    if not yes:
        raise click.UsageError(
            f"dropping schema {name} deletes every table and row of its run; "
            "repeat with --yes"
        )
    click.echo(drop_schema(settings))
