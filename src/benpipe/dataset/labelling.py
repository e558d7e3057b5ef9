"""The ``label_patches`` rule: CORINE labels and reference maps of one product.

The recipe (docs/labelling.md): read the product's grid and the CLC polygons
that intersect its tile from PostGIS (after checking that the CLC there is
the one this run ingested) → burn them once onto the tile's 10 m grid →
count pixels per code and window → label each valid patch and write its
reference map into the staging folder → hand what is in memory to the
optional ``on_labelled`` hook (the QA preview) → replace the product's
labelling rows in one transaction → receipt.  The rule itself is pure and
lives in :mod:`benpipe.dataset.labels`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine

from benpipe.clc import NO_COVERAGE_CODE
from benpipe.dataset import sql
from benpipe.dataset.labels import (
    CODES,
    ClcShape,
    PatchLabels,
    burn_clc,
    label_window,
    reference_map,
    window_counts,
)
from benpipe.db.ingest import check_inputs
from benpipe.db.lifecycle import DbSettings, connect
from benpipe.errors import DatabaseError, LabelCoverageError
from benpipe.fileio import staged_directory, write_json_atomic
from benpipe.geotiff import write_geotiff
from benpipe.grid import patch_corner
from benpipe.log import Progress

log = logging.getLogger(__name__)

#: 2: whole CLC polygons (subdivided pieces only prefilter), burnt in
#: ascending clc_id; all-999 products refused.
ALGORITHM_VERSION = 2


def write_reference_map(
    path: Path,
    data: np.ndarray,
    *,
    epsg: int,
    left: float,
    top: float,
    res_m: float = 10,
) -> None:
    """Write one reference map GeoTIFF (UInt16, DEFLATE + predictor 2, nodata 0).

    Uses :mod:`benpipe.geotiff` (fixed layout, deterministic bytes): GDAL's
    per-file overhead would dominate the labelling of a product otherwise.
    """
    write_geotiff(path, data, epsg=epsg, left=left, top=top, res_m=res_m, nodata=0)


@dataclass(frozen=True, slots=True)
class _Tile:
    """What the labelling needs of a product's grid (from ``products``)."""

    product_id: str
    tile_dir: str
    epsg: int
    ulx: float
    uly: float
    fails_quality: bool
    #: complete patches per side, patch side in m and in 10 m pixels
    n: int
    patch_side_m: float
    res_m: float
    window_px: int
    #: the CLC the polygons come from: {sha256, source, rows}
    clc: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LabelledTile:
    """What the labelling of one product holds in memory, for side outputs.

    ``burned`` is the tile's burnt CLC grid ((n*w, n*w) uint16, 0 where no
    polygon covers a pixel centre) or ``None`` when no polygon touches the
    tile; ``patches`` are the valid patches as (col, row, result).
    """

    product_id: str
    n: int
    patch_side_m: float
    res_m: float
    fails_quality: bool
    unlabeled_max_fraction: float
    burned: np.ndarray | None
    patches: Sequence[tuple[int, int, sql.LabelledPatch]]


def label_patches(
    settings: DbSettings,
    product_id: str,
    *,
    out_dir: Path,
    unlabeled_max_fraction: float = 0.25,
    patch_side_m: float = 1200,
    res_m: float = 10,
    clc_sha256: str | None = None,
    receipt: Path | None = None,
    on_labelled: Callable[[LabelledTile], None] | None = None,
    threads: int = 1,
) -> dict[str, Any]:
    """Burn CLC for one product, write its reference maps and store its labels.

    ``out_dir`` (``results/export/reference_maps/<product>``) receives
    ``<tile_dir>/<patch>/<patch>_reference_map.tif`` for every valid patch
    with CLC coverage.  DB rows of the product are replaced in one transaction.
    ``on_labelled`` receives the burnt grid and the patch results before the
    rows are stored (``label_patches`` keeps no reference to it afterwards).
    ``clc_sha256`` (the run's ``ingest_clc`` receipt) must be the CLC that
    the database holds (DatabaseError otherwise); None skips that check.
    ``threads`` write the reference maps in parallel (the job's threads; the
    bytes do not depend on it).
    """
    timings: dict[str, float] = {}
    started = time.monotonic()
    tile, patches, shapes = _read_inputs(
        settings,
        product_id,
        patch_side_m=patch_side_m,
        res_m=res_m,
        clc_sha256=clc_sha256,
    )
    timings["query_s"] = time.monotonic() - started
    # replace=True: rerunning by hand (or in tests) replaces the maps, as it
    # replaces the product's rows; Snakemake deletes the output before a job.
    with staged_directory(out_dir, "reference-map directory", replace=True) as staging:
        burned: np.ndarray | None = None
        if shapes:
            labelled, burned = _label_and_map(
                tile,
                patches,
                shapes,
                staging.path,
                unlabeled_max_fraction=unlabeled_max_fraction,
                timings=timings,
                threads=threads,
            )
        else:
            log.warning(
                "%s: no CLC polygon intersects the tile; the product gets no "
                "reference maps and no labels",
                product_id,
            )
            labelled = []
        if on_labelled is not None:
            t1 = time.monotonic()
            on_labelled(
                _labelled_tile(tile, patches, labelled, burned, unlabeled_max_fraction)
            )
            timings["hook_s"] = time.monotonic() - t1
        del burned
        t1 = time.monotonic()
        _store(settings, tile, labelled, clc_polygons=len(shapes))
        timings["db_s"] = time.monotonic() - t1
    info = _receipt(
        tile,
        labelled,
        clc_polygons=len(shapes),
        valid_patches=len(patches),
        unlabeled_max_fraction=unlabeled_max_fraction,
    )
    info["schema"] = settings.schema
    log.info(
        "%s: %d CLC polygons, %d valid patches, %d maps, %d kept (%s)",
        product_id,
        len(shapes),
        len(patches),
        info["reference_maps"],
        info["kept"],
        ", ".join(f"{k} {v:.1f}" for k, v in timings.items()),
    )
    if receipt is not None:
        write_json_atomic(receipt, info)
    return {**info, "timings_s": timings}


def _read_inputs(
    settings: DbSettings,
    product_id: str,
    *,
    patch_side_m: float,
    res_m: float,
    clc_sha256: str | None,
) -> tuple[_Tile, list[tuple[str, int, int]], list[ClcShape]]:
    """The product's grid, its valid patches (id, col, row) and its CLC polygons.

    One transaction: the CLC's input_sources row stays locked while the
    polygons are read, so no ingest can swap them in between.
    """
    with connect(settings) as conn, conn.transaction():
        row = conn.execute(sql.SELECT_PRODUCT_GRID, (product_id,)).fetchone()
        if row is None:
            raise DatabaseError(
                f"product {product_id} has no patch grid in "
                f"{settings.redacted_schema_target()}; run the build_patch_grid "
                "rule for it first"
            )
        epsg, ulx, uly, tile_side_m, fails_quality, tile_dir = row
        clc_rows = conn.execute(sql.COUNT_CLC_POLYGONS).fetchone()
        if not clc_rows or not clc_rows[0]:
            raise DatabaseError(
                f"table clc_polygons is empty in {settings.redacted_schema_target()}"
                ": the CORINE data is not in this database (a fresh cluster or "
                "schema?); delete results/db/receipts/clc.json and rerun so that "
                "ingest_clc loads it"
            )
        if clc_sha256 is not None:
            clc = check_inputs(conn, settings, {"clc": clc_sha256})["clc"]
        else:
            found = conn.execute(sql.SELECT_CLC_SOURCE).fetchone()
            clc = (
                {"sha256": str(found[0]), "source": str(found[1]), "rows": found[2]}
                if found
                else {"sha256": None, "source": None, "rows": int(clc_rows[0])}
            )
        patches = [
            (str(pid), int(col), int(prow))
            for pid, col, prow in conn.execute(
                sql.SELECT_VALID_PATCHES, (product_id,)
            ).fetchall()
        ]
        tile = _Tile(
            product_id=product_id,
            tile_dir=tile_dir,
            epsg=epsg,
            ulx=ulx,
            uly=uly,
            fails_quality=bool(fails_quality),
            n=int(tile_side_m // patch_side_m),
            patch_side_m=patch_side_m,
            res_m=res_m,
            window_px=int(round(patch_side_m / res_m)),
            clc=clc,
        )
        extent_m = tile.n * patch_side_m
        shapes = sql.clc_shapes(
            conn,
            epsg=epsg,
            left=ulx,
            bottom=uly - extent_m,
            right=ulx + extent_m,
            top=uly,
        )
    return tile, patches, shapes


def _label_and_map(
    tile: _Tile,
    patches: Sequence[tuple[str, int, int]],
    shapes: Sequence[ClcShape],
    root: Path,
    *,
    unlabeled_max_fraction: float,
    timings: dict[str, float],
    threads: int = 1,
) -> tuple[list[sql.LabelledPatch], np.ndarray]:
    """Burn, count and label; write a reference map for every covered patch
    (on ``threads`` threads: DEFLATE and the file writes release the GIL).

    Returns the patch results (in the order of ``patches``) and the burnt grid.
    """
    t1 = time.monotonic()
    side_px = tile.n * tile.window_px
    transform = Affine(tile.res_m, 0.0, tile.ulx, 0.0, -tile.res_m, tile.uly)
    burned = burn_clc(shapes, transform=transform, height=side_px, width=side_px)
    timings["burn_s"] = time.monotonic() - t1
    t1 = time.monotonic()
    counts = window_counts(burned, n=tile.n, window_px=tile.window_px)
    timings["count_s"] = time.monotonic() - t1
    _check_some_clc_class(tile, patches, counts, shapes=len(shapes))
    t1 = time.monotonic()
    labelled: list[sql.LabelledPatch] = []
    for patch_id, col, row in patches:
        labels, covered = label_window(
            counts[row * tile.n + col],
            unlabeled_max_fraction=unlabeled_max_fraction,
            fails_quality=tile.fails_quality,
        )
        labelled.append(sql.LabelledPatch(patch_id, labels, covered))
    timings["label_s"] = time.monotonic() - t1
    t1 = time.monotonic()
    maps = [
        (patch_id, col, row)
        for (patch_id, col, row), result in zip(patches, labelled, strict=True)
        if result.covered
    ]
    (root / tile.tile_dir).mkdir(parents=True, exist_ok=True)

    def write(item: tuple[str, int, int]) -> None:
        patch_id, col, row = item
        _write_map(tile, root, burned, patch_id, col=col, row=row)

    progress = Progress(
        f"{tile.product_id}: reference maps", total=len(maps), logger=log
    )
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for done, _ in enumerate(pool.map(write, maps), start=1):
            progress(done, len(maps))
    progress.close()
    timings["maps_s"] = time.monotonic() - t1
    return labelled, burned


def _labelled_tile(
    tile: _Tile,
    patches: Sequence[tuple[str, int, int]],
    labelled: Sequence[sql.LabelledPatch],
    burned: np.ndarray | None,
    unlabeled_max_fraction: float,
) -> LabelledTile:
    """The hook's view: every valid patch, labelled or not (no CLC: no result)."""
    results = {p.patch_id: p for p in labelled}
    no_clc = sql.LabelledPatch("", PatchLabels({}, 1.0, False), False)
    return LabelledTile(
        product_id=tile.product_id,
        n=tile.n,
        patch_side_m=tile.patch_side_m,
        res_m=tile.res_m,
        fails_quality=tile.fails_quality,
        unlabeled_max_fraction=unlabeled_max_fraction,
        burned=burned,
        patches=[(col, row, results.get(pid, no_clc)) for pid, col, row in patches],
    )


#: Column of a count vector (window_counts) that counts CLC code 999.
_NODATA_COLUMN = 1 + CODES.index(NO_COVERAGE_CODE)


def _check_some_clc_class(
    tile: _Tile,
    patches: Sequence[tuple[str, int, int]],
    counts: np.ndarray,
    *,
    shapes: int,
) -> None:
    """Refuse a product whose valid patches are all 999 although CLC meets it.

    Every pixel is then either CLC NODATA (999) or outside every polygon:
    the CLC file does not cover the product, and no patch could be labelled.
    (A tile that no polygon meets at all is the reference's "no overlay"
    case: a warning, handled before.)
    """
    if not patches:
        return
    windows = np.array([row * tile.n + col for _, col, row in patches])
    classes = counts[windows, 1:].sum() - counts[windows, _NODATA_COLUMN].sum()
    if classes > 0:
        return
    raise LabelCoverageError(
        f"product {tile.product_id}: every pixel of its {len(patches)} valid "
        f"patches is 999 (no CLC class), although {shapes} polygons of the CLC "
        f"file {tile.clc['source']} (sha256 {tile.clc['sha256']}) meet the tile: "
        "that file does not cover this product (only NODATA polygons there). "
        "Check that inputs.clc_gpkg is the full CLC 2018 vector layer "
        "(U2018_CLC2018_V2020_20u1.gpkg, Europe), or leave this product out"
    )


def _write_map(
    tile: _Tile, root: Path, burned: np.ndarray, patch_id: str, *, col: int, row: int
) -> None:
    folder = root / tile.tile_dir / patch_id
    folder.mkdir()
    w = tile.window_px
    window = burned[row * w : (row + 1) * w, col * w : (col + 1) * w]
    left, top = patch_corner(
        tile.ulx, tile.uly, col=col, row=row, side_m=tile.patch_side_m
    )
    write_reference_map(
        folder / f"{patch_id}_reference_map.tif",
        reference_map(window),
        epsg=tile.epsg,
        left=left,
        top=top,
        res_m=tile.res_m,
    )


def _store(
    settings: DbSettings,
    tile: _Tile,
    labelled: Sequence[sql.LabelledPatch],
    *,
    clc_polygons: int,
) -> None:
    """Replace the product's labelling rows in one transaction."""
    with connect(settings) as conn, conn.transaction():
        sql.replace_labels(
            conn,
            tile.product_id,
            labelled,
            has_clc=clc_polygons > 0,
            clc_polygons=clc_polygons,
            fails_quality=tile.fails_quality,
        )


def _receipt(
    tile: _Tile,
    labelled: Sequence[sql.LabelledPatch],
    *,
    clc_polygons: int,
    valid_patches: int,
    unlabeled_max_fraction: float,
) -> dict[str, Any]:
    return {
        "product": tile.product_id,
        "has_clc": clc_polygons > 0,
        "clc_polygons": clc_polygons,
        "clc_sha256": tile.clc["sha256"],
        "clc_source": tile.clc["source"],
        "fails_quality": tile.fails_quality,
        "valid_patches": valid_patches,
        "reference_maps": sum(1 for p in labelled if p.covered),
        "kept": sum(1 for p in labelled if p.labels.kept),
        "label_rows": sum(len(p.labels.labels) for p in labelled),
        "unlabeled_max_fraction": unlabeled_max_fraction,
        "tables": [
            "patch_labelling",
            "patch_class_counts",
            "patch_labels",
            "product_labelling",
        ],
        "algorithm_version": ALGORITHM_VERSION,
    }
