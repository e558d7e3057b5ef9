"""``benpipe qa``: the dataset-level QA page of any dataset directory."""

from __future__ import annotations

import shutil
from pathlib import Path

import click


@click.command("qa")
@click.argument(
    "dataset_dir", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("qa"),
    show_default=True,
    help="Folder to write index.html and the figures into.",
)
@click.option(
    "--countries",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Country outlines for the patch map (e.g. Natural Earth admin-0).",
)
@click.option(
    "--verification",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A verification.json (benpipe verify) to show as a table.",
)
@click.option(
    "--samples-per-class",
    type=click.IntRange(min=1, max=12),
    default=4,
    show_default=True,
    help="Sample patches per class in the gallery.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing --out folder.")
def qa_command(
    dataset_dir: Path,
    out_dir: Path,
    countries: Path | None,
    verification: Path | None,
    samples_per_class: int,
    overwrite: bool,
) -> None:
    """Build the QA page of a reBEN dataset folder (ours or a published download).

    Reads only the two metadata parquets and the GeoTIFFs: class frequencies
    per split, label co-occurrence, patches per country, season and tile, a
    map of the patches by split and a gallery of sample patches per class.
    Open OUT/index.html in a browser; it needs no network.

    Examples:

        benpipe qa results/dataset --out results/qa-check

        benpipe qa /data/reBEN --out reben-qa --countries ne_110m_admin_0_countries.geojson
    """
    from benpipe.qa.dataset import build_dataset_figures
    from benpipe.qa.page import write_qa_page

    if out_dir.exists() and any(out_dir.iterdir()):
        if not overwrite:
            raise click.BadParameter(
                f"{out_dir} exists and is not empty; pass --overwrite to replace it",
                param_hint="--out",
            )
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    build_dataset_figures(
        dataset_dir, out_dir, countries=countries, samples_per_class=samples_per_class
    )
    page = write_qa_page(
        out_dir,
        title=f"benpipe QA: {dataset_dir.resolve().name}",
        verification=verification,
    )
    click.echo(f"QA page: {page.resolve()}")
