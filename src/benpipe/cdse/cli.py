"""Operations commands: ``benpipe cdse-search`` and ``benpipe cdse-download``.

Both read the ``cdse:`` section of a run config (``--configfile``), so they
hit exactly the endpoints the pipeline uses.  Credentials come from the
environment or netrc (see docs/acquisition.md), never from the command line.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import click
import yaml

from benpipe.errors import BenpipeError, ConfigError


def _load_cdse(configfile: Path) -> dict[str, Any]:
    config = yaml.safe_load(configfile.read_text(encoding="utf-8")) or {}
    cdse = config.get("cdse")
    if not isinstance(cdse, dict):
        raise ConfigError(f"{configfile} has no cdse: section")
    return cdse


_CONFIG_OPTION = click.option(
    "--configfile",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=Path("config/config.yaml"),
    show_default=True,
    help="Run config whose cdse: section gives the endpoints.",
)


@click.command("cdse-search")
@click.argument("names", nargs=-1)
@click.option(
    "--names-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File with one L1C name (.SAFE) per line.",
)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write bigearthnet_s2_tile_ids.csv, cdse_catalogue.csv and diff.md here.",
)
@click.option(
    "--tracked-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("tracked-artifacts"),
    show_default=True,
    help="Tracked artifacts to diff against.",
)
@_CONFIG_OPTION
def cdse_search(
    names: tuple[str, ...],
    names_file: Path | None,
    out_dir: Path | None,
    tracked_dir: Path,
    configfile: Path,
) -> None:
    """Resolve L1C names to CDSE ids (one exact-name OData query each).

    \b
    Examples:
      benpipe cdse-search S2A_MSIL1C_20170613T101031_N0205_R022_T33UUP_20170613T101608.SAFE
      benpipe cdse-search --names-file results/l1c/l1c_product_names.txt --out-dir /tmp/search
    """
    from benpipe.cdse.catalogue import search_cdse, search_products
    from benpipe.cdse.download import CdseSettings
    from benpipe.l1c.product_list import read_names_file

    settings = CdseSettings.from_mapping(_load_cdse(configfile))
    if out_dir is not None:
        if names_file is None:
            raise click.BadParameter(
                "--out-dir needs --names-file", param_hint="--out-dir"
            )
        search_cdse(
            names_file,
            catalogue_url=settings.catalogue_url,
            out_tile_ids=out_dir / "bigearthnet_s2_tile_ids.csv",
            out_catalogue=out_dir / "cdse_catalogue.csv",
            out_diff=out_dir / "diff.md",
            tracked_dir=tracked_dir,
            policy=settings.policy,
        )
        click.echo(
            f"wrote {out_dir}/bigearthnet_s2_tile_ids.csv, cdse_catalogue.csv, diff.md"
        )
        return
    wanted = list(names) + (read_names_file(names_file) if names_file else [])
    if not wanted:
        raise click.BadParameter("give NAMES or --names-file", param_hint="NAMES")
    wanted = [n if n.endswith(".SAFE") else f"{n}.SAFE" for n in wanted]
    for entry in search_products(
        wanted, catalogue_url=settings.catalogue_url, policy=settings.policy
    ):
        click.echo(
            f"{entry.name},{entry.id},{entry.content_length},{entry.md5 or ''},"
            f"{str(entry.online).lower()},{entry.blake3 or ''}"
        )


@click.command("cdse-download")
@click.option(
    "--ids-csv",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="tile,id CSV (e.g. the frozen bigearthnet_s2_tile_ids.csv).",
)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for <L1C>.zip files.",
)
@click.option("--only", multiple=True, help="Only these L1C names (repeatable).")
@click.option(
    "--workers",
    type=click.IntRange(1, 4),
    default=4,
    show_default=True,
    help="Parallel downloads (CDSE allows 4).",
)
@click.option(
    "--catalogue-csv",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Frozen cdse_catalogue.csv sidecar with the MD5/BLAKE3 checksums.",
)
@click.option(
    "--error-csv",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Error report CSV (product,id,error,attempts).",
)
@_CONFIG_OPTION
def cdse_download(
    ids_csv: Path,
    out_dir: Path,
    only: tuple[str, ...],
    workers: int,
    catalogue_csv: Path | None,
    error_csv: Path | None,
    configfile: Path,
) -> None:
    """Download products listed in a tile,id CSV, outside Snakemake.

    \b
    Examples:
      CDSE_USERNAME=me CDSE_PASSWORD=... benpipe cdse-download \\
          --ids-csv tracked-artifacts/bigearthnet_s2_tile_ids.csv --out-dir resources/l1c
    """
    from benpipe.cdse.download import CdseSettings, download_many

    settings = CdseSettings.from_mapping(_load_cdse(configfile))
    with open(ids_csv, newline="", encoding="utf-8") as handle:
        items = [
            (row["tile"].removesuffix(".SAFE"), row["id"])
            for row in csv.DictReader(handle)
        ]
    if only:
        keep = {n.removesuffix(".SAFE") for n in only}
        items = [item for item in items if item[0] in keep]
    results = download_many(
        items,
        out_dir,
        settings=settings,
        workers=workers,
        tracked_catalogue=catalogue_csv,
        error_csv=error_csv,
    )
    failed = [r for r in results if isinstance(r, BenpipeError)]
    click.echo(f"{len(results) - len(failed)} downloaded, {len(failed)} failed")
    if failed:
        raise click.exceptions.Exit(1)
