"""``benpipe grid`` and ``benpipe check-dataset``: the dataset stage by hand."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import click

from benpipe.dataset.check import check_dataset
from benpipe.dataset.tile_grid import grid_csv_rows


@click.command("grid")
@click.option(
    "--tile-side-m",
    type=float,
    default=109800,
    show_default=True,
    help="Tile side in metres.",
)
@click.option(
    "--patch-side-m",
    type=float,
    default=1200,
    show_default=True,
    help="Patch side in metres.",
)
def grid_command(tile_side_m: float, patch_side_m: float) -> None:
    """Print the patch grid of a tile as CSV: col,row,split (row-major)."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(("col", "row", "split"))
    writer.writerows(grid_csv_rows(tile_side_m=tile_side_m, patch_side_m=patch_side_m))


@click.command("check-dataset")
@click.argument(
    "dataset_dir", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option(
    "--sample",
    type=click.IntRange(min=0),
    default=None,
    help="Check GeoTIFF properties of N random patches (seeded) instead of all.",
)
@click.option(
    "--max-problems",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="How many problems to print.",
)
def check_dataset_command(
    dataset_dir: Path, sample: int | None, max_problems: int
) -> None:
    """Validate a reBEN dataset folder (ours or the published one).

    Checks the three trees, names and nesting, 12 bands per patch, the
    reference maps and S1 pairs, the metadata parquets (schema, order, splits,
    labels, joins) and GeoTIFF properties.  Exits 1 and lists the first
    problems when anything is off.

    Examples:

        benpipe check-dataset results/dataset

        benpipe check-dataset /data/reBEN --sample 2000
    """
    report = check_dataset(dataset_dir, sample=sample)
    summary = report.summary
    if summary:
        click.echo(f"dataset {dataset_dir}")
        for entry, count in summary["patches"].items():
            click.echo(f"  {entry}: {count} patches")
        click.echo(f"  tiles: {summary['tiles']}, S1 groups: {summary['s1_groups']}")
        click.echo(
            "  split: " + ", ".join(f"{k} {v}" for k, v in summary["split"].items())
        )
        click.echo(
            "  country: " + ", ".join(f"{k} {v}" for k, v in summary["country"].items())
        )
        click.echo(
            f"  GeoTIFFs checked: {summary['geotiffs_checked']} "
            f"({summary['patches_raster_checked']} patches)"
        )
    if report.ok:
        click.echo("OK: the dataset follows the reBEN layout and metadata contract")
        return
    click.echo(
        f"FAILED: {report.problem_count} problem(s); the first {min(max_problems, report.problem_count)}:",
        err=True,
    )
    for problem in report.problems[:max_problems]:
        click.echo(f"  - {problem}", err=True)
    raise SystemExit(1)
