"""``benpipe hash-tree``, ``package``, ``check-release``, ``verify``, ``compare-metadata``."""

from __future__ import annotations

from pathlib import Path

import click

from benpipe.dataset.layout import TREES
from benpipe.errors import VerificationError
from benpipe.release.hashing import write_tree_hashes
from benpipe.release.packaging import (
    check_dataset_matches_release,
    check_release,
    package_release,
)
from benpipe.release.tar import FILE_MODES, FileModes
from benpipe.release.verify import ProducedPaths, verify


@click.command("hash-tree")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out_csv", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing OUT_CSV.")
def hash_tree_command(root: Path, out_csv: Path, workers: int, overwrite: bool) -> None:
    """Hash every .tif/.tiff under ROOT into OUT_CSV (+ OUT_CSV.sha256).

    The reference tiff-hasher format: name (file stem),hash-sha256, sorted.

    Examples:

        benpipe hash-tree results/dataset/BigEarthNet-S2 /tmp/patch_hashes.csv
    """
    if out_csv.exists() and not overwrite:
        raise click.BadParameter(
            f"{out_csv} exists; pass --overwrite to replace it", param_hint="OUT_CSV"
        )
    from benpipe.log import Progress

    progress = Progress("bytes hashed", unit="B", unit_scale=True)
    try:
        result = write_tree_hashes(root, out_csv, workers=workers, progress=progress)
    finally:
        progress.close()
    click.echo(f"{result.rows} files, sha256 of {out_csv.name}: {result.digest}")


@click.command("package")
@click.argument(
    "dataset_dir", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--level", type=click.IntRange(1, 19), default=6, show_default=True)
@click.option(
    "--threads",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="zstd workers, 0 = all cores (the bytes do not depend on it).",
)
@click.option(
    "--file-modes",
    type=click.Choice(FILE_MODES),
    default="normalized",
    show_default=True,
    help="Mode of each archived file: 0644 (normalized) or the file's own bits "
    "(filesystem, as GNU tar without --mode).",
)
@click.option("--overwrite", is_flag=True, help="Replace existing archives.")
def package_command(
    dataset_dir: Path,
    out_dir: Path,
    level: int,
    threads: int,
    file_modes: FileModes,
    overwrite: bool,
) -> None:
    """Write the deterministic .tar.zst archives of DATASET_DIR into OUT_DIR.

    Examples:

        benpipe package results/dataset /tmp/release --threads 2
    """
    existing = [t for t in TREES if (out_dir / f"{t}.tar.zst").exists()]
    if existing and not overwrite:
        raise click.BadParameter(
            f"{out_dir} already holds {', '.join(existing)}.tar.zst; pass --overwrite",
            param_hint="OUT_DIR",
        )
    from benpipe.log import Progress

    result = package_release(
        dataset_dir,
        out_dir,
        level=level,
        threads=threads,
        file_modes=file_modes,
        progress_factory=lambda what: Progress(what, unit="B", unit_scale=True),
    )
    for name, md5 in result.md5s.items():
        click.echo(f"{md5}  {name}")


@click.command("check-release")
@click.argument(
    "release_dir", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option(
    "--dataset",
    "dataset_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Also check that this dataset folder still holds exactly what the "
    "archives hold (rebuilds each tree's tar stream and compares its hashes).",
)
def check_release_command(release_dir: Path, dataset_dir: Path | None) -> None:
    """Re-hash a release folder against its sha256sums.txt / hashes.txt.

    Without --dataset, only the files of the release folder are checked, not
    the dataset they were built from.

    Examples:

        benpipe check-release results/release

        benpipe check-release results/release --dataset results/dataset
    """
    status = check_release(release_dir)
    for name, state in status.items():
        click.echo(f"{state:8s} {name}")
    absent = [name for name, state in status.items() if state == "absent"]
    click.echo(
        f"OK: {len(status) - len(absent)} listed file(s) of {release_dir} match "
        "their hashes"
        + (f"; {len(absent)} listed but absent, not checked" if absent else "")
    )
    if dataset_dir is None:
        click.echo(
            "not compared: the dataset folder (pass --dataset DIR to check that it "
            "still matches these archives)"
        )
        return
    for item, state in check_dataset_matches_release(dataset_dir, release_dir).items():
        click.echo(f"{state:8s} {item}")
    click.echo(f"OK: {dataset_dir} holds exactly what the archives hold")


@click.command("verify")
@click.option(
    "--results",
    "results_base",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Snakemake working directory holding results/.",
)
@click.option(
    "--tracked",
    "tracked_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Tracked artifacts folder (config key tracked_artifacts_dir).",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Exit non-zero when an artifact differs, is missing or is untracked.",
)
@click.option("--max-listed", type=click.IntRange(min=1), default=20, show_default=True)
@click.option(
    "--rehash",
    is_flag=True,
    help="Re-hash every dataset file, not only those whose size or mtime changed "
    "since hash_outputs.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Hashing processes for --rehash.",
)
@click.option(
    "--published-metadata",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Folder with the published metadata parquets: also compare the "
    "metadata content patch by patch (config verify.published_metadata_dir).",
)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where verification.md/.json go (default: <results>/results).",
)
def verify_command(
    results_base: Path,
    tracked_dir: Path,
    strict: bool,
    max_listed: int,
    rehash: bool,
    workers: int,
    published_metadata: Path | None,
    out_dir: Path | None,
) -> None:
    """Compare produced hash lists (and the dataset as it is now) with tracked artifacts.

    Dataset files whose size or mtime changed since hash_outputs are
    re-hashed first (every file with --rehash), so an edited file is named.

    Examples:

        benpipe verify --tracked tracked-artifacts/demo

        benpipe verify --results /scratch/run1 --tracked tracked-artifacts/reben-v2.0 --published-metadata /data/reBEN
    """
    out = out_dir or results_base / "results"
    report = verify(
        tracked_dir=tracked_dir,
        out_md=out / "verification.md",
        out_json=out / "verification.json",
        produced=ProducedPaths.under(results_base),
        max_listed=max_listed,
        strict=strict,
        published_metadata=published_metadata,
        rehash=rehash,
        workers=workers,
    )
    for a in report.artifacts:
        click.echo(f"{a.name:24s} {a.status}")
    click.echo(report.verdict())
    click.echo(f"all_match: {str(report.all_match).lower()}  (report: {out})")


@click.command("compare-metadata")
@click.argument("ours", type=click.Path(exists=True, path_type=Path))
@click.argument("published", type=click.Path(exists=True, path_type=Path))
@click.option("--max-listed", type=click.IntRange(min=1), default=20, show_default=True)
@click.option(
    "--out-md",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the Markdown report here (default: print it).",
)
@click.option(
    "--out-json",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the JSON report here.",
)
@click.option("--strict", is_flag=True, help="Exit non-zero when anything differs.")
def compare_metadata_command(
    ours: Path,
    published: Path,
    max_listed: int,
    out_md: Path | None,
    out_json: Path | None,
    strict: bool,
) -> None:
    """Compare metadata parquets patch by patch (labels, split, country, ...).

    OURS and PUBLISHED are each a folder holding metadata.parquet and
    metadata_for_patches_with_snow_cloud_or_shadow.parquet (a dataset folder,
    the published download), or one parquet file.

    Examples:

        benpipe compare-metadata results/dataset /data/reBEN

        benpipe compare-metadata results/dataset/metadata.parquet /data/reBEN/metadata.parquet --out-json diff.json
    """
    import json

    from benpipe.fileio import atomic_write_text
    from benpipe.release.metadata_diff import (
        compare_metadata,
        render_markdown,
        summary_line,
    )

    result = compare_metadata(ours, published, max_listed=max_listed)
    markdown = render_markdown(result)
    if out_json is not None:
        atomic_write_text(out_json, json.dumps(result.to_json(), indent=2) + "\n")
    if out_md is not None:
        atomic_write_text(out_md, markdown)
        click.echo(summary_line(result))
    else:
        click.echo(markdown, nl=False)
    if strict and not result.identical:
        raise VerificationError(
            f"the metadata of {ours} differs from {published}: {summary_line(result)}"
        )
