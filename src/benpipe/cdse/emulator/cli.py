"""``benpipe cdse-emulator``: serve a world as a local CDSE."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import click

from benpipe.cdse.emulator.faults import FAULT_HELP
from benpipe.cdse.emulator.server import EmulatorServer


@contextlib.contextmanager
def _pidfile(path: Path | None) -> Iterator[None]:
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{os.getpid()}\n", encoding="utf-8")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


@click.command(
    "cdse-emulator",
    epilog="\n\n".join("\b\n" + para for para in FAULT_HELP.split("\n\n")),
)
@click.option(
    "--root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="World root (holds cdse/products and cdse/catalogue.json).",
)
@click.option(
    "--port",
    type=int,
    default=8765,
    show_default=True,
    help="TCP port (0 picks a free one).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Bind address (loopback only, please).",
)
@click.option("--faults", default="", help="Fault spec, see below.")
@click.option(
    "--token-lifetime-s",
    type=float,
    default=600.0,
    show_default=True,
    help="expires_in of access tokens.",
)
@click.option(
    "--refresh-lifetime-s",
    type=float,
    default=3600.0,
    show_default=True,
    help="refresh_expires_in of refresh tokens.",
)
@click.option(
    "--tls",
    is_flag=True,
    help="Serve HTTPS with a certificate for the CDSE host names and loopback, "
    "signed by a CA made at start-up (its path is printed).",
)
@click.option(
    "--pidfile",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the process id here while running.",
)
def cdse_emulator(
    root: Path,
    port: int,
    host: str,
    faults: str,
    token_lifetime_s: float,
    refresh_lifetime_s: float,
    tls: bool,
    pidfile: Path | None,
) -> None:
    """Serve a world as a local CDSE (identity, catalogue, download).

    \b
    Examples:
      benpipe cdse-emulator --root resources/demo-world --port 8765
      benpipe cdse-emulator --root /tmp/dw --port 0 --faults 429@2,cut@3,redirect
      benpipe cdse-emulator --root /tmp/dw --port 8443 --tls
    """
    server = EmulatorServer(
        root,
        host=host,
        port=port,
        faults=faults,
        token_lifetime_s=token_lifetime_s,
        refresh_lifetime_s=refresh_lifetime_s,
        tls=tls,
    )

    def _stop(signum: int, frame: FrameType | None) -> None:
        server.shutdown()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with _pidfile(pidfile):
        click.echo(f"listening on {server.url}")
        if server.ca_cert_path is not None:
            click.echo(f"CA certificate: {server.ca_cert_path}")
        sys.stdout.flush()
        try:
            server.serve_forever()
        finally:
            server.close()
