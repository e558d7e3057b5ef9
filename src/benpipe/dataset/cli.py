"""``benpipe grid`` and ``benpipe check-dataset``: the dataset stage by hand."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

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
    help="Decode and check the GeoTIFFs of N random patches (seeded) instead of all.",
)
@click.option(
    "--hashes",
    "hash_lists",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A name,hash-sha256 list (tiff-hasher format: patch_hashes.csv, "
    "reference_maps_hashes.csv, s1_hashes.csv, metadata_hashes.csv) to compare "
    "each checked file's sha256 with. Repeatable.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Decoding processes (default: all usable cores).",
)
@click.option(
    "--max-problems",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="How many problems to print.",
)
def check_dataset_command(
    dataset_dir: Path,
    sample: int | None,
    hash_lists: tuple[Path, ...],
    workers: int | None,
    max_problems: int,
) -> None:
    """Validate a reBEN dataset folder (ours or the published one).

    Checks the three trees, names and nesting, 12 bands per patch, the
    reference maps and S1 pairs, the metadata parquets (schema, order, splits,
    labels, joins), decodes every GeoTIFF fully and checks its properties, and
    with --hashes compares every file's sha256 with published or tracked hash
    lists. Exits 1 and lists the first problems when anything is off.

    Examples:

        benpipe check-dataset results/dataset

        benpipe check-dataset /data/reBEN --sample 2000

        benpipe check-dataset results/dataset --hashes tracked-artifacts/demo/patch_hashes.csv
    """
    from benpipe.log import Progress

    progress = Progress("checked patches")
    try:
        report = check_dataset(
            dataset_dir,
            sample=sample,
            hashes=hash_lists,
            workers=workers,
            progress=progress,
        )
    finally:
        progress.close()
    summary = report.summary
    if summary:
        _print_summary(dataset_dir, summary)
    if report.ok:
        click.echo(
            "OK: the dataset follows the reBEN layout and metadata contract, every "
            "checked GeoTIFF decodes"
            + (
                " and every compared file matches the hash lists"
                if summary.get("hashes")
                else "; file contents were NOT compared with any hash list"
            )
        )
        return
    click.echo(
        f"FAILED: {report.problem_count} problem(s); the first {min(max_problems, report.problem_count)}:",
        err=True,
    )
    for problem in report.problems[:max_problems]:
        click.echo(f"  - {problem}", err=True)
    raise SystemExit(1)


def _print_summary(dataset_dir: Path, summary: dict[str, Any]) -> None:
    click.echo(f"dataset {dataset_dir}")
    for entry, count in summary["patches"].items():
        click.echo(f"  {entry}: {count} patches")
    click.echo(f"  tiles: {summary['tiles']}, S1 groups: {summary['s1_groups']}")
    click.echo("  split: " + ", ".join(f"{k} {v}" for k, v in summary["split"].items()))
    click.echo(
        "  country: " + ", ".join(f"{k} {v}" for k, v in summary["country"].items())
    )
    seconds = summary["decode_seconds"]
    rate = summary["geotiffs_checked"] / seconds if seconds else 0.0
    click.echo(
        f"  GeoTIFFs decoded and checked: {summary['geotiffs_checked']} "
        f"({summary['patches_raster_checked']} patches) in {seconds:.1f} s, "
        f"{rate:,.0f} files/s, {summary['decode_workers']} worker(s)"
    )
    hashes = summary.get("hashes")
    if hashes is None:
        click.echo(
            "  sha256: not compared (pass --hashes with the published or tracked "
            "hash lists to compare file contents)"
        )
        return
    click.echo(
        f"  sha256: {hashes['compared']} file(s) compared with "
        f"{', '.join(hashes['lists'])}: {hashes['differ']} differ, "
        f"{hashes['unlisted']} not listed, {hashes['missing']} listed but absent"
    )
