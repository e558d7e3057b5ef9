"""``benpipe catalogue build``, ``benpipe query`` and ``benpipe subset``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from benpipe.errors import InputDataError

#: The published tile ids, once tracked (tracked-artifacts/reben-v2.0/).
_REPO = Path(__file__).resolve().parents[3]
DEFAULT_TILE_IDS = (
    _REPO / "tracked-artifacts" / "reben-v2.0" / "bigearthnet_s2_tile_ids.csv"
)


@click.group("catalogue")
def catalogue() -> None:
    """Build the searchable patch catalogue (GeoParquet + STAC) of a dataset."""


@catalogue.command("build")
@click.argument(
    "dataset_dir", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option(
    "--tile-ids",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="L1C name -> CDSE id table (tile,id) of the dataset "
    f"[default: {DEFAULT_TILE_IDS.relative_to(_REPO)}].",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where patches.parquet and stac/ go [default: DATASET_DIR/catalogue].",
)
@click.option(
    "--static-items/--no-static-items",
    default=None,
    help="Also write one STAC JSON file per patch [default: only for at most "
    "2000 patches].",
)
@click.option(
    "--overlap-threshold",
    type=click.FloatRange(0, 1),
    default=0.01,
    show_default=True,
    help="patching.overlap_threshold of the run that built the dataset.",
)
@click.option(
    "--no-season-quirk",
    is_flag=True,
    help="Seasons without the reference's last-day quirk "
    "(patching.reference_season_quirk: false).",
)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing catalogue.")
def build_command(
    dataset_dir: Path,
    tile_ids: Path | None,
    out_dir: Path | None,
    static_items: bool | None,
    overlap_threshold: float,
    no_season_quirk: bool,
    workers: int,
    overwrite: bool,
) -> None:
    """Build the catalogue of an extracted reBEN dataset folder (ours or published).

    Reads only DATASET_DIR: the two metadata parquets and the reference maps
    (georeferencing and label fractions); no pipeline run is needed.

    Examples:

        benpipe catalogue build /data/reBEN --out /data/reBEN-catalogue

        benpipe catalogue build results/dataset --tile-ids tracked-artifacts/demo/bigearthnet_s2_tile_ids.csv --out /tmp/cat
    """
    from benpipe.catalogue.build import build_catalogue
    from benpipe.log import Progress

    if tile_ids is None:
        if not DEFAULT_TILE_IDS.is_file():
            raise click.BadParameter(
                f"no default tile-id table at {DEFAULT_TILE_IDS}; pass the dataset's "
                "bigearthnet_s2_tile_ids.csv with --tile-ids",
                param_hint="--tile-ids",
            )
        tile_ids = DEFAULT_TILE_IDS
    progress = Progress("reference maps read")
    try:
        result = build_catalogue(
            dataset_dir,
            out_dir or dataset_dir / "catalogue",
            tile_ids=tile_ids,
            overlap_threshold=overlap_threshold,
            reference_season_quirk=not no_season_quirk,
            static_items=static_items,
            workers=workers,
            overwrite=overwrite,
            progress=progress,
        )
    finally:
        progress.close()
    click.echo(
        f"{result.catalogue}: {result.patches} patches, {result.tiles} tiles; "
        f"STAC in {result.stac_dir} ({result.static_items} static Items)"
    )


# ---------------------------------------------------------------- query options
def _split_values(values: tuple[str, ...]) -> tuple[str, ...]:
    """Repeated options and comma-separated lists alike (class names keep commas)."""
    return tuple(v.strip() for value in values for v in value.split(",") if v.strip())


def query_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The CATALOGUE argument and filter options of ``query`` and ``subset``."""
    options = [
        click.argument(
            "catalogue_path",
            metavar="CATALOGUE",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
        ),
        click.option(
            "--bbox",
            default=None,
            help="WEST,SOUTH,EAST,NORTH in degrees (lon/lat); patches intersecting it.",
        ),
        click.option(
            "--intersects",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            help="GeoJSON or GPKG file; patches intersecting the union of its features.",
        ),
        click.option(
            "--start", default=None, help="Sensed on or after (ISO date/time, UTC)."
        ),
        click.option(
            "--end", default=None, help="Sensed on or before (a date includes the day)."
        ),
        click.option(
            "--season",
            multiple=True,
            help="spring, summer, fall, winter (repeatable or comma list).",
        ),
        click.option("--split", multiple=True, help="train, validation, test."),
        click.option("--country", multiple=True, help="A BEN country, e.g. Finland."),
        click.option(
            "--tile", multiple=True, help="MGRS tile (33UUP) or tile folder name."
        ),
        click.option(
            "--labels-any",
            multiple=True,
            help="Patches with at least one of these BEN-19 classes (repeat the option).",
        ),
        click.option(
            "--labels-all",
            multiple=True,
            help="Patches with all of these BEN-19 classes (repeat the option).",
        ),
        click.option(
            "--min-fraction",
            multiple=True,
            help="CLASS=F: at least this share of the reference map's pixels "
            "(class name or slug, UNLABELED allowed).",
        ),
        click.option(
            "--no-snow-cloud",
            is_flag=True,
            help="Only patches of metadata.parquet (no seasonal snow, cloud or shadow).",
        ),
        click.option(
            "--ids",
            "ids_file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            help="Only these patch ids (a file written by `benpipe query --out`).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def build_query(options: dict[str, Any]) -> Any:
    """A :class:`~benpipe.catalogue.query.Query` from the shared options."""
    from benpipe.catalogue import query as q
    from benpipe.catalogue.core import resolve_class

    bbox = None
    if options["bbox"]:
        try:
            parts = [float(v) for v in options["bbox"].split(",")]
        except ValueError as exc:
            raise click.BadParameter(
                "expected four numbers WEST,SOUTH,EAST,NORTH", param_hint="--bbox"
            ) from exc
        if len(parts) != 4:
            raise click.BadParameter(
                "expected four numbers WEST,SOUTH,EAST,NORTH", param_hint="--bbox"
            )
        bbox = (parts[0], parts[1], parts[2], parts[3])
    return q.Query(
        bbox=bbox,
        intersects=q.read_area(options["intersects"])
        if options["intersects"]
        else None,
        start=q.parse_time(options["start"]) if options["start"] else None,
        end=q.parse_time(options["end"], end=True) if options["end"] else None,
        seasons=_split_values(options["season"]),
        splits=_split_values(options["split"]),
        countries=_split_values(options["country"]),
        tiles=_split_values(options["tile"]),
        labels_any=tuple(resolve_class(v) for v in options["labels_any"]),
        labels_all=tuple(resolve_class(v) for v in options["labels_all"]),
        min_fractions=tuple(q.parse_min_fraction(v) for v in options["min_fraction"]),
        no_snow_cloud=options["no_snow_cloud"],
        ids=q.read_ids(options["ids_file"]) if options["ids_file"] else None,
    )


_QUERY_KEYS = (
    "bbox",
    "intersects",
    "start",
    "end",
    "season",
    "split",
    "country",
    "tile",
    "labels_any",
    "labels_all",
    "min_fraction",
    "no_snow_cloud",
    "ids_file",
)


def _query_from(options: dict[str, Any]) -> Any:
    """The query of the command-line options; bad values are usage errors."""
    try:
        return build_query({k: options[k] for k in _QUERY_KEYS})
    except InputDataError as exc:
        raise click.UsageError(str(exc)) from exc


def _echo_summary(summary: Any) -> None:
    click.echo(f"patches: {summary.patches}")
    for title, counts in (
        ("split", summary.split),
        ("country", summary.country),
        ("class", summary.label),
    ):
        click.echo(f"{title}:")
        for name, count in counts.items():
            click.echo(f"  {count:8d}  {name}")


@click.command("query")
@query_options
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the matching patch ids here (.csv or .parquet).",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
def query_command(
    catalogue_path: Path, out: Path | None, overwrite: bool, **options: Any
) -> None:
    """Select patches of a catalogue (patches.parquet) and count them.

    Prints the number of matching patches per split, country and class; with
    --out, writes their ids.  All filters combine with AND.

    Examples:

        benpipe query results/catalogue/patches.parquet --country Finland --season summer --split test --labels-any "Coniferous forest" --labels-any "Inland wetlands" --no-snow-cloud

        benpipe query patches.parquet --intersects study_area.gpkg --min-fraction "Coniferous forest=0.5" --out ids.csv
    """
    from benpipe.catalogue.query import run_query, summarize, write_ids

    if out is not None and out.exists() and not overwrite:
        raise click.BadParameter(f"{out} exists; pass --overwrite", param_hint="--out")
    query = _query_from(options)
    result = run_query(catalogue_path, query)
    _echo_summary(summarize(result))
    if out is not None:
        write_ids(result, out)
        click.echo(f"wrote {result.num_rows} patch ids to {out}")


@click.command("subset")
@query_options
@click.option(
    "--dataset",
    "dataset_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="The dataset folder the catalogue describes (e.g. results/dataset).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="New folder for the subset (must not exist).",
)
@click.option(
    "--archives", is_flag=True, help="Also write deterministic .tar.zst archives."
)
@click.option("--zstd-level", type=click.IntRange(1, 19), default=6, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True)
def subset_command(
    catalogue_path: Path,
    dataset_dir: Path,
    out_dir: Path,
    archives: bool,
    zstd_level: int,
    workers: int,
    **options: Any,
) -> None:
    """Copy the patches a query selects into a self-contained dataset folder.

    The folder has the published layout (checked by `benpipe check-dataset`,
    loadable by torchgeo's BigEarthNetV2), its own metadata parquets,
    catalogue and hash lists, and with --archives the release archives.

    Examples:

        benpipe subset results/catalogue/patches.parquet --dataset results/dataset --country Austria --split test --out /data/austria-test

        benpipe subset patches.parquet --dataset /data/reBEN --ids ids.csv --out /data/mine --archives
    """
    from benpipe.catalogue.subset import make_subset
    from benpipe.log import Progress

    query = _query_from(options)
    progress = Progress("patches copied")
    try:
        result = make_subset(
            catalogue_path,
            dataset_dir,
            query,
            out_dir,
            archives=archives,
            zstd_level=zstd_level,
            workers=workers,
            progress=progress,
        )
    finally:
        progress.close()
    click.echo(
        f"{result.out_dir}: {result.patches} patches ({result.clean} + "
        f"{result.flagged} flagged), {result.files} files "
        f"({', '.join(f'{k} {v}' for k, v in result.copy_mode.items() if v)})"
    )
