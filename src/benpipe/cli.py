"""The ``benpipe`` command line.

One click group. Subcommands live next to the code they drive and are
imported only when invoked, so ``benpipe --help`` stays fast and heavy
libraries load only for the command that needs them.  Only this group
configures logging (``-v``/``-q``).
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from benpipe import __version__
from benpipe.errors import BenpipeError
from benpipe.log import configure_logging

#: subcommand name -> "module:attribute" of a click command.
COMMANDS: dict[str, str] = {
    "demo-world": "benpipe.demo.cli:demo_world",
    "check-release": "benpipe.release.cli:check_release_command",
    "hash-tree": "benpipe.release.cli:hash_tree_command",
    "package": "benpipe.release.cli:package_command",
    "verify": "benpipe.release.cli:verify_command",
    "compare-metadata": "benpipe.release.cli:compare_metadata_command",
    "cdse-emulator": "benpipe.cdse.emulator.cli:cdse_emulator",
    "cdse-search": "benpipe.cdse.cli:cdse_search",
    "cdse-download": "benpipe.cdse.cli:cdse_download",
    "db": "benpipe.db.cli:db",
    "grid": "benpipe.dataset.cli:grid_command",
    "check-dataset": "benpipe.dataset.cli:check_dataset_command",
    "convert-l2a": "benpipe.l2a.cli:convert_l2a_command",
    "l2a-info": "benpipe.l2a.cli:l2a_info_command",
    "qa": "benpipe.qa.cli:qa_command",
    "catalogue": "benpipe.catalogue.cli:catalogue",
    "query": "benpipe.catalogue.cli:query_command",
    "subset": "benpipe.catalogue.cli:subset_command",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            module_name, attr = COMMANDS[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attr)
            if not isinstance(command, click.Command):
                raise TypeError(f"{COMMANDS[cmd_name]} is not a click command")
            return command
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BenpipeError as exc:
            verbosity = ctx.obj.get("verbosity", 0) if ctx.obj else 0
            if verbosity >= 2:
                raise
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="benpipe")
@click.option("-v", "--verbose", count=True, help="More log output (-vv: tracebacks).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """benpipe: rebuild BigEarthNet v2 (reBEN) reproducibly.

    The pipeline itself runs with Snakemake (see README.md); these commands
    drive single steps for debugging and operations.
    """
    ctx.ensure_object(dict)
    ctx.obj["verbosity"] = verbose
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    configure_logging(level=level)


if __name__ == "__main__":  # pragma: no cover
    main()
